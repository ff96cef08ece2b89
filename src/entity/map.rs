//! Workflows to `Template` entities, and entities to YAML.
//!
//! Every workflow becomes one `scaffolder.backstage.io/v1beta3` Template whose single step runs
//! the workflow with the form's values. Names are chosen for the whole set ([`assign_names`]), the
//! rest per workflow; the output is sorted by name, so the same workflows in any order give the
//! same entities and byte-identical YAML.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::escape::literal;
use super::links::{EntityLink, links};
use super::name::{assign_names, is_valid_tag, sanitize_tag};
use super::options::{MapOptions, OwnerRule};
use super::text;
use super::{form, stock_form};
use crate::workflow::{Diagnostic, MAX_SCHEMA_DEPTH, Workflow, nests_deeper_than};

/// `apiVersion` of every Template.
pub const API_VERSION: &str = "scaffolder.backstage.io/v1beta3";
/// The id of the step that runs the workflow; `spec.output` reads its output.
pub const RUN_STEP_ID: &str = "runWorkflow";
/// SonataFlow's version when a workflow declares none.
pub const DEFAULT_WORKFLOW_VERSION: &str = "1.0";
/// The largest form (`spec.parameters`, measured as compact JSON) a Template carries; a larger
/// one is dropped with a warning. The largest form of the ~650 corpus workflows is under 100 KB;
/// this bounds what one workflow can make the daemon hold and the catalog store.
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// Annotation keys written on every Template (plus the `backstage.io/*` source links when known).
pub mod annotation {
    /// The workflow id exactly as written (the entity name may differ).
    pub const WORKFLOW_ID: &str = "orchestrator.io/workflow-id";
    /// A JSON array of the workflow ids this Template runs, as the orchestrator plugin reads it.
    pub const WORKFLOWS: &str = "orchestrator.io/workflows";
    pub const WORKFLOW_VERSION: &str = "orchestrator.io/workflow-version";
    /// SHA-256 of the source file: versions are not bumped when content changes.
    pub const SOURCE_SHA256: &str = "orchestrator.io/source-sha256";
    pub const SOURCE_LOCATION: &str = "backstage.io/source-location";
    pub const VIEW_URL: &str = "backstage.io/view-url";
    pub const EDIT_URL: &str = "backstage.io/edit-url";
    /// The last git commit that changed the workflow's file (not the head: that would change
    /// every template on every push).
    pub const SOURCE_COMMIT: &str = "orchestrator.io/source-commit";
    /// `available`, `unavailable` or `not-deployed`, when a Data Index is configured.
    pub const AVAILABILITY: &str = "orchestrator.io/availability";
    /// The workflow service's URL, for a deployed workflow.
    pub const SERVICE_URL: &str = "orchestrator.io/service-url";
    /// The version the Data Index reports as deployed.
    pub const DEPLOYED_VERSION: &str = "orchestrator.io/deployed-version";
    /// The form widgets replaced or removed for the stock Create page, comma-separated, sorted
    /// (see [`stock_form`](super::super::stock_form)); absent when the form is whole.
    pub const FORM_DEGRADED: &str = "orchestrator.io/form-degraded";
}

/// A Backstage scaffolder Template entity, fields in the order they are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: TemplateSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub namespace: String,
    pub name: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    /// See [`links`]: in [`LinkKind`](super::LinkKind) order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<EntityLink>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSpec {
    #[serde(rename = "type")]
    pub spec_type: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// Form pages: a JSON array (see [`form::parameters`]). Written in YAML flow style below
    /// a depth, so that its size stays linear in the schema's (see [`super::render`]).
    #[serde(serialize_with = "super::render::form")]
    pub parameters: serde_json::Value,
    pub steps: Vec<Step>,
    pub output: Output,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub name: String,
    pub action: String,
    pub input: StepInput,
}

/// Input of the run step. The scaffolder renders every string here: workflow text goes through
/// [`literal`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInput {
    pub workflow_id: String,
    /// Always `${{ parameters }}`: the form's merged values, passed on as an object.
    pub parameters: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub title: String,
    pub url: String,
}

