//! The daemon's HTTP server: the entity documents the catalog reads, and the endpoints people
//! and monitoring read.
//!
//! Templates are served as `shards`: `GET /catalog/shard-NN.yaml` is a multi-document YAML of
//! the templates whose name hashes to shard NN, each shard one registered location. That layout
//! was measured against the real catalog as the one with both the fastest cold start and the
//! fastest change (a refresh re-reads one small document). Every document answers 200 with a
//! strong ETag and 304 on `If-None-Match`; a shard that holds nothing (or no longer exists)
//! answers 200 with an empty document, never 404, because a 404 makes the catalog keep stale
//! entities. Before the first snapshot is published, shard URLs answer 503 (nothing is known
//! yet, and an empty answer would make the catalog delete what it holds). `GET /catalog/index.yaml` is a `kind: Location` listing the shards, for registering
//! by hand when no catalog is configured.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use tokio::sync::{RwLock, mpsc};

use super::diagrams;
use crate::instances::{InstanceMetrics, Limits};
use crate::plan::Item;
use crate::secrets::WebhookSecrets;

/// One shard document and its ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDoc {
    pub body: Arc<str>,
    pub etag: String,
}

impl ShardDoc {
    fn new(body: String) -> Self {
        let etag = format!(
            "\"{}\"",
            &hex::encode(Sha256::digest(body.as_bytes()))[..32]
        );
        Self {
            body: body.into(),
            etag,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
}

/// Which shard a template lives in: stable across runs and machines.
pub fn shard_of(name: &str, shards: usize) -> usize {
    let digest = Sha256::digest(name.to_ascii_lowercase().as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (n % shards as u64) as usize
}

/// The URL of shard `i` under the public base URL.
pub fn shard_url(base: &str, i: usize) -> String {
    format!("{base}/catalog/shard-{i:02}.yaml")
}

/// The shard index of one of our URLs, if it is one.
pub fn shard_index(base: &str, url: &str) -> Option<usize> {
    url.strip_prefix(&format!("{base}/catalog/shard-"))?
        .strip_suffix(".yaml")?
        .parse()
        .ok()
}

/// Builds every shard document from the published items (sorted by name inside a shard, so a
/// shard's bytes depend only on its templates).
pub fn build_shards<'a>(items: impl Iterator<Item = &'a Item>, shards: usize) -> Vec<ShardDoc> {
    let mut bodies = vec![String::new(); shards];
    let mut sorted: Vec<&Item> = items.collect();
    sorted.sort_by(|a, b| a.name().cmp(b.name()));
    for item in sorted {
        let body = &mut bodies[shard_of(item.name(), shards)];
        if !body.is_empty() {
            body.push_str("---\n");
        }
        body.push_str(&item.yaml);
    }
    bodies.into_iter().map(ShardDoc::new).collect()
}

/// What a sync trigger asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A watched folder changed: re-read it.
    FileChange,
    /// `POST /sync`: re-read every source now.
    Manual,
    /// `POST /events`: a workflow definition was deployed or changed (see [`Pending`]).
    Event,
    /// A git push webhook (see [`Pending`]).
    Push,
}

/// What webhooks and events asked for since the sync loop last looked. Triggers only wake the
/// loop (and coalesce); this holds what they were about.
#[derive(Debug, Default)]
pub struct Pending {
    /// Workflow ids named by `ProcessDefinitionEvent`s.
    pub event_ids: std::collections::BTreeSet<String>,
    /// Some event named no workflow: re-read every definition.
    pub event_all: bool,
    /// Pushes, as the forges reported them.
    pub pushes: Vec<crate::webhook::Push>,
}

/// State shared by the server and the sync loop.
pub struct Shared {
    pub shards: RwLock<Arc<Vec<ShardDoc>>>,
    pub status: RwLock<serde_json::Value>,
    pub ready: AtomicBool,
    pub trigger: mpsc::Sender<Trigger>,
    /// Set by `POST /sync`: the next cycle re-reads every source, even if its trigger was
    /// coalesced into a pending file-change one.
    pub force_sync: AtomicBool,
    pub trigger_token: Option<String>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub base_url: String,
    pub pending: std::sync::Mutex<Pending>,
    /// The secrets `POST /webhooks/*` verify deliveries with; a forge without one is not served.
    pub webhooks: WebhookSecrets,
    /// The bearer token `POST /events` requires, if any.
    pub events_token: Option<String>,
    /// What each served template's diagram is drawn from (`GET /diagrams/<name>.svg`).
    pub diagrams: RwLock<Arc<diagrams::Sources>>,
    /// Rendered diagrams, bounded in bytes (`diagrams.cacheBytes`).
    pub diagram_cache: std::sync::Mutex<diagrams::Cache>,
    /// Renderings in flight at once: a burst of requests cannot take every core or much memory.
    pub diagram_renders: tokio::sync::Semaphore,
    /// Workflow instance metrics: `POST /events` counts, the sync loop says what is published.
    pub instances: InstanceMetrics,
    /// When the sync cycle in flight began; `None` between cycles.
    in_flight: std::sync::Mutex<Option<std::time::Instant>>,
}

/// A sync cycle in flight, from [`Shared::cycle_started`] until it is dropped.
pub struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        *self.0.in_flight.lock().expect("in-flight lock") = None;
    }
}

