//! Input written to hurt: schemas that chain `$ref`s thousands deep, values nested thousands of
//! levels, forms that would render quadratically. Nothing may crash (a stack overflow aborts the
//! whole daemon), and what is refused is a warning that names the workflow.
//!
//! Everything that recurses runs here on 2 MiB threads: the stack of tokio's workers, of rayon's
//! threads and of test threads, where the daemon does its work (the main thread has 8 MiB).

use std::io::{Read, Write};
use std::path::Path;

use assert_cmd::Command;
use orchestrator_provider::entity::{self, MapOptions, is_valid_name, map_all_with_diagnostics};
use orchestrator_provider::source::dir::read_tree;
use orchestrator_provider::workflow::{
    InputSchemaRef, MAX_REF_DEPTH, MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MemoryTree, Origin,
    ParseLimits, SchemaError, Workflow, resolve_input_schema,
};
use serde_json::{Value, json};

/// Runs `f` on a thread with a 2 MiB stack, as tokio's workers have.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("a thread")
        .join()
        .expect("the thread did not panic")
}

/// `definitions.dN = {properties: {x: {$ref: dN+1}}}`, `n` deep: each link nests two levels.
fn ref_chain(n: usize) -> Value {
    let mut defs = serde_json::Map::new();
    for i in 0..n {
        defs.insert(
            format!("d{i}"),
            json!({"type": "object", "properties": {"x": {"$ref": format!("#/definitions/d{}", i + 1)}}}),
        );
    }
    defs.insert(format!("d{n}"), json!({"type": "string"}));
    json!({"type": "object", "properties": {"x": {"$ref": "#/definitions/d0"}}, "definitions": defs})
}

/// `definitions.dN = {$ref: dN+1}`: a chain that nests nothing.
fn flat_chain(n: usize) -> Value {
    let mut defs = serde_json::Map::new();
    for i in 0..n {
        defs.insert(
            format!("d{i}"),
            json!({"$ref": format!("#/definitions/d{}", i + 1)}),
        );
    }
    defs.insert(format!("d{n}"), json!({"type": "string"}));
    json!({"type": "object", "properties": {"x": {"$ref": "#/definitions/d0"}}, "definitions": defs})
}