/// Maps every workflow to a Template, sorted by `metadata.name`.
///
/// Ids must be unique (the caller resolves duplicates); names come from [`assign_names`] over all
/// ids, so they are valid, distinct under Backstage's case-insensitive comparison, and do not
/// depend on the order of `workflows`.
pub fn map_all<W: Borrow<Workflow> + Sync>(workflows: &[W], opts: &MapOptions) -> Vec<Template> {
    map_all_with_diagnostics(workflows, opts).0
}

/// [`map_all`], and a diagnostic for each thing the mapping dropped or changed, in template
/// order after the errors: a workflow whose id holds a control character is not mapped (an
/// error); control characters elsewhere are replaced (a warning); a form nested deeper than
/// [`MAX_SCHEMA_DEPTH`] or larger than [`MAX_FORM_BYTES`] is left out (a warning); a form
/// changed so that it renders on the Create page gets a warning per change (naming the field
/// and the widget). Each names the workflow's file and its id.
pub fn map_all_with_diagnostics<W: Borrow<Workflow> + Sync>(
    workflows: &[W],
    opts: &MapOptions,
) -> (Vec<Template>, Vec<Diagnostic>) {
    map_all_into(workflows, opts, |_, t| t)
}

/// [`map_all_with_diagnostics`], each template handed to `into` (with the workflow it was mapped
/// from) as soon as it is mapped, on the core that mapped it: a caller that keeps something
/// smaller than a [`Template`] (the daemon keeps the rendered document) never holds every
/// Template at once.
pub fn map_all_into<W, T, F>(
    workflows: &[W],
    opts: &MapOptions,
    into: F,
) -> (Vec<T>, Vec<Diagnostic>)
where
    W: Borrow<Workflow> + Sync,
    T: Send,
    F: Fn(&Workflow, Template) -> T + Sync,
{
    let (named, mut diagnostics) = name_all(workflows);
    // Names need the whole set; each template then maps on its own, on every core, in name
    // order.
    let mapped: Vec<(T, Vec<Diagnostic>)> = named
        .into_par_iter()
        .map(|(i, name)| {
            let workflow = workflows[i].borrow();
            let (template, notes) = map_one(workflow, name, opts);
            (into(workflow, template), notes)
        })
        .collect();
    let templates = mapped
        .into_iter()
        .map(|(template, notes)| {
            diagnostics.extend(notes);
            template
        })
        .collect();
    (templates, diagnostics)
}

/// The first half of [`map_all_with_diagnostics`], for a caller that maps a batch at a time:
/// each mappable workflow's index in `workflows` and its template's name, sorted by name (the
/// order of the output), and an error for each workflow whose id cannot be mapped.
pub fn name_all<W: Borrow<Workflow>>(workflows: &[W]) -> (Vec<(usize, String)>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut usable: Vec<usize> = Vec::with_capacity(workflows.len());
    for (i, workflow) in workflows.iter().map(Borrow::borrow).enumerate() {
        let mut found = BTreeSet::new();
        if text::clean(&workflow.id, &mut found) != workflow.id {
            diagnostics.push(Diagnostic::error(
                &workflow.origin.path,
                Some(&workflow.id),
                format!(
                    "the id holds control characters ({}): SonataFlow cannot deploy it under that id, and no catalog should store it; remove them",
                    text::describe(&found)
                ),
            ));
        } else {
            usable.push(i);
        }
    }
    let ids: Vec<&str> = usable
        .iter()
        .map(|&i| workflows[i].borrow().id.as_str())
        .collect();
    let names = assign_names(&ids);
    let mut named: Vec<(usize, String)> = usable.into_iter().zip(names).collect();
    named.sort_by(|a, b| a.1.cmp(&b.1));
    (named, diagnostics)
}