impl Shared {
    pub fn new(
        base_url: String,
        shard_count: usize,
        trigger: mpsc::Sender<Trigger>,
        trigger_token: Option<String>,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> Self {
        Self {
            shards: RwLock::new(Arc::new(build_shards(std::iter::empty(), shard_count))),
            status: RwLock::new(serde_json::json!({"ready": false})),
            ready: AtomicBool::new(false),
            force_sync: AtomicBool::new(false),
            trigger,
            trigger_token,
            metrics,
            base_url,
            pending: Default::default(),
            webhooks: WebhookSecrets {
                max_body_bytes: 1024 * 1024,
                ..Default::default()
            },
            events_token: None,
            diagrams: RwLock::new(Arc::new(diagrams::Sources::new())),
            diagram_cache: std::sync::Mutex::new(diagrams::Cache::new(4 * 1024 * 1024)),
            diagram_renders: tokio::sync::Semaphore::new(2),
            instances: InstanceMetrics::new(Limits::default()),
            in_flight: Default::default(),
        }
    }

    /// Marks a sync cycle in flight since `at`, for `cycle_in_flight_seconds`, until the
    /// returned guard is dropped (also when the cycle is cut short).
    pub fn cycle_started(&self, at: std::time::Instant) -> InFlight<'_> {
        *self.in_flight.lock().expect("in-flight lock") = Some(at);
        InFlight(self)
    }

    /// Seconds the cycle in flight has been running; 0 between cycles.
    pub fn cycle_in_flight_seconds(&self) -> f64 {
        self.in_flight
            .lock()
            .expect("in-flight lock")
            .map_or(0.0, |at| at.elapsed().as_secs_f64())
    }

    pub async fn publish(&self, shards: Vec<ShardDoc>) {
        *self.shards.write().await = Arc::new(shards);
        self.ready.store(true, Ordering::Release);
    }