/// `levels` objects nested as JSON text (built as text: a `Value` that deep could not be
/// serialised by serde_json, whose writer recurses).
fn nested_json(levels: usize) -> String {
    let mut text = String::new();
    for _ in 0..levels - 1 {
        text.push_str(r#"{"type":"object","properties":{"x":"#);
    }
    text.push_str(r#"{"type":"string"}"#);
    for _ in 0..levels - 1 {
        text.push_str("}}");
    }
    text
}

/// The same in YAML flow style.
fn nested_yaml(levels: usize) -> String {
    nested_json(levels).replace('"', "")
}

const WORKFLOW: &str = "id: deep\nname: Deep\ndataInputSchema: s.json\nstates: [{name: s}]\n";

/// Reads a tree of one workflow (`w.sw.yaml`) and its files, maps and renders it: the whole
/// one-shot pipeline on whatever thread calls it. Returns the diagnostics' text and the YAML.
fn read_map_render(files: Vec<(&'static str, String)>) -> (Vec<String>, String) {
    let mut tree = MemoryTree::new();
    for (path, content) in files {
        tree.insert(path, content.into_bytes());
    }
    let snapshot = read_tree(
        &tree,
        &["w.sw.yaml".to_owned()],
        &ParseLimits::default(),
        &[],
        None,
    );
    let (templates, mapping) =
        map_all_with_diagnostics(&snapshot.workflows, &MapOptions::default());
    let yaml = entity::to_yaml(&templates);
    let json = entity::to_json_pretty(&templates, 1);
    let back: Value = serde_json::from_str(&json).expect("the JSON reads back");
    assert_eq!(back, serde_json::to_value(&templates).unwrap());
    let diagnostics = snapshot
        .diagnostics
        .iter()
        .chain(&mapping)
        .map(ToString::to_string)
        .collect();
    (diagnostics, yaml)
}

fn assert_published_without_a_form(diagnostics: &[String], yaml: &str, reason: &str) {
    assert!(
        diagnostics
            .iter()
            .any(|d| d.starts_with("warning: w.sw.yaml: workflow \"deep\"")
                && d.contains(reason)
                && d.contains("the template is published without a form")),
        "{diagnostics:#?}"
    );
    assert!(yaml.contains("parameters: []"), "{yaml}");
}

#[test]
fn a_ref_chain_a_thousand_deep_is_a_warning_not_a_stack_overflow() {
    let (diagnostics, yaml) = on_small_stack(|| {
        read_map_render(vec![
            ("w.sw.yaml", WORKFLOW.into()),
            ("s.json", ref_chain(1000).to_string()),
        ])
    });
    assert_published_without_a_form(
        &diagnostics,
        &yaml,
        &format!("nest more than {MAX_SCHEMA_DEPTH} deep"),
    );
}

#[test]
fn a_flat_chain_of_ten_thousand_refs_is_a_warning_not_a_stack_overflow() {
    let (diagnostics, yaml) = on_small_stack(|| {
        read_map_render(vec![
            ("w.sw.yaml", WORKFLOW.into()),
            ("s.json", flat_chain(10_000).to_string()),
        ])
    });
    assert_published_without_a_form(
        &diagnostics,
        &yaml,
        &format!("`$ref`s nest more than {MAX_REF_DEPTH} deep"),
    );
}

#[test]
fn schemas_nested_five_thousand_deep_are_warnings_in_json_yaml_and_inline() {
    let inline_yaml = format!(
        "id: deep\nname: Deep\ndataInputSchema:\n  schema: {}\nstates: [{{name: s}}]\n",
        nested_yaml(5000)
    );
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (
            vec![
                ("w.sw.yaml", WORKFLOW.into()),
                ("s.json", nested_json(5000)),
            ],
            "recursion limit exceeded",
        ),
        (
            vec![
                ("w.sw.yaml", WORKFLOW.replace("s.json", "s.yaml")),
                ("s.yaml", nested_yaml(5000)),
            ],
            "`s.yaml` is not a valid JSON or YAML schema",
        ),
    ];
    for (files, reason) in cases {
        let (diagnostics, yaml) = on_small_stack(move || read_map_render(files));
        assert_published_without_a_form(&diagnostics, &yaml, reason);
    }
    // Inline in the workflow file, the parser's own depth limit refuses the whole file.
    let (diagnostics, yaml) =
        on_small_stack(move || read_map_render(vec![("w.sw.yaml", inline_yaml)]));
    assert!(
        diagnostics
            .iter()
            .any(|d| d.starts_with("error: w.sw.yaml:") && d.contains(": invalid YAML")),
        "{diagnostics:#?}"
    );
    assert_eq!(yaml, "");
}

#[test]
fn the_deepest_schema_allowed_maps_renders_and_reads_back_on_a_small_stack() {
    let (diagnostics, yaml) = on_small_stack(|| {
        let (diagnostics, yaml) = read_map_render(vec![
            ("w.sw.yaml", WORKFLOW.into()),
            // `levels` objects nest 2 * levels - 1 deep (`properties` between them).
            ("s.json", nested_json(MAX_SCHEMA_DEPTH / 2)),
        ]);
        // Read back as the catalog's YAML reader would, and dropped, on the same small stack.
        let mut opts = serde_saphyr::Options::default();
        let mut budget = serde_saphyr::Budget::default();
        budget.max_depth = 4 * MAX_SCHEMA_DEPTH;
        opts.budget = Some(budget);
        let back: Value =
            serde_saphyr::from_str_with_options(&yaml, opts).expect("YAML reads back");
        assert_eq!(
            back["spec"]["parameters"][0]["properties"]["x"]["type"],
            "object"
        );
        drop(back);
        (diagnostics, yaml)
    });
    assert_eq!(diagnostics, Vec::<String>::new());
    assert!(
        yaml.contains("{type: object, properties: {x: {type: object"),
        "{yaml}"
    );
}

#[test]
fn a_deep_schema_renders_linear_in_its_size() {
    // 31 levels of objects, each with a sibling property: the block style alone would indent
    // the deepest lines by ~130 columns.
    let mut schema = r#"{"type":"string"}"#.to_owned();
    for _ in 0..31 {
        schema = format!(
            r#"{{"type":"object","properties":{{"x":{schema},"y":{{"type":"string","title":"Y"}}}}}}"#
        );
    }
    let input = WORKFLOW.len() + schema.len();
    let (diagnostics, yaml) = on_small_stack(move || {
        read_map_render(vec![("w.sw.yaml", WORKFLOW.into()), ("s.json", schema)])
    });
    assert_eq!(diagnostics, Vec::<String>::new());
    assert!(
        yaml.len() <= 4 * input + 4096,
        "{} bytes of YAML from {input} bytes of input",
        yaml.len()
    );
    let deepest = yaml
        .lines()
        .map(|l| l.len() - l.trim_start().len())
        .max()
        .unwrap();
    assert!(deepest <= entity::render::MAX_BLOCK_INDENT, "{deepest}");
}

#[test]
fn a_wide_form_at_the_deepest_block_column_stays_within_four_times_its_input() {
    // Many one-letter keys at the deepest block level: the worst case for indentation.
    let leaves: serde_json::Map<String, Value> =
        (0..2000).map(|i| (i.to_string(), json!({}))).collect();
    let mut schema = json!({ "properties": leaves });
    for key in ["d", "c", "b", "a"] {
        schema = json!({"properties": {key: schema}});
    }
    let schema = schema.to_string();
    let input = WORKFLOW.len() + schema.len();
    let (diagnostics, yaml) = on_small_stack(move || {
        read_map_render(vec![("w.sw.yaml", WORKFLOW.into()), ("s.json", schema)])
    });
    assert_eq!(diagnostics, Vec::<String>::new());
    assert!(
        yaml.len() <= 4 * input + 4096,
        "{} bytes of YAML from {input} bytes of input",
        yaml.len()
    );
}

#[test]
fn a_form_over_the_size_limit_is_dropped_with_a_warning() {
    // 7 definitions each using the previous one twice: 128 copies of a 4 KB description, 512 KB
    // of form from a 5 KB file, well under the node budget.
    let mut defs = serde_json::Map::new();
    defs.insert(
        "d0".into(),
        json!({"type": "string", "description": "x".repeat(4096)}),
    );
    for i in 1..=7 {
        let prev = format!("#/definitions/d{}", i - 1);
        defs.insert(
            format!("d{i}"),
            json!({"type": "object", "properties": {"a": {"$ref": prev}, "b": {"$ref": prev}}}),
        );
    }
    let schema = json!({"type": "object", "properties": {"top": {"$ref": "#/definitions/d7"}}, "definitions": defs});
    let (diagnostics, yaml) = on_small_stack(move || {
        read_map_render(vec![
            ("w.sw.yaml", WORKFLOW.into()),
            ("s.json", schema.to_string()),
        ])
    });
    assert_published_without_a_form(
        &diagnostics,
        &yaml,
        &format!(
            "over the {}-byte limit per template",
            entity::MAX_FORM_BYTES
        ),
    );
}

/// `{"$defs": {"S": target}, "properties": {"p0": {"$ref": "#/$defs/S"}, ...}}`: `refs` uses of one
/// definition, the shape that multiplies a file's bytes by the number of uses.
fn many_refs_to(target: Value, refs: usize) -> String {
    let properties: serde_json::Map<String, Value> = (0..refs)
        .map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/S"})))
        .collect();
    json!({"type": "object", "$defs": {"S": target}, "properties": properties}).to_string()
}

/// Resolves `schema` as `s.json` on a small stack and maps it: it must be refused by the byte
/// budget of the expansion (not later, by the form's size, once the whole expansion was built).
fn assert_refused_by_the_byte_budget(schema: String) {
    let tree_schema = schema.clone();
    let resolved = on_small_stack(move || {
        let mut tree = MemoryTree::new();
        tree.insert("s.json", tree_schema.into_bytes());
        resolve_input_schema(
            &tree,
            &[],
            "w.sw.yaml",
            &InputSchemaRef::Path("s.json".into()),
        )
    });
    assert_eq!(
        resolved,
        Err(SchemaError::TooManyBytes {
            limit: MAX_SCHEMA_BYTES
        })
    );
    let (diagnostics, yaml) = on_small_stack(move || {
        read_map_render(vec![("w.sw.yaml", WORKFLOW.into()), ("s.json", schema)])
    });
    assert_published_without_a_form(
        &diagnostics,
        &yaml,
        &format!(
            "input schema `s.json`: inlining its `$ref`s makes it over {MAX_SCHEMA_BYTES} bytes of JSON"
        ),
    );
}

#[test]
fn five_thousand_refs_to_a_long_description_stop_at_the_byte_budget() {
    // 289 KB of file, 500 MB once inlined, 15 000 nodes: under the node budget. Before the byte
    // budget, `check` built all of it (1.5 GB RSS, 29 s) and then dropped the form for its size.
    let schema = many_refs_to(
        json!({"type": "string", "description": "A".repeat(100_000)}),
        5000,
    );
    assert!(schema.len() < 300_000);
    assert_refused_by_the_byte_budget(schema);
}

#[test]
fn a_file_at_the_size_limit_referencing_a_long_text_sixteen_thousand_times_stops_at_the_byte_budget()
 {
    // Just under the 1 MiB file limit: 6.4 GB once inlined.
    let schema = many_refs_to(
        json!({"type": "string", "description": "A".repeat(400_000)}),
        16_000,
    );
    assert!(
        schema.len() > 800_000 && schema.len() < 1 << 20,
        "{}",
        schema.len()
    );
    assert_refused_by_the_byte_budget(schema);
}

#[test]
fn refs_to_large_enum_const_default_and_examples_data_stop_at_the_byte_budget() {
    // Data is copied, not walked: before the byte budget it counted as one node however large.
    let values: Vec<Value> = (0..40_000).map(|i| json!(format!("v{i}"))).collect();
    let data = Value::Array(values);
    for keyword in ["enum", "const", "default", "examples"] {
        let schema = many_refs_to(json!({"type": "string", keyword: data.clone()}), 2000);
        assert!(schema.len() < 1 << 20, "{keyword}: {}", schema.len());
        assert_refused_by_the_byte_budget(schema);
    }
}

#[test]
fn a_schema_just_under_the_byte_budget_resolves_and_is_no_larger_than_counted() {
    // Nine uses of a 100 KB text: 900 KB, resolved whole; the form built from it is then over
    // the per-template limit, a warning of its own.
    let schema = many_refs_to(
        json!({"type": "string", "description": "A".repeat(100_000)}),
        9,
    );
    let mut tree = MemoryTree::new();
    tree.insert("s.json", schema.into_bytes());
    let resolved = resolve_input_schema(
        &tree,
        &[],
        "w.sw.yaml",
        &InputSchemaRef::Path("s.json".into()),
    )
    .expect("under the budget");
    let size = resolved.to_string().len();
    assert!(size > 900_000 && size <= MAX_SCHEMA_BYTES, "{size}");
}

#[test]
fn widget_changes_deep_under_long_keys_name_their_field_in_a_bounded_path() {
    // 30 levels of 4 KB keys above 3000 fields with unregistered widgets: a 190 KB form, whose
    // changes each named the whole 120 KB path (700 MB of diagnostics) before paths were cut.
    let leaves: serde_json::Map<String, Value> = (0..3000)
        .map(|i| (format!("f{i}"), json!({"type": "string", "ui:widget": "X"})))
        .collect();
    let mut schema = json!({"type": "object", "properties": leaves});
    for level in 0..30 {
        let key = format!("{level}{}", "k".repeat(4000));
        schema = json!({"type": "object", "properties": {key: schema}});
    }
    let (diagnostics, yaml) = on_small_stack(move || {
        read_map_render(vec![
            ("w.sw.yaml", WORKFLOW.into()),
            ("s.json", schema.to_string()),
        ])
    });
    let changes: Vec<&String> = diagnostics
        .iter()
        .filter(|d| d.contains("widget `X` is not registered"))
        .collect();
    assert_eq!(changes.len(), 3000, "{:?}", &diagnostics[..3]);
    assert!(
        changes.iter().all(|d| d.len() < 600 && d.contains("k…`")),
        "{}",
        changes[0]
    );
    assert!(yaml.len() < 4 * 200_000, "{}", yaml.len());
}

#[test]
fn a_schema_from_a_workflow_service_deeper_than_the_limit_gets_no_form() {
    // A workflow service's `inputSchema` is not resolved by us: the mapper checks it.
    let schema: Value = serde_json::from_str(&nested_json(60)).unwrap();
    let workflow = Workflow {
        id: "deep".into(),
        input_schema: Some(schema),
        origin: Origin {
            path: "w.sw.yaml".into(),
            ..Origin::default()
        },
        ..Workflow::default()
    };
    let (templates, mapping) =
        on_small_stack(move || map_all_with_diagnostics(&[workflow], &MapOptions::default()));
    let shown: Vec<String> = mapping.iter().map(ToString::to_string).collect();
    assert_published_without_a_form(
        &shown,
        &entity::to_yaml(&templates),
        &format!("nest more than {MAX_SCHEMA_DEPTH} deep"),
    );
    assert!(is_valid_name(&templates[0].metadata.name));
}

/// 100 000 nested arrays: more than any parser's default limit, so each must refuse it.
fn deep_json() -> Vec<u8> {
    let mut body = vec![b'['; 100_000];
    body.extend(vec![b']'; 100_000]);
    body
}

#[test]
fn deeply_nested_webhook_cloudevent_and_config_input_is_refused_not_a_crash() {
    on_small_stack(|| {
        let body = deep_json();
        let mut object = br#"{"ref":"#.to_vec();
        object.extend(&body);
        object.push(b'}');
        assert!(orchestrator_provider::webhook::parse_github_push(&object).is_err());
        assert!(orchestrator_provider::webhook::parse_gitlab_push(&object).is_err());
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "content-type",
            "application/cloudevents-batch+json".parse().unwrap(),
        );
        assert!(orchestrator_provider::cloudevent::parse(&headers, &body).is_err());
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("ce-specversion", "1.0".parse().unwrap());
        headers.insert("ce-id", "1".parse().unwrap());
        headers.insert("ce-source", "s".parse().unwrap());
        headers.insert("ce-type", "ProcessDefinitionEvent".parse().unwrap());
        let _ = orchestrator_provider::cloudevent::parse(&headers, &body);

        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        let mut yaml = "templates: ".to_owned();
        yaml.push_str(&"[".repeat(100_000));
        yaml.push_str(&"]".repeat(100_000));
        std::fs::write(&config, yaml).unwrap();
        let mut layers = orchestrator_provider::config::Layers::new();
        assert!(layers.file(&config).is_err());
    });
}

/// Answers every HTTP request on a loopback port with `body` (status 200, JSON) until `count`
/// requests were answered.
fn serve(body: Vec<u8>, count: usize) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let mut stream = stream.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as much body as they announce.
            loop {
                let n = stream.read(&mut buf).unwrap();
                request.extend(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length || n == 0 {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        }
    });
    url
}

