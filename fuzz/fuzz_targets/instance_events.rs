//! Workflow-instance CloudEvents (`POST /events`): read into instance events
//! (`cloudevent::parse`, `instances::decode`) and counted (`InstanceMetrics`, with small limits
//! so that forgetting redeliveries and evicting instances happen).
//!
//! The first byte picks the input. Bit 0 clear: a binary-mode group, the second byte its
//! `marshallflags` as given (unknown bits too), the rest its bytes; bits 1-2 say how it is
//! compressed (0 no `compressdata`, 1 `compressdata` false, 2 gzipped here and `compressdata`
//! true, 3 `compressdata` true on the bytes as given), bits 3-4 how it arrives (0 or 3 the raw
//! bytes as a binary-mode HTTP body, 1 their base64 text as that body, 2 base64 in a structured
//! event's `data`). Bit 0 set: a whole request as the `cloudevent` target reads it (`name: value`
//! header lines, `0xFF`, the body).
//!
//! Checks: nothing panics; a binary-mode body reaches the group as it was sent; parsing and
//! decoding the same request twice give the same result; the counting agrees with what it
//! reports (every counted event moves exactly one of the started/completed/aborted/failed
//! counters, the outcome counters are the summary, no active gauge below zero, at most
//! `max_tracked_instances` active, no negative duration); the same events again within the window
//! count nothing when the redelivery memory holds them all; and the real `POST /events` handler
//! answers 400 exactly when parsing or decoding refuses, in which case no metric moves but the
//! `malformed` outcome, and otherwise moves the instance metrics exactly as counting the decoded
//! events directly does.
#![no_main]

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use orchestrator_provider::cloudevent;
use orchestrator_provider::instances::{
    Change, Decoded, InstanceMetrics, Limits, Summary, decode, event_type,
};
use orchestrator_provider::sink::serve::{Shared, router};
use orchestrator_provider::telemetry::{
    EVENTS, INSTANCE_DURATION, INSTANCE_EVENTS, INSTANCES_ABORTED, INSTANCES_ACTIVE,
    INSTANCES_COMPLETED, INSTANCES_EVICTED, INSTANCES_FAILED, INSTANCES_STARTED,
};
use orchestrator_provider_fuzz::http_request;
use tower::ServiceExt;

const LIMITS: Limits = Limits {
    dedup_window: Duration::from_secs(600),
    dedup_max_events: 4,
    max_tracked_instances: 2,
};

/// The workflow ids the seeds use; any other id counts under `other`.
const PUBLISHED: [&str; 3] = ["onboarding", "provision", "token-propagation"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (headers, body) = if mode & 1 == 0 {
        group_request(mode, rest)
    } else {
        http_request(rest)
    };

    let parsed = cloudevent::parse(&headers, &body);
    assert_eq!(parsed, cloudevent::parse(&headers, &body), "parsing twice");
    if mode & 1 == 0 && (mode >> 3) & 3 != 2 {
        // A binary-mode group: its body is the group's `binary_data`, byte for byte.
        let events = parsed.as_ref().expect("a binary-mode group parses");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, event_type::MULTIPLE);
        assert_eq!(events[0].data, None);
        assert_eq!(
            events[0].binary_data.as_deref(),
            Some(&body[..]).filter(|b| !b.is_empty())
        );
    }
    let decoded = parsed.as_ref().ok().map(|events| {
        let decoded = decode(events.clone());
        assert_eq!(decoded, decode(events.clone()), "decoding twice");
        decoded
    });

    let expected = match &decoded {
        Some(Ok(decoded)) => Some(count(decoded)),
        _ => None,
    };
    served(&headers, &body, expected.as_ref());
});

