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
//! - [`workflow`]: the domain model; parses Serverless Workflow 0.8 files and SonataFlow custom
//!   resources and resolves their input schemas, reading only through a [`workflow::Tree`].
//! - [`source`]: where workflows come from; each source returns a [`source::Snapshot`] of
//!   workflows plus the diagnostics of what it could not read.
//! - [`diagram`]: draws a workflow's states and transitions as an SVG (pure, deterministic).
//! - [`entity`]: maps workflows to Backstage `Template` entities (names, form, step).
//! - [`sink`]: where entities go: export (stdout or a folder), serve (the HTTP shard documents),
//!   catalog (the Backstage REST client and the reconciliation that keeps the catalog in step).
//! - [`cloudevent`]: reads the CloudEvents `POST /events` receives.
//! - [`config`]: one typed configuration, from file < environment < flags; the bottom layer,
//!   importing no other module of the crate (`tests/module_graph.rs` keeps it so, and keeps the
//!   crate's files free of import circles).
//! - [`secrets`]: tokens and webhook secrets, read from where the configuration says.
//! - [`pipeline`]: ties the above together for the `export` and `check` commands.
//! - [`plan`]: what must change between what is published and what is desired.
//! - [`sync`]: the daemon's loop: schedule, triggers, last good state, apply the plan.
//! - [`daemon`]: `run`: the HTTP server and the sync loop, started and stopped together.
//! - [`telemetry`]: logs and metrics.
//! - [`memory`]: glibc's allocator tuned for a long-running daemon.

pub mod cloudevent;
pub mod config;
pub mod daemon;
pub mod diagram;
pub mod entity;
pub mod memory;
pub mod pipeline;
pub mod plan;
pub mod secrets;
pub mod sink;
pub mod source;
pub mod sync;
pub mod telemetry;
pub mod webhook;
pub mod workflow;
