//! Benchmark: reading and counting a group of 100 instance events, the work `POST /events` does
//! for each delivery (target: under 1 ms).
//!
//! `cargo bench --bench instance_events`. In this process, with the Prometheus recorder the
//! daemon uses: the request's envelope is read (`cloudevent::parse`), its instance events
//! decoded (`instances::decode`) and counted (`InstanceMetrics::apply`), exactly the calls the
//! `/events` handler makes. A unit of work of 5 instances, 20 events each (a start, 8 nodes
//! entered and left, 2 variables, an end), in each form a runtime or a broker sends: a binary
//! group (the SonataFlow operator's default; 10.2, flags 7), the same gzipped, a JSON-mode group
//! and a CloudEvents batch. Every delivery has new event ids and instances, so nothing is
//! skipped as a redelivery; 500 deliveries per form after 50 not timed.

#[path = "../tests/support/kogito_binary.rs"]
mod kogito_binary;

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use kogito_binary::{Body, Event, Group, Object, record};
use orchestrator_provider::instances::{InstanceMetrics, Limits, decode};
use orchestrator_provider::{cloudevent, telemetry};
use serde_json::{Value, json};

const INSTANCES: usize = 5;
const EVENTS_PER_INSTANCE: usize = 20;
const WARMUP: usize = 50;
const RUNS: usize = 500;
const WORKFLOWS: [&str; 3] = ["onboarding", "provision", "unpublished"];

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("instance events benchmark: run it with `cargo bench --bench instance_events`");
        return;
    }
    let recorder = telemetry::prometheus_builder().build_recorder();
    let metrics = metrics::with_local_recorder(&recorder, || {
        let m = InstanceMetrics::new(Limits::default());
        m.set_published(WORKFLOWS[..2].iter().copied());
        m
    });
    println!(
        "| form | body | JSON parse only, median | read and count, median | p99 | max | target |\n|---|---|---|---|---|---|---|"
    );
    let forms = [
        "binary group",
        "binary group, gzip",
        "JSON group",
        "CloudEvents batch",
    ];
    for (f, form) in forms.into_iter().enumerate() {
        // Ids differ across forms too: each form's deliveries are new events.
        let first = f * (WARMUP + RUNS);
        let requests: Vec<(HeaderMap, Vec<u8>)> = (first..first + WARMUP + RUNS)
            .map(|n| request(form, n))
            .collect();
        let size = requests[0].1.len();
        // The floor: only parsing the body as JSON (and dropping it), which every form needs.
        let mut floor: Vec<Duration> = requests[WARMUP..]
            .iter()
            .map(|(_, body)| {
                let t = Instant::now();
                drop(serde_json::from_slice::<Value>(body).expect("JSON"));
                t.elapsed()
            })
            .collect();
        floor.sort();
        let mut times = Vec::with_capacity(RUNS);
        for (n, (headers, body)) in requests.iter().enumerate() {
            let t = Instant::now();
            let events = cloudevent::parse(headers, body).expect("a valid request");
            let decoded = decode(events).expect("valid events");
            let summary = metrics.apply(decoded, Instant::now());
            let took = t.elapsed();
            assert_eq!(summary.counted, (2 * INSTANCES) as u64, "{form}");
            if n >= WARMUP {
                times.push(took);
            }
        }
        times.sort();
        let us = |d: Duration| format!("{:.0} µs", d.as_secs_f64() * 1e6);
        println!(
            "| {form} | {:.1} KB | {} | {} | {} | {} | < 1 ms per 100 events |",
            size as f64 / 1024.0,
            us(floor[floor.len() / 2]),
            us(times[times.len() / 2]),
            us(times[times.len() * 99 / 100]),
            us(times[times.len() - 1]),
        );
    }
}

/// The `n`th delivery in `form`: 5 instances of 20 events, new ids every time.
fn request(form: &str, n: usize) -> (HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    let content_type = match form {
        "CloudEvents batch" => "application/cloudevents-batch+json",
        _ => "application/cloudevents+json",
    };
    headers.insert("content-type", HeaderValue::from_static(content_type));
    let body = match form {
        "binary group" => binary(n).envelope(&format!("g{n}"), false),
        "binary group, gzip" => binary(n).envelope(&format!("g{n}"), true),
        "JSON group" => json!({
            "specversion": "1.0", "id": format!("g{n}"), "source": "http://onboarding.sonataflow-infra/onboarding",
            "type": "MultipleProcessInstanceDataEvent", "time": "2026-03-02T10:17:00.02Z",
            "data": json_events(n),
        }),
        _ => Value::Array(json_events(n)),
    };
    (headers, body.to_string().into_bytes())
}