    /// Serves these diagrams from now on; cached renderings of templates gone are dropped.
    pub async fn publish_diagrams(&self, sources: diagrams::Sources) {
        self.diagram_cache
            .lock()
            .expect("diagram cache lock")
            .retain(&sources);
        *self.diagrams.write().await = Arc::new(sources);
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    let webhooks = Router::new()
        .route("/webhooks/github", post(github_webhook))
        .route("/webhooks/gitlab", post(gitlab_webhook))
        .layer(axum::extract::DefaultBodyLimit::max(
            shared.webhooks.max_body_bytes,
        ));
    Router::new()
        .merge(webhooks)
        .route("/catalog/index.yaml", get(index))
        .route("/catalog/{file}", get(shard))
        .route("/diagrams/{file}", get(diagram))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/sync", post(sync))
        .route("/events", post(events))
        .with_state(shared)
}

async fn shard(
    State(s): State<Arc<Shared>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let index = file
        .strip_prefix("shard-")
        .and_then(|f| f.strip_suffix(".yaml"))
        .and_then(|n| n.parse::<usize>().ok());
    if index.is_some() && !s.ready.load(Ordering::Acquire) {
        return not_ready();
    }
    let shards = s.shards.read().await.clone();
    let doc = index.and_then(|i| shards.get(i).cloned());
    let doc = match doc {
        Some(d) => d,
        // Unknown or retired shard: empty, so that the catalog removes what it had from it.
        None if index.is_some() => ShardDoc::new(String::new()),
        None => return (StatusCode::NOT_FOUND, "no such document\n").into_response(),
    };
    document(&doc, &headers)
}

fn document(doc: &ShardDoc, headers: &HeaderMap) -> Response {
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == doc.etag || t.trim() == "*")
        });
    let mut builder = Response::builder()
        .header(header::ETAG, &doc.etag)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::CONTENT_TYPE, "application/yaml; charset=utf-8");
    if matches {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        return builder.body(Body::empty()).expect("valid response");
    }
    builder
        .status(StatusCode::OK)
        .body(Body::from(doc.body.to_string()))
        .expect("valid response")
}

/// `GET /diagrams/<name>.svg`: the diagram of a served template, from the cache or rendered now
/// (at most two at once, off the async workers).
async fn diagram(
    State(s): State<Arc<Shared>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(name) = file.strip_suffix(".svg") else {
        return diagrams::refusal(StatusCode::NOT_FOUND, "diagrams are <template-name>.svg");
    };
    if !s.ready.load(Ordering::Acquire) {
        return diagrams::refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "first snapshot not published yet",
        );
    }
    let Some(source) = s.diagrams.read().await.get(name).cloned() else {
        return diagrams::refusal(StatusCode::NOT_FOUND, "no served template has that name");
    };
    let cached = s
        .diagram_cache
        .lock()
        .expect("diagram cache lock")
        .get(name, &source);
    if let Some(rendered) = cached {
        return diagrams::answer(&rendered, &headers);
    }
    let Ok(_permit) = s.diagram_renders.acquire().await else {
        return diagrams::refusal(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    // Another request may have drawn it while this one waited.
    let cached = s
        .diagram_cache
        .lock()
        .expect("diagram cache lock")
        .get(name, &source);
    if let Some(rendered) = cached {
        return diagrams::answer(&rendered, &headers);
    }
    let job = source.clone();
    let rendered =
        match tokio::task::spawn_blocking(move || diagrams::Rendered::new(job.render().text)).await
        {
            Ok(r) => Arc::new(r),
            Err(e) => {
                tracing::error!(template = name, error = %e, "rendering a diagram failed");
                return diagrams::refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the diagram could not be drawn",
                );
            }
        };
    s.diagram_cache
        .lock()
        .expect("diagram cache lock")
        .insert(name, source, rendered.clone());
    diagrams::answer(&rendered, &headers)
}

/// Before the first snapshot is published the daemon does not know what it will serve: an
/// empty document now would make the catalog orphan (and delete) every template it holds from
/// us, so it answers 503, which the catalog treats as a read error and keeps what it has.
fn not_ready() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "first snapshot not published yet\n",
    )
        .into_response()
}

async fn index(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !s.ready.load(Ordering::Acquire) {
        return not_ready();
    }
    let shards = s.shards.read().await.clone();
    let targets: Vec<String> = shards
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, _)| shard_url(&s.base_url, i))
        .collect();
    let location = serde_json::json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {"name": "orchestrator-provider", "description": "SonataFlow workflow templates served by orchestrator-provider"},
        "spec": {"targets": targets},
    });
    let body = serde_saphyr::to_string(&location).unwrap_or_default();
    document(&ShardDoc::new(body), &headers)
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    // Ready once the first snapshot is published; a degraded source never makes it fail, or the
    // catalog would lose the entity URLs it reads.
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "first snapshot not published yet\n",
        )
            .into_response()
    }
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    let body = s.status.read().await.clone();
    axum::Json(body).into_response()
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    match &s.metrics {
        Some(h) => {
            // Computed when scraped, so that a cycle that hangs shows as growing.
            metrics::gauge!(crate::telemetry::CYCLE_IN_FLIGHT).set(s.cycle_in_flight_seconds());
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                h.render(),
            )
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response(),
    }
}

