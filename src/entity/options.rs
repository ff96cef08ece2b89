//! What the mapper takes from the configuration: namespace, type, owner (by rule), system,
//! lifecycle, the scaffolder action, the widget policy, the Orchestrator's URL and the diagrams'
//! browser-facing URL.

use super::stock_form::{Policy, WidgetPolicy};
use crate::config::{DiagramsConfig, TemplatesConfig, WidgetPolicyName};

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
    /// What happens to form widgets the stock scaffolder does not have.
    pub widgets: WidgetPolicy,
    /// The Backstage app's base URL, for the "Run in the Orchestrator" link; none: no link.
    pub orchestrator_url: Option<String>,
    /// Where a browser reaches the daemon's `/diagrams/` paths (`diagrams.baseUrl`), for the
    /// "Workflow diagram" link; none: no link.
    pub diagram_base_url: Option<String>,
}

impl MapOptions {
    /// The options the `templates` section of the configuration describes (its globs were
    /// checked when the configuration was built).
    pub fn from_config(t: &TemplatesConfig) -> Self {
        let matcher = |g: &Option<String>| {
            g.as_ref()
                .map(|g| globset::Glob::new(g).expect("validated").compile_matcher())
        };
        MapOptions {
            namespace: t.namespace.clone(),
            spec_type: t.spec_type.clone(),
            owner: t.owner.clone(),
            owner_rules: t
                .owner_rules
                .iter()
                .map(|r| OwnerRule {
                    path: matcher(&r.path),
                    id: matcher(&r.id),
                    owner: r.owner.clone(),
                })
                .collect(),
            system: t.system.clone(),
            lifecycle: t.lifecycle.clone(),
            action: t.action.clone(),
            widgets: WidgetPolicy {
                policy: match t.widgets.policy {
                    WidgetPolicyName::Portable => Policy::Portable,
                    WidgetPolicyName::Keep => Policy::Keep,
                },
                allow: t.widgets.allow.iter().cloned().collect(),
            },
            orchestrator_url: t.orchestrator_url.clone(),
            diagram_base_url: None,
        }
    }

    /// With the diagram link of the `diagrams` section.
    pub fn with_diagrams(self, d: &DiagramsConfig) -> Self {
        Self {
            diagram_base_url: d.base_url.clone(),
            ..self
        }
    }
}

/// The configuration's defaults (`templates`: namespace `default`, type `workflow`, owner
/// `unknown`, action `orchestrator:workflow:run`, widget policy `portable`, no Orchestrator URL).
impl Default for MapOptions {
    fn default() -> Self {
        Self::from_config(&TemplatesConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WidgetsConfig;

    #[test]
    fn the_widget_policy_and_orchestrator_url_reach_the_mapper() {
        let t = TemplatesConfig {
            widgets: WidgetsConfig {
                policy: WidgetPolicyName::Keep,
                allow: vec!["CountryWidget".into()],
            },
            orchestrator_url: Some("https://rhdh.example.com".into()),
            ..TemplatesConfig::default()
        };
        let m = MapOptions::from_config(&t);
        assert_eq!(m.widgets.policy, Policy::Keep);
        assert_eq!(m.widgets.allow, ["CountryWidget".to_owned()].into());
        assert_eq!(
            m.orchestrator_url.as_deref(),
            Some("https://rhdh.example.com")
        );
        let d = MapOptions::default();
        assert_eq!(d.widgets, WidgetPolicy::default());
        assert_eq!(d.orchestrator_url, None);
    }
}
