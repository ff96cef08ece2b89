//! orchestrator-provider makes SonataFlow workflows appear in Backstage as runnable Templates.
//!
//! Data flows one way, one module per idea:
//!
//! ```text
//!  folder ─────┐
//!  git ────────┼> source ──> Workflow ──> entity::map ──> Template ──> plan ──┬─> export (stdout / folder)
//!  Data Index ─┘  (read)     (model)      (pure)                      (diff)  ├─> serve (HTTP shards, ETag)
//!                                                                              └─> catalog (locations, refresh, delete)
//!                  ^ sync loop: schedule, triggers (file watch, POST /sync, webhooks, CloudEvents)
//! ```
//!
//! From the bottom layer up (each imports only layers below it; `tests/module_graph.rs` fails
//! on any import circle between the crate's files, and on any import out of `config`):
//!
//! - [`config`]: one typed configuration, from file < environment < flags, validated; plain
//!   values that import nothing else of the crate.
//! - [`workflow`]: the domain model; parses Serverless Workflow 0.8 files and SonataFlow custom
//!   resources and resolves their input schemas, reading only through a [`workflow::Tree`].
//! - [`redact`]: every secret read is registered there, and taken out of upstream text before it
//!   becomes part of an error (`/status`, logs, metrics).
//! - [`secrets`]: tokens and webhook secrets, read from where the configuration says (and
//!   registered with [`redact`]).
//! - [`source`]: where workflows come from (a folder, a git repository, a Data Index, the
//!   bundled examples); each read returns a [`source::Snapshot`] of workflows plus the
//!   diagnostics of what it could not read.
//! - [`diagram`]: draws a workflow's states and transitions as an SVG (pure, deterministic).
//! - [`entity`]: maps workflows to Backstage `Template` entities (names, form, step); pure.
//! - [`plan`]: what must change between what is published and what is desired.
//! - [`pipeline`]: read, merge and map: all at once for the daemon, a batch at a time for the
//!   `export` and `check` commands.
//! - [`sink`]: where entities go: export (stdout or a folder), serve (the HTTP shard documents),
//!   catalog (the Backstage REST client and the reconciliation that keeps the catalog in step).
//! - [`webhook`], [`cloudevent`]: what push webhooks and CloudEvents `POST /events` receives say.
//! - [`instances`]: SonataFlow's instance events (every encoding) counted into per-workflow
//!   metrics.
//! - [`sync`]: the daemon's loop, one reconcile per cycle over its parts: the sources and their
//!   last good state, the mapping, the publisher (adoption, delete guard, shards, catalog), the
//!   status, the schedule and the folder watchers.
//! - [`daemon`]: `run`: the HTTP server and the sync loop, started and stopped together.
//! - [`telemetry`]: logs and metrics; [`memory`]: glibc's allocator tuned for a daemon.

pub mod cloudevent;
pub mod config;
pub mod daemon;
pub mod diagram;
pub mod entity;
pub mod instances;
pub mod memory;
pub mod pipeline;
pub mod plan;
pub mod redact;
pub mod secrets;
pub mod sink;
pub mod source;
pub mod sync;
pub mod telemetry;
pub mod webhook;
pub mod workflow;
