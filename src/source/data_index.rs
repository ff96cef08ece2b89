//! The SonataFlow Data Index as a source of deployment facts: which workflows are deployed, at
//! which version, behind which service URL, and whether the operator still reports them
//! available.
//!
//! The Data Index is a GraphQL service whose schema changed across releases in ways that fail a
//! whole query (a field a release does not have is a validation error and `data: null`). So the
//! client first [introspects](DataIndexClient::introspect) what the server has, then
//! [lists](DataIndexClient::list) with a query built for exactly that:
//!
//! | release | `ProcessDefinition` fields used | server-side `type` filter |
//! |---|---|---|
//! | ≤ 1.43 | none: no `ProcessDefinitions` query, refused with [`DataIndexError::Unsupported`] | |
//! | 1.44.x | `id version name type endpoint serviceUrl` | no (filtered here) |
//! | 10.0.x | + `description annotations metadata` | no (filtered here) |
//! | 10.1+ | the same | `where: {type: {equal: "SW"}}` |
//!
//! Queries are built as strings at run time (not with `graphql_client`'s derive): the selection
//! depends on what the server has, which a compile-time query cannot express without one query
//! file per release and per variant. The tests validate every query this module sends against
//! the real SDL of each release instead (`tests/support/data_index_fixture.rs`).
//!
//! Selecting `source` can make the Data Index call the workflow service for every row, so a
//! listing first asks for everything but `source`, then asks for `source` only for the
//! `(id, version)` rows the caller does not already know (`where: {or: [{id, version}...]}`,
//! which every release since 1.44 accepts).
//!
//! Rows are then reduced to one per id by [`select`], which applies [`compare_versions`].

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::without_userinfo;
use crate::workflow::{
    Diagnostic, InputSchemaRef, MemoryTree, Origin, ParseLimits, Workflow, parse_file,
    resolve_input_schema,
};

/// The `ProcessDefinition` fields a listing selects, when the server has them (`source` apart).
const LIST_FIELDS: [&str; 9] = [
    "id",
    "version",
    "name",
    "type",
    "endpoint",
    "serviceUrl",
    "description",
    "annotations",
    "metadata",
];

/// The `type` of a Serverless Workflow row (BPMN processes in the same Data Index say `BPMN`).
pub const WORKFLOW_TYPE: &str = "SW";

/// The introspection query [`DataIndexClient::introspect`] sends.
pub const INTROSPECTION_QUERY: &str = r#"query DataIndexCapabilities {
  __schema { queryType { fields { name args { name } } } }
  definition: __type(name: "ProcessDefinition") { fields { name } }
  argument: __type(name: "ProcessDefinitionArgument") { inputFields { name } }
}"#;

/// Why a Data Index read failed. Every message names the Data Index and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataIndexError {
    #[error(
        "Data Index {url}: cannot connect ({reason}); check the source's `url` and that the Data Index service is running and reachable from here"
    )]
    Connect { url: String, reason: String },
    #[error(
        "Data Index {url}: no answer within {timeout:?}; the service may be overloaded or slow to fetch `source` from workflow services: raise the source's timeout or lower `pageSize`"
    )]
    Timeout { url: String, timeout: Duration },
    #[error("Data Index {url}: HTTP {status}: {body}; {hint}")]
    Http {
        url: String,
        status: u16,
        body: String,
        hint: &'static str,
    },
    #[error("Data Index {url}: GraphQL error: {}; {}", messages.join("; "), if *validation {
        "the query does not match this Data Index's schema even after introspecting it again: report this with the Data Index version"
    } else {
        "check the Data Index logs"
    })]
    Graphql {
        url: String,
        messages: Vec<String>,
        /// A validation error (the query names something the schema does not have).
        validation: bool,
    },
    #[error(
        "Data Index {url}: answered without data (`{what}` is null) and without an error; check the Data Index logs and its storage"
    )]
    NoData { url: String, what: String },
    #[error(
        "Data Index {url}: the answer is not a GraphQL response ({reason}); check that `url` is the Data Index itself (`/graphql` is appended) and not a proxy or login page; it began with: {snippet}"
    )]
    InvalidResponse {
        url: String,
        reason: String,
        snippet: String,
    },
    #[error(
        "Data Index {url}: has no `ProcessDefinitions` query, so it is older than Kogito Data Index 1.44.0; orchestrator-provider needs Data Index 1.44.0 or later (SonataFlow / Apache KIE 10.x recommended): upgrade the Data Index"
    )]
    Unsupported { url: String },
    #[error("Data Index {url}: request failed: {reason}")]
    Request { url: String, reason: String },
}

