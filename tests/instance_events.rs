//! Workflow instance metrics from SonataFlow's instance events, through `POST /events`: every
//! encoding the runtimes and brokers use, the counting semantics, replays, unpublished ids,
//! malformed and hostile input. The server runs in this process with its own metrics recorder,
//! so every test reads exact values; `the_real_daemon_counts_events_posted_over_http` runs the
//! real binary.

#[path = "support/kogito_binary.rs"]
mod kogito_binary;
#[path = "support/metrics.rs"]
mod metrics_text;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use kogito_binary::{Body, Event, Group, Object, record};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};
use orchestrator_provider::instances::{
    Change, Decoded, InstanceEvent, InstanceMetrics, Limits, OTHER,
};
use orchestrator_provider::sink::serve::{Shared, router};
use orchestrator_provider::telemetry;
use serde_json::{Value, json};

const STARTED: &str = "orchestrator_provider_workflow_instances_started_total";
const COMPLETED: &str = "orchestrator_provider_workflow_instances_completed_total";
const ABORTED: &str = "orchestrator_provider_workflow_instances_aborted_total";
const FAILED: &str = "orchestrator_provider_workflow_instances_failed_total";
const ACTIVE: &str = "orchestrator_provider_workflow_instances_active";
const DURATION: &str = "orchestrator_provider_workflow_instance_duration_seconds";
const OUTCOMES: &str = "orchestrator_provider_workflow_instance_events_total";

const ADDONS: &str = "jobs-management,prometheus-monitoring,process-management,source-files";

/// An `/events` server in this process whose instance metrics go to their own recorder.
struct Server {
    base: String,
    http: reqwest::Client,
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    shared: Arc<Shared>,
    /// Definition events schedule syncs through it; nothing runs them here.
    _triggers: tokio::sync::mpsc::Receiver<orchestrator_provider::sink::serve::Trigger>,
}

impl Server {
    async fn start(published: &[&str]) -> Server {
        let recorder = telemetry::prometheus_builder().build_recorder();
        let handle = recorder.handle();
        let (tx, triggers) = tokio::sync::mpsc::channel(1);
        let shared = metrics::with_local_recorder(&recorder, || {
            let shared = Shared::new("http://x".into(), 4, tx, None, None);
            shared.instances.set_published(published.iter().copied());
            Arc::new(shared)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = router(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server {
            base,
            http: reqwest::Client::new(),
            recorder,
            handle,
            shared,
            _triggers: triggers,
        }
    }

    fn publish(&self, ids: &[&str]) {
        metrics::with_local_recorder(&self.recorder, || {
            self.shared.instances.set_published(ids.iter().copied())
        });
    }

    /// POSTs a structured event (or a batch, for a JSON list); the status and the answer.
    async fn post(&self, body: &Value) -> (u16, String) {
        let content_type = if body.is_array() {
            "application/cloudevents-batch+json"
        } else {
            "application/cloudevents+json"
        };
        self.post_raw(
            &[("content-type", content_type)],
            body.to_string().into_bytes(),
        )
        .await
    }

    async fn post_raw(&self, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
        let mut request = self.http.post(format!("{}/events", self.base)).body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn accepted(&self, body: &Value) -> String {
        let (status, answer) = self.post(body).await;
        assert_eq!(status, 202, "{answer}");
        answer
    }

    fn samples(&self) -> std::collections::BTreeMap<String, f64> {
        metrics_text::parse(&self.handle.render())
    }
}

fn get(samples: &std::collections::BTreeMap<String, f64>, name: &str, workflow: &str) -> f64 {
    metrics_text::value(samples, name, &[("workflow", workflow)])
}

fn outcome(samples: &std::collections::BTreeMap<String, f64>, outcome: &str) -> f64 {
    metrics_text::value(samples, OUTCOMES, &[("outcome", outcome)])
}

/// Epoch milliseconds of 2026-03-02T10:mm:ss.000Z.
fn at(minute: i64, second: i64) -> i64 {
    1_772_445_600_000 + (minute * 60 + second) * 1000
}

fn iso(minute: i64, second: i64) -> String {
    format!("2026-03-02T10:{minute:02}:{second:02}.000+00:00")
}

fn source(workflow: &str) -> String {
    format!("http://{workflow}.sonataflow-infra/{workflow}")
}

/// A `ProcessInstanceStateDataEvent` as a 10.2 runtime writes it (README §8).
fn state(
    id: &str,
    workflow: &str,
    instance: &str,
    event_type: i64,
    state: i64,
    date: &str,
) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": source(workflow),
        "type": "ProcessInstanceStateDataEvent", "time": "2026-03-02T10:15:30.120845Z",
        "datacontenttype": "application/json",
        "kogitoprocinstanceid": instance, "kogitoprocid": workflow, "kogitoprocversion": "1.0",
        "kogitoprocist": state.to_string(), "kogitoproctype": "SW", "kogitoaddons": ADDONS,
        "data": {"eventDate": date, "eventUser": null, "eventType": event_type,
                 "processId": workflow, "processVersion": "1.0", "processType": "SW",
                 "processInstanceId": instance, "businessKey": null, "processName": "A workflow",
                 "parentInstanceId": null, "rootProcessId": null, "rootProcessInstanceId": null,
                 "state": state, "roles": null, "slaDueDate": null,
                 "cloudEventId": null, "cloudEventSource": null}
    })
}

fn node(id: &str, workflow: &str, instance: &str) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": source(workflow),
        "type": "ProcessInstanceNodeDataEvent", "datacontenttype": "application/json",
        "kogitoprocinstanceid": instance, "kogitoprocid": workflow, "kogitoprocist": "1",
        "data": {"eventDate": iso(0, 0), "eventType": 1, "processId": workflow,
                 "processInstanceId": instance, "nodeDefinitionId": "2", "nodeName": "Inject",
                 "nodeType": "ActionNode", "nodeInstanceId": "n-1", "data": {"deep": [[{"x": 1}]]}}
    })
}

fn sla(id: &str, workflow: &str, instance: &str) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": source(workflow),
        "type": "ProcessInstanceSLADataEvent", "kogitoprocid": workflow,
        "data": {"processId": workflow, "processInstanceId": instance, "nodeDefinitionId": "2",
                 "nodeName": "Wait", "nodeType": "TimerNode", "nodeInstanceId": "n-2",
                 "slaDueDate": iso(30, 0)}
    })
}