async fn sync(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(token) = &s.trigger_token
        && !bearer_matches(&headers, token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required\n",
        )
            .into_response();
    }
    // A full channel already holds a pending sync: this request is coalesced into it.
    s.force_sync.store(true, Ordering::Release);
    let _ = s.trigger.try_send(Trigger::Manual);
    (StatusCode::ACCEPTED, "sync scheduled\n").into_response()
}

/// `POST /events`: CloudEvents from the SonataFlow runtime or operator (or a broker). A
/// `ProcessDefinitionEvent` makes the next cycle read the Data Index at once and fetch that
/// workflow's definition again; instance events (alone, batched or grouped) are counted into the
/// instance metrics; other event types are accepted and ignored. A malformed request (one
/// malformed event in it is enough) is refused with 400 and changes nothing.
async fn events(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use crate::telemetry::EVENTS;
    if let Some(token) = &s.events_token
        && !bearer_matches(&headers, token)
    {
        metrics::counter!(EVENTS, "outcome" => "unauthorized").increment(1);
        return (
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required\n",
        )
            .into_response();
    }
    let malformed = |message: String| {
        metrics::counter!(EVENTS, "outcome" => "malformed").increment(1);
        (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
    };
    let events = match crate::cloudevent::parse(&headers, &body) {
        Ok(e) => e,
        Err(e) => return malformed(e.to_string()),
    };
    let (definitions, others): (Vec<_>, Vec<_>) =
        events.into_iter().partition(|e| e.is_process_definition());
    let instance_events = others
        .iter()
        .filter(|e| crate::instances::is_instance_event(&e.event_type))
        .count();
    let ignored = others.len() - instance_events;
    // Every instance event is read before anything is counted or scheduled.
    let decoded = match crate::instances::decode(others) {
        Ok(d) => d,
        Err(e) => return malformed(e.to_string()),
    };
    metrics::counter!(EVENTS, "outcome" => "instance").increment(instance_events as u64);
    metrics::counter!(EVENTS, "outcome" => "ignored").increment(ignored as u64);
    metrics::counter!(EVENTS, "outcome" => "accepted").increment(definitions.len() as u64);
    let mut answer = String::new();
    if instance_events + decoded.kogito_1x as usize > 0 {
        let summary = s.instances.apply(decoded, std::time::Instant::now());
        answer.push_str(&format!(
            "instance events: {} counted, {} already seen, {} that count nothing, {} Kogito 1.x ignored\n",
            summary.counted, summary.duplicates, summary.not_counted, summary.kogito_1x
        ));
    }
    if definitions.is_empty() {
        if answer.is_empty() {
            answer.push_str("ignored: not a ProcessDefinitionEvent\n");
        }
        return (StatusCode::ACCEPTED, answer).into_response();
    }
    {
        let mut pending = s.pending.lock().expect("pending lock");
        for e in &definitions {
            match e.workflow_id() {
                Some(id) => {
                    pending.event_ids.insert(id.to_owned());
                }
                None => pending.event_all = true,
            }
        }
    }
    let _ = s.trigger.try_send(Trigger::Event);
    answer.push_str("sync scheduled\n");
    (StatusCode::ACCEPTED, answer).into_response()
}

/// `POST /webhooks/github`: a delivery signed with `X-Hub-Signature-256`. A `push` makes the
/// next cycle fetch the repositories it concerns (202); `ping` answers 200; other events are
/// accepted and ignored (202). A missing or wrong signature is 401 and fetches nothing.
async fn github_webhook(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use crate::webhook::{GITHUB_SIGNATURE_HEADER, parse_github_push, verify_github_signature};
    let Some(secret) = &s.webhooks.github else {
        return (StatusCode::NOT_FOUND, "webhooks.github is not configured\n").into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) =
        verify_github_signature(secret.as_bytes(), &body, header(GITHUB_SIGNATURE_HEADER))
    {
        return webhook_refused("github", &e);
    }
    match header("X-GitHub-Event") {
        Some("ping") => (StatusCode::OK, "pong\n").into_response(),
        Some("push") => webhook_push(&s, "github", parse_github_push(&body)),
        other => webhook_ignored("github", other.unwrap_or("(none)")),
    }
}

/// `POST /webhooks/gitlab`: a delivery carrying the secret in `X-Gitlab-Token`; `Push Hook` and
/// `Tag Push Hook` events as for GitHub.
async fn gitlab_webhook(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use crate::webhook::{GITLAB_TOKEN_HEADER, parse_gitlab_push, verify_gitlab_token};
    let Some(secret) = &s.webhooks.gitlab else {
        return (StatusCode::NOT_FOUND, "webhooks.gitlab is not configured\n").into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = verify_gitlab_token(secret.as_bytes(), header(GITLAB_TOKEN_HEADER)) {
        return webhook_refused("gitlab", &e);
    }
    match header("X-Gitlab-Event") {
        Some("Push Hook" | "Tag Push Hook") => webhook_push(&s, "gitlab", parse_gitlab_push(&body)),
        other => webhook_ignored("gitlab", other.unwrap_or("(none)")),
    }
}

fn webhook_refused(forge: &'static str, e: &crate::webhook::WebhookError) -> Response {
    metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "outcome" => e.kind())
        .increment(1);
    tracing::warn!(forge, error = %e, "webhook delivery refused");
    (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response()
}

fn webhook_ignored(forge: &'static str, event: &str) -> Response {
    metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "outcome" => "ignored")
        .increment(1);
    (
        StatusCode::ACCEPTED,
        format!("ignored: {event} is not a push\n"),
    )
        .into_response()
}

fn webhook_push(
    s: &Shared,
    forge: &'static str,
    push: Result<crate::webhook::Push, crate::webhook::WebhookError>,
) -> Response {
    let push = match push {
        Ok(p) => p,
        Err(e) => {
            metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "outcome" => e.kind())
                .increment(1);
            return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response();
        }
    };
    metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "outcome" => "push")
        .increment(1);
    s.pending.lock().expect("pending lock").pushes.push(push);
    // A full channel already holds a pending cycle, which takes every pending push.
    let _ = s.trigger.try_send(Trigger::Push);
    (StatusCode::ACCEPTED, "fetch scheduled\n").into_response()
}

