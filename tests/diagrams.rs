//! Diagrams of every fixture and every corpus workflow (`../shared/corpus/workflows`, when it
//! exists), and of hostile ones. Each SVG is parsed as XML and checked against the workflow as
//! read here, independently of the library: one box per state, one edge per transition,
//! condition, error handler and compensation, every state name present, no two boxes
//! overlapping, the same bytes every time, and never more crossings than file order.

#[path = "support/svg.rs"]
mod svg;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use orchestrator_provider::config::{Config, DirSourceConfig, SourceConfig};
use orchestrator_provider::diagram::{self, scene};
use orchestrator_provider::pipeline;
use orchestrator_provider::workflow::graph::{Graph, MAX_STATES};
use orchestrator_provider::workflow::{ParseLimits, parse_file};
use serde_json::Value;
use svg::{assert_no_overlaps, has_class, read};

fn manifest(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The `*.sw.*` files under `root`, sorted.
fn workflow_files(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk(root)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".sw.json") || name.ends_with(".sw.yaml") || name.ends_with(".sw.yml")
        })
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Every document of a file as plain JSON values, read here without the library.
fn raw_documents(path: &Path, text: &str) -> Vec<Value> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if path.extension().is_some_and(|e| e == "json") {
        return vec![serde_json::from_str(text).unwrap()];
    }
    let mut opts = serde_saphyr::Options::default();
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    opts.strict_booleans = true;
    serde_saphyr::from_multiple_with_options(text, opts).unwrap()
}

/// The `states` of a workflow document (a SonataFlow CR keeps them under `spec.flow`).
fn raw_states(doc: &Value) -> &[Value] {
    let flow = if doc["kind"] == "SonataFlow" {
        &doc["spec"]["flow"]
    } else {
        doc
    };
    flow["states"].as_array().map_or(&[], Vec::as_slice)
}

fn nonempty(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.trim().is_empty(),
        Value::Number(_) => true,
        _ => false,
    }
}

/// Edges out of something with `transition` and/or `end`.
fn next_edges(v: &Value) -> usize {
    let transition = match &v["transition"] {
        Value::Object(o) => o.get("nextState").is_some_and(nonempty),
        other => nonempty(other),
    };
    let end = match &v["end"] {
        Value::Bool(b) => *b,
        Value::Object(_) => true,
        Value::String(s) => s.trim() == "true",
        _ => false,
    };
    usize::from(transition) + usize::from(end)
}

/// One edge per transition or end of the state, of each condition, of the default condition
/// and of each error handler, plus one for `compensatedBy`.
fn expected_edges(states: &[Value]) -> usize {
    let list = |v: &Value| v.as_array().map_or(0, |a| a.iter().map(next_edges).sum());
    states
        .iter()
        .map(|s| {
            next_edges(s)
                + list(&s["dataConditions"])
                + list(&s["eventConditions"])
                + next_edges(&s["defaultCondition"])
                + list(&s["onErrors"])
                + usize::from(nonempty(&s["compensatedBy"]))
        })
        .sum()
}