impl DataIndexError {
    /// A short label, for a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            DataIndexError::Connect { .. } => "unreachable",
            DataIndexError::Timeout { .. } => "timeout",
            DataIndexError::Http { .. } => "http",
            DataIndexError::Graphql { .. } => "graphql",
            DataIndexError::NoData { .. } => "no_data",
            DataIndexError::InvalidResponse { .. } => "invalid_response",
            DataIndexError::Unsupported { .. } => "unsupported",
            DataIndexError::Request { .. } => "request",
        }
    }

    /// A GraphQL validation error: the query named a field or argument the server lacks.
    pub fn is_validation(&self) -> bool {
        matches!(
            self,
            DataIndexError::Graphql {
                validation: true,
                ..
            }
        )
    }
}

/// What one Data Index supports, learnt by [`DataIndexClient::introspect`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `Query.ProcessDefinitions` exists (1.44.0+).
    pub has_process_definitions: bool,
    /// The fields of `type ProcessDefinition`.
    pub fields: BTreeSet<String>,
    /// `ProcessDefinitions` takes `where`, `orderBy` and `pagination`.
    pub filters: bool,
    /// The arguments `ProcessDefinitions` takes.
    pub query_args: BTreeSet<String>,
    /// The fields of `input ProcessDefinitionArgument` (what `where` can filter on).
    pub where_fields: BTreeSet<String>,
}

impl Capabilities {
    fn arg(&self, name: &str) -> bool {
        self.query_args.contains(name)
    }

    /// `where: {type: {equal: "SW"}}` is accepted (10.1.0+).
    pub fn filters_type(&self) -> bool {
        self.arg("where") && self.where_fields.contains("type")
    }

    /// `where: {or: [{id: .., version: ..}]}` is accepted (1.44.0+), so `source` can be asked
    /// for the unknown rows only.
    pub fn filters_id_version(&self) -> bool {
        self.arg("where")
            && ["or", "id", "version"]
                .iter()
                .all(|f| self.where_fields.contains(*f))
    }

    /// Which release line this looks like, for logs and `/status`.
    pub fn release(&self) -> &'static str {
        if !self.has_process_definitions {
            "before 1.44"
        } else if self.filters_type() {
            "10.1 or later"
        } else if self.fields.contains("metadata") {
            "10.0"
        } else {
            "1.44"
        }
    }
}

/// One `ProcessDefinition` row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deployment {
    pub id: String,
    pub version: Option<String>,
    pub name: Option<String>,
    /// `type`: `SW` for a Serverless Workflow.
    pub kind: Option<String>,
    pub endpoint: Option<String>,
    pub service_url: Option<String>,
    /// 10.0.0+.
    pub description: Option<String>,
    /// 10.0.0+; a set on the server: order is not meaningful.
    pub annotations: Vec<String>,
    /// 10.0.0+: the runtime's process metadata, plus `status` from the operator.
    pub metadata: Option<Value>,
    /// The definition text, only for rows the caller did not already know (`None` otherwise,
    /// or when the Data Index could not get it: see `source_error`).
    pub source: Option<String>,
    /// Why `source` is missing although it was asked for.
    pub source_error: Option<String>,
}

pub use crate::workflow::Availability;

impl Deployment {
    /// `Unavailable` when `metadata.status` is `"unavailable"`, else `Available` (releases and
    /// operators that do not set a status report what is deployed).
    pub fn availability(&self) -> Availability {
        let status = self
            .metadata
            .as_ref()
            .and_then(|m| m.get("status"))
            .and_then(Value::as_str);
        match status {
            Some(s) if s.trim().eq_ignore_ascii_case("unavailable") => Availability::Unavailable,
            _ => Availability::Available,
        }
    }