/// A JSON-mode group (`kogito.events.grouping=true`, binary off).
fn json_group(id: &str, workflow: &str, events: Vec<Value>) -> Value {
    json!({"specversion": "1.0", "id": id, "source": source(workflow),
           "type": "MultipleProcessInstanceDataEvent", "time": "2026-03-02T10:17:00.02Z",
           "data": events})
}

fn binary_group(
    workflow: &str,
    instance: &str,
    time: i64,
    flags: u32,
    events: Vec<(&str, i32, Body)>,
) -> Group {
    Group {
        flags,
        records: vec![record(workflow, instance, time)],
        events: events
            .into_iter()
            .map(|(id, delta, body)| {
                let mut e = Event::new(0, id, body);
                e.time_delta = delta;
                e
            })
            .collect(),
    }
}

/// Headers of a binary-mode (`ce-*`) request, as a Knative broker redelivers.
fn binary_mode(
    id: &str,
    ce_type: &str,
    workflow: &str,
    content_type: &'static str,
) -> Vec<(String, String)> {
    vec![
        ("ce-specversion".into(), "1.0".into()),
        ("ce-id".into(), id.into()),
        ("ce-source".into(), source(workflow)),
        ("ce-type".into(), ce_type.into()),
        ("content-type".into(), content_type.into()),
    ]
}

