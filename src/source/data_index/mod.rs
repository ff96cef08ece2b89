//! The SonataFlow Data Index as a source of deployment facts: which workflows are deployed, at
//! which version, behind which service URL, and whether the operator still reports them
//! available.
//!
//! The Data Index is a GraphQL service whose schema changed across releases in ways that fail a
//! whole query (a field a release does not have is a validation error and `data: null`). So the
//! client first [introspects](DataIndexClient::introspect) what the server has, then
//! [lists](DataIndexClient::list) with a query built for exactly that:
//!
//! | release | `ProcessDefinition` fields used | server-side `type` filter |
//! |---|---|---|
//! | ≤ 1.43 | none: no `ProcessDefinitions` query, refused with [`DataIndexError::Unsupported`] | |
//! | 1.44.x | `id version name type endpoint serviceUrl` | no (filtered here) |
//! | 10.0.x | + `description annotations metadata` | no (filtered here) |
//! | 10.1+ | the same | `where: {type: {equal: "SW"}}` |
//!
//! Queries are built as strings at run time (not with `graphql_client`'s derive): the selection
//! depends on what the server has, which a compile-time query cannot express without one query
//! file per release and per variant. The tests validate every query this module sends against
//! the real SDL of each release instead (`tests/support/data_index_fixture.rs`).
//!
//! Selecting `source` can make the Data Index call the workflow service for every row, so a
//! listing first asks for everything but `source`, then asks for `source` only for the
//! `(id, version)` rows the caller does not already know (`where: {or: [{id, version}...]}`,
//! which every release since 1.44 accepts).
//!
//! Rows are then reduced to one per id by [`select`], which applies [`compare_versions`].
//!
//! - `query`: the queries and [`Capabilities`]; `client`: [`DataIndexClient`];
//!   `row`: [`Deployment`]; `versions`: [`compare_versions`], [`compare_rows`];
//!   `select`: [`select`] and [`DeployedWorkflow`]; `error`: [`DataIndexError`].

mod client;
mod error;
mod query;
mod row;
mod select;
mod versions;

pub use crate::workflow::Availability;
pub use client::{DataIndexClient, MAX_ANSWER_BYTES};
pub use error::DataIndexError;
pub(crate) use error::root_cause;
pub use query::{Capabilities, INTROSPECTION_QUERY, SOURCE_QUERY, WORKFLOW_TYPE, list_query};
pub use row::Deployment;
pub use select::{DeployedWorkflow, origin_path, select};
pub use versions::{compare_rows, compare_versions};
