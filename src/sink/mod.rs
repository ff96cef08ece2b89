//! Sinks: where templates go. `export` writes them to stdout or a folder; `serve` is the
//! daemon's HTTP server that the catalog reads; `catalog` drives the Backstage catalog API.

pub mod catalog;
pub mod catalog_sync;
pub mod export;
pub mod serve;
