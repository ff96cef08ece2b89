//! A SonataFlow Data Index stand-in, one per release, for tests (the real service is Java).
//!
//! ```ignore
//! #[path = "support/data_index_fixture.rs"]
//! mod data_index_fixture;
//! #[path = "support/shared.rs"]
//! mod shared; // where the SDLs are
//! use data_index_fixture::{Fixture, Release, Fault};
//!
//! // None (after printing "skipped: ...") when ../shared/corpus/data-index is absent
//! // (see tests/support/shared.rs for a checkout elsewhere).
//! let Some(di) = Fixture::start(Release::V10_2, rows).await else { return };
//! di.set_fault(Fault::Http500);
//! assert_eq!(di.requests(), 3);
//! ```
//!
//! What it does, per request to `POST /graphql`:
//!
//! 1. counts and records it (query text and variables);
//! 2. applies the current [`Fault`], if any;
//! 3. parses and **validates** the query document against the release's real SDL (loaded from
//!    `../shared/corpus/data-index`, with `count` and `json` extensions where the release has
//!    them, as on PostgreSQL storage) with apollo-compiler; an invalid document gets what
//!    graphql-java answers: HTTP 200, `errors` classified `ValidationError`, `data: null`;
//! 4. coerces the variables and **executes** the query with apollo-compiler's executor: the
//!    response has exactly the selected fields, introspection (`__type`, `__schema`) answers
//!    from the SDL (so `__type(name: "ProcessDefinition")` is null on 1.43), and
//!    `ProcessDefinitions` serves the fixture rows with `where` (`and`/`or`/`not`, string and
//!    string-array operators, `metadata` equality), `orderBy` (in key order) and `pagination`.
//!
//! A row is the JSON of a `ProcessDefinition`; a row with `"sourceError": "..."` answers its
//! `source` with that field error (a workflow service that is down).
#![allow(dead_code)]

use std::cmp::Ordering as CmpOrdering;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apollo_compiler::resolvers::{Execution, FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::{JsonMap, JsonValue};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::shared;

/// The Data Index releases whose SDL is in the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    V1_43,
    V1_44,
    V10_0,
    V10_1,
    V10_2,
}

impl Release {
    pub const ALL: [Release; 5] = [
        Release::V1_43,
        Release::V1_44,
        Release::V10_0,
        Release::V10_1,
        Release::V10_2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Release::V1_43 => "1.43",
            Release::V1_44 => "1.44",
            Release::V10_0 => "10.0",
            Release::V10_1 => "10.1",
            Release::V10_2 => "10.2",
        }
    }

    /// The SDL files of this release, relative to the corpus folder.
    fn files(self) -> Vec<&'static str> {
        match self {
            Release::V1_43 => vec![
                "apache__incubator-kie-kogito-apps@1.43.0.Final/data-index/data-index-common/src/main/resources/basic.schema.graphqls",
            ],
            Release::V1_44 => vec![
                "apache__incubator-kie-kogito-apps@1.44.0.Final/data-index/data-index-graphql/src/main/resources/basic.schema.graphqls",
            ],
            Release::V10_0 => vec![
                "apache__incubator-kie-kogito-apps@10.0.0/data-index/data-index-graphql/src/main/resources/basic.schema.graphqls",
            ],
            Release::V10_1 => vec![
                "apache__incubator-kie-kogito-apps@10.1.0/data-index/data-index-graphql/src/main/resources/basic.schema.graphqls",
                "apache__incubator-kie-kogito-apps@10.1.0/data-index/data-index-graphql/src/main/resources/count.schema.graphqls",
                "apache__incubator-kie-kogito-apps@10.1.0/data-index/data-index-graphql/src/main/resources/json.schema.graphqls",
            ],
            Release::V10_2 => vec![
                "apache__incubator-kie-kogito-apps@10.2.0/data-index/data-index-graphql/src/main/resources/graphql/basic.schema.graphqls",
                "apache__incubator-kie-kogito-apps@10.2.0/data-index/data-index-graphql/src/main/resources/graphql/count.schema.graphqls",
                "apache__incubator-kie-kogito-apps@10.2.0/data-index/data-index-graphql/src/main/resources/graphql/json.schema.graphqls",
            ],
        }
    }
}

/// `../shared/corpus/data-index` (or under `$ORCHESTRATOR_PROVIDER_SHARED`), when it is there.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = shared::dir().join("corpus/data-index");
    dir.is_dir().then_some(dir)
}

