//! Generators of workflows for the benchmarks, deterministic (the same `n` gives the same
//! files):
//! - [`generate`] (shape `flat`): corpus-shaped, JSON and YAML, some with a form schema in a
//!   file that `$ref`s a shared definitions file (as RHDH's examples do), some composed (one
//!   object per form page), some inline, some without a schema;
//! - [`generate_deep`]: every schema `$ref`s a chain of shared definitions 24 deep, each link a
//!   nested object with shared leaves: small files, large expanded forms;
//! - [`generate_wide`]: forms of 150 properties each, and every 1000th schema a file just
//!   under the 1 MiB parser limit (6000 properties).

use std::fmt::Write;
use std::path::Path;

/// The `k`-th YAML workflow `generate` wrote (odd indices are YAML) with its title set to
/// `title`: its path relative to `root`, its template's name, and the edited text (not written).
#[allow(dead_code)] // the daemon benchmarks edit; the export ones do not
pub fn retitled(root: &Path, k: usize, title: &str) -> (String, String, String) {
    let i = 2 * k + 1;
    let path = format!("team-{:02}/flow-{i:05}/flow-{i:05}.sw.yaml", i % 40);
    let text = std::fs::read_to_string(root.join(&path)).unwrap();
    let edited = text.replacen(
        &format!("name: Generated workflow {i}"),
        &format!("name: {title}"),
        1,
    );
    assert_ne!(text, edited, "{path} has its generated title");
    (path, format!("flow-{i:05}"), edited)
}

pub fn generate(root: &Path, n: usize) {
    std::fs::create_dir_all(root.join("shared")).unwrap();
    std::fs::write(
        root.join("shared/common.json"),
        r##"{"definitions": {
  "email": {"type": "string", "format": "email", "title": "E-mail"},
  "namespace": {"type": "string", "pattern": "^[a-z0-9-]+$", "title": "Namespace", "default": "apps"},
  "owner": {"type": "object", "title": "Owner", "required": ["email"], "properties": {
    "email": {"$ref": "#/definitions/email"}, "team": {"type": "string", "title": "Team"}}}
}}"##,
    )
    .unwrap();
    for i in 0..n {
        let dir = root.join(format!("team-{:02}/flow-{i:05}", i % 40));
        std::fs::create_dir_all(dir.join("schemas")).unwrap();
        let id = format!("flow-{i:05}");
        let schema = match i % 4 {
            0 => {
                std::fs::write(dir.join("schemas/input.json"), flat_schema(i)).unwrap();
                r##""dataInputSchema": "schemas/input.json","##.to_owned()
            }
            1 => {
                std::fs::write(dir.join("schemas/input.json"), composed_schema(i)).unwrap();
                r##""dataInputSchema": {"schema": "schemas/input.json", "failOnValidationErrors": true},"##.to_owned()
            }
            2 => r##""dataInputSchema": {"schema": {"type": "object", "properties": {"name": {"type": "string", "title": "Name"}, "replicas": {"type": "integer", "default": 2}}}},"##.to_owned(),
            _ => String::new(),
        };
        if i % 2 == 0 {
            std::fs::write(
                dir.join(format!("{id}.sw.json")),
                json_workflow(&id, i, &schema),
            )
            .unwrap();
        } else {
            std::fs::write(
                dir.join(format!("{id}.sw.yaml")),
                yaml_workflow(&id, i, &schema),
            )
            .unwrap();
        }
    }
}

/// The shapes [`generate_shape`] knows.
#[allow(dead_code)] // only the export benchmark generates other shapes
pub const SHAPES: [&str; 3] = ["flat", "deep", "wide"];

/// Writes `n` workflows of `shape` (one of [`SHAPES`]) under `root`.
#[allow(dead_code)]
pub fn generate_shape(root: &Path, n: usize, shape: &str) {
    match shape {
        "flat" => generate(root, n),
        "deep" => generate_deep(root, n),
        "wide" => generate_wide(root, n),
        other => panic!("unknown shape {other}"),
    }
}

