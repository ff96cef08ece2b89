//! Sinks: where templates go. `export` writes them to stdout or a folder; `serve` is the
//! daemon's HTTP server that the catalog reads (and `diagrams` its workflow diagrams, for
//! browsers); `catalog` drives the Backstage catalog API.

pub mod catalog;
pub mod catalog_sync;
pub mod diagrams;
pub mod export;
pub mod serve;
