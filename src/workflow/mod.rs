//! The domain model: a Serverless Workflow 0.8 definition as orchestrator-provider sees it.
//!
//! This module parses workflow files (`*.sw.json`, `*.sw.yaml`, `*.sw.yml`, and `kind: SonataFlow`
//! custom resources) into [`Workflow`] values and resolves their `dataInputSchema` into one
//! self-contained JSON Schema. It reads files only through a [`Tree`], never the network, and it
//! knows nothing of Backstage: mapping to entities is [`crate::entity`]'s job.

mod depth;
mod diagnostic;
pub mod graph;
mod parse;
mod schema;
mod states;
mod tree;

pub use depth::nests_deeper_than;
pub use diagnostic::{Diagnostic, Severity};
pub use graph::Graph;
pub use parse::{
    ConfigMap, DocumentProblem, InputSchemaRef, Mount, ParseError, ParseLimits, ParsedFile,
    ParsedWorkflow, parse_file,
};
pub use schema::{
    MAX_REF_DEPTH, MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, SchemaError, SchemaResolver,
    resolve_input_schema,
};
pub use tree::{DirTree, MemoryTree, Overlay, Tree, TreeError, join, parent};
pub(crate) use tree::{percent_decode, percent_encode_segment};

use std::collections::BTreeMap;
use std::sync::Arc;

/// One workflow definition, parsed and with its input schema resolved.
///
/// Everything the mapper needs, and the states reduced to what its diagram draws. `Default` is
/// an empty workflow (no id, nothing read), for building one field by field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Workflow {
    /// The workflow id (`id`, else `key`; `metadata.name` for a SonataFlow CR), exactly as written.
    pub id: String,
    /// The human name (`name`); SonataFlow falls back to the id when it is absent.
    pub name: Option<String>,
    pub description: Option<String>,
    /// The version exactly as written (`1.0`, `v1.0`, `1_0`...); SonataFlow's default is `1.0`.
    pub version: Option<String>,
    /// The Serverless Workflow `annotations` (a list of strings such as `workflow-type/infrastructure`).
    pub annotations: Vec<String>,
    /// The Serverless Workflow `metadata` (string values only).
    pub metadata: BTreeMap<String, String>,
    /// The resolved input schema (all local `$ref`s inlined), if the workflow declares one and it
    /// could be read.
    pub input_schema: Option<serde_json::Value>,
    /// Where the definition came from.
    pub origin: Origin,
    /// What a Data Index says about its deployment; `None` when no Data Index is configured.
    pub deployment: Option<DeploymentInfo>,
    /// States and transitions, for the diagram (shared with the parse cache).
    pub graph: Arc<Graph>,
}

/// A workflow's deployment, as the Data Index reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeploymentInfo {
    pub availability: Availability,
    /// The workflow service's base URL (`serviceUrl`).
    pub service_url: Option<String>,
    /// The deployed version, exactly as the Data Index reports it.
    pub version: Option<String>,
}

/// Whether a workflow can be run: `orchestrator.io/availability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Availability {
    /// Deployed, and the SonataFlow operator does not say otherwise.
    Available,
    /// Deployed once, but `metadata.status` is `unavailable`: the operator saw it removed.
    Unavailable,
    /// No configured Data Index deploys it (it is only in git or a folder).
    #[default]
    NotDeployed,
}

impl Availability {
    /// The annotation value: `available`, `unavailable` or `not-deployed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Available => "available",
            Availability::Unavailable => "unavailable",
            Availability::NotDeployed => "not-deployed",
        }
    }
}

/// Where a workflow definition was read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The file, relative to the source root, with `/` separators.
    pub path: String,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Whether the definition was embedded in a `kind: SonataFlow` custom resource.
    pub custom_resource: bool,
    /// A location the catalog can link to (folder URL, view and edit URLs), when the source knows it.
    pub links: Option<SourceLinks>,
}

/// Links to the source of a workflow, for `backstage.io/source-location` and friends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceLinks {
    /// Value for `backstage.io/source-location`, e.g. `url:https://github.com/o/r/tree/main/flows/`.
    pub source_location: String,
    pub view_url: Option<String>,
    pub edit_url: Option<String>,
    /// For `orchestrator.io/source-commit`: the last commit that changed the definition's file.
    pub commit: Option<String>,
}