/// The release's schema, validated; `None` (after printing `skipped: ...`) without the corpus.
pub fn load_schema(release: Release) -> Option<Valid<Schema>> {
    let Some(dir) = corpus_dir() else {
        println!(
            "skipped: {} is absent (the Data Index SDL of release {}; set {} to the shared folder)",
            shared::dir().join("corpus/data-index").display(),
            release.name(),
            shared::SHARED_ENV
        );
        return None;
    };
    let mut builder = Schema::builder();
    for file in release.files() {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        builder = builder.parse(text, &path);
    }
    let schema = builder
        .build()
        .unwrap_or_else(|e| panic!("SDL of {}: {e}", release.name()));
    Some(
        schema
            .validate()
            .unwrap_or_else(|e| panic!("SDL of {}: {e}", release.name())),
    )
}

/// What the fixture does instead of answering normally.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// HTTP 500 with a plain-text body.
    Http500,
    /// HTTP 200, a graphql-java data-fetching error and `ProcessDefinitions: null`.
    GraphqlErrors,
    /// HTTP 200, `{"data": null}`.
    DataNull,
    /// HTTP 200, an HTML page.
    Garbage,
    /// Answer as if there were no rows.
    EmptyList,
    /// HTTP 200, the start of a listing and then spaces without end (chunked, 1 MiB a chunk).
    Endless,
}

/// One request the fixture received.
#[derive(Debug, Clone)]
pub struct Received {
    pub query: String,
    pub variables: Value,
}

struct Inner {
    schema: Valid<Schema>,
    rows: Mutex<Vec<Value>>,
    fault: Mutex<Fault>,
    requests: AtomicUsize,
    validation_errors: AtomicUsize,
    sources_served: AtomicUsize,
    received: Mutex<Vec<Received>>,
}

/// A running fixture; dropping it stops it.
pub struct Fixture {
    pub release: Release,
    /// Base URL (the client appends `/graphql`).
    pub url: String,
    inner: Arc<Inner>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Fixture {
    /// Starts a fixture for `release` serving `rows` on a free port of 127.0.0.1. `None` (after
    /// printing `skipped: ...`) when the corpus is absent.
    pub async fn start(release: Release, rows: Vec<Value>) -> Option<Fixture> {
        let schema = load_schema(release)?;
        let inner = Arc::new(Inner {
            schema,
            rows: Mutex::new(rows),
            fault: Mutex::new(Fault::None),
            requests: AtomicUsize::new(0),
            validation_errors: AtomicUsize::new(0),
            sources_served: AtomicUsize::new(0),
            received: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let app = Router::new()
            .route("/graphql", post(graphql))
            .with_state(inner.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .expect("fixture server");
        });
        Some(Fixture {
            release,
            url,
            inner,
            shutdown: Some(tx),
            server: Some(server),
        })
    }

    /// Stops the server: from now on connections are refused.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            // Graceful shutdown closes idle keep-alive connections too; do not wait forever
            // for a client that holds one open mid-request.
            if tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .is_err()
            {
                panic!("fixture did not stop within 10 s");
            }
        }
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.inner.fault.lock().unwrap() = fault;
    }