async fn post_binary_mode(
    server: &Server,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (u16, String) {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    server.post_raw(&headers, body).await
}

#[tokio::test]
async fn a_realistic_sequence_in_every_encoding_gives_exact_counts() {
    let server = Server::start(&["onboarding", "provision"]).await;

    // 1. Structured, one event: onboarding A starts.
    let a_start = state("a-start", "onboarding", "A", 1, 1, &iso(0, 0));
    server.accepted(&a_start).await;

    // 2. Binary HTTP mode, one event: onboarding B starts; the body is `data`.
    let mut headers = binary_mode(
        "b-start",
        "ProcessInstanceStateDataEvent",
        "onboarding",
        "application/json",
    );
    headers.push(("ce-kogitoprocid".into(), "onboarding".into()));
    headers.push(("ce-kogitoprocinstanceid".into(), "B".into()));
    let body = state("b-start", "onboarding", "B", 1, 1, &iso(0, 10))["data"].to_string();
    let (status, answer) = post_binary_mode(&server, &headers, body.into_bytes()).await;
    assert_eq!(status, 202, "{answer}");

    // 3. A binary group, uncompressed, as a 10.2 runtime under the operator sends it (flags 7):
    //    provision C starts and completes in one unit of work; node and variable events between.
    let c_group = binary_group(
        "provision",
        "C",
        at(1, 0),
        7,
        vec![
            ("c-start", 0, Body::state(1, 1)),
            ("c-node-in", 1, Body::node(1, "Inject")),
            (
                "c-var",
                1,
                Body::variable("name", Object::Json(r#"{"first":"Ada"}"#.into())),
            ),
            ("c-node-out", 1, Body::node(2, "Inject")),
            ("c-end", 1, Body::state(2, 2)),
        ],
    );
    let c_envelope = c_group.envelope("group-c", false);
    let answer = server.accepted(&c_envelope).await;
    assert!(
        answer.contains("2 counted") && answer.contains("3 that count nothing"),
        "{answer}"
    );

    // 4. A JSON-mode group: onboarding A's last node and its completion, 90 s after its start.
    let a_group = json_group(
        "group-a",
        "onboarding",
        vec![
            node("a-node", "onboarding", "A"),
            sla("a-sla", "onboarding", "A"),
            state("a-end", "onboarding", "A", 2, 2, &iso(1, 30)),
        ],
    );
    server.accepted(&a_group).await;

    // 5. A CloudEvents batch: onboarding D and provision E start.
    server
        .accepted(&json!([
            state("d-start", "onboarding", "D", 1, 1, &iso(2, 0)),
            state("e-start", "provision", "E", 1, 1, &iso(2, 5)),
        ]))
        .await;

    // 6. A gzipped binary group from a 10.1 runtime (flags 1): provision E fails. It stays active.
    let e_group = binary_group(
        "provision",
        "E",
        at(3, 0),
        1,
        vec![
            ("e-node-error", 0, Body::node(6, "CallService")),
            (
                "e-error",
                1,
                Body::error("java.net.ConnectException - Connection refused"),
            ),
        ],
    );
    server.accepted(&e_group.envelope("group-e", true)).await;

    // 7. A binary group redelivered in binary HTTP mode: the body is the base64 text, the
    //    extensions are headers. Onboarding D is aborted at 10:05:00, 180 s after its start.
    let d_group = binary_group(
        "onboarding",
        "D",
        at(5, 0),
        7,
        vec![("d-end", 0, Body::state(2, 3))],
    );
    let mut headers = binary_mode(
        "group-d",
        "MultipleProcessInstanceDataEvent",
        "onboarding",
        "application/octet-stream",
    );
    headers.push(("ce-marshallflags".into(), "7".into()));
    headers.push(("ce-compressdata".into(), "false".into()));
    let (status, answer) =
        post_binary_mode(&server, &headers, d_group.base64(false).into_bytes()).await;
    assert_eq!(status, 202, "{answer}");

    // 8. Onboarding B completes, 60 s after its start.
    server
        .accepted(&state("b-end", "onboarding", "B", 2, 2, &iso(1, 10)))
        .await;

    // 9. Redeliveries: the same events again are not counted again (their node events are read
    //    again and count nothing either way).
    let answer = server.accepted(&a_start).await;
    assert!(answer.contains("0 counted, 1 already seen"), "{answer}");
    server.accepted(&a_group).await;
    let answer = server.accepted(&c_envelope).await;
    assert!(answer.contains("0 counted, 2 already seen"), "{answer}");

    // 10. A workflow the daemon does not publish: counted under `other`, 30 s long.
    server
        .accepted(&json!([
            state("f-start", "unlisted", "F", 1, 1, &iso(6, 0)),
            state("f-end", "unlisted", "F", 2, 2, &iso(6, 30)),
        ]))
        .await;

    // 11. A Kogito 1.x snapshot: ignored, and counted as such.
    let answer = server
        .accepted(
            &json!({"specversion": "1.0", "id": "old", "source": "/legacy",
                          "type": "ProcessInstanceEvent", "kogitoprocid": "onboarding",
                          "data": {"id": "G", "processId": "onboarding", "state": 2}}),
        )
        .await;
    assert!(answer.contains("1 Kogito 1.x ignored"), "{answer}");

    // Every series, as it must read now.
    let m = server.samples();
    let expected: &[(&str, &str, f64)] = &[
        (STARTED, "onboarding", 3.0),   // A, B, D
        (STARTED, "provision", 2.0),    // C, E
        (STARTED, OTHER, 1.0),          // F
        (COMPLETED, "onboarding", 2.0), // A, B
        (COMPLETED, "provision", 1.0),  // C
        (COMPLETED, OTHER, 1.0),        // F
        (ABORTED, "onboarding", 1.0),   // D
        (ABORTED, "provision", 0.0),
        (ABORTED, OTHER, 0.0),
        (FAILED, "onboarding", 0.0),
        (FAILED, "provision", 1.0), // E
        (FAILED, OTHER, 0.0),
        (ACTIVE, "onboarding", 0.0),
        (ACTIVE, "provision", 1.0), // E: failed, still alive
        (ACTIVE, OTHER, 0.0),
    ];
    for (name, workflow, value) in expected {
        assert_eq!(
            get(&m, name, workflow),
            *value,
            "{name}{{workflow={workflow}}}"
        );
    }
    // Durations: onboarding A 90 s, B 60 s, D 180 s; provision C 1 ms (a binary group's event
    // times are the record's plus a delta of 0 or 1 ms); other F 30 s.
    let count = |w: &str| get(&m, &format!("{DURATION}_count"), w);
    let sum = |w: &str| get(&m, &format!("{DURATION}_sum"), w);
    assert_eq!((count("onboarding"), sum("onboarding")), (3.0, 330.0));
    assert_eq!(count("provision"), 1.0);
    assert!(
        (sum("provision") - 0.001).abs() < 1e-9,
        "{}",
        sum("provision")
    );
    assert_eq!((count(OTHER), sum(OTHER)), (1.0, 30.0));
    let bucket = |w: &str, le: &str| {
        metrics_text::value(
            &m,
            &format!("{DURATION}_bucket"),
            &[("workflow", w), ("le", le)],
        )
    };
    assert_eq!(bucket("onboarding", "15"), 0.0);
    assert_eq!(bucket("onboarding", "60"), 1.0); // B
    assert_eq!(bucket("onboarding", "300"), 3.0);
    assert_eq!(bucket("provision", "0.1"), 1.0);
    // Outcomes: 12 counted (6 starts, 4 completions, 1 abort, 1 failure); 4 replays; 11 that
    // count nothing (3 + 2 + 1 node/variable/SLA events, and the 5 read again in the replays).
    assert_eq!(outcome(&m, "counted"), 12.0);
    assert_eq!(outcome(&m, "duplicate"), 4.0);
    assert_eq!(outcome(&m, "not_counted"), 11.0);
    assert_eq!(outcome(&m, "kogito_1x"), 1.0);
}

#[tokio::test]
async fn every_series_exists_at_zero_once_its_workflow_is_published() {
    let server = Server::start(&["onboarding"]).await;
    let m = server.samples();
    for workflow in ["onboarding", OTHER] {
        for name in [STARTED, COMPLETED, ABORTED, FAILED, ACTIVE] {
            assert_eq!(
                m.get(&metrics_text::key(name, &[("workflow", workflow)])),
                Some(&0.0),
                "{name} {workflow}"
            );
        }
        assert_eq!(get(&m, &format!("{DURATION}_count"), workflow), 0.0);
        assert!(m.contains_key(&metrics_text::key(
            &format!("{DURATION}_count"),
            &[("workflow", workflow)]
        )));
    }
    for o in ["counted", "duplicate", "not_counted", "kogito_1x"] {
        assert!(
            m.contains_key(&metrics_text::key(OUTCOMES, &[("outcome", o)])),
            "{o}"
        );
    }
    assert!(!server.handle.render().contains("workflow=\"provision\""));
    server.publish(&["onboarding", "provision"]);
    assert!(
        metrics_text::parse(&server.handle.render())
            .contains_key(&metrics_text::key(STARTED, &[("workflow", "provision")]))
    );
}

#[tokio::test]
async fn unpublished_ids_fold_into_other_and_an_unpublished_workflow_ends_where_it_started() {
    let server = Server::start(&["onboarding"]).await;
    server
        .accepted(&state("s1", "onboarding", "I1", 1, 1, &iso(0, 0)))
        .await;
    // Hostile or unknown ids never become label values.
    for (i, id) in ["x\"}", "../../etc", "a-very-long-unpublished-workflow-id"]
        .iter()
        .enumerate()
    {
        server
            .accepted(&state(
                &format!("u{i}"),
                id,
                &format!("U{i}"),
                1,
                1,
                &iso(0, 0),
            ))
            .await;
    }
    let m = server.samples();
    assert_eq!(get(&m, STARTED, OTHER), 3.0);
    assert_eq!(get(&m, ACTIVE, OTHER), 3.0);
    assert!(!server.handle.render().contains("etc"));

    // onboarding is no longer published: its new events fold into other; the instance it
    // started still leaves onboarding's active gauge when it ends.
    server.publish(&[]);
    server
        .accepted(&state("s2", "onboarding", "I1", 2, 2, &iso(1, 0)))
        .await;
    server
        .accepted(&state("s3", "onboarding", "I2", 1, 1, &iso(1, 0)))
        .await;
    let m = server.samples();
    assert_eq!(get(&m, ACTIVE, "onboarding"), 0.0);
    assert_eq!(get(&m, &format!("{DURATION}_sum"), "onboarding"), 60.0);
    assert_eq!(get(&m, COMPLETED, OTHER), 1.0);
    assert_eq!(get(&m, STARTED, OTHER), 4.0);
    assert_eq!(get(&m, STARTED, "onboarding"), 1.0);
}

#[tokio::test]
async fn a_failed_instance_stays_active_until_it_is_retriggered_and_ends() {
    let server = Server::start(&["onboarding"]).await;
    server
        .accepted(&state("1", "onboarding", "I", 1, 1, &iso(0, 0)))
        .await;
    let mut error = state("2", "onboarding", "I", 0, 5, &iso(0, 5));
    error["type"] = json!("ProcessInstanceErrorDataEvent");
    error["data"] = json!({"eventDate": iso(0, 5), "processId": "onboarding", "processVersion": "1.0",
        "processInstanceId": "I", "nodeDefinitionId": "2", "nodeInstanceId": "n",
        "errorMessage": "java.net.ConnectException - Connection refused"});
    server.accepted(&error).await;
    let m = server.samples();
    assert_eq!(
        (get(&m, FAILED, "onboarding"), get(&m, ACTIVE, "onboarding")),
        (1.0, 1.0)
    );
    // Retriggered (eventType 4, back to state 1): counts nothing. Then it completes.
    server
        .accepted(&state("3", "onboarding", "I", 4, 1, &iso(0, 30)))
        .await;
    server
        .accepted(&state("4", "onboarding", "I", 2, 2, &iso(1, 0)))
        .await;
    let m = server.samples();
    assert_eq!(get(&m, STARTED, "onboarding"), 1.0);
    assert_eq!(get(&m, COMPLETED, "onboarding"), 1.0);
    assert_eq!(get(&m, ACTIVE, "onboarding"), 0.0);
    assert_eq!(get(&m, &format!("{DURATION}_sum"), "onboarding"), 60.0);
}

#[tokio::test]
async fn starts_are_counted_by_event_type_never_by_state() {
    let server = Server::start(&["onboarding"]).await;
    // A synchronous run on 10.0/10.1: STARTED carries the end state (2, or 5) already.
    server
        .accepted(&state("1", "onboarding", "I", 1, 2, &iso(0, 0)))
        .await;
    server
        .accepted(&state("2", "onboarding", "J", 1, 5, &iso(0, 0)))
        .await;
    // A state 1 without eventType 1 (migrated, updated) is no start.
    server
        .accepted(&state("3", "onboarding", "K", 3, 1, &iso(0, 0)))
        .await;
    server
        .accepted(&state("4", "onboarding", "K", 5, 1, &iso(0, 0)))
        .await;
    let m = server.samples();
    assert_eq!(get(&m, STARTED, "onboarding"), 2.0);
    assert_eq!(get(&m, COMPLETED, "onboarding"), 0.0);
    assert_eq!(get(&m, ACTIVE, "onboarding"), 2.0);
    assert_eq!(outcome(&m, "not_counted"), 2.0);
}

#[tokio::test]
async fn an_end_whose_start_was_not_seen_leaves_active_at_zero_and_records_no_duration() {
    let server = Server::start(&["onboarding"]).await;
    // Started before this daemon did: its end alone.
    server
        .accepted(&state("1", "onboarding", "I", 2, 2, &iso(5, 0)))
        .await;
    server
        .accepted(&state("2", "onboarding", "J", 2, 3, &iso(5, 0)))
        .await;
    let m = server.samples();
    assert_eq!(get(&m, COMPLETED, "onboarding"), 1.0);
    assert_eq!(get(&m, ABORTED, "onboarding"), 1.0);
    assert_eq!(get(&m, ACTIVE, "onboarding"), 0.0);
    assert_eq!(get(&m, &format!("{DURATION}_count"), "onboarding"), 0.0);
    // An end delivered before its start (separate deliveries overtaking each other): the late
    // start counts, is not active, and the duration is known.
    server
        .accepted(&state("3", "onboarding", "K", 2, 2, &iso(2, 0)))
        .await;
    server
        .accepted(&state("4", "onboarding", "K", 1, 1, &iso(1, 0)))
        .await;
    let m = server.samples();
    assert_eq!(get(&m, STARTED, "onboarding"), 1.0);
    assert_eq!(get(&m, ACTIVE, "onboarding"), 0.0);
    assert_eq!(get(&m, &format!("{DURATION}_sum"), "onboarding"), 60.0);
}

/// A binary-mode request whose body is the group's bytes themselves (not base64), plain or
/// gzipped: they start with a byte base64 text never does, so they are read as they are.
#[tokio::test]
async fn a_binary_mode_body_of_raw_bytes_is_read_too() {
    let server = Server::start(&["onboarding"]).await;
    let group = binary_group(
        "onboarding",
        "R",
        at(0, 0),
        7,
        vec![("r1", 0, Body::state(1, 1))],
    );
    let mut headers = binary_mode(
        "raw",
        "MultipleProcessInstanceDataEvent",
        "onboarding",
        "application/octet-stream",
    );
    headers.push(("ce-marshallflags".into(), "7".into()));
    let (status, answer) = post_binary_mode(&server, &headers, group.encode()).await;
    assert_eq!(status, 202, "{answer}");
    let group = binary_group(
        "onboarding",
        "S",
        at(0, 0),
        7,
        vec![("s1", 0, Body::state(1, 1))],
    );
    let mut headers = binary_mode(
        "gz",
        "MultipleProcessInstanceDataEvent",
        "onboarding",
        "application/octet-stream",
    );
    headers.push(("ce-marshallflags".into(), "7".into()));
    let (status, answer) = post_binary_mode(
        &server,
        &headers,
        kogito_binary::gzip_bytes(&group.encode()),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(get(&server.samples(), STARTED, "onboarding"), 2.0);
}

/// Every way a request can be malformed: 400 naming what is wrong, and no instance series moves,
/// also when the malformed event is one of many in a batch or a group.
#[tokio::test]
async fn a_malformed_event_refuses_its_whole_request_and_changes_no_counter() {
    let server = Server::start(&["onboarding"]).await;
    let good = state("good", "onboarding", "I", 1, 1, &iso(0, 0));
    let with = |path: &[&str], value: Value| {
        let mut e = state("bad", "onboarding", "J", 2, 2, &iso(0, 0));
        let mut target = &mut e;
        for p in &path[..path.len() - 1] {
            target = &mut target[*p];
        }
        target[path[path.len() - 1]] = value;
        e
    };
    let without = |field: &str| {
        let mut e = state("bad", "onboarding", "J", 2, 2, &iso(0, 0));
        e["data"].as_object_mut().unwrap().remove(field);
        e
    };
    let good_group = binary_group(
        "onboarding",
        "K",
        at(0, 0),
        7,
        vec![("k1", 0, Body::state(1, 1)), ("k2", 1, Body::node(1, "n"))],
    );
    let mut cut = good_group.encode();
    cut.truncate(cut.len() - 3);
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let group_of = |data: Value, extra: &[(&str, Value)]| {
        let mut e = good_group.envelope("g", false);
        e["data"] = data;
        for (k, v) in extra {
            e[*k] = v.clone();
        }
        e
    };
    let mut bomb = vec![7, 1];
    bomb.extend(std::iter::repeat_n(0u8, 17 * 1024 * 1024));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no eventType",
            without("eventType"),
            "without `data.eventType`",
        ),
        (
            "an end without state",
            without("state"),
            "eventType 2) without `data.state`",
        ),
        (
            "eventType as text",
            with(&["data", "eventType"], json!("1")),
            "`data.eventType` is a string",
        ),
        (
            "a fractional state",
            with(&["data", "state"], json!(2.5)),
            "`data.state` is 2.5",
        ),
        (
            "a date that is not one",
            with(&["data", "eventDate"], json!("yesterday")),
            "\"yesterday\" is not an ISO-8601",
        ),
        (
            "no workflow",
            {
                let mut e = without("processId");
                e.as_object_mut().unwrap().remove("kogitoprocid");
                e
            },
            "names no workflow",
        ),
        (
            "no instance",
            {
                let mut e = without("processInstanceId");
                e.as_object_mut().unwrap().remove("kogitoprocinstanceid");
                e
            },
            "names no instance",
        ),
        (
            "data not an object",
            with(&["data"], json!([1])),
            "`data` is a list",
        ),
        ("no data", with(&["data"], Value::Null), "has no `data`"),
        (
            "a batch with one bad item",
            json!([good.clone(), without("eventType")]),
            "batch item 2 of 2, ProcessInstanceStateDataEvent \"bad\"",
        ),
        (
            "a JSON group with one bad event",
            json_group("jg", "onboarding", vec![good.clone(), without("eventType")]),
            "event 2 of 2",
        ),
        (
            "a group in a group",
            json_group(
                "jg",
                "onboarding",
                vec![json_group("inner", "onboarding", vec![])],
            ),
            "a group inside a group",
        ),
        (
            "a group holding another type",
            json_group(
                "jg",
                "onboarding",
                vec![
                    json!({"specversion": "1.0", "id": "x", "source": "s", "type": "ProcessDefinitionEvent"}),
                ],
            ),
            "not an instance event type",
        ),
        (
            "a group event without specversion",
            json_group(
                "jg",
                "onboarding",
                vec![json!({"id": "x", "source": "s", "type": "ProcessInstanceStateDataEvent"})],
            ),
            "`specversion` is missing",
        ),
        (
            "a group without data",
            group_of(Value::Null, &[]),
            "a group without `data`",
        ),
        (
            "a group whose data is a number",
            group_of(json!(5), &[]),
            "a number, not a list of events",
        ),
        (
            "bytes that are not base64",
            group_of(json!("not base64!"), &[]),
            "not base64",
        ),
        (
            "a cut binary group",
            group_of(json!(b64(&cut)), &[]),
            "event 2 of 2",
        ),
        (
            "unknown marshall flags",
            group_of(
                json!(good_group.base64(false)),
                &[("marshallflags", json!(8))],
            ),
            "bits this reader does not know",
        ),
        (
            "marshall flags that are not a number",
            group_of(
                json!(good_group.base64(false)),
                &[("marshallflags", json!("seven"))],
            ),
            "not a number",
        ),
        (
            "wrong marshall flags",
            group_of(
                json!(good_group.base64(false)),
                &[("marshallflags", json!(0))],
            ),
            "event 2 of 2: byte 251",
        ),
        (
            "compressdata that is not a boolean",
            group_of(
                json!(good_group.base64(false)),
                &[("compressdata", json!(1))],
            ),
            "`compressdata` is 1",
        ),
        (
            "compressdata on plain bytes",
            group_of(
                json!(good_group.base64(false)),
                &[("compressdata", json!(true))],
            ),
            "does not inflate",
        ),
        (
            "a gzip bomb",
            group_of(
                json!(b64(&kogito_binary::gzip_bytes(&bomb))),
                &[("compressdata", json!(true))],
            ),
            "inflates past 16 MiB",
        ),
        (
            "an unknown type in a binary group",
            {
                let mut bytes = good_group.encode();
                let at = bytes.windows(7).position(|w| w == b"Process").unwrap();
                bytes[at] = b'X';
                group_of(json!(b64(&bytes)), &[])
            },
            "unknown event type \"XrocessInstanceStateDataEvent\"",
        ),
    ];
    let before = server.handle.render();
    for (what, body, expected) in cases {
        let (status, answer) = server.post(&body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(
            answer.contains(expected),
            "{what}: {answer:?} should say {expected:?}"
        );
    }
    // Nesting: 100 levels inside a node event's data are within the JSON parser's limit (128)
    // and never walked (accepted, counts nothing); 100 000 levels are refused as not JSON.
    let mut nested = node("deep", "onboarding", "I");
    nested["data"]["data"] =
        serde_json::from_str(&format!("{}{}", "[".repeat(100), "]".repeat(100))).unwrap();
    let answer = server.accepted(&nested).await;
    assert!(answer.contains("1 that count nothing"), "{answer}");
    let deep = format!(
        r#"{{"specversion":"1.0","id":"d","source":"s","type":"ProcessInstanceNodeDataEvent","data":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (status, answer) = server
        .post_raw(
            &[("content-type", "application/cloudevents+json")],
            deep.into_bytes(),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("not JSON"), "{answer}");
    // A body over 2 MiB (axum's default limit) is not read at all.
    let (status, _) = server
        .post_raw(
            &[("content-type", "application/cloudevents+json")],
            vec![b' '; 3 << 20],
        )
        .await;
    assert_eq!(status, 413);
    let after = server.handle.render();
    let instance_series = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("workflow="))
            .map(str::to_owned)
            .collect()
    };
    let moved: Vec<String> = instance_series(&after)
        .into_iter()
        .filter(|l| !instance_series(&before).contains(l))
        .collect();
    assert!(
        moved.is_empty(),
        "instance series changed by refused requests: {moved:?}"
    );
}

/// The binary encoder written from the shared layout reproduces the start of the real capture
/// in kie-issues#2113 (a 10.1 runtime, flags 1, 15 events), byte for byte; the reader reads the
/// capture's two complete events and then says exactly where it is cut.
#[test]
fn the_encoder_reproduces_the_real_capture_and_the_reader_reads_it() {
    // https://github.com/apache/incubator-kie-issues/issues/2113: the `data` of the
    // MultipleProcessInstanceDataEvent the workflow `token-propagation` sent, as far as the
    // issue quotes it (1040 base64 characters, 780 bytes).
    const CAPTURE: &str = "Bw//ABF0b2tlbi1wcm9wYWdhdGlvbgAkOGE1OGY2YTYtM2QxNC00MjllLWI1ODYtZGRmMTVjMTY2ODFkAAMxLjAAATEBAAJTVwAAAAAAAQAAAZl2q91DADhodHRwOi8vdG9rZW4tcHJvcGFnYXRpb24ucmhkaC1vcGVyYXRvci90b2tlbi1wcm9wYWdhdGlvbgEAw3Byb21ldGhldXMtbW9uaXRvcmluZyxtb25pdG9yaW5nLG1pY3JvcHJvZmlsZS1jb25maWctc2VydmljZS1jYXRhbG9nLHNvdXJjZS1maWxlcyxjbG91ZGV2ZW50cyxqb2JzLWtuYXRpdmUtZXZlbnRpbmcsamRiYy1wZXJzaXN0ZW5jZSxrbmF0aXZlLXNlcnZpbmcscHJvY2Vzcy1tYW5hZ2VtZW50LGt1YmVybmV0ZXMsa25hdGl2ZS1ldmVudGluZwAcUHJvY2Vzc0luc3RhbmNlTm9kZURhdGFFdmVudAcAAAMxLjAAJDVmNmM2ZTc2LTQyYjUtNGM4Yy1iZWExLTMwNWExNDg0ZWU0MgABABBhcHBsaWNhdGlvbi9qc29uAAEHAQEABTE0XzEyAAIxMgEAJmdldFdpdGhTaW1wbGVCZWFyZXJUb2tlblNlY3VyaXR5U2NoZW1lAAxXb3JrSXRlbU5vZGUAJDdjNmM5ZGYzLTdhYTktNDkxZi04NThjLWIxZjRiZmI2NjJiOQAAAgAAAAJ7fQgAAAAcUHJvY2Vzc0luc3RhbmNlTm9kZURhdGFFdmVudAcBAAMxLjAAJGQxNTkzY2UzLTg2NzQtNDdkNC1hMGZiLWI4YjEzMjM4NWQ3YwABABBhcHBsaWNhdGlvbi9qc29uAAEHAQEABTEyXzEzAAIxMwEABlNjcmlwdAAKQWN0aW9uTm9kZQAkYzA5NWIwMDMtNjRlZi00Y2MxLTkzZDEtYjgwOWQ5MzkyYjc0AAACAAAAAnt9CAAAABxQcm9jZXNzSW5zdGFuY2VOb2RlRGF0YUV2ZW50BwEAAzEuMAAk";
    let capture = base64::engine::general_purpose::STANDARD
        .decode(CAPTURE)
        .unwrap();
    assert_eq!(capture.len(), 780);

    // What the issue's log prints of the same group: the instance and its first two node events.
    let capture_record = kogito_binary::Record {
        process_id: "token-propagation".into(),
        instance_id: "8a58f6a6-3d14-429e-b586-ddf15c16681d".into(),
        version: "1.0".into(),
        state: "1".into(),
        process_type: Some("SW".into()),
        time: Some(1_758_632_598_851), // 2025-09-23T13:03:18.851Z
        source: "http://token-propagation.rhdh-operator/token-propagation".into(),
        addons: Some("prometheus-monitoring,monitoring,microprofile-config-service-catalog,source-files,cloudevents,jobs-knative-eventing,jdbc-persistence,knative-serving,process-management,kubernetes,knative-eventing".into()),
        ..Default::default()
    };
    let node = |conn: &str, def: &str, name: &str, kind: &str, instance: &str| Body::Node {
        event_type: Some(1),
        connection_node_definition_id: Some(conn.into()),
        node_definition_id: def.into(),
        node_name: Some(name.into()),
        node_type: kind.into(),
        node_instance_id: instance.into(),
        work_item_id: None,
        sla_due: None,
        data: Object::Default("{}".into()),
        retrigger: Object::Bool(false),
        input: Object::Null,
        output: Object::Null,
    };
    let mut events = vec![
        Event::new(
            0,
            "5f6c6e76-42b5-4c8c-bea1-305a1484ee42",
            node(
                "14_12",
                "12",
                "getWithSimpleBearerTokenSecurityScheme",
                "WorkItemNode",
                "7c6c9df3-7aa9-491f-858c-b1f4bfb662b9",
            ),
        ),
        Event::new(
            0,
            "d1593ce3-8674-47d4-a0fb-b8b132385d7c",
            node(
                "12_13",
                "13",
                "Script",
                "ActionNode",
                "c095b003-64ef-4cc1-93d1-b809d9392b74",
            ),
        ),
    ];
    events[1].time_delta = 1;
    // The other 13 events are not quoted; the third starts like the second (its id is cut).
    for i in 2..14 {
        let mut e = Event::new(
            0,
            &format!("00000000-0000-4000-8000-{i:012}"),
            node(
                "13_14",
                "14",
                "Next",
                "ActionNode",
                "c095b003-64ef-4cc1-93d1-b809d9392b74",
            ),
        );
        e.time_delta = 1;
        events.push(e);
    }
    let mut end = Event::new(0, "00000000-0000-4000-8000-000000000099", Body::state(2, 2));
    end.time_delta = 1;
    events.push(end);
    let group = Group {
        flags: 1,
        records: vec![capture_record],
        events,
    };
    let encoded = group.encode();
    assert_eq!(
        &encoded[..capture.len()],
        &capture[..],
        "the encoder departs from the capture"
    );

    // The reader on the capture itself: events 1 and 2 read, event 3 cut in its id.
    let envelope = |data: &str| {
        orchestrator_provider::cloudevent::from_json(json!({
            "datacontenttype": "application/octet-stream",
            "source": "http://token-propagation.rhdh-operator/token-propagation",
            "id": "2b964bd6-c81e-428d-865c-9d67d8f88682", "specversion": "1.0",
            "type": "MultipleProcessInstanceDataEvent", "data": data, "marshallflags": 1
        }))
        .unwrap()
    };
    let e = orchestrator_provider::instances::decode(vec![envelope(CAPTURE)]).unwrap_err();
    assert!(
        e.to_string()
            .contains("event 3 of 15: byte 780: a string needs 36 bytes, 0 remain"),
        "{e}"
    );
    // And the whole group the encoder built: 14 node events, one completion.
    let decoded =
        orchestrator_provider::instances::decode(vec![envelope(&group.base64(false))]).unwrap();
    assert_eq!(decoded.not_counted, 14);
    assert_eq!(
        decoded.events,
        vec![InstanceEvent {
            id: "00000000-0000-4000-8000-000000000099".into(),
            source: "http://token-propagation.rhdh-operator/token-propagation".into(),
            workflow: "token-propagation".into(),
            instance: "8a58f6a6-3d14-429e-b586-ddf15c16681d".into(),
            change: Change::Completed {
                at: Some(1_758_632_598_852)
            },
        }]
    );
}

/// Each body, each flag, strings Java encodes differently from UTF-8, a null body, several
/// instances in one group with records referred back to: the reader agrees with the encoder.
#[test]
fn every_body_and_flag_of_the_layout_reads_back() {
    for flags in 0..8 {
        // Java writes U+0000 as C0 80 and U+1F600 as two surrogates, not as UTF-8.
        let mut r2 = record("provision", "I-2\u{0}\u{1F600}", at(0, 0));
        r2.business_key = Some("key \u{e9}".into());
        r2.parent_instance_id = Some("I-1".into());
        let group = Group {
            flags,
            records: vec![record("onboarding", "I-1", at(0, 0)), r2],
            events: vec![
                Event::new(0, "e1", Body::state(1, 1)),
                Event::new(
                    1,
                    "e2",
                    Body::State {
                        event_type: Some(1),
                        process_name: None,
                        state: Some(200),
                        roles: Some(vec![Some("admin".into()), None]),
                        sla_due: Some(at(9, 0)),
                        cloud_event_id: Some("ce".into()),
                        cloud_event_source: None,
                    },
                ),
                Event::new(0, "e3", Body::variable("v", Object::Long(1 << 40))),
                Event::new(
                    1,
                    "e4",
                    Body::Sla {
                        node_definition_id: "3".into(),
                        node_name: None,
                        node_type: "TimerNode".into(),
                        node_instance_id: "n".into(),
                        sla_due: None,
                    },
                ),
                Event::new(0, "e5", Body::node(7, "Ünïcode ✓")),
                Event {
                    body: None,
                    ..Event::new(1, "e6", Body::node(1, "x"))
                },
                Event::new(1, "e7", Body::variable("w", Object::Double(0.5))),
                Event::new(1, "e8", Body::variable("s", Object::Str("text".into()))),
                Event::new(0, "e9", Body::error("boom")),
                Event::new(1, "e10", Body::state(2, 3)),
            ],
        };
        for gzip in [false, true] {
            let ce =
                orchestrator_provider::cloudevent::from_json(group.envelope("g", gzip)).unwrap();
            let decoded = orchestrator_provider::instances::decode(vec![ce])
                .unwrap_or_else(|e| panic!("flags {flags}, gzip {gzip}: {e}"));
            let changes: Vec<(&str, &str, Change)> = decoded
                .events
                .iter()
                .map(|e| (e.id.as_str(), e.instance.as_str(), e.change))
                .collect();
            assert_eq!(
                changes,
                vec![
                    ("e1", "I-1", Change::Started { at: Some(at(0, 0)) }),
                    (
                        "e2",
                        "I-2\u{0}\u{1F600}",
                        Change::Started { at: Some(at(0, 0)) }
                    ),
                    ("e9", "I-1", Change::Failed),
                    (
                        "e10",
                        "I-2\u{0}\u{1F600}",
                        Change::Aborted { at: Some(at(0, 0)) }
                    ),
                ],
                "flags {flags}, gzip {gzip}"
            );
            assert_eq!(decoded.not_counted, 6);
            assert_eq!(decoded.events[1].source, source("provision"));
        }
    }
}

#[test]
fn redeliveries_are_forgotten_after_the_window_and_past_the_size_bound() {
    let recorder = telemetry::prometheus_builder().build_recorder();
    let handle = recorder.handle();
    let limits = Limits {
        dedup_window: Duration::from_secs(60),
        dedup_max_events: 3,
        max_tracked_instances: 2,
    };
    let instances = metrics::with_local_recorder(&recorder, || {
        let m = InstanceMetrics::new(limits);
        m.set_published(["w"]);
        m
    });
    let start = |id: &str, instance: &str| Decoded {
        events: vec![InstanceEvent {
            id: id.into(),
            source: "s".into(),
            workflow: "w".into(),
            instance: instance.into(),
            change: Change::Failed,
        }],
        ..Decoded::default()
    };
    let t0 = Instant::now();
    assert_eq!(instances.apply(start("1", "I"), t0).counted, 1);
    assert_eq!(
        instances
            .apply(start("1", "I"), t0 + Duration::from_secs(59))
            .duplicates,
        1
    );
    // Past the window, the same event is new again.
    assert_eq!(
        instances
            .apply(start("1", "I"), t0 + Duration::from_secs(61))
            .counted,
        1
    );
    // Past the size bound (3), the oldest is forgotten first.
    let t1 = t0 + Duration::from_secs(62);
    for id in ["2", "3", "4"] {
        instances.apply(start(id, "I"), t1);
    }
    assert_eq!(
        instances.apply(start("1", "I"), t1).counted,
        1,
        "1 was the oldest"
    );
    assert_eq!(instances.apply(start("4", "I"), t1).duplicates, 1);

    // At most 2 started instances are tracked: a third start forgets the oldest, which leaves
    // the active gauge, and its end later changes nothing but the completion count.
    let event = |id: &str, instance: &str, change: Change| Decoded {
        events: vec![InstanceEvent {
            id: id.into(),
            source: "s".into(),
            workflow: "w".into(),
            instance: instance.into(),
            change,
        }],
        ..Decoded::default()
    };
    for (i, instance) in ["A", "B", "C"].iter().enumerate() {
        instances.apply(
            event(&format!("s{i}"), instance, Change::Started { at: Some(0) }),
            t1,
        );
    }
    instances.apply(event("eA", "A", Change::Completed { at: Some(1000) }), t1);
    instances.apply(event("eC", "C", Change::Completed { at: Some(2000) }), t1);
    let m = metrics_text::parse(&handle.render());
    assert_eq!(get(&m, ACTIVE, "w"), 1.0); // B
    assert_eq!(get(&m, COMPLETED, "w"), 2.0);
    assert_eq!(get(&m, &format!("{DURATION}_count"), "w"), 1.0); // C only
    assert_eq!(
        metrics_text::value(
            &m,
            "orchestrator_provider_workflow_instances_evicted_total",
            &[]
        ),
        1.0
    );
}

/// The real binary over HTTP: every series of every published workflow exists at zero from the
/// start; a binary group (the operator's default), a structured event, a batch and a binary-mode
/// redelivery land in exactly the series they should.
#[tokio::test]
async fn the_real_daemon_counts_events_posted_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let flows = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/workflows");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - type: dir\n    path: {:?}\n    watch: false\nserver:\n  listen: 127.0.0.1:{port}\nstateDir: {:?}\nevents:\n  dedupWindow: 10m\n",
            flows.display().to_string(),
            dir.path().join("state").display().to_string()
        ),
    )
    .unwrap();
    /// Stops the daemon however the test ends.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _daemon = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_orchestrator-provider"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the daemon was not ready within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let scrape = || async {
        metrics_text::parse(
            &http
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
    };
    let m = scrape().await;
    for workflow in [
        "hello-world",
        "onboarding",
        "provision-database",
        "notify-manager",
        OTHER,
    ] {
        for name in [
            STARTED,
            COMPLETED,
            ABORTED,
            FAILED,
            ACTIVE,
            &format!("{DURATION}_count"),
        ] {
            assert_eq!(
                m.get(&metrics_text::key(name, &[("workflow", workflow)])),
                Some(&0.0),
                "{name} {workflow} at start"
            );
        }
    }
    let post = |content_type: &'static str, body: String| {
        http.post(format!("{base}/events"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    // The operator's default: a binary group; onboarding starts and completes, 2 s apart
    // (two units of work, two groups).
    let g1 = binary_group(
        "onboarding",
        "X",
        at(0, 0),
        7,
        vec![
            ("x1", 0, Body::state(1, 1)),
            ("x2", 1, Body::node(1, "Start")),
        ],
    );
    let g2 = binary_group(
        "onboarding",
        "X",
        at(0, 2),
        7,
        vec![
            ("x3", 0, Body::node(2, "End")),
            ("x4", 1, Body::state(2, 2)),
        ],
    );
    for (i, g) in [g1, g2].iter().enumerate() {
        let r = post(
            "application/cloudevents+json",
            g.envelope(&format!("g{i}"), i == 1).to_string(),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    }
    // Structured and batched: provision-database Y starts and fails; an unpublished id.
    let mut error = state("y2", "provision-database", "Y", 0, 5, &iso(0, 5));
    error["type"] = json!("ProcessInstanceErrorDataEvent");
    let batch = json!([
        state("y1", "provision-database", "Y", 1, 1, &iso(0, 0)),
        error,
        state("z1", "not-published", "Z", 1, 1, &iso(0, 0))
    ]);
    let r = post("application/cloudevents-batch+json", batch.to_string())
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    // A broker's binary-mode redelivery of y1: not counted again.
    let r = http
        .post(format!("{base}/events"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "y1")
        .header("ce-source", source("provision-database"))
        .header("ce-type", "ProcessInstanceStateDataEvent")
        .header("content-type", "application/json")
        .body(state("y1", "provision-database", "Y", 1, 1, &iso(0, 0))["data"].to_string())
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("1 already seen"));
    // A malformed one: refused.
    let r = post("application/cloudevents+json", json!({"specversion": "1.0", "id": "q", "source": "s", "type": "ProcessInstanceStateDataEvent", "data": {"processId": "onboarding"}}).to_string()).await.unwrap();
    assert_eq!(r.status(), 400);

    let m = scrape().await;
    let expected: &[(&str, &str, f64)] = &[
        (STARTED, "onboarding", 1.0),
        (COMPLETED, "onboarding", 1.0),
        (ACTIVE, "onboarding", 0.0),
        (STARTED, "provision-database", 1.0),
        (FAILED, "provision-database", 1.0),
        (ACTIVE, "provision-database", 1.0),
        (STARTED, OTHER, 1.0),
        (ACTIVE, OTHER, 1.0),
        (STARTED, "hello-world", 0.0),
    ];
    for (name, workflow, value) in expected {
        assert_eq!(
            get(&m, name, workflow),
            *value,
            "{name}{{workflow={workflow}}}"
        );
    }
    assert_eq!(get(&m, &format!("{DURATION}_sum"), "onboarding"), 2.001);
    assert_eq!(
        metrics_text::value(
            &m,
            "orchestrator_provider_cloudevents_total",
            &[("outcome", "instance")]
        ),
        6.0
    );
    assert_eq!(
        metrics_text::value(
            &m,
            "orchestrator_provider_cloudevents_total",
            &[("outcome", "malformed")]
        ),
        1.0
    );
    assert_eq!(outcome(&m, "duplicate"), 1.0);
}

/// A valid binary group with bytes changed, cut or appended, and bytes from nowhere, in each
/// mode the payload can arrive in: reading answers events or an error, and never panics.
mod hostile_bytes {
    use super::*;
    use proptest::prelude::*;

    fn decode_payload(payload: &[u8], flags: u32, gzip: bool) {
        let bytes = if gzip {
            kogito_binary::gzip_bytes(payload)
        } else {
            payload.to_vec()
        };
        let envelope = json!({
            "specversion": "1.0", "id": "g", "source": "s", "type": "MultipleProcessInstanceDataEvent",
            "datacontenttype": "application/octet-stream", "marshallflags": flags,
            "data": base64::engine::general_purpose::STANDARD.encode(bytes),
        });
        let ce = orchestrator_provider::cloudevent::from_json(envelope).unwrap();
        let _ = orchestrator_provider::instances::decode(vec![ce]);
    }

    fn valid() -> Vec<u8> {
        binary_group(
            "onboarding",
            "I",
            at(0, 0),
            7,
            vec![
                ("1", 0, Body::state(1, 1)),
                ("2", 1, Body::node(1, "n")),
                ("3", 1, Body::variable("v", Object::Json("{}".into()))),
                ("4", 1, Body::error("e")),
                ("5", 1, Body::state(2, 2)),
            ],
        )
        .encode()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn changed_bytes_of_a_valid_group(changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>(), flags in 0u32..8) {
            let mut bytes = valid();
            for (at, value) in changes {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            decode_payload(&bytes, flags, false);
            let n = cut.index(bytes.len());
            decode_payload(&bytes[..n], flags, false);
            bytes.extend_from_slice(&[0xFF, 0x7F, 0xFF, 0xFF]);
            decode_payload(&bytes, flags, false);
        }

        #[test]
        fn bytes_from_nowhere(bytes in proptest::collection::vec(any::<u8>(), 0..512), flags in 0u32..8, gzip in any::<bool>()) {
            decode_payload(&bytes, flags, gzip);
        }
    }
}