/// Whether `Authorization: Bearer <token>` carries `token` (compared in constant time).
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()))
}

/// Compares secrets without leaking their common prefix through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Names per shard, for the catalog sink.
pub fn names_by_shard<'a>(
    names: impl Iterator<Item = &'a str>,
    shards: usize,
) -> BTreeMap<usize, Vec<String>> {
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for n in names {
        out.entry(shard_of(n, shards))
            .or_default()
            .push(n.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_case_insensitive() {
        assert_eq!(shard_of("Greeting", 32), shard_of("greeting", 32));
        assert!(shard_of("x", 32) < 32);
        assert_eq!(
            shard_index("http://h:1", &shard_url("http://h:1", 7)),
            Some(7)
        );
        assert_eq!(
            shard_index("http://h:1", "http://other/catalog/shard-07.yaml"),
            None
        );
    }

    #[test]
    fn etags_change_with_content_only() {
        assert_eq!(
            ShardDoc::new("a".into()).etag,
            ShardDoc::new("a".into()).etag
        );
        assert_ne!(
            ShardDoc::new("a".into()).etag,
            ShardDoc::new("b".into()).etag
        );
    }

    #[tokio::test]
    async fn documents_answer_503_until_published_then_200_with_etag_and_304() {
        let (tx, mut rx) = mpsc::channel(1);
        let shared = Arc::new(Shared::new(
            "http://x".into(),
            4,
            tx,
            Some("s3cret".into()),
            None,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = router(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let get = |path: &str| http.get(format!("{base}{path}")).send();

        assert_eq!(get("/catalog/shard-01.yaml").await.unwrap().status(), 503);
        assert_eq!(get("/catalog/index.yaml").await.unwrap().status(), 503);
        assert_eq!(get("/readyz").await.unwrap().status(), 503);
        assert_eq!(get("/healthz").await.unwrap().status(), 200);

        let mut shards = build_shards(std::iter::empty(), 4);
        shards[1] = ShardDoc::new("kind: Template\n".into());
        shared.publish(shards).await;
        let r = get("/catalog/shard-01.yaml").await.unwrap();
        assert_eq!(r.status(), 200);
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(r.text().await.unwrap(), "kind: Template\n");
        let r = http
            .get(format!("{base}/catalog/shard-01.yaml"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304);
        // A shard that holds nothing, or does not exist (any more): empty, never 404.
        for path in ["/catalog/shard-02.yaml", "/catalog/shard-99.yaml"] {
            let r = get(path).await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(r.text().await.unwrap(), "");
        }
        let index = get("/catalog/index.yaml")
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(index.contains("http://x/catalog/shard-01.yaml") && !index.contains("shard-02"));

        // POST /sync wants the token, and coalesces.
        let sync = |token: Option<&str>| {
            let mut r = http.post(format!("{base}/sync"));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        assert_eq!(sync(None).await.unwrap().status(), 401);
        assert_eq!(sync(Some("wrong")).await.unwrap().status(), 401);
        assert!(rx.try_recv().is_err());
        assert_eq!(sync(Some("s3cret")).await.unwrap().status(), 202);
        assert_eq!(sync(Some("s3cret")).await.unwrap().status(), 202);
        assert_eq!(rx.try_recv().unwrap(), Trigger::Manual);
        assert!(rx.try_recv().is_err(), "two requests, one pending sync");
        assert!(shared.force_sync.load(Ordering::Acquire));
    }

    #[test]
    fn constant_time_eq_compares_whole_secrets() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    /// A server with webhook secrets; returns its base URL and the trigger receiver.
    async fn webhook_server(
        max_body_bytes: usize,
    ) -> (String, Arc<Shared>, mpsc::Receiver<Trigger>) {
        let (tx, rx) = mpsc::channel(1);
        let mut shared = Shared::new("http://x".into(), 4, tx, None, None);
        shared.webhooks = WebhookSecrets {
            github: Some("gh-secret".into()),
            gitlab: Some("gl-secret".into()),
            max_body_bytes,
        };
        let shared = Arc::new(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = router(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, shared, rx)
    }

    fn github_signature(body: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(b"gh-secret").unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[tokio::test]
    async fn webhooks_verify_then_record_pushes() {
        let (base, shared, mut rx) = webhook_server(4096).await;
        let http = reqwest::Client::new();
        let github = |event: &str, body: &str, signature: Option<String>| {
            let mut r = http
                .post(format!("{base}/webhooks/github"))
                .header("X-GitHub-Event", event)
                .body(body.to_owned());
            if let Some(s) = signature {
                r = r.header("X-Hub-Signature-256", s);
            }
            r.send()
        };
        let push = r#"{"ref": "refs/heads/main", "after": "abc", "repository": {"clone_url": "https://github.com/o/r.git"}}"#;
        // Unsigned or wrongly signed: 401, nothing recorded, no trigger.
        assert_eq!(github("push", push, None).await.unwrap().status(), 401);
        let wrong = github_signature("another body");
        assert_eq!(
            github("push", push, Some(wrong)).await.unwrap().status(),
            401
        );
        assert!(rx.try_recv().is_err());
        assert!(shared.pending.lock().unwrap().pushes.is_empty());
        // ping: 200; another event: 202 and ignored; a push: 202, recorded, triggered.
        assert_eq!(
            github("ping", "{}", Some(github_signature("{}")))
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            github("issues", "{}", Some(github_signature("{}")))
                .await
                .unwrap()
                .status(),
            202
        );
        assert!(rx.try_recv().is_err());
        assert_eq!(
            github("push", push, Some(github_signature(push)))
                .await
                .unwrap()
                .status(),
            202
        );
        assert_eq!(rx.try_recv().unwrap(), Trigger::Push);
        let pushes = std::mem::take(&mut shared.pending.lock().unwrap().pushes);
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].git_ref, "refs/heads/main");
        // A body over the limit: 413.
        let big = "x".repeat(5000);
        let r = github("push", &big, Some(github_signature(&big)))
            .await
            .unwrap();
        assert_eq!(r.status(), 413);

        // GitLab: the token header.
        let gitlab = |token: &str| {
            http.post(format!("{base}/webhooks/gitlab"))
                .header("X-Gitlab-Event", "Push Hook")
                .header("X-Gitlab-Token", token)
                .body(r#"{"ref": "refs/heads/main", "checkout_sha": "abc", "project": {"git_http_url": "https://gitlab.com/o/r.git"}}"#)
                .send()
        };
        assert_eq!(gitlab("wrong").await.unwrap().status(), 401);
        assert_eq!(gitlab("gl-secret").await.unwrap().status(), 202);
        assert_eq!(shared.pending.lock().unwrap().pushes.len(), 1);
    }

    #[tokio::test]
    async fn an_unconfigured_forge_is_not_served() {
        let (tx, _rx) = mpsc::channel(1);
        let shared = Arc::new(Shared::new("http://x".into(), 4, tx, None, None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(shared)).await });
        let r = reqwest::Client::new()
            .post(format!("{base}/webhooks/github"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }

    #[tokio::test]
    async fn events_are_accepted_ignored_or_refused() {
        let (base, shared, mut rx) = webhook_server(4096).await;
        let http = reqwest::Client::new();
        let post = |body: &str| {
            http.post(format!("{base}/events"))
                .header("content-type", "application/cloudevents+json")
                .body(body.to_owned())
                .send()
        };
        assert_eq!(post("{").await.unwrap().status(), 400);
        let other = r#"{"specversion": "1.0", "id": "1", "source": "s", "type": "UserTaskInstanceStateDataEvent"}"#;
        assert_eq!(post(other).await.unwrap().status(), 202);
        assert!(rx.try_recv().is_err(), "nothing to do for other types");
        // An instance event is read (tests/instance_events.rs): one without its body is refused.
        let instance = r#"{"specversion": "1.0", "id": "1", "source": "s", "type": "ProcessInstanceStateDataEvent"}"#;
        assert_eq!(post(instance).await.unwrap().status(), 400);
        let event = r#"{"specversion": "1.0", "id": "1", "source": "s", "type": "ProcessDefinitionEvent", "data": {"id": "greeting"}}"#;
        assert_eq!(post(event).await.unwrap().status(), 202);
        assert_eq!(rx.try_recv().unwrap(), Trigger::Event);
        assert!(
            shared
                .pending
                .lock()
                .unwrap()
                .event_ids
                .contains("greeting")
        );
    }

    #[tokio::test]
    async fn events_can_require_a_token() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut shared = Shared::new("http://x".into(), 4, tx, None, None);
        shared.events_token = Some("ev-token".into());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(Arc::new(shared))).await });
        let event =
            r#"{"specversion": "1.0", "id": "1", "source": "s", "type": "ProcessDefinitionEvent"}"#;
        let post = |token: Option<&str>| {
            let mut r = reqwest::Client::new()
                .post(format!("{base}/events"))
                .header("content-type", "application/cloudevents+json")
                .body(event);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send()
        };
        assert_eq!(post(None).await.unwrap().status(), 401);
        assert_eq!(post(Some("nope")).await.unwrap().status(), 401);
        assert!(rx.try_recv().is_err());
        assert_eq!(post(Some("ev-token")).await.unwrap().status(), 202);
        assert_eq!(rx.try_recv().unwrap(), Trigger::Event);
    }
}