    pub fn set_rows(&self, rows: Vec<Value>) {
        *self.inner.rows.lock().unwrap() = rows;
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Requests that failed validation against the SDL so far.
    pub fn validation_errors(&self) -> usize {
        self.inner.validation_errors.load(Ordering::SeqCst)
    }

    /// `source` fields resolved so far (each one a call to a workflow service on the real thing).
    pub fn sources_served(&self) -> usize {
        self.inner.sources_served.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Forgets the counters and the recorded requests.
    pub fn reset_counts(&self) {
        self.inner.requests.store(0, Ordering::SeqCst);
        self.inner.validation_errors.store(0, Ordering::SeqCst);
        self.inner.sources_served.store(0, Ordering::SeqCst);
        self.inner.received.lock().unwrap().clear();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn graphql(State(inner): State<Arc<Inner>>, body: String) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let query = request
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let variables = request.get("variables").cloned().unwrap_or(Value::Null);
    inner.received.lock().unwrap().push(Received {
        query: query.clone(),
        variables: variables.clone(),
    });
    let fault = inner.fault.lock().unwrap().clone();
    let mut empty = false;
    match fault {
        Fault::None => {}
        Fault::Delay(d) => tokio::time::sleep(d).await,
        Fault::Http500 => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error: storage unavailable",
            )
                .into_response();
        }
        Fault::GraphqlErrors => {
            return graphql_json(json!({
                "errors": [{
                    "message": "Exception while fetching data (/ProcessDefinitions) : Unable to acquire JDBC Connection",
                    "locations": [{"line": 2, "column": 3}],
                    "path": ["ProcessDefinitions"],
                    "extensions": {"classification": "DataFetchingException"}
                }],
                "data": {"ProcessDefinitions": null}
            }));
        }
        Fault::DataNull => return graphql_json(json!({"data": null})),
        Fault::Garbage => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>Sign in</h1></body></html>",
            )
                .into_response();
        }
        Fault::EmptyList => empty = true,
        Fault::Endless => {
            let start = axum::body::Bytes::from_static(br#"{"data": {"ProcessDefinitions": ["#);
            let spaces = axum::body::Bytes::from(vec![b' '; 1 << 20]);
            let chunks = std::iter::once(start).chain(std::iter::repeat(spaces));
            let body = axum::body::Body::from_stream(futures_util::stream::iter(
                chunks.map(Ok::<_, std::convert::Infallible>),
            ));
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
    }
    let rows = if empty {
        Vec::new()
    } else {
        inner.rows.lock().unwrap().clone()
    };
    graphql_json(execute(&inner, &query, &variables, rows))
}

fn graphql_json(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn validation_error(message: String, locations: Value) -> Value {
    json!({
        "message": format!("Validation error : {message}"),
        "locations": locations,
        "extensions": {"classification": "ValidationError"}
    })
}

/// Validates and executes one query document.
fn execute(inner: &Inner, query: &str, variables: &Value, rows: Vec<Value>) -> Value {
    let document =
        match ExecutableDocument::parse_and_validate(&inner.schema, query, "query.graphql") {
            Ok(document) => document,
            Err(invalid) => {
                inner.validation_errors.fetch_add(1, Ordering::SeqCst);
                let errors: Vec<Value> = invalid
                    .errors
                    .iter()
                    .map(|d| {
                        let e = d.to_json();
                        validation_error(e.message, serde_json::to_value(&e.locations).unwrap())
                    })
                    .collect();
                return json!({"errors": errors, "data": null});
            }
        };
    let variables: JsonMap = match variables {
        Value::Object(_) => serde_json::from_value(variables.clone()).unwrap(),
        _ => JsonMap::new(),
    };
    let root = Root {
        rows,
        sources_served: &inner.sources_served,
    };
    let response = Execution::new(&inner.schema, &document)
        .raw_variable_values(&variables)
        .enable_schema_introspection(true)
        .execute_sync(&root);
    match response {
        Ok(response) => serde_json::to_value(&response).unwrap(),
        Err(e) => {
            inner.validation_errors.fetch_add(1, Ordering::SeqCst);
            json!({"errors": [validation_error(e.message().to_string(), json!([]))], "data": null})
        }
    }
}

struct Root<'r> {
    rows: Vec<Value>,
    sources_served: &'r AtomicUsize,
}

impl ObjectValue for Root<'_> {
    fn type_name(&self) -> &str {
        "Query"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        match info.field_name() {
            "ProcessDefinitions" => {
                let args: Value = serde_json::to_value(info.arguments()).unwrap();
                let rows = query_rows(&self.rows, &args);
                Ok(ResolvedValue::list(rows.into_iter().map(|row| {
                    ResolvedValue::object(Row {
                        row,
                        sources_served: self.sources_served,
                    })
                })))
            }
            "CountProcessDefinitions" => {
                let args: Value = serde_json::to_value(info.arguments()).unwrap();
                let n = self
                    .rows
                    .iter()
                    .filter(|r| matches(r, args.get("where").unwrap_or(&Value::Null)))
                    .count();
                Ok(ResolvedValue::leaf(n as i64))
            }
            _ => Ok(ResolvedValue::null()),
        }
    }
}

struct Row<'r> {
    row: Value,
    sources_served: &'r AtomicUsize,
}

impl ObjectValue for Row<'_> {
    fn type_name(&self) -> &str {
        "ProcessDefinition"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let name = info.field_name();
        if name == "source" {
            self.sources_served.fetch_add(1, Ordering::SeqCst);
            if let Some(reason) = self.row.get("sourceError").and_then(Value::as_str) {
                return Err(FieldError {
                    message: reason.to_owned(),
                });
            }
        }
        let value = self.row.get(name).cloned().unwrap_or(Value::Null);
        Ok(resolved(value, info.field_definition().ty.is_list()))
    }
}

fn resolved<'a>(value: Value, list: bool) -> ResolvedValue<'a> {
    match value {
        Value::Array(items) if list => {
            ResolvedValue::list(items.into_iter().map(|v| resolved(v, false)))
        }
        other => ResolvedValue::leaf(serde_json::from_value::<JsonValue>(other).unwrap()),
    }
}