/// A binary-mode `MultipleProcessInstanceDataEvent` request around `rest` (flags byte, bytes).
fn group_request(mode: u8, rest: &[u8]) -> (HeaderMap, Vec<u8>) {
    let (flags, bytes) = rest.split_first().map_or((0, &[][..]), |(f, b)| (*f, b));
    let (compress, payload) = match (mode >> 1) & 3 {
        0 => (None, bytes.to_vec()),
        1 => (Some(false), bytes.to_vec()),
        2 => (Some(true), gzip(bytes)),
        _ => (Some(true), bytes.to_vec()),
    };
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut headers = HeaderMap::new();
    let mut header = |name: &'static str, value: &str| {
        headers.insert(name, HeaderValue::from_str(value).expect("visible ASCII"));
    };
    let source = "http://onboarding.sonataflow-infra/onboarding";
    if (mode >> 3) & 3 == 2 {
        header("content-type", "application/cloudevents+json");
        let mut envelope = serde_json::json!({
            "datacontenttype": "application/octet-stream", "source": source, "id": "group-1",
            "specversion": "1.0", "type": event_type::MULTIPLE,
        });
        if let Some(c) = compress {
            envelope["compressdata"] = c.into();
        }
        envelope["data"] = b64(&payload).into();
        envelope["marshallflags"] = flags.into();
        return (headers, envelope.to_string().into_bytes());
    }
    header("content-type", "application/octet-stream");
    header("ce-specversion", "1.0");
    header("ce-id", "group-1");
    header("ce-source", source);
    header("ce-type", event_type::MULTIPLE);
    header("ce-marshallflags", &flags.to_string());
    if let Some(c) = compress {
        header("ce-compressdata", if c { "true" } else { "false" });
    }
    let body = if (mode >> 3) & 3 == 1 {
        b64(&payload).into_bytes()
    } else {
        payload
    };
    (headers, body)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("in memory");
    gz.finish().expect("in memory")
}

/// Counts `decoded` on a fresh tracker with its own recorder, then counts it again, checking
/// what the metrics say after each; answers the instance metrics after the first.
fn count(decoded: &Decoded) -> BTreeMap<String, f64> {
    let recorder = Recorder::default();
    let tracker = metrics::with_local_recorder(&recorder, || {
        let tracker = InstanceMetrics::new(LIMITS);
        tracker.set_published(PUBLISHED);
        tracker
    });
    let now = Instant::now();
    let first = tracker.apply(decoded.clone(), now);
    let events = decoded.events.len() as u64;
    assert_eq!(first.kogito_1x, decoded.kogito_1x);
    assert!(first.not_counted >= decoded.not_counted);
    // Each event is counted, a redelivery, or a second start (which changes nothing).
    assert_eq!(
        first.counted + first.duplicates + (first.not_counted - decoded.not_counted),
        events,
        "{first:?} for {decoded:?}"
    );
    let after_first = recorder.snapshot();
    check(&after_first, decoded, &[first]);

    // The same events again, at the same instant: all remembered when the memory holds them.
    let second = tracker.apply(decoded.clone(), now);
    let distinct: HashSet<_> = decoded.events.iter().map(|e| (&e.id, &e.source)).collect();
    if distinct.len() <= LIMITS.dedup_max_events {
        assert_eq!(
            second,
            Summary {
                counted: 0,
                duplicates: events,
                not_counted: decoded.not_counted,
                kogito_1x: decoded.kogito_1x,
            },
            "a replay of {decoded:?}"
        );
    }
    check(&recorder.snapshot(), decoded, &[first, second]);
    instance_metrics(&after_first)
}