/// Every workflow's schema `$ref`s `shared/deep.json#/definitions/d0`; `dK` is an object whose
/// `next` is `dK+1` and whose other properties are shared leaves, 24 links down. One file of a
/// few KB expands to a form of ~25 KB per workflow, nested ~50 levels.
#[allow(dead_code)]
pub fn generate_deep(root: &Path, n: usize) {
    const LINKS: usize = 24;
    std::fs::create_dir_all(root.join("shared")).unwrap();
    let mut defs = String::from(
        r##""email": {"type": "string", "format": "email", "title": "E-mail"},
  "size": {"type": "string", "enum": ["small", "medium", "large"], "default": "small", "title": "Size"}"##,
    );
    for k in 0..LINKS {
        let next = if k + 1 < LINKS {
            format!(
                r##", "next": {{"$ref": "#/definitions/d{}", "title": "Level {}"}}"##,
                k + 1,
                k + 1
            )
        } else {
            String::new()
        };
        write!(
            defs,
            r##",
  "d{k}": {{"type": "object", "title": "Level {k}", "required": ["name"], "properties": {{
    "name": {{"type": "string", "title": "Name at level {k}"}},
    "contact": {{"$ref": "#/definitions/email"}},
    "size": {{"$ref": "#/definitions/size"}}{next}}}}}"##
        )
        .unwrap();
    }
    std::fs::write(
        root.join("shared/deep.json"),
        format!("{{\"definitions\": {{\n  {defs}\n}}}}\n"),
    )
    .unwrap();
    for i in 0..n {
        let dir = root.join(format!("team-{:02}/flow-{i:05}", i % 40));
        std::fs::create_dir_all(dir.join("schemas")).unwrap();
        let id = format!("flow-{i:05}");
        std::fs::write(
            dir.join("schemas/input.json"),
            format!(
                r##"{{"title": "Deep {i}", "type": "object", "properties": {{
  "request": {{"$ref": "../../../shared/deep.json#/definitions/d0", "title": "Request {i}"}},
  "note": {{"type": "string", "title": "Note"}}}}}}"##
            ),
        )
        .unwrap();
        let schema = r##""dataInputSchema": "schemas/input.json","##;
        write_workflow(&dir, &id, i, schema);
    }
}

/// Forms of 150 flat properties (strings with a title, a description, an enum); every 1000th
/// schema has 6000, a file just under the 1 MiB parser limit.
#[allow(dead_code)]
pub fn generate_wide(root: &Path, n: usize) {
    for i in 0..n {
        let dir = root.join(format!("team-{:02}/flow-{i:05}", i % 40));
        std::fs::create_dir_all(dir.join("schemas")).unwrap();
        let id = format!("flow-{i:05}");
        let count = if i % 1000 == 999 { 6000 } else { 150 };
        let mut props = String::new();
        for p in 0..count {
            write!(
                props,
                r##"{}"field{p:04}": {{"type": "string", "title": "Field {p} of {i}", "description": "What field {p} is for.", "enum": ["a{p}", "b{p}", "c{p}"]}}"##,
                if p == 0 { "" } else { ",
    " }
            )
            .unwrap();
        }
        let text = format!(
            "{{\"title\": \"Wide {i}\", \"type\": \"object\", \"properties\": {{\n    {props}\n}}}}\n"
        );
        assert!(text.len() < 1024 * 1024, "{} bytes", text.len());
        std::fs::write(dir.join("schemas/input.json"), text).unwrap();
        write_workflow(
            &dir,
            &id,
            i,
            r##""dataInputSchema": "schemas/input.json","##,
        );
    }
}

fn write_workflow(dir: &Path, id: &str, i: usize, schema: &str) {
    if i % 2 == 0 {
        std::fs::write(
            dir.join(format!("{id}.sw.json")),
            json_workflow(id, i, schema),
        )
        .unwrap();
    } else {
        std::fs::write(
            dir.join(format!("{id}.sw.yaml")),
            yaml_workflow(id, i, schema),
        )
        .unwrap();
    }
}

fn flat_schema(i: usize) -> String {
    format!(
        r##"{{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Input {i}", "type": "object",
  "required": ["name", "namespace"],
  "properties": {{
    "name": {{"type": "string", "title": "Application name", "ui:autofocus": true}},
    "namespace": {{"$ref": "../../../shared/common.json#/definitions/namespace"}},
    "owner": {{"$ref": "../../../shared/common.json#/definitions/owner"}},
    "size": {{"type": "string", "enum": ["small", "medium", "large"], "default": "small"}}
  }}}}"##
    )
}