    /// Lowercase hex SHA-256 of `source`, when the row carries it.
    pub fn source_sha256(&self) -> Option<String> {
        self.source
            .as_ref()
            .map(|s| hex::encode(Sha256::digest(s.as_bytes())))
    }

    fn key(&self) -> (String, Option<String>) {
        (self.id.clone(), self.version.clone())
    }
}

/// A client for one Data Index.
#[derive(Clone)]
pub struct DataIndexClient {
    http: reqwest::Client,
    url: String,
    endpoint: String,
    token: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for DataIndexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataIndexClient")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl DataIndexClient {
    /// A client for the Data Index at `url` (its base: `/graphql` is appended). `timeout` bounds
    /// every request, from connecting to the last byte of the answer.
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> Self {
        let url = url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            endpoint: format!("{url}/graphql"),
            // Messages name the Data Index without credentials a URL may carry.
            url: without_userinfo(&url),
            http,
            token,
            timeout,
        }
    }

    /// `<url>/graphql`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Learns what this Data Index supports. A release without `ProcessDefinitions` (before
    /// 1.44.0) is [`DataIndexError::Unsupported`].
    pub async fn introspect(&self) -> Result<Capabilities, DataIndexError> {
        let data = self.post(INTROSPECTION_QUERY, Value::Null).await?;
        let data: Value = serde_json::from_str(data.get()).unwrap_or(Value::Null);
        parse_capabilities(&data).ok_or_else(|| DataIndexError::Unsupported {
            url: self.url.clone(),
        })
    }

    /// Every Serverless Workflow row, all versions, paged by `page_size`. `known(id, version)`
    /// says whether the caller already has that row's content: `source` is asked only for the
    /// rows it does not know. After a GraphQL validation error the server is introspected once
    /// more (it may have been upgraded or downgraded), `caps` is updated and the listing retried.
    ///
    /// An empty list is a valid answer here; whether it is believable is the caller's call.
    pub async fn list(
        &self,
        caps: &mut Capabilities,
        page_size: usize,
        known: &(dyn Fn(&str, Option<&str>) -> bool + Sync),
    ) -> Result<Vec<Deployment>, DataIndexError> {
        match self.list_once(caps, page_size, known).await {
            Err(e) if e.is_validation() => {
                *caps = self.introspect().await?;
                self.list_once(caps, page_size, known).await
            }
            other => other,
        }
    }

    async fn list_once(
        &self,
        caps: &Capabilities,
        page_size: usize,
        known: &(dyn Fn(&str, Option<&str>) -> bool + Sync),
    ) -> Result<Vec<Deployment>, DataIndexError> {
        if !caps.has_process_definitions || !caps.fields.contains("id") {
            return Err(DataIndexError::Unsupported {
                url: self.url.clone(),
            });
        }
        let page_size = page_size.max(1);
        // Without a way to ask for single rows, `source` comes with the listing.
        let source_in_listing = !caps.filters_id_version() && caps.fields.contains("source");
        let query = list_query(caps, source_in_listing);
        let mut rows: Vec<Deployment> = Vec::new();
        let mut seen: HashSet<(String, Option<String>)> = HashSet::new();
        let mut offset = 0usize;
        loop {
            let mut variables = Map::new();
            if caps.filters_type() {
                variables.insert("where".into(), json!({"type": {"equal": WORKFLOW_TYPE}}));
            }
            if caps.arg("pagination") {
                variables.insert("limit".into(), json!(page_size));
                variables.insert("offset".into(), json!(offset));
            }
            let data = self.post(&query, Value::Object(variables)).await?;
            let page = self.rows(&data)?;
            let n = page.len();
            for row in page {
                if seen.insert(row.key()) {
                    rows.push(row);
                }
            }
            // A short page ends the listing; so does a server that ignored `pagination` (it
            // answered everything at once, more than a page).
            if !caps.arg("pagination") || n != page_size {
                break;
            }
            offset += n;
        }
        if !caps.filters_type() && caps.fields.contains("type") {
            rows.retain(|r| r.kind.as_deref() == Some(WORKFLOW_TYPE));
        }
        if source_in_listing {
            for row in &mut rows {
                if known(&row.id, row.version.as_deref()) {
                    row.source = None;
                } else if row.source.is_none() {
                    row.source_error = Some("the Data Index returned no source".into());
                }
            }
            return Ok(rows);
        }
        if !caps.fields.contains("source") {
            return Ok(rows);
        }
        let unknown: Vec<usize> = (0..rows.len())
            .filter(|&i| !known(&rows[i].id, rows[i].version.as_deref()))
            .collect();
        for chunk in unknown.chunks(page_size) {
            let keys: Vec<(String, Option<String>)> =
                chunk.iter().map(|&i| rows[i].key()).collect();
            let (sources, errors) = self.sources(&keys).await?;
            for &i in chunk {
                let row = &mut rows[i];
                match sources.get(&row.key()) {
                    Some(Some(text)) => row.source = Some(text.clone()),
                    _ => {
                        row.source_error = Some(if errors.is_empty() {
                            "the Data Index returned no source".into()
                        } else {
                            errors.join("; ")
                        })
                    }
                }
            }
        }
        Ok(rows)
    }

    /// `source` for the given rows. Field errors (a workflow service that is down) leave the
    /// rows concerned without source; the errors are returned beside.
    #[allow(clippy::type_complexity)]
    async fn sources(
        &self,
        keys: &[(String, Option<String>)],
    ) -> Result<
        (
            BTreeMap<(String, Option<String>), Option<String>>,
            Vec<String>,
        ),
        DataIndexError,
    > {
        let or: Vec<Value> = keys
            .iter()
            .map(|(id, version)| {
                let version = match version {
                    Some(v) => json!({"equal": v}),
                    None => json!({"isNull": true}),
                };
                json!({"id": {"equal": id}, "version": version})
            })
            .collect();
        let (data, errors) = self
            .post_partial(SOURCE_QUERY, json!({"where": {"or": or}}))
            .await?;
        let rows = self.rows(&data)?;
        let sources = rows.into_iter().map(|r| (r.key(), r.source)).collect();
        Ok((sources, errors))
    }

    /// The rows of `data` (read straight from its JSON text: a listing of 1000 rows is most of
    /// an idle cycle's work).
    fn rows(&self, data: &RawValue) -> Result<Vec<Deployment>, DataIndexError> {
        #[derive(Deserialize)]
        struct ListData {
            #[serde(rename = "ProcessDefinitions", default)]
            list: Option<Vec<Option<RawRow>>>,
        }
        let parsed: ListData =
            serde_json::from_str(data.get()).map_err(|e| DataIndexError::InvalidResponse {
                url: self.url.clone(),
                reason: format!("`ProcessDefinitions` has an unexpected shape: {e}"),
                snippet: snippet(data.get()),
            })?;
        let Some(rows) = parsed.list else {
            return Err(DataIndexError::NoData {
                url: self.url.clone(),
                what: "ProcessDefinitions".into(),
            });
        };
        Ok(rows.into_iter().flatten().map(RawRow::into_row).collect())
    }

    /// Sends one query; any GraphQL error fails it.
    async fn post(&self, query: &str, variables: Value) -> Result<Box<RawValue>, DataIndexError> {
        let (data, errors) = self.post_partial(query, variables).await?;
        if errors.is_empty() {
            Ok(data)
        } else {
            Err(DataIndexError::Graphql {
                url: self.url.clone(),
                messages: errors,
                validation: false,
            })
        }
    }

    /// Sends one query; returns `data` and the messages of any field errors beside it. A
    /// response without data is an error.
    async fn post_partial(
        &self,
        query: &str,
        variables: Value,
    ) -> Result<(Box<RawValue>, Vec<String>), DataIndexError> {
        let mut body = json!({ "query": query });
        if !variables.is_null() {
            body["variables"] = variables;
        }
        let mut request = self.http.post(&self.endpoint).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        let text = String::from_utf8_lossy(&bytes);
        // `{"data": null}` is a GraphQL response; `{}` or `[1]` is not.
        let parsed: Option<GraphqlResponse> = serde_json::from_slice::<GraphqlResponse>(&bytes)
            .ok()
            .filter(|r| r.data.is_some() || r.errors.is_some());
        let Some(parsed) = parsed else {
            if !status.is_success() {
                return Err(DataIndexError::Http {
                    url: self.url.clone(),
                    status: status.as_u16(),
                    body: snippet(&text),
                    hint: http_hint(status.as_u16()),
                });
            }
            let reason = match serde_json::from_slice::<Value>(&bytes) {
                Err(e) => format!("not JSON: {e}"),
                Ok(_) => "JSON without `data` or `errors`".into(),
            };
            return Err(DataIndexError::InvalidResponse {
                url: self.url.clone(),
                reason,
                snippet: snippet(&text),
            });
        };
        let errors = parsed.errors.unwrap_or_default();
        let validation = errors.iter().any(GraphqlError::is_validation);
        let messages: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
        match parsed.data {
            Some(data) if data.get().trim() != "null" => {
                if validation {
                    return Err(DataIndexError::Graphql {
                        url: self.url.clone(),
                        messages,
                        validation,
                    });
                }
                Ok((data, messages))
            }
            _ if !messages.is_empty() => Err(DataIndexError::Graphql {
                url: self.url.clone(),
                messages,
                validation,
            }),
            _ => Err(DataIndexError::NoData {
                url: self.url.clone(),
                what: "data".into(),
            }),
        }
    }

    fn transport(&self, e: reqwest::Error) -> DataIndexError {
        let url = self.url.clone();
        if e.is_timeout() {
            DataIndexError::Timeout {
                url,
                timeout: self.timeout,
            }
        } else if e.is_connect() {
            DataIndexError::Connect {
                url,
                reason: root_cause(&e),
            }
        } else {
            DataIndexError::Request {
                url,
                reason: root_cause(&e),
            }
        }
    }
}

