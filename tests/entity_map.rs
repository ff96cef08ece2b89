//! Snapshot tests of the Templates the mapper writes, one per hard case, plus YAML round trips
//! and determinism. Snapshots hold the YAML exactly as it is published.

use globset::Glob;
use orchestrator_provider::entity::{
    MapOptions, OwnerRule, Template, is_valid_name, map_all, to_yaml, to_yaml_one,
};
use orchestrator_provider::workflow::{Origin, SourceLinks, Workflow};
use serde_json::{Value, json};

fn wf(id: &str) -> Workflow {
    Workflow {
        id: id.into(),
        origin: Origin {
            path: "flows/workflow.sw.yaml".into(),
            sha256: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
            ..Origin::default()
        },
        ..Workflow::default()
    }
}

fn named(id: &str, name: &str, description: &str, version: &str) -> Workflow {
    Workflow {
        name: Some(name.into()),
        description: Some(description.into()),
        version: Some(version.into()),
        ..wf(id)
    }
}

fn yaml(workflows: &[Workflow]) -> String {
    yaml_with(workflows, &MapOptions::default())
}

fn yaml_with(workflows: &[Workflow], opts: &MapOptions) -> String {
    let templates = map_all(workflows, opts);
    for t in &templates {
        assert!(is_valid_name(&t.metadata.name), "{}", t.metadata.name);
        assert_round_trips(t);
    }
    to_yaml(&templates)
}

/// The YAML reads back (with serde-saphyr's default, YAML 1.1-leaning reader) as exactly the JSON
/// the Template serialises to: no string became a number, a boolean or null.
fn assert_round_trips(template: &Template) {
    let text = to_yaml_one(template);
    let back: Value = serde_saphyr::from_str(&text).expect("published YAML parses");
    assert_eq!(back, serde_json::to_value(template).unwrap(), "\n{text}");
}

#[test]
fn plain_workflow_maps_to_runnable_template() {
    let mut w = named(
        "greeting",
        "Greeting workflow",
        "YAML based greeting workflow",
        "1.0",
    );
    w.origin.path = "greeting/greeting.sw.yaml".into();
    w.input_schema = Some(json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"language": {"type": "string", "enum": ["English", "Spanish"]}},
        "required": ["language"]
    }));
    insta::assert_snapshot!("plain", yaml(&[w]));
}

#[test]
fn missing_name_description_version_fall_back_to_id_and_default_version() {
    insta::assert_snapshot!("no_name_description_version", yaml(&[wf("hello_world")]));
}

#[test]
fn no_schema_gives_empty_parameters() {
    let w = named("noschema", "No schema", "Takes no input.", "0.1");
    let out = yaml(&[w]);
    assert!(out.contains("parameters: []"), "{out}");
    insta::assert_snapshot!("no_schema", out);
}

#[test]
fn dotted_and_spaced_ids_get_valid_names_and_keep_id_annotation() {
    let ws = [wf("custom.greeting"), wf("Valid DataInputSchema")];
    insta::assert_snapshot!("dotted_and_spaced_ids", yaml(&ws));
}

#[test]
fn unrendered_skeleton_id_is_escaped_in_step_input() {
    let out = yaml(&[wf("${{ values.workflowId }}")]);
    insta::assert_snapshot!("templated_id", out);
}

#[test]
fn id_over_63_characters_is_shortened_with_hash() {
    let id = "a-very-long-workflow-identifier-that-goes-on-and-on-beyond-the-limit-xyz";
    assert_eq!(id.len(), 72);
    insta::assert_snapshot!("long_id", yaml(&[wf(id)]));
}

#[test]
fn non_ascii_ids_get_ascii_names() {
    let ws = [wf("überprüfung-ablauf"), wf("日本語ワークフロー")];
    insta::assert_snapshot!("non_ascii_ids", yaml(&ws));
}

#[test]
fn case_collision_keeps_smallest_valid_id_plain_and_hashes_the_other() {
    let ws = [
        named("greeting", "greeting lower", "", "1.0"),
        named("Greeting", "Greeting upper", "", "1.0"),
    ];
    let templates = map_all(&ws, &MapOptions::default());
    assert_eq!(templates[0].metadata.name, "Greeting");
    assert!(templates[1].metadata.name.starts_with("greeting-"));
    insta::assert_snapshot!("case_collision", yaml(&ws));
}

#[test]
fn all_object_properties_make_one_form_page_each() {
    let mut w = named(
        "composed",
        "Composed form",
        "Input grouped in objects.",
        "1.0",
    );
    w.input_schema = Some(json!({
        "$id": "classpath:/schemas/composed.json",
        "type": "object",
        "required": ["cluster"],
        "properties": {
            "cluster": {
                "title": "Cluster",
                "description": "Where to deploy.",
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "title": "Cluster name"},
                    "region": {"type": "string", "default": "eu-west-1"}
                }
            },
            "notify": {
                "type": "object",
                "properties": {"email": {"type": "string", "format": "email"}}
            }
        }
    }));
    insta::assert_snapshot!("composed_form", yaml(&[w]));
}

