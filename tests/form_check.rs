//! The form check: every template's form works on the scaffolder's Create page.
//!
//! Run with the scaffolder frontend's own form stack in Node (`tests/e2e/scaffolder/form`, pinned
//! as `../shared/backstage-scaffolder` lists it; see `support/scaffolder.rs`): for every bundled
//! and every corpus template, each page's schema compiles with the browser form's ajv, renders
//! with `@rjsf/core` (`renderToString`), and the values the value generator produces for it pass
//! the browser validator, the "Next" walk and the scaffolder backend's own check. Templates whose
//! form the mapper degraded must still submit values the workflow's own (resolved) input schema
//! accepts. The `keep` policy and the allow-list are checked against the same real form, and the
//! README's widget table has one snapshot per row: the page's schema and uiSchema as the Create
//! page splits them, and what it renders for each field.

#[path = "support/scaffolder.rs"]
mod scaffolder;

use std::collections::{BTreeMap, BTreeSet};

use orchestrator_provider::config::{
    Config, DirSourceConfig, SourceConfig, WidgetPolicyName, WidgetsConfig,
};
use orchestrator_provider::entity::{
    MapOptions, WidgetPolicy, map_all_with_diagnostics, stock_form,
};
use orchestrator_provider::pipeline;
use orchestrator_provider::source::Role;
use orchestrator_provider::workflow::{Diagnostic, Origin, Workflow};
use serde_json::{Value, json};

const DEGRADED: &str = "orchestrator.io/form-degraded";
const WORKFLOW_ID: &str = "orchestrator.io/workflow-id";

/// The corpus templates whose pages do not render with the widgets as written.
const WIDGET_TEMPLATES: [&str; 4] = [
    "dynamic-course-select",
    "dynamic_schema",
    "extendable-workflow",
    "largeschema",
];

/// Templates and the resolved input schema of their workflows, for one configuration.
struct Mapped {
    templates: Vec<Value>,
    schemas: BTreeMap<String, Value>,
    diagnostics: Vec<Diagnostic>,
}

fn run(config: &Config) -> Mapped {
    let reads = pipeline::read_sources(config);
    let mut schemas = BTreeMap::new();
    for read in reads.iter().filter(|r| r.role == Role::Definitions) {
        for wf in read
            .snapshot
            .as_ref()
            .into_iter()
            .flat_map(|s| &s.workflows)
        {
            if let Some(schema) = &wf.input_schema {
                // The first definition of an id wins, as in the pipeline.
                schemas
                    .entry(wf.id.clone())
                    .or_insert_with(|| schema.clone());
            }
        }
    }
    let outcome = pipeline::assemble(config, &reads);
    Mapped {
        templates: outcome
            .templates
            .iter()
            .map(|t| serde_json::to_value(t).unwrap())
            .collect(),
        schemas,
        diagnostics: outcome.diagnostics,
    }
}

fn corpus_config(widgets: WidgetsConfig) -> Option<Config> {
    let root = scaffolder::corpus()?;
    let mut config = Config {
        sources: vec![SourceConfig::Dir(DirSourceConfig {
            watch: false,
            ..DirSourceConfig::new(root)
        })],
        ..Config::default()
    };
    config.templates.widgets = widgets;
    Some(config)
}

fn name(t: &Value) -> &str {
    t["metadata"]["name"].as_str().unwrap()
}

/// The check's input: every template, with its workflow's original schema.
fn cases(mapped: &Mapped) -> Value {
    Value::Array(
        mapped
            .templates
            .iter()
            .map(|t| {
                let id = t["metadata"]["annotations"][WORKFLOW_ID].as_str().unwrap();
                json!({"name": name(t), "parameters": t["spec"]["parameters"],
                       "original": mapped.schemas.get(id)})
            })
            .collect(),
    )
}

/// `template: page: problem` for every page with a problem.
fn page_problems(results: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for r in results.as_array().unwrap() {
        for page in r["pages"].as_array().unwrap() {
            for p in page["problems"].as_array().unwrap() {
                let p = p.as_str().unwrap();
                out.push(format!("{}: page {}: {p}", r["name"], page["title"]));
            }
        }
    }
    out
}

#[test]
fn every_page_of_every_template_renders_and_accepts_its_generated_values() {
    if scaffolder::skip_reason().is_some() {
        return;
    }
    let mut batches = vec![run(&Config::default())];
    assert_eq!(batches[0].templates.len(), 5, "the bundled examples");
    if let Some(config) = corpus_config(WidgetsConfig::default()) {
        batches.push(run(&config));
    }
    // Each template with its workflow's schema from its own batch (a corpus id is also bundled).
    let mut input = Vec::new();
    let mut templates = Vec::new();
    for batch in &batches {
        input.extend(cases(batch).as_array().unwrap().iter().cloned());
        templates.extend(batch.templates.iter());
    }
    let results = scaffolder::form_cli("check", &Value::Array(input));
    let problems = page_problems(&results);
    assert!(
        problems.is_empty(),
        "{} pages fail on the Create page:\n{}",
        problems.len(),
        problems.join("\n")
    );

    // A degraded form still submits what the workflow accepts.
    let mut degraded = BTreeSet::new();
    for (t, r) in templates.iter().zip(results.as_array().unwrap()) {
        assert_eq!(r["name"].as_str(), Some(name(t)));
        if t["metadata"]["annotations"].get(DEGRADED).is_none() {
            continue;
        }
        degraded.insert(name(t));
        assert_eq!(
            r["original"],
            json!([]),
            "{}: the submitted values {} fail the workflow's own input schema",
            name(t),
            r["values"]
        );
    }
    if batches.len() > 1 {
        assert_eq!(degraded, BTreeSet::from(WIDGET_TEMPLATES));
    }
}