/// One workflow as the Template named `name` (from [`name_all`]), and what the mapping
/// dropped or changed (see [`map_all_with_diagnostics`]).
pub fn map_one(
    workflow: &Workflow,
    name: String,
    opts: &MapOptions,
) -> (Template, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let warn =
        |message: String| Diagnostic::warning(&workflow.origin.path, Some(&workflow.id), message);
    let id = workflow.id.as_str();
    let title = workflow
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(id)
        .to_owned();
    let description = workflow
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let mut parameters = match &workflow.input_schema {
        Some(schema) => form_of(schema, &title).unwrap_or_else(|reason| {
            diagnostics.push(warn(format!(
                "input schema: {reason}; the template is published without a form"
            )));
            serde_json::json!([])
        }),
        None => serde_json::json!([]),
    };
    let changes = stock_form::fit(&mut parameters, &opts.widgets);
    let mut annotations = annotations(workflow);
    let degraded: BTreeSet<&str> = changes.iter().filter_map(|c| c.widget.as_deref()).collect();
    if !degraded.is_empty() {
        let list: Vec<&str> = degraded.into_iter().collect();
        annotations.insert(annotation::FORM_DEGRADED.into(), list.join(","));
    }
    diagnostics.extend(
        changes
            .into_iter()
            .map(|c| Diagnostic::warning(&workflow.origin.path, Some(id), c.message)),
    );

    let links = links(workflow, &name, opts);
    let mut template = Template {
        api_version: API_VERSION.into(),
        kind: "Template".into(),
        metadata: Metadata {
            namespace: opts.namespace.clone(),
            name,
            title,
            description,
            tags: tags(&workflow.annotations),
            annotations,
            links,
        },
        spec: TemplateSpec {
            spec_type: opts.spec_type.clone(),
            owner: owner(workflow, opts),
            system: opts.system.clone(),
            lifecycle: opts.lifecycle.clone(),
            parameters,
            steps: vec![Step {
                id: RUN_STEP_ID.into(),
                name: "Run workflow".into(),
                action: opts.action.clone(),
                input: StepInput {
                    workflow_id: literal(id),
                    parameters: "${{ parameters }}".into(),
                },
            }],
            output: Output {
                links: vec![Link {
                    title: "Open workflow run".into(),
                    url: format!("${{{{ steps.{RUN_STEP_ID}.output.instanceUrl }}}}"),
                }],
            },
        },
    };
    if let Some(message) = clean_text(&mut template) {
        diagnostics.push(warn(message));
    }
    (template, diagnostics)
}

/// The form pages of a schema, or why the template gets none.
fn form_of(schema: &serde_json::Value, title: &str) -> Result<serde_json::Value, String> {
    // Schemas resolved from files are already bounded; one from a workflow service is not.
    if nests_deeper_than(schema, MAX_SCHEMA_DEPTH) {
        return Err(format!(
            "objects and lists nest more than {MAX_SCHEMA_DEPTH} deep; flatten the schema"
        ));
    }
    let pages = form::parameters(schema, title, MAX_FORM_BYTES).ok_or_else(|| {
        format!(
            "the form would be over the {MAX_FORM_BYTES}-byte limit per template with the schema's `definitions` copied into every page that `$ref`s them; inline them or share less through `$ref`s"
        )
    })?;
    let size = json_size(&pages);
    if size > MAX_FORM_BYTES {
        return Err(format!(
            "the form is {size} bytes as JSON, over the {MAX_FORM_BYTES}-byte limit per template; split the workflow's input or share less through `$ref`s"
        ));
    }
    Ok(pages)
}

/// The length of a value's compact JSON, without building it.
pub fn json_size(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("counting never fails");
    count.0
}

