//! The Data Index client against a fixture per release that validates every query against the
//! release's real SDL (`tests/support/data_index_fixture.rs`). Every test prints `skipped: ...`
//! and passes when `../shared/corpus/data-index` is absent.

#[path = "support/data_index_fixture.rs"]
mod data_index_fixture;
#[path = "support/shared.rs"]
mod shared;

use std::cmp::Ordering;
use std::time::Duration;

use data_index_fixture::{Fault, Fixture, Release};
use orchestrator_provider::source::data_index::{
    Availability, Capabilities, DataIndexClient, DataIndexError, Deployment, compare_rows, select,
};
use orchestrator_provider::workflow::ParseLimits;
use serde_json::{Value, json};

const GREETING_YAML: &str = "id: greeting\nversion: '1.0'\nspecVersion: '0.8'\nname: Greeting workflow\ndescription: YAML based greeting workflow\nannotations:\n  - workflow-type/infrastructure\ndataInputSchema: schemas/greeting.sw.input-schema.json\nstart: Greet\nstates:\n  - name: Greet\n    type: inject\n    data: {greeting: Hello}\n    end: true\n";

fn jsongreet(version: &str) -> String {
    json!({
        "id": "jsongreet", "version": version, "specVersion": "0.8", "name": "Greeting workflow",
        "description": "JSON based greeting workflow", "annotations": ["test1", "test2", "test3"],
        "dataInputSchema": {"schema": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "start": "Greet",
        "states": [{"name": "Greet", "type": "inject", "data": {"greeting": "Hello"}, "end": true}]
    })
    .to_string()
}

fn row(id: &str, version: &str, source: Option<&str>, status: Option<&str>) -> Value {
    let mut metadata = json!({"Variable": "workflowdata"});
    if let Some(status) = status {
        metadata["status"] = json!(status);
    }
    json!({
        "id": id, "name": id, "version": version, "type": "SW",
        "endpoint": format!("http://{id}.sonataflow-infra/{id}"),
        "serviceUrl": format!("http://{id}.sonataflow-infra"),
        "description": format!("{id} deployed"), "annotations": ["test2", "test1"],
        "metadata": metadata, "source": source, "addons": ["source-files"]
    })
}

/// NOTES.md example 2, with sources, plus a BPMN process that must not come back.
fn example_rows() -> Vec<Value> {
    let mut bpmn = row("order-process", "1.0", Some("<bpmn/>"), None);
    bpmn["type"] = json!("BPMN");
    vec![
        row("greeting", "1.0", Some(GREETING_YAML), Some("available")),
        row("jsongreet", "1.0", Some(&jsongreet("1.0")), None),
        row("jsongreet", "1.1", Some(&jsongreet("1.1")), None),
        row("mta-analysis-v7", "1.0", None, Some("unavailable")),
        bpmn,
    ]
}

/// The client's timeout wherever a test does not provoke one: far above what an answer from the
/// fixture takes on a loaded machine (milliseconds).
const ANSWERS_WITHIN: Duration = Duration::from_secs(10);

fn client(fixture: &Fixture) -> DataIndexClient {
    DataIndexClient::new(&fixture.url, None, ANSWERS_WITHIN)
}

fn unknown(_: &str, _: Option<&str>) -> bool {
    false
}

fn print_queries(fixture: &Fixture) {
    for r in fixture.received() {
        println!(
            "--- {} query sent:\n{}\nvariables: {}",
            fixture.release.name(),
            r.query,
            r.variables
        );
    }
}

/// Introspects, lists and selects against one release; checks what every release shares.
async fn per_release(release: Release) -> Option<(Fixture, Capabilities, Vec<Deployment>)> {
    let fixture = Fixture::start(release, example_rows()).await?;
    let client = client(&fixture);
    let mut caps = client.introspect().await.expect("introspect");
    let rows = client.list(&mut caps, 50, &unknown).await.expect("list");
    print_queries(&fixture);
    assert_eq!(
        fixture.validation_errors(),
        0,
        "every query is valid for {release:?}"
    );
    // introspection, one short page, one source query
    assert_eq!(fixture.requests(), 3);
    let keys: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.version.as_deref()))
        .collect();
    assert_eq!(
        keys,
        [
            ("greeting", Some("1.0")),
            ("jsongreet", Some("1.0")),
            ("jsongreet", Some("1.1")),
            ("mta-analysis-v7", Some("1.0")),
        ],
        "BPMN rows are dropped, SW rows come back ordered by id and version"
    );
    let (deployed, diagnostics) = select(rows.clone(), &ParseLimits::default());
    println!("diagnostics: {diagnostics:#?}");
    let ids: Vec<&str> = deployed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["greeting", "jsongreet", "mta-analysis-v7"]);
    let greeting = &deployed[0];
    assert_eq!(greeting.version.as_deref(), Some("1.0"));
    assert_eq!(
        greeting.service_url.as_deref(),
        Some("http://greeting.sonataflow-infra")
    );
    let wf = greeting.workflow.as_ref().expect("greeting parsed");
    assert_eq!(wf.id, "greeting");
    assert_eq!(wf.name.as_deref(), Some("Greeting workflow"));
    assert_eq!(wf.annotations, ["workflow-type/infrastructure"]);
    assert_eq!(wf.origin.path, "data-index:greeting");
    assert_eq!(Some(wf.origin.sha256.clone()), greeting.row.source_sha256());
    assert_eq!(
        greeting.input_schema_ref.as_deref(),
        Some("schemas/greeting.sw.input-schema.json")
    );
    let jg = &deployed[1];
    assert_eq!(
        jg.version.as_deref(),
        Some("1.1"),
        "the highest version wins"
    );
    assert_eq!(jg.other_versions, [Some("1.0".to_owned())]);
    let jwf = jg.workflow.as_ref().expect("jsongreet parsed (JSON)");
    assert_eq!(jwf.version.as_deref(), Some("1.1"));
    assert!(jwf.input_schema.is_some(), "an inline schema is resolved");
    // mta has no source on the server (an operator-only row): a warning, no workflow.
    assert!(deployed[2].workflow.is_none());
    assert!(
        diagnostics
            .iter()
            .any(|d| d.file == "data-index:mta-analysis-v7" && d.message.contains("no source")),
        "{diagnostics:?}"
    );
    Some((fixture, caps, rows))
}

