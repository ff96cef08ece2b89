//! Mapping: a [`Workflow`](crate::workflow::Workflow) becomes a Backstage `Template` entity.
//!
//! Pure and deterministic: no I/O, no clock, no randomness; the same workflows and options give
//! byte-identical YAML. Names are chosen for the whole set at once (Backstage compares names
//! case-insensitively, so two ids can collide), everything else per workflow.
//!
//! - [`name`]: valid Backstage names and tags, and the collision rule ([`assign_names`]).
//! - [`form`]: the input JSON Schema as scaffolder form pages (`spec.parameters`).
//! - [`escape`]: keeps workflow text literal where the scaffolder evaluates `${{ }}`.
//! - [`map`]: the [`Template`] entity, [`map_all`] and YAML output.

pub mod escape;
pub mod form;
pub mod map;
pub mod name;

pub use escape::literal;
pub use map::{Template, map_all, to_yaml, to_yaml_one};
pub use name::{assign_names, is_valid_name, is_valid_tag, sanitize};

/// Who owns a template, decided per workflow: the first rule that matches wins, else the default.
#[derive(Debug, Clone)]
pub struct OwnerRule {
    /// Glob over the workflow file's path relative to its source root (`team-a/**`).
    pub path: Option<globset::GlobMatcher>,
    /// Glob over the workflow id (`billing-*`).
    pub id: Option<globset::GlobMatcher>,
    /// The owner entity ref, e.g. `group:default/team-a`.
    pub owner: String,
}

/// Everything the mapper takes from configuration.
#[derive(Debug, Clone)]
pub struct MapOptions {
    /// `metadata.namespace` of every template.
    pub namespace: String,
    /// `spec.type` (the legacy orchestrator card keys on `workflow`).
    pub spec_type: String,
    /// `spec.owner` when no rule matches.
    pub owner: String,
    pub owner_rules: Vec<OwnerRule>,
    pub system: Option<String>,
    pub lifecycle: Option<String>,
    /// The scaffolder action that runs a workflow.
    pub action: String,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self {
            namespace: "default".into(),
            spec_type: "workflow".into(),
            owner: "unknown".into(),
            owner_rules: Vec::new(),
            system: None,
            lifecycle: None,
            action: "orchestrator:workflow:run".into(),
        }
    }
}