/// The query [`DataIndexClient::list`] pages with, for these capabilities.
pub fn list_query(caps: &Capabilities, with_source: bool) -> String {
    let mut params = Vec::new();
    let mut args = Vec::new();
    if caps.filters_type() {
        params.push("$where: ProcessDefinitionArgument");
        args.push("where: $where".to_owned());
    }
    if caps.arg("orderBy") {
        // `version` too: rows with one id and several versions keep a stable order across pages.
        args.push("orderBy: {id: ASC, version: ASC}".to_owned());
    }
    if caps.arg("pagination") {
        params.push("$limit: Int");
        params.push("$offset: Int");
        args.push("pagination: {limit: $limit, offset: $offset}".to_owned());
    }
    let mut fields: Vec<&str> = LIST_FIELDS
        .iter()
        .copied()
        .filter(|f| caps.fields.contains(*f))
        .collect();
    if with_source {
        fields.push("source");
    }
    let params = if params.is_empty() {
        String::new()
    } else {
        format!("({})", params.join(", "))
    };
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("({})", args.join(", "))
    };
    format!(
        "query ListWorkflowDefinitions{params} {{\n  ProcessDefinitions{args} {{\n    {}\n  }}\n}}",
        fields.join(" ")
    )
}

/// The query that fetches `source` for given `(id, version)` rows.
pub const SOURCE_QUERY: &str = "query WorkflowSources($where: ProcessDefinitionArgument) {\n  ProcessDefinitions(where: $where) {\n    id version source\n  }\n}";