/// Replaces control characters in every text of the entity that comes from a workflow or a
/// source (see [`text`]); the warning, if any was found.
fn clean_text(template: &mut Template) -> Option<String> {
    let mut found = BTreeSet::new();
    let mut places: Vec<String> = Vec::new();
    let meta = &mut template.metadata;
    if text::clean_in_place(&mut meta.title, &mut found) {
        places.push("the title".into());
    }
    if let Some(d) = &mut meta.description
        && text::clean_in_place(d, &mut found)
    {
        places.push("the description".into());
    }
    for (key, value) in meta.annotations.iter_mut() {
        if text::clean_in_place(value, &mut found) {
            places.push(format!("`{key}`"));
        }
    }
    for tag in &mut meta.tags {
        if text::clean_in_place(tag, &mut found) {
            places.push("the tags".into());
        }
    }
    if text::clean_value(&mut template.spec.parameters, &mut found) {
        places.push("the input schema".into());
    }
    if found.is_empty() {
        return None;
    }
    places.dedup();
    Some(format!(
        "control characters ({}) replaced by U+FFFD in {}: PostgreSQL, which Backstage runs on in production, refuses NUL in text, and terminals act on ESC",
        text::describe(&found),
        places.join(", ")
    ))
}

/// `orchestrator`, then the category of each `workflow-type/<category>` annotation (as a tag),
/// then every other annotation that is already a valid tag; without duplicates, in that order.
fn tags(annotations: &[String]) -> Vec<String> {
    let categories = annotations
        .iter()
        .filter_map(|a| a.strip_prefix("workflow-type/"))
        .filter_map(sanitize_tag);
    let others = annotations
        .iter()
        .filter(|a| !a.starts_with("workflow-type/") && is_valid_tag(a))
        .cloned();
    let mut tags: Vec<String> = Vec::new();
    for tag in std::iter::once("orchestrator".to_owned())
        .chain(categories)
        .chain(others)
    {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

fn annotations(workflow: &Workflow) -> BTreeMap<String, String> {
    let id = workflow.id.as_str();
    let mut out = BTreeMap::new();
    out.insert(annotation::WORKFLOW_ID.into(), id.to_owned());
    out.insert(
        annotation::WORKFLOWS.into(),
        serde_json::to_string(&[id]).expect("a list of strings serialises"),
    );
    out.insert(
        annotation::WORKFLOW_VERSION.into(),
        workflow
            .version
            .clone()
            .unwrap_or_else(|| DEFAULT_WORKFLOW_VERSION.into()),
    );
    out.insert(
        annotation::SOURCE_SHA256.into(),
        workflow.origin.sha256.clone(),
    );
    if let Some(links) = &workflow.origin.links {
        out.insert(
            annotation::SOURCE_LOCATION.into(),
            links.source_location.clone(),
        );
        if let Some(url) = &links.view_url {
            out.insert(annotation::VIEW_URL.into(), url.clone());
        }
        if let Some(url) = &links.edit_url {
            out.insert(annotation::EDIT_URL.into(), url.clone());
        }
        if let Some(commit) = &links.commit {
            out.insert(annotation::SOURCE_COMMIT.into(), commit.clone());
        }
    }
    if let Some(deployment) = &workflow.deployment {
        out.insert(
            annotation::AVAILABILITY.into(),
            deployment.availability.as_str().into(),
        );
        if let Some(url) = &deployment.service_url {
            out.insert(annotation::SERVICE_URL.into(), url.clone());
        }
        if let Some(version) = &deployment.version {
            out.insert(annotation::DEPLOYED_VERSION.into(), version.clone());
        }
    }
    out
}

/// The owner of the first rule that matches, else the default. A rule matches when each glob it
/// has matches (the path glob against `origin.path`, the id glob against the id); a rule with no
/// glob matches every workflow.
fn owner(workflow: &Workflow, opts: &MapOptions) -> String {
    let matches = |rule: &OwnerRule| {
        rule.path
            .as_ref()
            .is_none_or(|g| g.is_match(Path::new(&workflow.origin.path)))
            && rule.id.as_ref().is_none_or(|g| g.is_match(&workflow.id))
    };
    opts.owner_rules
        .iter()
        .find(|rule| matches(rule))
        .map_or_else(|| opts.owner.clone(), |rule| rule.owner.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{Origin, SourceLinks};
    use globset::Glob;
    use serde_json::json;

    fn workflow(id: &str) -> Workflow {
        Workflow {
            id: id.into(),
            origin: Origin {
                path: format!("flows/{id}.sw.yaml"),
                sha256: "ab".repeat(32),
                ..Origin::default()
            },
            ..Workflow::default()
        }
    }

    fn map_single(w: Workflow, opts: &MapOptions) -> Template {
        map_all(&[w], opts).remove(0)
    }

    #[test]
    fn title_falls_back_to_id_and_blank_description_is_omitted() {
        let mut w = workflow("greeting");
        w.name = Some("  ".into());
        w.description = Some(" \n ".into());
        let t = map_single(w, &MapOptions::default());
        assert_eq!(t.metadata.title, "greeting");
        assert_eq!(t.metadata.description, None);
    }

    #[test]
    fn description_is_trimmed() {
        let mut w = workflow("greeting");
        w.description = Some("  Says hello.\n".into());
        let t = map_single(w, &MapOptions::default());
        assert_eq!(t.metadata.description.as_deref(), Some("Says hello."));
    }

    #[test]
    fn missing_version_is_sonataflow_default() {
        let t = map_single(workflow("greeting"), &MapOptions::default());
        assert_eq!(t.metadata.annotations[annotation::WORKFLOW_VERSION], "1.0");
    }

    #[test]
    fn workflows_annotation_is_a_json_array() {
        let t = map_single(workflow(r#"a"b"#), &MapOptions::default());
        assert_eq!(t.metadata.annotations[annotation::WORKFLOWS], r#"["a\"b"]"#);
    }

    #[test]
    fn templated_id_is_escaped_in_step_input_only() {
        let id = "${{ values.workflowId }}";
        let t = map_single(workflow(id), &MapOptions::default());
        assert_eq!(t.spec.steps[0].input.workflow_id, literal(id));
        assert_eq!(t.metadata.annotations[annotation::WORKFLOW_ID], id);
        assert_eq!(t.metadata.title, id);
    }

    #[test]
    fn tags_put_category_first_and_skip_invalid_annotations() {
        let annotations = [
            "Self Service",
            "workflow-type/Infrastructure",
            "demo",
            "orchestrator",
            "workflow-type/日本",
            "demo",
            "Bad_Tag",
        ];
        assert_eq!(
            tags(&annotations.map(String::from)),
            ["orchestrator", "infrastructure", "demo"]
        );
    }

    #[test]
    fn first_matching_owner_rule_wins() {
        let glob = |g: &str| Some(Glob::new(g).unwrap().compile_matcher());
        let opts = MapOptions {
            owner_rules: vec![
                OwnerRule {
                    path: glob("team-a/**"),
                    id: glob("billing-*"),
                    owner: "group:default/a-billing".into(),
                },
                OwnerRule {
                    path: glob("team-a/**"),
                    id: None,
                    owner: "group:default/a".into(),
                },
                OwnerRule {
                    path: None,
                    id: glob("billing-*"),
                    owner: "group:default/billing".into(),
                },
            ],
            ..MapOptions::default()
        };
        let at = |path: &str, id: &str| {
            let mut w = workflow(id);
            w.origin.path = path.into();
            map_single(w, &opts).spec.owner
        };
        assert_eq!(
            at("team-a/x/f.sw.yaml", "billing-run"),
            "group:default/a-billing"
        );
        assert_eq!(at("team-a/f.sw.yaml", "other"), "group:default/a");
        assert_eq!(
            at("team-b/f.sw.yaml", "billing-run"),
            "group:default/billing"
        );
        assert_eq!(at("team-b/f.sw.yaml", "other"), "unknown");
    }

    #[test]
    fn source_links_become_backstage_annotations() {
        let mut w = workflow("greeting");
        w.origin.links = Some(SourceLinks {
            source_location: "url:https://example.com/tree/main/flows/".into(),
            view_url: Some("https://example.com/blob/main/flows/g.sw.yaml".into()),
            edit_url: None,
            commit: None,
        });
        let t = map_single(w, &MapOptions::default());
        let a = &t.metadata.annotations;
        assert_eq!(
            a[annotation::SOURCE_LOCATION],
            "url:https://example.com/tree/main/flows/"
        );
        assert!(a.contains_key(annotation::VIEW_URL));
        assert!(!a.contains_key(annotation::EDIT_URL));
    }

    #[test]
    fn schema_becomes_form_pages() {
        let mut w = workflow("greeting");
        w.name = Some("Greeting".into());
        w.input_schema = Some(json!({"type": "object", "properties": {"n": {"type": "string"}}}));
        let t = map_single(w, &MapOptions::default());
        assert_eq!(t.spec.parameters[0]["title"], "Greeting");
    }

    #[test]
    fn output_is_sorted_by_name() {
        let ws = [workflow("b"), workflow("c"), workflow("a")];
        let names: Vec<_> = map_all(&ws, &MapOptions::default())
            .into_iter()
            .map(|t| t.metadata.name)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn control_characters_are_replaced_with_a_warning_and_an_id_holding_one_is_an_error() {
        let mut w = workflow("ctrl");
        w.name = Some("a\0b\u{1b}[31m".into());
        w.description = Some("bell\u{7} tab\tkept".into());
        w.version = Some("1\0".into());
        w.input_schema = Some(json!({"type": "object", "properties": {
            "n\u{1b}": {"type": "string", "default": "x\0"}}}));
        let bad = workflow("bad\u{1b}id");
        let (templates, diagnostics) = map_all_with_diagnostics(&[w, bad], &MapOptions::default());
        assert_eq!(templates.len(), 1);
        let t = &templates[0];
        assert_eq!(t.metadata.title, "a\u{fffd}b\u{fffd}[31m");
        assert_eq!(
            t.metadata.description.as_deref(),
            Some("bell\u{fffd} tab\tkept")
        );
        assert_eq!(
            t.metadata.annotations[annotation::WORKFLOW_VERSION],
            "1\u{fffd}"
        );
        let json = serde_json::to_string(t).unwrap();
        assert!(
            !json.contains("\\u0000") && !json.contains("\\u001b"),
            "{json}"
        );
        let shown: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:#?}");
        assert!(shown[0].starts_with("error: flows/bad\\u{1b}id.sw.yaml: workflow \"bad\\u{1b}id\": the id holds control characters (U+001B)"), "{shown:#?}");
        assert!(shown[1].starts_with("warning: flows/ctrl.sw.yaml: workflow \"ctrl\": control characters (U+0000, U+0007, U+001B) replaced by U+FFFD in the title, the description, `orchestrator.io/workflow-version`, the input schema"), "{shown:#?}");
    }

    #[test]
    fn a_degraded_form_is_annotated_and_each_change_is_a_warning_naming_the_workflow() {
        let mut w = workflow("courses");
        w.input_schema = Some(json!({"type": "object", "properties": {
            "name": {"type": "string", "ui:widget": "ActiveTextInput"},
            "up": {"type": "string", "ui:widget": "SchemaUpdater"},
            "also": {"type": "string", "ui:widget": "ActiveTextInput"}
        }}));
        let (templates, diagnostics) = map_all_with_diagnostics(&[w], &MapOptions::default());
        assert_eq!(
            templates[0].metadata.annotations[annotation::FORM_DEGRADED],
            "ActiveTextInput,SchemaUpdater"
        );
        assert_eq!(diagnostics.len(), 3);
        for d in &diagnostics {
            assert_eq!(d.severity, crate::workflow::Severity::Warning);
            assert_eq!(d.file, "flows/courses.sw.yaml");
            assert_eq!(d.workflow_id.as_deref(), Some("courses"));
        }
        let whole = map_single(workflow("plain"), &MapOptions::default());
        assert!(
            !whole
                .metadata
                .annotations
                .contains_key(annotation::FORM_DEGRADED)
        );
    }
}
