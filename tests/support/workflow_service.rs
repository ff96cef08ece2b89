//! A SonataFlow workflow service stand-in: `GET /management/processes/{id}` answers what the
//! `process-management` add-on answers (`{"id", "name", "version", "inputSchema"...}`, 404 for
//! an unknown id), and counts the calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

#[derive(Default)]
struct Inner {
    schemas: Mutex<BTreeMap<String, Value>>,
    calls: AtomicUsize,
    failing: std::sync::atomic::AtomicBool,
}

/// A running workflow service; dropping it stops it.
pub struct WorkflowService {
    /// Its base URL, the Data Index's `serviceUrl`.
    pub url: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl WorkflowService {
    /// Serves `inputSchema` for each id of `schemas`.
    pub async fn start(schemas: BTreeMap<String, Value>) -> WorkflowService {
        let inner = Arc::new(Inner {
            schemas: Mutex::new(schemas),
            ..Default::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let app = Router::new()
            .route("/management/processes/{id}", get(process))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("workflow service");
        });
        WorkflowService { url, inner, server }
    }

    /// Management calls received so far.
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }

    /// Answer 500 from now on (or normally again).
    pub fn set_failing(&self, failing: bool) {
        self.inner.failing.store(failing, Ordering::SeqCst);
    }
}

impl Drop for WorkflowService {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn process(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    inner.calls.fetch_add(1, Ordering::SeqCst);
    if inner.failing.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    match inner.schemas.lock().unwrap().get(&id) {
        Some(schema) => axum::Json(json!({
            "id": id, "name": id, "type": "SW", "version": "1.0", "inputSchema": schema
        }))
        .into_response(),
        None => (StatusCode::NOT_FOUND, "").into_response(),
    }
}