#[test]
fn with_keep_the_widget_templates_keep_every_widget_and_fail_on_the_create_page() {
    if scaffolder::skip_reason().is_some() {
        return;
    }
    let keep = WidgetsConfig {
        policy: WidgetPolicyName::Keep,
        allow: Vec::new(),
    };
    let Some(config) = corpus_config(keep) else {
        return;
    };
    let mapped = run(&config);
    let mut widgets_in = BTreeMap::new();
    for t in &mapped.templates {
        assert!(
            t["metadata"]["annotations"].get(DEGRADED).is_none(),
            "{}: degraded under keep",
            name(t)
        );
        let id = t["metadata"]["annotations"][WORKFLOW_ID].as_str().unwrap();
        let original = mapped.schemas.get(id).map(widgets).unwrap_or_default();
        assert_eq!(
            widgets(&t["spec"]["parameters"]),
            original,
            "{}: keep must copy every widget",
            name(t)
        );
        widgets_in.insert(name(t), original);
    }
    assert!(
        !mapped
            .diagnostics
            .iter()
            .any(|d| d.message.contains("widget `")),
        "keep reports no widget"
    );
    let results = scaffolder::form_cli("check", &cases(&mapped));
    let failing: BTreeSet<String> = page_problems(&results)
        .iter()
        .map(|p| p.split(':').next().unwrap().trim_matches('"').to_owned())
        .collect();
    assert_eq!(
        failing,
        WIDGET_TEMPLATES.map(String::from).into(),
        "exactly the templates with unregistered widgets fail"
    );
    for p in page_problems(&results) {
        assert!(p.contains("does not render: No widget '"), "{p}");
    }
}