#[tokio::test]
async fn release_1_44_selects_only_its_fields_and_filters_type_locally() {
    let Some((fixture, caps, rows)) = per_release(Release::V1_44).await else {
        return;
    };
    assert_eq!(caps.release(), "1.44");
    let list = &fixture.received()[1];
    assert!(
        list.query
            .contains("id version name type endpoint serviceUrl\n")
    );
    for absent in ["description", "annotations", "metadata", "$where", "source"] {
        assert!(!list.query.contains(absent), "{absent} in {}", list.query);
    }
    assert!(list.query.contains("orderBy: {id: ASC, version: ASC}"));
    assert_eq!(list.variables, json!({"limit": 50, "offset": 0}));
    // No metadata on 1.44: every row is available; no description either.
    assert!(
        rows.iter()
            .all(|r| r.availability() == Availability::Available)
    );
    assert!(
        rows.iter()
            .all(|r| r.description.is_none() && r.metadata.is_none())
    );
    // `source` was asked for the four SW rows only, by (id, version).
    let sources = &fixture.received()[2];
    assert!(sources.query.contains("source"));
    assert_eq!(
        sources.variables["where"]["or"].as_array().unwrap().len(),
        4
    );
    assert_eq!(fixture.sources_served(), 4);
}

#[tokio::test]
async fn release_10_0_adds_description_annotations_metadata() {
    let Some((fixture, caps, rows)) = per_release(Release::V10_0).await else {
        return;
    };
    assert_eq!(caps.release(), "10.0");
    let list = &fixture.received()[1];
    assert!(list.query.contains("description annotations metadata"));
    assert!(!list.query.contains("$where"), "10.0 cannot filter on type");
    let mta = rows.iter().find(|r| r.id == "mta-analysis-v7").unwrap();
    assert_eq!(mta.availability(), Availability::Unavailable);
    let greeting = &rows[0];
    assert_eq!(
        greeting.annotations,
        ["test1", "test2"],
        "sorted: a set on the server"
    );
    assert_eq!(greeting.description.as_deref(), Some("greeting deployed"));
}