#[test]
fn a_deeply_nested_data_index_answer_is_an_error_not_a_crash() {
    on_small_stack(|| {
        let mut body = br#"{"data":{"__schema":"#.to_vec();
        body.extend(deep_json());
        body.extend(b"}}");
        let url = serve(body, 1);
        let client = orchestrator_provider::source::data_index::DataIndexClient::new(
            &url,
            None,
            std::time::Duration::from_secs(30),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert!(runtime.block_on(client.introspect()).is_err());
    });
}

fn write_workflow(dir: &Path, schema: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("w.sw.yaml"), WORKFLOW).unwrap();
    std::fs::write(dir.join("s.json"), schema).unwrap();
}

#[test]
fn check_and_export_warn_about_hostile_schemas_and_exit_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "chain",
            ref_chain(1000).to_string(),
            "nest more than 64 deep",
        ),
        (
            "flat",
            flat_chain(10_000).to_string(),
            "`$ref`s nest more than 64 deep",
        ),
        ("nested", nested_json(5000), "recursion limit exceeded"),
    ];
    for (name, schema, reason) in cases {
        let dir = tmp.path().join(name);
        write_workflow(&dir, &schema);
        for command in ["check", "export"] {
            let out = Command::cargo_bin("orchestrator-provider")
                .unwrap()
                .arg(command)
                .arg(&dir)
                .env_remove("RUST_MIN_STACK")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{command} {name}: {stderr}");
            assert!(
                stderr.contains("w.sw.yaml: workflow \"deep\": input schema `s.json`: ")
                    && stderr.contains(reason)
                    && stderr.contains("the template is published without a form")
                    && stderr.contains("1 template, 0 errors, 1 warning"),
                "{command} {name}: {stderr}"
            );
            if command == "export" {
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(stdout.contains("name: deep") && stdout.contains("parameters: []"));
            }
        }
    }
}