fn composed_schema(i: usize) -> String {
    format!(
        r##"{{"title": "Composed {i}", "type": "object", "required": ["app", "owner"],
  "properties": {{
    "app": {{"type": "object", "title": "Application", "properties": {{
      "name": {{"type": "string", "title": "Name"}},
      "namespace": {{"$ref": "../../../shared/common.json#/definitions/namespace"}}}}}},
    "owner": {{"$ref": "../../../shared/common.json#/definitions/owner"}}
  }}}}"##
    )
}

fn json_workflow(id: &str, i: usize, schema: &str) -> String {
    let mut states = String::new();
    for s in 0..6 {
        let last = s == 5;
        write!(
            states,
            r##"{}{{"name": "Step{s}", "type": "operation", "actions": [{{"name": "call{s}", "functionRef": {{"refName": "notify", "arguments": {{"message": "${{ \"step {s} of \" + .name }}", "target": "${{ .owner.email }}"}}}}}}], {}}}"##,
            if s == 0 { "" } else { ",\n    " },
            if last { r##""end": true"##.to_owned() } else { format!(r##""transition": "Step{}""##, s + 1) }
        )
        .unwrap();
    }
    format!(
        r##"{{
  "id": "{id}",
  "version": "1.{}",
  "specVersion": "0.8",
  "name": "Generated workflow {i}",
  "description": "A generated workflow shaped like the public examples ({i}).",
  "annotations": ["workflow-type/{}"],
  {schema}
  "start": "Step0",
  "functions": [{{"name": "notify", "type": "custom", "operation": "rest:post:/notify"}}],
  "errors": [{{"name": "failed", "code": "500"}}],
  "states": [
    {states}
  ]
}}
"##,
        i % 7,
        ["infrastructure", "assessment"][i % 2]
    )
}

fn yaml_workflow(id: &str, i: usize, schema: &str) -> String {
    let schema_yaml = if schema.is_empty() {
        String::new()
    } else {
        // The JSON fragment is valid YAML flow style once the trailing comma goes.
        format!("{}\n", schema.trim_end_matches(','))
    };
    let mut states = String::new();
    for s in 0..6 {
        write!(
            states,
            "  - name: Step{s}\n    type: operation\n    actions:\n      - name: call{s}\n        functionRef:\n          refName: notify\n          arguments:\n            message: '${{ \"step {s} of \" + .name }}'\n            target: ${{ .owner.email }}\n    {}\n",
            if s == 5 { "end: true".to_owned() } else { format!("transition: Step{}", s + 1) }
        )
        .unwrap();
    }
    format!(
        "id: {id}\nversion: '1.{}'\nspecVersion: '0.8'\nname: Generated workflow {i}\ndescription: A generated workflow shaped like the public examples ({i}).\nannotations:\n  - workflow-type/{}\n{schema_yaml}start: Step0\nfunctions:\n  - name: notify\n    type: custom\n    operation: rest:post:/notify\nstates:\n{states}",
        i % 7,
        ["infrastructure", "assessment"][i % 2]
    )
}