fn name_of(s: &Value) -> Option<String> {
    match &s["name"] {
        Value::String(n) if !n.trim().is_empty() => Some(n.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Renders every workflow of every file and checks each against its raw definition; returns
/// the ids checked.
fn check_files(files: &[PathBuf]) -> BTreeSet<String> {
    let mut checked = BTreeSet::new();
    for path in files {
        let bytes = std::fs::read(path).unwrap();
        let what = path.display().to_string();
        let Ok(parsed) = parse_file(&what, &bytes, &ParseLimits::default()) else {
            continue;
        };
        let docs = raw_documents(path, std::str::from_utf8(&bytes).unwrap());
        for wf in &parsed.workflows {
            let what = format!("{what} ({})", wf.id);
            let states = raw_states(&docs[wf.document]);
            check_one(&wf.graph, states, &what);
            checked.insert(wf.id.clone());
        }
    }
    checked
}

fn check_one(graph: &Graph, states: &[Value], what: &str) {
    let svg = diagram::render(graph, what, "id");
    assert_eq!(
        svg,
        diagram::render(graph, what, "id"),
        "{what}: not deterministic"
    );
    let d = read(&svg.text, what);
    assert_eq!(d.width, f64::from(svg.width), "{what}");
    assert_eq!(d.height, f64::from(svg.height), "{what}");
    assert_eq!(
        d.states().count(),
        states.len(),
        "{what}: one box per state"
    );
    assert_eq!(
        d.edges.len(),
        expected_edges(states),
        "{what}: one edge per transition, condition, error handler and compensation"
    );
    let titles: BTreeSet<&str> = d.states().map(|b| b.title.as_str()).collect();
    for name in states.iter().filter_map(name_of) {
        assert!(
            titles.contains(name.as_str()),
            "{what}: state {name:?} missing"
        );
    }
    assert_no_overlaps(&d, what);
    let Graph::Drawn(flow) = graph else {
        panic!("{what}: not drawn")
    };
    let (main, apart) = scene::parts(flow);
    for part in [main, apart] {
        let l = part.layout();
        assert!(
            l.crossings <= l.initial_crossings,
            "{what}: {} crossings, file order has {}",
            l.crossings,
            l.initial_crossings
        );
    }
}

#[test]
fn every_fixture_renders_every_state_and_edge_without_overlaps() {
    let mut files = workflow_files(&manifest("fixtures/workflows"));
    files.extend(workflow_files(&manifest("tests/fixtures")));
    let checked = check_files(&files);
    for id in [
        "hello-world",
        "onboarding",
        "order-fulfilment",
        "many-states",
        "loops",
    ] {
        assert!(checked.contains(id), "{id} not checked");
    }
}

#[test]
fn every_corpus_workflow_that_maps_to_a_template_renders() {
    // `$ORCHESTRATOR_PROVIDER_SHARED` stands for `../shared` (a worktree has none beside it).
    let shared = std::env::var_os("ORCHESTRATOR_PROVIDER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest("../shared"));
    let root = shared.join("corpus/workflows");
    if !root.is_dir() {
        println!("skipped: {} does not exist", root.display());
        return;
    }
    let checked = check_files(&workflow_files(&root));
    let config = Config {
        sources: vec![SourceConfig::Dir(DirSourceConfig {
            watch: false,
            ..DirSourceConfig::new(root)
        })],
        ..Config::default()
    };
    let outcome = pipeline::run(&config);
    assert!(
        outcome.templates.len() >= 243,
        "{}",
        outcome.templates.len()
    );
    for t in &outcome.templates {
        let id = &t.metadata.annotations["orchestrator.io/workflow-id"];
        assert!(checked.contains(id), "{id}: mapped but not drawn");
    }
}

#[test]
fn states_no_path_reaches_are_drawn_apart_and_missing_targets_are_flagged() {
    let path = manifest("tests/fixtures/diagrams/order-fulfilment.sw.yaml");
    let parsed = parse_file(
        "o.sw.yaml",
        &std::fs::read(path).unwrap(),
        &ParseLimits::default(),
    )
    .unwrap();
    let svg = diagram::render(
        &parsed.workflows[0].graph,
        "Order fulfilment",
        "order-fulfilment",
    );
    let d = read(&svg.text, "order-fulfilment");
    let frame = d.apart.expect("a frame for the unreachable states");
    let unreachable: Vec<&str> = d
        .states()
        .filter(|b| has_class(&b.class, "unreachable"))
        .map(|b| b.title.as_str())
        .collect();
    assert_eq!(unreachable, ["Audit (disabled)", "Archive"]);
    for b in d.states() {
        assert_eq!(
            frame.contains(&b.rect),
            has_class(&b.class, "unreachable"),
            "{}",
            b.title
        );
    }
    let missing: Vec<&str> = d
        .boxes
        .iter()
        .filter(|b| has_class(&b.class, "missing"))
        .map(|b| b.title.as_str())
        .collect();
    assert_eq!(missing, ["no state is named Send report"]);
    // Every state type has its own class (and shape), sub-flows are named on their state.
    for kind in [
        "operation",
        "switch",
        "event",
        "sleep",
        "parallel",
        "foreach",
        "inject",
        "callback",
    ] {
        assert!(
            d.states().any(|b| has_class(&b.class, kind)),
            "no {kind} state"
        );
    }
    for flow in [
        "calls pack-one-item",
        "calls create-invoice",
        "calls send-notification",
    ] {
        assert!(svg.text.contains(flow), "{flow}");
    }
    let kinds = |k: &str| d.edges.iter().filter(|e| has_class(e, k)).count();
    assert_eq!(kinds("error"), 2);
    assert_eq!(kinds("compensation"), 1);
    assert_eq!(kinds("default"), 2);
    assert_eq!(kinds("condition"), 4);
    assert!(svg.text.contains(">OutOfStock</text>"));
    assert!(svg.text.contains(">Payment confirmed</text>"));
}

/// A workflow of `n` states whose names come from `name`, each with a transition to the next, a
/// retry back to the first and a switch every tenth state.
fn generated(n: usize, name: impl Fn(usize) -> String) -> String {
    let mut states = Vec::new();
    for i in 0..n {
        let mut s = serde_json::json!({"name": name(i), "type": "operation", "actions": []});
        if i + 1 < n {
            s["transition"] = name(i + 1).into();
        } else {
            s["end"] = true.into();
        }
        if i % 7 == 3 {
            s["onErrors"] = serde_json::json!([{"errorRef": name(i), "transition": name(0)}]);
        }
        if i % 10 == 5 && i + 3 < n {
            s["type"] = "switch".into();
            s.as_object_mut().unwrap().remove("transition");
            s["dataConditions"] = serde_json::json!([
                {"name": name(i), "condition": "${ .x }", "transition": name(i + 2)},
                {"condition": "${ .y }", "transition": name(i + 3)},
            ]);
            s["defaultCondition"] = serde_json::json!({"transition": name(i + 1)});
        }
        states.push(s);
    }
    serde_json::json!({"id": "generated", "states": states}).to_string()
}

fn render_json(text: &str) -> (diagram::Svg, Vec<Value>) {
    let parsed = parse_file("g.sw.json", text.as_bytes(), &ParseLimits::default()).unwrap();
    let raw: Value = serde_json::from_str(text).unwrap();
    let svg = diagram::render(&parsed.workflows[0].graph, "Generated", "generated");
    (svg, raw_states(&raw).to_vec())
}

#[test]
fn hostile_names_render_as_text() {
    let hostile = [
        "<script>alert(1)</script>",
        "]]><![CDATA[x",
        "a & b \"quoted\" 'single'",
        "control \u{0}\u{7}\u{1b}[31m\u{7f} chars",
        "right-to-left \u{202e}txet",
        "emoji 🚀 and 漢字",
        "<!-- comment -->",
        "</title></g></svg><svg onload=alert(1)>",
    ];
    let text = generated(hostile.len(), |i| hostile[i].to_owned());
    let (svg, states) = render_json(&text);
    let d = read(&svg.text, "hostile");
    assert!(
        !d.elements
            .iter()
            .any(|e| e == "script" || e == "foreignObject")
    );
    assert_eq!(d.elements.iter().filter(|e| *e == "svg").count(), 1);
    assert!(!d.attributes.iter().any(|a| a.starts_with("on")));
    assert!(svg.text.contains("&lt;svg onload=alert(1)&gt;"));
    let titles: Vec<&str> = d.states().map(|b| b.title.as_str()).collect();
    assert!(titles.contains(&"<script>alert(1)</script>"));
    assert!(titles.contains(&"]]><![CDATA[x"));
    assert!(titles.contains(&"control \u{fffd}\u{fffd}\u{fffd}[31m\u{fffd} chars"));
    assert_eq!(d.edges.len(), expected_edges(&states));
    assert_no_overlaps(&d, "hostile");
}

#[test]
fn ten_thousand_character_names_are_shortened_with_the_start_kept() {
    let long = |i: usize| format!("{i}-{}", "Ab<&".repeat(2500));
    let (svg, states) = render_json(&generated(12, long));
    let d = read(&svg.text, "long names");
    for b in d.states() {
        assert!(b.title.chars().count() <= 201, "{}", b.title.len());
        assert!(b.title.ends_with('…'));
        assert!(b.rect.w <= 300.0, "{}", b.rect.w);
    }
    assert_eq!(d.edges.len(), expected_edges(&states));
    assert_no_overlaps(&d, "long names");
}

#[test]
fn five_hundred_states_render_to_at_most_one_megabyte() {
    for (what, name) in [
        (
            "plain",
            Box::new(|i: usize| format!("Step {i}")) as Box<dyn Fn(usize) -> String>,
        ),
        (
            "hostile and long",
            Box::new(|i: usize| format!("{i}<\u{1b}&{}", "é\"".repeat(5000))),
        ),
    ] {
        let (svg, states) = render_json(&generated(500, name));
        assert!(
            svg.text.len() <= 1024 * 1024,
            "{what}: {} bytes",
            svg.text.len()
        );
        let d = read(&svg.text, what);
        assert_eq!(d.states().count(), 500, "{what}");
        assert_eq!(d.edges.len(), expected_edges(&states), "{what}");
        assert_no_overlaps(&d, what);
    }
}

#[test]
fn a_workflow_too_large_to_draw_says_so() {
    let (svg, _) = render_json(&generated(MAX_STATES + 1, |i| format!("s{i}")));
    let d = read(&svg.text, "too large");
    assert_eq!(d.states().count(), 0);
    assert!(svg.text.contains("1001 states"), "{}", svg.text);
}
