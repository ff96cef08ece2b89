//! Sources: where workflow definitions come from. Each source reads everything it has and
//! returns a [`Snapshot`]: the workflows it could use and a diagnostic for everything it could
//! not. A source that cannot be read at all returns a [`SourceError`] instead, never a silently
//! empty snapshot, so that callers can keep the last good state.
//!
//! - [`snapshot`]: [`Snapshot`] and [`SourceError`].
//! - [`configured`]: the configured sources, ready to read ([`configured()`], [`Reader`]).
//! - [`dir`]: a folder; [`bundled`]: the examples built into the binary.
//! - [`scan`]: what every source with a tree shares: parse, pick one workflow per id, resolve
//!   the input schemas (at once for the daemon, a batch at a time for a one-shot run).
//! - [`git`]: a repository at a branch, tag or commit.
//! - [`paths`]: the command line's folders and files as folder sources.
//! - [`data_index`]: the Data Index's GraphQL client; [`deployments`]: a Data Index as a source.

pub mod bounded_body;
pub mod bundled;
pub mod configured;
pub mod data_index;
pub mod deployments;
pub mod dir;
pub mod git;
pub mod paths;
pub mod scan;
pub mod snapshot;

pub use configured::{Configured, DeployRule, Reader, Role, configured, parse_limits};
pub use scan::Deferred;
pub use snapshot::{Snapshot, SourceError};
