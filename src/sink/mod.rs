//! Sinks: where templates go. Today the export to stdout or to a folder that can be committed
//! and registered in Backstage once.

pub mod export;