fn parse_capabilities(data: &Value) -> Option<Capabilities> {
    let names = |v: &Value, key: &str| -> BTreeSet<String> {
        v.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let query_field = data
        .pointer("/__schema/queryType/fields")
        .and_then(Value::as_array)?
        .iter()
        .find(|f| f.get("name").and_then(Value::as_str) == Some("ProcessDefinitions"))?;
    let definition = data.get("definition").filter(|v| !v.is_null())?;
    let query_args = names(query_field, "args");
    let fields = names(definition, "fields");
    let where_fields = data
        .get("argument")
        .map(|a| names(a, "inputFields"))
        .unwrap_or_default();
    Some(Capabilities {
        has_process_definitions: true,
        filters: ["where", "orderBy", "pagination"]
            .iter()
            .all(|a| query_args.contains(*a)),
        fields,
        query_args,
        where_fields,
    })
}

#[derive(Deserialize)]
struct GraphqlResponse {
    /// `Some("null")` for `"data": null`, `None` when absent.
    #[serde(default, deserialize_with = "present")]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    errors: Option<Vec<GraphqlError>>,
}

/// A field that is present, even as `null` (plain `Option` reads `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct GraphqlError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    extensions: Option<Value>,
}

impl GraphqlError {
    /// graphql-java marks validation errors with `extensions.classification` and a
    /// `Validation error` message prefix.
    fn is_validation(&self) -> bool {
        let classified = self
            .extensions
            .as_ref()
            .and_then(|e| e.get("classification"))
            .and_then(Value::as_str)
            == Some("ValidationError");
        classified || self.message.starts_with("Validation error")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRow {
    id: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    service_url: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    annotations: Option<Vec<Option<String>>>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    source: Option<String>,
}

impl RawRow {
    fn into_row(self) -> Deployment {
        let mut annotations: Vec<String> = self
            .annotations
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect();
        // A set on the server: its order is meaningless, make it stable.
        annotations.sort();
        annotations.dedup();
        Deployment {
            id: self.id,
            version: self.version,
            name: self.name,
            kind: self.kind,
            endpoint: self.endpoint,
            service_url: self.service_url,
            description: self.description,
            annotations,
            metadata: self.metadata.filter(|m| !m.is_null()),
            source: self.source,
            source_error: None,
        }
    }
}

fn http_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "check the source's token (`auth.tokenEnv` / `auth.tokenFile`)",
        404 => {
            "check the source's `url`: it must be the Data Index base URL (`/graphql` is appended)"
        }
        429 | 500..=599 => "the Data Index is failing; it is retried on the next cycle",
        _ => "check the source's `url` and the Data Index logs",
    }
}

