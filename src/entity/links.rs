//! `metadata.links`: the links a Template shows on its catalog page, in one fixed order.
//!
//! Every feature that adds a link adds a [`LinkKind`] variant; the links are written in the order
//! the variants are declared, whatever order they were collected in, so features can be added
//! without moving each other's links.

use serde::{Deserialize, Serialize};

use super::options::MapOptions;
use crate::workflow::Workflow;

/// The kinds of link the mapper writes. Declaration order is output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkKind {
    /// "Run in the Orchestrator": the workflow's run page in the Orchestrator, which has every
    /// widget of the workflow's form (with `templates.orchestratorUrl`).
    RunInOrchestrator,
}

/// One entry of `metadata.links` (Backstage's `EntityLink`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityLink {
    pub url: String,
    pub title: String,
}

/// The links of one workflow's Template, in [`LinkKind`] order.
pub fn links(workflow: &Workflow, opts: &MapOptions) -> Vec<EntityLink> {
    let mut found: Vec<(LinkKind, EntityLink)> = Vec::new();
    if let Some(base) = &opts.orchestrator_url {
        found.push((
            LinkKind::RunInOrchestrator,
            EntityLink {
                url: format!(
                    "{}/orchestrator/workflows/{}/execute",
                    base.trim_end_matches('/'),
                    crate::workflow::percent_encode_segment(&workflow.id)
                ),
                title: "Run in the Orchestrator".into(),
            },
        ));
    }
    found.sort_by_key(|(kind, _)| *kind);
    found.into_iter().map(|(_, link)| link).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Origin;
    use std::collections::BTreeMap;

    fn workflow(id: &str) -> Workflow {
        Workflow {
            id: id.into(),
            name: None,
            description: None,
            version: None,
            annotations: Vec::new(),
            metadata: BTreeMap::new(),
            input_schema: None,
            origin: Origin {
                path: "f.sw.yaml".into(),
                sha256: "00".repeat(32),
                custom_resource: false,
                links: None,
            },
            deployment: None,
            graph: Default::default(),
        }
    }

    #[test]
    fn no_orchestrator_url_no_link() {
        assert_eq!(links(&workflow("a"), &MapOptions::default()), []);
    }

    #[test]
    fn run_in_the_orchestrator_links_to_the_workflows_execute_page() {
        let opts = MapOptions {
            orchestrator_url: Some("https://rhdh.example.com/".into()),
            ..MapOptions::default()
        };
        assert_eq!(
            links(&workflow("a b/${{ x }}"), &opts),
            [EntityLink {
                url: "https://rhdh.example.com/orchestrator/workflows/a%20b%2F%24%7B%7B%20x%20%7D%7D/execute".into(),
                title: "Run in the Orchestrator".into(),
            }]
        );
    }
}