async fn filters_on_server(release: Release) {
    let Some((fixture, caps, rows)) = per_release(release).await else {
        return;
    };
    assert_eq!(caps.release(), "10.1 or later");
    let list = &fixture.received()[1];
    assert!(list.query.contains("where: $where"));
    assert_eq!(
        list.variables,
        json!({"where": {"type": {"equal": "SW"}}, "limit": 50, "offset": 0})
    );
    let (deployed, _) = select(rows, &ParseLimits::default());
    let availability: Vec<Availability> = deployed.iter().map(|d| d.availability).collect();
    assert_eq!(
        availability,
        [
            Availability::Available,
            Availability::Available,
            Availability::Unavailable
        ]
    );
}

#[tokio::test]
async fn release_10_1_filters_type_on_the_server() {
    filters_on_server(Release::V10_1).await;
}

#[tokio::test]
async fn release_10_2_filters_type_on_the_server() {
    filters_on_server(Release::V10_2).await;
}

#[tokio::test]
async fn release_1_43_is_refused_with_the_version_requirement() {
    let Some(fixture) = Fixture::start(Release::V1_43, example_rows()).await else {
        return;
    };
    let err = client(&fixture).introspect().await.unwrap_err();
    println!("{err}");
    assert!(matches!(err, DataIndexError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("1.44.0 or later"));
    assert_eq!(
        fixture.validation_errors(),
        0,
        "the introspection query is valid on 1.43"
    );
}

#[tokio::test]
async fn unknown_field_is_a_validation_error_then_reintrospected() {
    let Some(fixture) = Fixture::start(Release::V1_44, example_rows()).await else {
        return;
    };
    // Capabilities learnt from a 10.2 Data Index that was since replaced by a 1.44 one.
    let Some(newer) = Fixture::start(Release::V10_2, vec![]).await else {
        return;
    };
    let mut caps = client(&newer).introspect().await.unwrap();
    let rows = client(&fixture)
        .list(&mut caps, 50, &|_, _| true)
        .await
        .expect("retried after introspecting again");
    print_queries(&fixture);
    assert_eq!(fixture.validation_errors(), 1);
    assert_eq!(caps.release(), "1.44");
    assert_eq!(rows.len(), 4);
    // list (invalid) + introspection + list; all rows known: no source query.
    assert_eq!(fixture.requests(), 3);
    assert_eq!(fixture.sources_served(), 0);
}

#[tokio::test]
async fn the_fixture_answers_unknown_fields_like_graphql_java() {
    let Some(fixture) = Fixture::start(Release::V1_44, vec![]).await else {
        return;
    };
    let body: Value = reqwest::Client::new()
        .post(format!("{}/graphql", fixture.url))
        .json(&json!({"query": "{ ProcessDefinitions { id description } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("{body}");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(
        body["errors"][0]["extensions"]["classification"],
        "ValidationError"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("description")
    );
}

#[tokio::test]
async fn source_is_fetched_only_for_unknown_rows() {
    let Some(fixture) = Fixture::start(Release::V10_2, example_rows()).await else {
        return;
    };
    let client = client(&fixture);
    let mut caps = client.introspect().await.unwrap();
    let known = |id: &str, version: Option<&str>| id == "jsongreet" && version == Some("1.0");
    let rows = client.list(&mut caps, 50, &known).await.unwrap();
    let sources = &fixture.received()[2];
    println!("{}\n{}", sources.query, sources.variables);
    assert_eq!(
        sources.variables,
        json!({"where": {"or": [
            {"id": {"equal": "greeting"}, "version": {"equal": "1.0"}},
            {"id": {"equal": "jsongreet"}, "version": {"equal": "1.1"}},
            {"id": {"equal": "mta-analysis-v7"}, "version": {"equal": "1.0"}},
        ]}})
    );
    assert_eq!(fixture.sources_served(), 3);
    let jg10 = &rows[1];
    assert!(jg10.source.is_none() && jg10.source_error.is_none());
    assert!(rows[2].source.is_some());
}

#[tokio::test]
async fn a_source_field_error_leaves_that_row_without_source() {
    let mut rows = example_rows();
    rows[0]["sourceError"] = json!(
        "Exception while fetching data (/ProcessDefinitions[0]/source) : Connection refused: greeting.sonataflow-infra/10.0.0.7:80"
    );
    let Some(fixture) = Fixture::start(Release::V10_2, rows).await else {
        return;
    };
    let client = client(&fixture);
    let mut caps = client.introspect().await.unwrap();
    let rows = client.list(&mut caps, 50, &unknown).await.unwrap();
    assert!(rows[0].source.is_none());
    assert!(
        rows[0]
            .source_error
            .as_deref()
            .unwrap()
            .contains("Connection refused")
    );
    assert!(rows[1].source.is_some(), "the other rows keep theirs");
    let (deployed, diagnostics) = select(rows, &ParseLimits::default());
    assert!(deployed[0].workflow.is_none());
    assert!(
        diagnostics
            .iter()
            .any(|d| d.file == "data-index:greeting" && d.message.contains("Connection refused"))
    );
}

fn many_rows(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let id = format!("wf-{i:05}");
            let source = format!(
                "{{\"id\": \"{id}\", \"version\": \"1.0\", \"start\": \"s\", \"states\": [{{\"name\": \"s\", \"type\": \"inject\", \"end\": true}}]}}"
            );
            row(&id, "1.0", Some(&source), None)
        })
        .collect()
}

#[tokio::test]
async fn pages_over_2500_rows() {
    for release in [Release::V1_44, Release::V10_2] {
        let Some(fixture) = Fixture::start(release, many_rows(2500)).await else {
            return;
        };
        let client = client(&fixture);
        let mut caps = client.introspect().await.unwrap();
        fixture.reset_counts();
        // Cold: 3 pages (1000, 1000, 500) and 3 source queries of 1000, 1000, 500 rows.
        let rows = client.list(&mut caps, 1000, &unknown).await.unwrap();
        assert_eq!(rows.len(), 2500);
        assert!(rows.iter().all(|r| r.source.is_some()));
        assert_eq!(fixture.requests(), 6, "{release:?}");
        assert_eq!(fixture.sources_served(), 2500);
        let offsets: Vec<Value> = fixture.received()[..3]
            .iter()
            .map(|r| r.variables["offset"].clone())
            .collect();
        assert_eq!(offsets, [json!(0), json!(1000), json!(2000)]);
        // Warm: everything known, 3 requests and no source at all.
        fixture.reset_counts();
        let rows = client.list(&mut caps, 1000, &|_, _| true).await.unwrap();
        assert_eq!(rows.len(), 2500);
        assert_eq!(fixture.requests(), 3);
        assert_eq!(fixture.sources_served(), 0);
        let (deployed, diagnostics) = select(rows, &ParseLimits::default());
        assert_eq!(deployed.len(), 2500);
        assert!(diagnostics.is_empty());
        assert_eq!(deployed[0].id, "wf-00000");
        assert_eq!(deployed[2499].id, "wf-02499");
        // A full last page needs one more, empty, page.
        fixture.set_rows(many_rows(2000));
        fixture.reset_counts();
        client.list(&mut caps, 1000, &|_, _| true).await.unwrap();
        assert_eq!(fixture.requests(), 3);
        assert_eq!(fixture.validation_errors(), 0);
    }
}

fn deployment(version: Option<&str>, status: Option<&str>, source: Option<&str>) -> Deployment {
    Deployment {
        id: "flow".into(),
        version: version.map(str::to_owned),
        kind: Some("SW".into()),
        service_url: Some("http://flow.ns".into()),
        metadata: status.map(|s| json!({ "status": s })),
        source: source.map(str::to_owned),
        ..Deployment::default()
    }
}

#[test]
fn duplicate_versions_choose_one_row_per_id() {
    let limits = ParseLimits::default();
    let rows = vec![
        deployment(Some("1.9"), None, None),
        deployment(Some("1.10"), None, None),
        deployment(Some("1.10.0-SNAPSHOT"), None, None),
        deployment(Some("v1.2"), None, None),
        deployment(None, None, None),
    ];
    // Whatever order the Data Index returns them in.
    for rotation in 0..rows.len() {
        let mut rotated = rows.clone();
        rotated.rotate_left(rotation);
        rotated.reverse();
        let (deployed, _) = select(rotated, &limits);
        assert_eq!(deployed.len(), 1);
        assert_eq!(deployed[0].version.as_deref(), Some("1.10"));
        assert_eq!(deployed[0].other_versions.len(), 4);
    }
    // Equal versions as written differently: available beats unavailable.
    let a = deployment(Some("1.0"), Some("unavailable"), None);
    let b = deployment(Some("v1.0"), Some("available"), None);
    assert_eq!(compare_rows(&a, &b), Ordering::Less);
    let (deployed, _) = select(vec![b.clone(), a.clone()], &limits);
    assert_eq!(deployed[0].version.as_deref(), Some("v1.0"));
    // Same version and availability: the greater source hash, whatever the order.
    let x = deployment(Some("1.0"), None, Some("id: flow\nstates: [{name: a}]\n"));
    let y = deployment(Some("1.0"), None, Some("id: flow\nstates: [{name: b}]\n"));
    let winner = if x.source_sha256() > y.source_sha256() {
        &x
    } else {
        &y
    };
    for pair in [vec![x.clone(), y.clone()], vec![y.clone(), x.clone()]] {
        let (deployed, _) = select(pair, &limits);
        assert_eq!(deployed[0].row.source, winner.source);
    }
    // A higher version that the operator marked unavailable still wins: the workflow was
    // removed, older rows are stale.
    let old = deployment(Some("1.0"), Some("available"), None);
    let removed = deployment(Some("2.0"), Some("unavailable"), None);
    let (deployed, _) = select(vec![old, removed], &limits);
    assert_eq!(deployed[0].availability, Availability::Unavailable);
}

#[test]
fn unavailable_rows_are_marked() {
    let limits = ParseLimits::default();
    let rows = vec![
        Deployment {
            id: "a".into(),
            ..deployment(Some("1.0"), Some("unavailable"), None)
        },
        Deployment {
            id: "b".into(),
            ..deployment(Some("1.0"), Some("available"), None)
        },
        Deployment {
            id: "c".into(),
            ..deployment(Some("1.0"), None, None)
        },
        Deployment {
            id: "d".into(),
            ..deployment(Some("1.0"), Some("UNAVAILABLE"), None)
        },
    ];
    let (deployed, diagnostics) = select(rows, &limits);
    let got: Vec<(&str, Availability)> = deployed
        .iter()
        .map(|d| (d.id.as_str(), d.availability))
        .collect();
    assert_eq!(
        got,
        [
            ("a", Availability::Unavailable),
            ("b", Availability::Available),
            ("c", Availability::Available),
            ("d", Availability::Unavailable),
        ]
    );
    assert!(diagnostics.is_empty(), "no source asked, none missing");
}

#[test]
fn a_source_with_another_id_or_broken_text_is_diagnosed() {
    let limits = ParseLimits::default();
    let renamed = Deployment {
        id: "cr-name".into(),
        ..deployment(
            Some("1.0"),
            None,
            Some("{\"id\": \"flow\", \"states\": [{\"name\": \"a\"}]}"),
        )
    };
    let broken = Deployment {
        id: "broken".into(),
        ..deployment(Some("1.0"), None, Some("id: [unclosed"))
    };
    let (deployed, diagnostics) = select(vec![renamed, broken], &limits);
    println!("{diagnostics:#?}");
    assert!(deployed[0].workflow.is_none());
    assert_eq!(deployed[1].workflow.as_ref().unwrap().id, "cr-name");
    assert_eq!(diagnostics.len(), 2);
    assert!(diagnostics[0].file == "data-index:broken" && diagnostics[0].message.contains("YAML"));
    assert!(diagnostics[1].message.contains("deploys it as \"cr-name\""));
}

async fn fault(fault: Fault) -> Option<Result<Vec<Deployment>, DataIndexError>> {
    let fixture = Fixture::start(Release::V10_2, example_rows()).await?;
    let mut caps = client(&fixture).introspect().await.unwrap();
    // Only a delayed answer meets a short timeout; any other answers well within it.
    let timeout = match fault {
        Fault::Delay(_) => Duration::from_millis(500),
        _ => ANSWERS_WITHIN,
    };
    let client = DataIndexClient::new(&fixture.url, Some("t0ken".into()), timeout);
    fixture.set_fault(fault.clone());
    let result = client.list(&mut caps, 50, &unknown).await;
    match &result {
        Ok(rows) => println!("{fault:?} -> {} rows", rows.len()),
        Err(e) => println!("{fault:?} -> {e}"),
    }
    Some(result)
}

#[tokio::test]
async fn faults_give_the_right_errors() {
    let Some(r) = fault(Fault::Http500).await else {
        return;
    };
    assert!(
        matches!(r, Err(DataIndexError::Http { status: 500, .. })),
        "{r:?}"
    );
    let r = fault(Fault::Delay(Duration::from_secs(3))).await.unwrap();
    assert!(matches!(r, Err(DataIndexError::Timeout { .. })), "{r:?}");
    let r = fault(Fault::GraphqlErrors).await.unwrap();
    match r {
        Err(DataIndexError::Graphql {
            messages,
            validation: false,
            ..
        }) => assert!(messages[0].contains("JDBC")),
        other => panic!("{other:?}"),
    }
    let r = fault(Fault::DataNull).await.unwrap();
    assert!(matches!(r, Err(DataIndexError::NoData { .. })), "{r:?}");
    let r = fault(Fault::Garbage).await.unwrap();
    match r {
        Err(e @ DataIndexError::InvalidResponse { .. }) => {
            assert!(e.to_string().contains("<html>"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // An answer without end is refused once it passes the limit, not held until the timeout.
    let r = fault(Fault::Endless).await.unwrap();
    match r {
        Err(e @ DataIndexError::TooLarge { .. }) => {
            assert!(e.to_string().contains("pageSize"), "{e}");
            assert_eq!(e.kind(), "invalid_response");
        }
        other => panic!("{other:?}"),
    }
    let r = fault(Fault::EmptyList).await.unwrap();
    assert_eq!(
        r.unwrap(),
        [],
        "an empty list is an answer; the caller judges it"
    );
}

#[tokio::test]
async fn connection_refused_after_the_server_stops() {
    let Some(mut fixture) = Fixture::start(Release::V10_2, example_rows()).await else {
        return;
    };
    let client = client(&fixture);
    let mut caps = client.introspect().await.unwrap();
    fixture.stop().await;
    let err = client.list(&mut caps, 50, &unknown).await.unwrap_err();
    println!("{err}");
    assert!(matches!(err, DataIndexError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("is running"));
}

#[tokio::test]
async fn every_release_schema_loads_and_the_introspection_query_is_valid() {
    for release in Release::ALL {
        let Some(fixture) = Fixture::start(release, vec![]).await else {
            return;
        };
        let result = client(&fixture).introspect().await;
        assert_eq!(fixture.validation_errors(), 0, "{release:?}");
        assert_eq!(result.is_ok(), release != Release::V1_43, "{release:?}");
    }
}