fn snippet(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Orders two versions as written in the Data Index (`1.0`, `v1.0`, `1_0`, `1.0.0-SNAPSHOT`,
/// `999-SNAPSHOT`, `1.10`...), lowest first:
///
/// 1. a missing or blank version is lowest;
/// 2. a leading `v`/`V` before a digit is ignored (`v1.0` == `1.0`);
/// 3. the text up to the first `-` is the release, the rest a pre-release tag;
/// 4. releases compare part by part, parts split at `.`, `_`, `+` and between digits and
///    letters: numbers numerically (`1.10` > `1.9`), a missing part counts as `0`
///    (`1.0` == `1.0.0`), letters compare as text and rank below any number (`1.0v` < `1.0.0`);
/// 5. for equal releases, one without a pre-release tag is higher (`1.0.0` > `1.0.0-SNAPSHOT`),
///    two tags compare like releases.
pub fn compare_versions(a: Option<&str>, b: Option<&str>) -> Ordering {
    let a = a.map(str::trim).filter(|s| !s.is_empty());
    let b = b.map(str::trim).filter(|s| !s.is_empty());
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            let (ra, pa) = split_release(a);
            let (rb, pb) = split_release(b);
            compare_parts(&parts(ra), &parts(rb)).then_with(|| match (pa, pb) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => compare_parts(&parts(x), &parts(y)),
            })
        }
    }
}

fn split_release(v: &str) -> (&str, Option<&str>) {
    let v = match v.strip_prefix(['v', 'V']) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => v,
    };
    match v.split_once('-') {
        Some((release, tag)) => (release, Some(tag)),
        None => (v, None),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    /// Digits without leading zeros (`"0"` stays `"0"`).
    Number(&'a str),
    Text(&'a str),
}

fn parts(s: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    for piece in s.split(['.', '_', '+']) {
        let mut start = 0;
        let bytes = piece.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                let token = &piece[start..i];
                if bytes[start].is_ascii_digit() {
                    let trimmed = token.trim_start_matches('0');
                    out.push(Part::Number(if trimmed.is_empty() { "0" } else { trimmed }));
                } else {
                    out.push(Part::Text(token));
                }
                start = i;
            }
        }
    }
    out
}