fn ids(n: usize, i: usize) -> (String, &'static str, usize) {
    (
        format!("{n:06}-{i}"),
        WORKFLOWS[i % WORKFLOWS.len()],
        1_772_445_600_000 + n * 1000,
    )
}

fn binary(n: usize) -> Group {
    let mut group = Group {
        flags: 7,
        records: Vec::new(),
        events: Vec::new(),
    };
    for i in 0..INSTANCES {
        let (instance, workflow, time) = ids(n, i);
        group.records.push(record(workflow, &instance, time as i64));
        for k in 0..EVENTS_PER_INSTANCE {
            let body = match k {
                0 => Body::state(1, 1),
                k if k == EVENTS_PER_INSTANCE - 1 => Body::state(2, 2),
                1 | 2 => Body::variable(
                    "input",
                    Object::Json(
                        r#"{"name":"Ada","department":"platform","start":"2026-03-02"}"#.into(),
                    ),
                ),
                k => Body::node(if k % 2 == 0 { 1 } else { 2 }, "Step"),
            };
            let mut event = Event::new(i, &format!("{instance}-{k}"), body);
            event.time_delta = i32::from(k > 0);
            group.events.push(event);
        }
    }
    group
}

fn json_events(n: usize) -> Vec<Value> {
    let mut events = Vec::new();
    for i in 0..INSTANCES {
        let (instance, workflow, _) = ids(n, i);
        for k in 0..EVENTS_PER_INSTANCE {
            let mut e = json!({
                "specversion": "1.0", "id": format!("{instance}-{k}"),
                "source": format!("http://{workflow}.sonataflow-infra/{workflow}"),
                "time": "2026-03-02T10:15:30.120845Z", "datacontenttype": "application/json",
                "kogitoprocinstanceid": instance, "kogitoprocid": workflow, "kogitoprocversion": "1.0",
                "kogitoprocist": "1", "kogitoproctype": "SW",
                "kogitoaddons": "jobs-management,prometheus-monitoring,process-management,source-files",
            });
            let (ty, data) = match k {
                0 | 19 => (
                    "ProcessInstanceStateDataEvent",
                    json!({"eventDate": "2026-03-02T10:15:30.118+00:00", "eventUser": null,
                           "eventType": if k == 0 { 1 } else { 2 }, "processId": workflow,
                           "processVersion": "1.0", "processType": "SW", "processInstanceId": instance,
                           "businessKey": null, "processName": "A workflow", "parentInstanceId": null,
                           "rootProcessId": null, "rootProcessInstanceId": null,
                           "state": if k == 0 { 1 } else { 2 }, "roles": null, "slaDueDate": null,
                           "cloudEventId": null, "cloudEventSource": null}),
                ),
                1 | 2 => (
                    "ProcessInstanceVariableDataEvent",
                    json!({"eventDate": "2026-03-02T10:15:30.118+00:00", "processId": workflow,
                           "processInstanceId": instance, "variableName": "input",
                           "variableValue": {"name": "Ada", "department": "platform", "start": "2026-03-02"}}),
                ),
                k => (
                    "ProcessInstanceNodeDataEvent",
                    json!({"eventDate": "2026-03-02T10:15:30.118+00:00", "eventType": if k % 2 == 0 { 1 } else { 2 },
                           "processId": workflow, "processInstanceId": instance,
                           "connectionNodeDefinitionId": "1_2", "nodeDefinitionId": "2", "nodeName": "Step",
                           "nodeType": "ActionNode", "nodeInstanceId": "c095b003-64ef-4cc1-93d1-b809d9392b74",
                           "workItemId": null, "slaDueDate": null, "data": {"k": [1, {"n": null}]}}),
                ),
            };
            e["type"] = json!(ty);
            e["data"] = data;
            events.push(e);
        }
    }
    events
}
