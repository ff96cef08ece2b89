//! The documents the catalog reads (shards, the index), the workflow diagrams, and what people
//! and monitoring read (`/healthz`, `/readyz`, `/status`, `/metrics`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::shared::{ShardDoc, Shared, shard_url};
use crate::sink::diagrams;

pub(super) async fn shard(
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
    let matches = diagrams::client_has(headers, &doc.etag);
    let mut builder = Response::builder()
        .header(header::ETAG, &doc.etag)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::CONTENT_TYPE, "application/yaml; charset=utf-8");
    if matches {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        return builder.body(Body::empty()).expect("valid response");
    }
    // The parts are written one after the other, shared, never joined into one copy.
    let parts = doc.parts().to_vec();
    builder
        .status(StatusCode::OK)
        .header(header::CONTENT_LENGTH, doc.len())
        .body(Body::from_stream(futures_util::stream::iter(
            parts.into_iter().map(Ok::<_, std::convert::Infallible>),
        )))
        .expect("valid response")
}

/// `GET /diagrams/<name>.svg`: the diagram of a served template, from the cache or rendered now
/// (at most two at once, off the async workers).
pub(super) async fn diagram(
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
    // The cache lock is held only for the look-up, never across an await.
    let cached = || {
        s.diagram_cache
            .lock()
            .expect("diagram cache lock")
            .get(name, &source)
    };
    if let Some(rendered) = cached() {
        return diagrams::answer(&rendered, &headers);
    }
    let Ok(_permit) = s.diagram_renders.acquire().await else {
        return diagrams::refusal(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    // Another request may have drawn it while this one waited.
    if let Some(rendered) = cached() {
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

pub(super) async fn index(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
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

pub(super) async fn readyz(State(s): State<Arc<Shared>>) -> Response {
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

/// The document the last cycle wrote, plus the cycle in flight now (a cycle stuck in a hung
/// catalog shows here while it lasts, not only when it ends).
pub(super) async fn status(State(s): State<Arc<Shared>>) -> Response {
    let mut body = s.status.read().await.clone();
    let cycle = match s.cycle_in_flight() {
        Some(c) => serde_json::json!({
            "inFlight": true,
            "reason": c.reason,
            "since": crate::telemetry::rfc3339(c.since),
            "seconds": (c.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "phase": c.phase,
        }),
        None => serde_json::json!({"inFlight": false}),
    };
    if let Some(fields) = body.as_object_mut() {
        fields.insert("cycle".into(), cycle);
    }
    axum::Json(body).into_response()
}

pub(super) async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let in_flight = s
        .cycle_in_flight()
        .map_or(0.0, |c| c.started.elapsed().as_secs_f64());
    metrics::gauge!(crate::telemetry::CYCLE_IN_FLIGHT).set(in_flight);
    match &s.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response(),
    }
}