fn compare_parts(a: &[Part<'_>], b: &[Part<'_>]) -> Ordering {
    let zero = Part::Number("0");
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).unwrap_or(&zero);
        let y = b.get(i).unwrap_or(&zero);
        let o = match (x, y) {
            (Part::Number(x), Part::Number(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
            (Part::Number(_), Part::Text(_)) => Ordering::Greater,
            (Part::Text(_), Part::Number(_)) => Ordering::Less,
            (Part::Text(x), Part::Text(y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// The row [`select`] keeps among rows with one id: the greatest by, in order,
/// [`compare_versions`]; then available over unavailable; then a row with `source` over one
/// without, and the greater SHA-256 of `source`; then the version text, the service URL and the
/// endpoint as plain strings. It is a total order on what the rows say, so the choice does not
/// depend on the order the Data Index returned them in.
pub fn compare_rows(a: &Deployment, b: &Deployment) -> Ordering {
    compare_versions(a.version.as_deref(), b.version.as_deref())
        .then_with(|| {
            let rank = |d: &Deployment| d.availability() == Availability::Available;
            rank(a).cmp(&rank(b))
        })
        .then_with(|| a.source_sha256().cmp(&b.source_sha256()))
        .then_with(|| a.version.cmp(&b.version))
        .then_with(|| a.service_url.cmp(&b.service_url))
        .then_with(|| a.endpoint.cmp(&b.endpoint))
}

/// One deployed workflow: the row chosen for its id, and what follows from it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedWorkflow {
    pub id: String,
    /// The deployed version (the chosen row's).
    pub version: Option<String>,
    pub service_url: Option<String>,
    pub availability: Availability,
    /// The versions of the other rows with this id, which were not chosen.
    pub other_versions: Vec<Option<String>>,
    /// The definition parsed from the row's `source`, with origin `data-index:<id>`; `None`
    /// when the row carries no source (the caller knew it, or the Data Index could not get it)
    /// or the source could not be used (then a diagnostic says why).
    pub workflow: Option<Workflow>,
    /// The source's `dataInputSchema` when it names a file: the Data Index does not hold the
    /// schema, so it must come from git or the workflow service. An inline schema is resolved
    /// into `workflow.input_schema` instead.
    pub input_schema_ref: Option<String>,
    /// The chosen row itself.
    pub row: Deployment,
}

/// The origin path of a workflow read from the Data Index.
pub fn origin_path(id: &str) -> String {
    format!("data-index:{id}")
}

/// Reduces rows to one per id (the greatest by [`compare_rows`]), sorted by id, and parses the
/// chosen rows' sources. Diagnostics name the origin `data-index:<id>`.
pub fn select(
    rows: Vec<Deployment>,
    limits: &ParseLimits,
) -> (Vec<DeployedWorkflow>, Vec<Diagnostic>) {
    let mut by_id: BTreeMap<String, Vec<Deployment>> = BTreeMap::new();
    for row in rows {
        by_id.entry(row.id.clone()).or_default().push(row);
    }
    let mut out = Vec::with_capacity(by_id.len());
    let mut diagnostics = Vec::new();
    for (id, mut group) in by_id {
        group.sort_by(compare_rows);
        let row = group.pop().expect("a group has a row");
        let other_versions = group.into_iter().rev().map(|r| r.version).collect();
        let (workflow, input_schema_ref) = match (&row.source, &row.source_error) {
            (Some(source), _) => match parse_source(&id, source, limits) {
                Ok((wf, reference, mut warnings)) => {
                    diagnostics.append(&mut warnings);
                    (Some(wf), reference)
                }
                Err(d) => {
                    diagnostics.push(d);
                    (None, None)
                }
            },
            (None, Some(reason)) => {
                diagnostics.push(Diagnostic::warning(
                    origin_path(&id),
                    Some(&id),
                    format!("no source from the Data Index: {reason}"),
                ));
                (None, None)
            }
            (None, None) => (None, None),
        };
        out.push(DeployedWorkflow {
            id,
            version: row.version.clone(),
            service_url: row.service_url.clone(),
            availability: row.availability(),
            other_versions,
            workflow,
            input_schema_ref,
            row,
        });
    }
    diagnostics.sort();
    (out, diagnostics)
}

/// Parses a row's `source` with the project's parser: JSON when it starts with `{`, else YAML.
#[allow(clippy::type_complexity)]
fn parse_source(
    id: &str,
    source: &str,
    limits: &ParseLimits,
) -> Result<(Workflow, Option<String>, Vec<Diagnostic>), Diagnostic> {
    let origin = origin_path(id);
    let error = |message: String| Diagnostic::error(&origin, Some(id), message);
    if source.len() as u64 > limits.max_file_bytes {
        return Err(error(format!(
            "source is {} bytes, over the {} byte limit",
            source.len(),
            limits.max_file_bytes
        )));
    }
    let text = source.trim_start_matches('\u{feff}').trim_start();
    let path = if text.starts_with('{') {
        format!("{origin}.sw.json")
    } else {
        format!("{origin}.sw.yaml")
    };
    let parsed = parse_file(&path, source.as_bytes(), limits)
        .map_err(|e| error(format!("source from the Data Index: {e}")))?;
    let Some(wf) = parsed.workflows.into_iter().next() else {
        let reason = parsed
            .problems
            .first()
            .map(|p| p.message.clone())
            .unwrap_or_else(|| "it holds no workflow".into());
        return Err(error(format!("source from the Data Index: {reason}")));
    };
    let mut warnings = Vec::new();
    if wf.id != id {
        warnings.push(Diagnostic::warning(
            &origin,
            Some(id),
            format!(
                "source says id {:?} but the Data Index deploys it as {id:?}; the deployed id is used",
                wf.id
            ),
        ));
    }
    let (input_schema, reference) = match &wf.data_input_schema {
        Some(InputSchemaRef::Path(p)) => (None, Some(p.clone())),
        Some(inline @ InputSchemaRef::Inline(_)) => {
            match resolve_input_schema(&MemoryTree::new(), &[], &path, inline) {
                Ok(schema) => (Some(schema), None),
                Err(e) => {
                    warnings.push(Diagnostic::warning(
                        &origin,
                        Some(id),
                        format!(
                            "input schema (inline): {e}; the template is published without a form"
                        ),
                    ));
                    (None, None)
                }
            }
        }
        None => (None, None),
    };
    let workflow = Workflow {
        id: id.to_owned(),
        name: wf.name,
        description: wf.description,
        version: wf.version,
        annotations: wf.annotations,
        metadata: wf.metadata,
        input_schema,
        origin: Origin {
            path: origin,
            sha256: hex::encode(Sha256::digest(source.as_bytes())),
            custom_resource: false,
            links: None,
        },
        deployment: None,
    };
    Ok((workflow, reference, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare_versions(Some(a), Some(b))
    }

    #[test]
    fn versions_compare_naturally() {
        assert_eq!(cmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(cmp("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(cmp("v1.0", "1.0"), Ordering::Equal);
        assert_eq!(cmp("1_1", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0.0-SNAPSHOT", "1.0.0"), Ordering::Less);
        assert_eq!(cmp("999-SNAPSHOT", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0v", "1.0"), Ordering::Less);
        assert_eq!(cmp("0.0.1", "0.1"), Ordering::Less);
        assert_eq!(cmp("01.2", "1.2"), Ordering::Equal);
        assert_eq!(
            cmp("123456789012345678901234567890", "99"),
            Ordering::Greater
        );
        assert_eq!(compare_versions(None, Some("0")), Ordering::Less);
        assert_eq!(compare_versions(Some(" "), None), Ordering::Equal);
    }

    #[test]
    fn capabilities_from_introspection() {
        let data = json!({
            "__schema": {"queryType": {"fields": [
                {"name": "ProcessDefinitions", "args": [{"name": "where"}, {"name": "orderBy"}, {"name": "pagination"}]}
            ]}},
            "definition": {"fields": [{"name": "id"}, {"name": "version"}, {"name": "source"}]},
            "argument": {"inputFields": [{"name": "or"}, {"name": "id"}, {"name": "version"}]}
        });
        let caps = parse_capabilities(&data).unwrap();
        assert!(caps.filters && caps.filters_id_version() && !caps.filters_type());
        assert_eq!(caps.release(), "1.44");
        let old = json!({"__schema": {"queryType": {"fields": [{"name": "Jobs", "args": []}]}}, "definition": null, "argument": null});
        assert!(parse_capabilities(&old).is_none());
    }
}