#[test]
fn flat_form_keeps_ui_hints_defaults_and_enums() {
    let mut w = named("flat", "Flat form", "One page.", "2.1");
    w.input_schema = Some(json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Request",
        "type": "object",
        "required": ["reason"],
        "ui:order": ["reason", "size", "dryRun"],
        "properties": {
            "reason": {"type": "string", "ui:widget": "textarea", "ui:help": "Why?"},
            "size": {"type": "string", "enum": ["yes", "no", "010"], "default": "yes"},
            "dryRun": {"type": "boolean", "default": false},
            "query": {"type": "string", "default": "${ .items[0] }"}
        }
    }));
    insta::assert_snapshot!("flat_form", yaml(&[w]));
}

#[test]
fn workflow_type_annotation_becomes_first_tag_after_orchestrator() {
    let mut w = named("infra", "Infra", "Provisions things.", "1.0");
    w.annotations = vec![
        "Not A Tag".into(),
        "workflow-type/Infrastructure".into(),
        "self-service".into(),
        "orchestrator".into(),
        "k8s".into(),
    ];
    insta::assert_snapshot!("annotations_and_tags", yaml(&[w]));
}

#[test]
fn owner_rules_pick_first_match_else_default() {
    let glob = |g: &str| Some(Glob::new(g).unwrap().compile_matcher());
    let opts = MapOptions {
        namespace: "workflows".into(),
        owner: "group:default/platform".into(),
        owner_rules: vec![
            OwnerRule {
                path: glob("team-a/**"),
                id: None,
                owner: "group:default/team-a".into(),
            },
            OwnerRule {
                path: None,
                id: glob("billing-*"),
                owner: "group:default/billing".into(),
            },
        ],
        system: Some("orchestrator".into()),
        lifecycle: Some("production".into()),
        ..MapOptions::default()
    };
    let at = |id: &str, path: &str| {
        let mut w = wf(id);
        w.origin.path = path.into();
        w
    };
    let ws = [
        at("billing-invoice", "team-a/billing.sw.yaml"),
        at("billing-refund", "team-b/refund.sw.yaml"),
        at("other", "team-b/other.sw.yaml"),
    ];
    insta::assert_snapshot!("owner_rules", yaml_with(&ws, &opts));
}

#[test]
fn source_links_become_backstage_annotations() {
    let mut w = named("linked", "Linked", "Has links.", "1.0");
    w.origin.path = "flows/linked.sw.yaml".into();
    w.origin.links = Some(SourceLinks {
        source_location: "url:https://git.example.com/org/repo/tree/main/flows/".into(),
        view_url: Some("https://git.example.com/org/repo/blob/main/flows/linked.sw.yaml".into()),
        edit_url: Some("https://git.example.com/org/repo/edit/main/flows/linked.sw.yaml".into()),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
    });
    insta::assert_snapshot!("source_links", yaml(&[w]));
}

#[test]
fn ambiguous_scalars_survive_yaml_round_trip_as_strings() {
    let mut w = named("yes", "null", "010", "1.0");
    w.annotations = vec!["true".into(), "on".into(), "0x10".into(), "1e3".into()];
    w.origin.sha256 = "0123456789".into();
    w.input_schema = Some(json!({"type": "object", "properties": {
        "n": {"type": "string", "default": "~", "enum": ["no", "NULL", "1_000", ".inf", "2024-01-01"]}
    }}));
    let templates = map_all(&[w], &MapOptions::default());
    assert_round_trips(&templates[0]);
    let back: Value = serde_saphyr::from_str(&to_yaml_one(&templates[0])).unwrap();
    assert_eq!(back["metadata"]["name"], "yes");
    assert_eq!(back["metadata"]["title"], "null");
    assert_eq!(back["metadata"]["description"], "010");
    assert_eq!(
        back["metadata"]["annotations"]["orchestrator.io/workflow-version"],
        "1.0"
    );
    assert_eq!(
        back["spec"]["steps"][0]["input"]["parameters"],
        "${{ parameters }}"
    );
}

#[test]
fn multi_document_yaml_reads_back_as_the_same_templates() {
    let ws = [
        wf("a"),
        wf("${{ x }}"),
        named("b", "B", "multi\nline\n", "v1"),
    ];
    let templates = map_all(&ws, &MapOptions::default());
    let docs: Vec<Value> = serde_saphyr::from_multiple(&to_yaml(&templates)).unwrap();
    let expected: Vec<Value> = templates
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    assert_eq!(docs, expected);
}

#[test]
fn same_workflows_in_any_order_give_identical_yaml() {
    let mut composed = named("composed", "Composed", "d", "1.0");
    composed.input_schema = Some(json!({"type": "object", "properties": {
        "z": {"type": "object", "properties": {"a": {"type": "string"}}},
        "a": {"type": "object", "properties": {"z": {"type": "string"}}}
    }}));
    let ws = vec![
        wf("greeting"),
        wf("Greeting"),
        wf("Valid DataInputSchema"),
        wf("Valid-DataInputSchema"),
        wf("${{ values.workflowId }}"),
        wf("日本語"),
        wf(&"x".repeat(70)),
        composed,
    ];
    let first = yaml(&ws);
    assert_eq!(first, yaml(&ws), "mapping twice");
    let mut reversed = ws.clone();
    reversed.reverse();
    assert_eq!(first, yaml(&reversed), "reversed input");
    for k in 1..ws.len() {
        let mut rotated = ws.clone();
        rotated.rotate_left(k);
        assert_eq!(first, yaml(&rotated), "rotated by {k}");
    }
}