/// `where`, `orderBy`, `pagination` over the rows, like the Data Index's storage.
fn query_rows(rows: &[Value], args: &Value) -> Vec<Value> {
    let filter = args.get("where").unwrap_or(&Value::Null);
    let mut out: Vec<Value> = match key_lookup(filter) {
        // `or` of `{id: {equal}, version: {equal}}`: looked up like the storage's primary key.
        Some(keys) => rows
            .iter()
            .filter(|r| keys.contains(&(text(r, "id"), text(r, "version"))))
            .cloned()
            .collect(),
        None => rows
            .iter()
            .filter(|r| matches(r, filter))
            .cloned()
            .collect(),
    };
    if let Some(Value::Object(order)) = args.get("orderBy") {
        out.sort_by(|a, b| {
            for (key, dir) in order {
                let o = compare_values(a.get(key), b.get(key));
                let o = if dir == "DESC" { o.reverse() } else { o };
                if o != CmpOrdering::Equal {
                    return o;
                }
            }
            CmpOrdering::Equal
        });
    }
    if let Some(Value::Object(page)) = args.get("pagination") {
        let offset = page.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
        let limit = page
            .get("limit")
            .and_then(Value::as_u64)
            .map(|l| l as usize);
        out = out
            .into_iter()
            .skip(offset)
            .take(limit.unwrap_or(usize::MAX))
            .collect();
    }
    out
}

fn text(row: &Value, key: &str) -> Option<String> {
    row.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The `(id, version)` keys of a `where: {or: [{id: {equal}, version: {equal}}...]}`.
fn key_lookup(filter: &Value) -> Option<HashSet<(Option<String>, Option<String>)>> {
    let branches = filter
        .as_object()
        .filter(|f| f.len() == 1)?
        .get("or")?
        .as_array()?;
    branches
        .iter()
        .map(|b| {
            let b = b.as_object().filter(|b| b.len() == 2)?;
            let equal = |k: &str| -> Option<Option<String>> {
                let cond = b.get(k)?.as_object().filter(|c| c.len() == 1)?;
                Some(Some(cond.get("equal")?.as_str()?.to_owned()))
            };
            Some((equal("id")?, equal("version")?))
        })
        .collect()
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> CmpOrdering {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    // Nulls first, as SQL's NULLS FIRST for ASC in the Data Index's PostgreSQL storage.
    text(a).cmp(&text(b))
}

fn matches(row: &Value, filter: &Value) -> bool {
    let Value::Object(filter) = filter else {
        return true;
    };
    filter.iter().all(|(key, arg)| match key.as_str() {
        "and" => arg
            .as_array()
            .is_none_or(|all| all.iter().all(|f| matches(row, f))),
        "or" => arg
            .as_array()
            .is_none_or(|any| any.iter().any(|f| matches(row, f))),
        "not" => arg.is_null() || !matches(row, arg),
        "metadata" => match arg {
            Value::Object(conds) => conds
                .iter()
                .all(|(k, cond)| string_matches(row.pointer(&format!("/metadata/{k}")), cond)),
            _ => true,
        },
        "annotations" | "roles" => array_matches(row.get(key), arg),
        _ => string_matches(row.get(key), arg),
    })
}

fn string_matches(value: Option<&Value>, arg: &Value) -> bool {
    let value = value.and_then(Value::as_str);
    let Value::Object(arg) = arg else {
        return true;
    };
    arg.iter().all(|(op, operand)| match op.as_str() {
        "equal" => operand.is_null() || value == operand.as_str(),
        "in" => operand
            .as_array()
            .is_none_or(|all| all.iter().any(|o| value == o.as_str())),
        "isNull" => operand.as_bool().is_none_or(|want| value.is_none() == want),
        "like" => operand
            .as_str()
            .is_none_or(|pattern| value.is_some_and(|v| like(v, pattern))),
        _ => true,
    })
}

fn array_matches(value: Option<&Value>, arg: &Value) -> bool {
    let items: Vec<&str> = value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Value::Object(arg) = arg else {
        return true;
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    arg.iter().all(|(op, operand)| match op.as_str() {
        "contains" => operand.as_str().is_none_or(|s| items.contains(&s)),
        "containsAll" => strings(operand).iter().all(|s| items.contains(&s.as_str())),
        "containsAny" => strings(operand).iter().any(|s| items.contains(&s.as_str())),
        "isNull" => operand
            .as_bool()
            .is_none_or(|want| value.is_none_or(Value::is_null) == want),
        _ => true,
    })
}

/// The Data Index's `like`: `*` is the wildcard.
fn like(value: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return value == pattern;
    }
    let mut rest = value;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}
