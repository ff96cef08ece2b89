//! The Data Index client: introspection, paged listings, `source` for the rows the caller does
//! not know, and the GraphQL and HTTP answers turned into [`DataIndexError`]s.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::error::{DataIndexError, root_cause};
use super::query::{
    Capabilities, INTROSPECTION_QUERY, SOURCE_QUERY, WORKFLOW_TYPE, list_query, parse_capabilities,
};
use super::row::Deployment;
use crate::config::without_userinfo;
use crate::source::bounded_body::{self, BodyError};

/// The most bytes one Data Index answer may have. A page of 1000 rows with their `source`
/// fields is a few MB for real workflows (the corpus's files average a few KB, and one file may
/// be at most `parsing.maxFileBytes`); beyond this an answer is refused, so a hostile or broken
/// Data Index cannot make the daemon hold more than this per request.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

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
                // serde quotes the offending value in full (it may echo a header).
                reason: crate::redact::text(&format!(
                    "`ProcessDefinitions` has an unexpected shape: {e}"
                )),
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
        let bytes = match bounded_body::read(response, MAX_ANSWER_BYTES).await {
            Ok(bytes) => bytes,
            Err(BodyError::Transport(e)) => return Err(self.transport(e)),
            Err(BodyError::TooLarge) => {
                return Err(DataIndexError::TooLarge {
                    url: self.url.clone(),
                    limit: MAX_ANSWER_BYTES,
                });
            }
        };
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
                Err(e) => crate::redact::text(&format!("not JSON: {e}")),
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
        let messages: Vec<String> = errors
            .iter()
            .map(|e| crate::redact::text(&e.message))
            .collect();
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

/// The start of an answer, on one line and without any secret (an answer may echo the request's
/// headers); redacted before it is cut, so that no part of a secret survives at the cut.
fn snippet(text: &str) -> String {
    let one_line: String = crate::redact::text(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}