/// The metrics agree with the summaries of the applies of `decoded` so far.
fn check(values: &BTreeMap<String, f64>, decoded: &Decoded, summaries: &[Summary]) {
    let total = |name: &str| -> f64 {
        values
            .iter()
            .filter(|(k, _)| k.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
            .map(|(_, v)| *v)
            .sum()
    };
    let summed = |f: fn(&Summary) -> u64| summaries.iter().map(f).sum::<u64>() as f64;
    let counted = total(INSTANCES_STARTED)
        + total(INSTANCES_COMPLETED)
        + total(INSTANCES_ABORTED)
        + total(INSTANCES_FAILED);
    assert_eq!(counted, summed(|s| s.counted), "{values:#?}");
    for (outcome, n) in [
        ("counted", summed(|s| s.counted)),
        ("duplicate", summed(|s| s.duplicates)),
        ("not_counted", summed(|s| s.not_counted)),
        ("kogito_1x", summed(|s| s.kogito_1x)),
    ] {
        assert_eq!(
            values.get(&format!("{INSTANCE_EVENTS}{{outcome={outcome}}}")),
            Some(&n),
            "{values:#?}"
        );
    }
    let mut active = 0.0;
    for (key, value) in values {
        if key.starts_with(&format!("{INSTANCES_ACTIVE}{{")) {
            assert!(*value >= 0.0, "{key} is {value}: {values:#?}");
            active += value;
        }
    }
    assert!(active <= LIMITS.max_tracked_instances as f64, "{values:#?}");
    // A duration is recorded only when an end meets its start, and never negative.
    let ends = total(INSTANCES_COMPLETED) + total(INSTANCES_ABORTED);
    assert!(
        total(&format!("{INSTANCE_DURATION}_count")) <= ends,
        "{values:#?}"
    );
    for (key, value) in values {
        if key.starts_with(&format!("{INSTANCE_DURATION}_min{{")) {
            assert!(*value >= 0.0, "{key} is {value}");
        }
    }
    assert!(total(INSTANCES_EVICTED) <= total(INSTANCES_STARTED));
    let starts = decoded
        .events
        .iter()
        .filter(|e| matches!(e.change, Change::Started { .. }))
        .count();
    // A start is counted once per apply at most (again only when its redelivery was forgotten).
    assert!(total(INSTANCES_STARTED) <= (starts * summaries.len()) as f64);
}

/// The same request through the real `POST /events` handler, its metrics in their own recorder:
/// refused (400) exactly when `expected` is `None` (parsing or decoding refused it), and then
/// nothing moved but the `malformed` outcome; accepted, its instance metrics are `expected`
/// (what counting the decoded events directly gave).
fn served(headers: &HeaderMap, body: &[u8], expected: Option<&BTreeMap<String, f64>>) {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    });
    let recorder = Recorder::default();
    let (status, before) = metrics::with_local_recorder(&recorder, || {
        let (trigger, _triggers) = tokio::sync::mpsc::channel(1);
        let mut shared = Shared::new("http://x".into(), 1, trigger, None, None);
        shared.instances = InstanceMetrics::new(LIMITS);
        shared.instances.set_published(PUBLISHED);
        let app = router(Arc::new(shared));
        let before = recorder.snapshot();
        let mut request = Request::post("/events")
            .body(Body::from(body.to_vec()))
            .expect("a request");
        *request.headers_mut() = headers.clone();
        let status = runtime
            .block_on(app.oneshot(request))
            .expect("infallible")
            .status();
        (status, before)
    });
    let after = recorder.snapshot();
    let Some(expected) = expected else {
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let malformed = format!("{EVENTS}{{outcome=malformed}}");
        let mut moved = after.clone();
        let n = moved.remove(&malformed).unwrap_or(0.0);
        assert_eq!(n - before.get(&malformed).copied().unwrap_or(0.0), 1.0);
        let mut unmoved = before.clone();
        unmoved.remove(&malformed);
        assert_eq!(moved, unmoved, "a refused request moved a metric");
        return;
    };
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        &instance_metrics(&after),
        expected,
        "the handler counted otherwise"
    );
}

fn instance_metrics(values: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    values
        .iter()
        .filter(|(k, _)| k.starts_with("orchestrator_provider_workflow_instance"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// A metrics recorder that keeps every value, for exact reading: counters, gauges, and per
/// histogram `_count`, `_sum` and `_min`. Keys are `name{label=value,...}`.
#[derive(Default)]
struct Recorder {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<String, Arc<Observations>>>,
}

#[derive(Default)]
struct Observations(Mutex<Vec<f64>>);

impl HistogramFn for Observations {
    fn record(&self, value: f64) {
        self.0.lock().expect("observations").push(value);
    }
}

fn name(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder {
    fn snapshot(&self) -> BTreeMap<String, f64> {
        let mut values = BTreeMap::new();
        for (k, c) in self.counters.lock().expect("counters").iter() {
            values.insert(k.clone(), c.load(Ordering::Relaxed) as f64);
        }
        for (k, g) in self.gauges.lock().expect("gauges").iter() {
            values.insert(k.clone(), f64::from_bits(g.load(Ordering::Relaxed)));
        }
        for (k, h) in self.histograms.lock().expect("histograms").iter() {
            let seen = h.0.lock().expect("observations");
            let (name, labels) = k.split_once('{').expect("a key has braces");
            values.insert(format!("{name}_count{{{labels}"), seen.len() as f64);
            values.insert(format!("{name}_sum{{{labels}"), seen.iter().sum());
            if !seen.is_empty() {
                let min = seen.iter().copied().fold(f64::INFINITY, f64::min);
                values.insert(format!("{name}_min{{{labels}"), min);
            }
        }
        values
    }
}

impl metrics::Recorder for Recorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().expect("counters");
        Counter::from_arc(counters.entry(name(key)).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut gauges = self.gauges.lock().expect("gauges");
        Gauge::from_arc(gauges.entry(name(key)).or_default().clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.histograms.lock().expect("histograms");
        Histogram::from_arc(histograms.entry(name(key)).or_default().clone())
    }
}
