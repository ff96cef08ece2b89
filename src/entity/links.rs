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
    /// "Workflow diagram": the SVG of the workflow's states, `<diagrams.baseUrl>/diagrams/<name>.svg`
    /// (served by the daemon, or written by `export --out` for a static host).
    Diagram,
}

/// The title of the diagram link.
pub const DIAGRAM_TITLE: &str = "Workflow diagram";
/// The Backstage system icon of the diagram link.
pub const DIAGRAM_ICON: &str = "dashboard";

/// One entry of `metadata.links` (Backstage's `EntityLink`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityLink {
    pub url: String,
    pub title: String,
    /// A Backstage system icon name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

/// Where a browser finds the diagram of the template `name` under `base` (a URL).
pub fn diagram_url(base: &str, name: &str) -> String {
    format!("{}/diagrams/{name}.svg", base.trim_end_matches('/'))
}

/// The links of one workflow's Template (named `name`), in [`LinkKind`] order.
pub fn links(workflow: &Workflow, name: &str, opts: &MapOptions) -> Vec<EntityLink> {
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
                icon: None,
            },
        ));
    }
    if let Some(base) = &opts.diagram_base_url {
        found.push((
            LinkKind::Diagram,
            EntityLink {
                url: diagram_url(base, name),
                title: DIAGRAM_TITLE.into(),
                icon: Some(DIAGRAM_ICON.into()),
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

    fn workflow(id: &str) -> Workflow {
        Workflow {
            id: id.into(),
            origin: Origin {
                path: "f.sw.yaml".into(),
                sha256: "00".repeat(32),
                ..Origin::default()
            },
            ..Workflow::default()
        }
    }

    #[test]
    fn no_orchestrator_url_no_link() {
        assert_eq!(links(&workflow("a"), "a", &MapOptions::default()), []);
    }

    #[test]
    fn run_in_the_orchestrator_links_to_the_workflows_execute_page() {
        let opts = MapOptions {
            orchestrator_url: Some("https://rhdh.example.com/".into()),
            ..MapOptions::default()
        };
        assert_eq!(
            links(&workflow("a b/${{ x }}"), "a-b-x", &opts),
            [EntityLink {
                url: "https://rhdh.example.com/orchestrator/workflows/a%20b%2F%24%7B%7B%20x%20%7D%7D/execute".into(),
                title: "Run in the Orchestrator".into(),
                icon: None,
            }]
        );
    }

    #[test]
    fn the_diagram_link_comes_after_run_in_the_orchestrator_and_names_the_template() {
        let opts = MapOptions {
            orchestrator_url: Some("https://rhdh.example.com".into()),
            diagram_base_url: Some("https://rhdh.example.com/api/proxy/op/".into()),
            ..MapOptions::default()
        };
        let got = links(&workflow("My Flow"), "My-Flow", &opts);
        let titles: Vec<&str> = got.iter().map(|l| l.title.as_str()).collect();
        assert_eq!(titles, ["Run in the Orchestrator", "Workflow diagram"]);
        assert_eq!(
            got[1],
            EntityLink {
                url: "https://rhdh.example.com/api/proxy/op/diagrams/My-Flow.svg".into(),
                title: "Workflow diagram".into(),
                icon: Some("dashboard".into()),
            }
        );
        let only = MapOptions {
            diagram_base_url: opts.diagram_base_url.clone(),
            ..MapOptions::default()
        };
        assert_eq!(links(&workflow("a"), "a", &only).len(), 1);
    }
}