/// Every `ui:widget` value in a schema, in document order.
fn widgets(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "ui:widget" {
                        out.push(v.to_string());
                    }
                    walk(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

fn workflow(id: &str, schema: Value) -> Workflow {
    Workflow {
        id: id.into(),
        input_schema: Some(schema),
        origin: Origin {
            path: format!("{id}.sw.yaml"),
            sha256: "00".repeat(32),
            ..Origin::default()
        },
        ..Workflow::default()
    }
}

/// One page per row of the README's widget table; every page required, so every page submits.
fn widget_table() -> Value {
    json!({"type": "object",
        "required": ["activeTextInput", "activeDropdownEnum", "activeDropdown", "activeMultiSelect",
                     "activeText", "authRequester", "schemaUpdater", "otherWidget"],
        "properties": {
        "activeTextInput": {"type": "object", "title": "ActiveTextInput", "required": ["course"],
            "properties": {"course": {"type": "string", "title": "Course",
                "description": "The course to enrol in", "default": "Rust 101",
                "ui:widget": "ActiveTextInput",
                "ui:props": {"fetch:url": "$${{backend.baseUrl}}/api/proxy/courses",
                             "fetch:response:autocomplete": "courses"}}}},
        "activeDropdownEnum": {"type": "object", "title": "ActiveDropdown with enum",
            "properties": {"teacher": {"type": "string", "title": "Teacher", "enum": ["Ada", "Grace"],
                "ui:widget": "ActiveDropdown",
                "ui:props": {"fetch:url": "$${{backend.baseUrl}}/api/proxy/teachers",
                             "fetch:response:value": "values"}}}},
        "activeDropdown": {"type": "object", "title": "ActiveDropdown without enum",
            "properties": {"room": {"type": "string", "title": "Room", "ui:widget": "ActiveDropdown",
                "ui:props": {"fetch:url": "$${{backend.baseUrl}}/api/proxy/rooms",
                             "fetch:response:value": "values"}}}},
        "activeMultiSelect": {"type": "object", "title": "ActiveMultiSelect",
            "properties": {"drinks": {"type": "array", "title": "Drinks", "items": {"type": "string"},
                "ui:widget": "ActiveMultiSelect",
                "ui:props": {"fetch:url": "$${{backend.baseUrl}}/api/proxy/drinks",
                             "fetch:response:autocomplete": "drinks[]"}}}},
        "activeText": {"type": "object", "title": "ActiveText",
            "properties": {
                "welcome": {"type": "string", "title": "Welcome", "ui:widget": "ActiveText",
                    "ui:props": {"ui:variant": "h3",
                        "ui:text": "Hello **$${{current.activeText.name}}**, read the [guide](https://example.com/guide)."}},
                "name": {"type": "string", "title": "Name"}}},
        "authRequester": {"type": "object", "title": "AuthRequester", "required": ["token", "repo"],
            "properties": {
                "token": {"type": "string", "ui:widget": "AuthRequester",
                    "ui:props": {"authTokenDescriptors": [{"provider": "github", "scope": ["repo"]}]}},
                "repo": {"type": "string", "title": "Repository"}}},
        "schemaUpdater": {"type": "object", "title": "SchemaUpdater",
            "properties": {
                "updater": {"type": "string", "ui:widget": "SchemaUpdater",
                    "ui:props": {"fetch:url": "$${{backend.baseUrl}}/api/proxy/chunk"}},
                "placeholder": {"type": "string", "title": "Replaced by the updater's schema"}}},
        "otherWidget": {"type": "object", "title": "Other widget", "required": ["country"],
            "properties": {"country": {"type": "string", "title": "Country",
                "ui:widget": "CountryWidget"}}}
    }})
}

#[test]
fn each_widget_table_row_renders_as_the_readme_says() {
    if scaffolder::skip_reason().is_some() {
        return;
    }
    let schema = widget_table();
    let (templates, diagnostics) = map_all_with_diagnostics(
        &[workflow("widgets", schema.clone())],
        &MapOptions::default(),
    );
    let t = serde_json::to_value(&templates[0]).unwrap();
    assert_eq!(
        t["metadata"]["annotations"][DEGRADED],
        "ActiveDropdown,ActiveMultiSelect,ActiveText,ActiveTextInput,AuthRequester,CountryWidget,SchemaUpdater"
    );
    let results = scaffolder::form_cli(
        "check",
        &json!([{"name": "widgets", "parameters": t["spec"]["parameters"],
                  "original": schema, "snapshot": true}]),
    );
    let r = &results[0];
    assert_eq!(page_problems(&results), Vec::<String>::new());
    // The one thing the original schema misses is the required field only the Orchestrator's
    // page can fill, and the mapper said so.
    assert_eq!(
        r["original"],
        json!(["/authRequester must have required property 'token'"]),
        "values {}",
        r["values"]
    );
    assert!(diagnostics.iter().any(|d| d.message.contains(
        "`authRequester.token`: widget `AuthRequester` cannot work without the Orchestrator's workflow-run page; the field is removed from the form; the input schema requires it"
    )));
    let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    for (key, page) in keys.iter().zip(r["snapshots"].as_array().unwrap()) {
        let warnings: Vec<&str> = diagnostics
            .iter()
            .filter(|d| d.message.contains(&format!("`{key}.")))
            .map(|d| d.message.as_str())
            .collect();
        insta::assert_json_snapshot!(
            format!("widget_{key}"),
            json!({"schema": page["schema"], "uiSchema": page["uiSchema"],
                   "rendered": page["rendered"], "warnings": warnings})
        );
    }
}

#[test]
fn allowed_widgets_stay_and_then_need_a_scaffolder_that_registers_them() {
    if scaffolder::skip_reason().is_some() {
        return;
    }
    let opts = MapOptions {
        widgets: WidgetPolicy {
            policy: stock_form::Policy::Portable,
            allow: BTreeSet::from(["CountryWidget".to_owned()]),
        },
        ..MapOptions::default()
    };
    let (templates, diagnostics) =
        map_all_with_diagnostics(&[workflow("widgets", widget_table())], &opts);
    let t = serde_json::to_value(&templates[0]).unwrap();
    assert_eq!(
        t["spec"]["parameters"][7]["properties"]["otherWidget"]["properties"]["country"]["ui:widget"],
        "CountryWidget"
    );
    assert!(
        !diagnostics
            .iter()
            .any(|d| d.message.contains("CountryWidget"))
    );
    assert!(
        !t["metadata"]["annotations"][DEGRADED]
            .as_str()
            .unwrap()
            .contains("CountryWidget")
    );
    let results = scaffolder::form_cli(
        "check",
        &json!([{"name": "widgets", "parameters": t["spec"]["parameters"]}]),
    );
    // The stock form does not have it: exactly that page needs the team's scaffolder.
    assert_eq!(
        page_problems(&results),
        [
            "\"widgets\": page \"Other widget\": does not render: No widget 'CountryWidget' for type 'string'"
        ]
    );
}

#[test]
fn pages_the_browser_form_refuses_are_reported() {
    if scaffolder::skip_reason().is_some() {
        return;
    }
    // A type only the browser form checks, and a default of the wrong type that every field
    // submits unless the user changes it.
    let results = scaffolder::form_cli(
        "check",
        &json!([{"name": "bad", "parameters": [
            {"title": "P", "properties": {"a": {"type": "strin"}}},
            {"title": "Q", "properties": {"c": {"type": "integer", "default": "no"}}}
        ]}]),
    );
    let problems = page_problems(&results);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("\"bad\": page \"P\": schema is invalid: "));
    assert!(
        problems[1].contains("the generated values fail the browser validator: .c must be integer")
    );
    assert!(problems[2].contains("the scaffolder backend rejects the values"));
}
