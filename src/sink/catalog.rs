//! A client for the Backstage catalog REST API: the calls the daemon needs and nothing else.
//!
//! Stock Backstage has no endpoint that accepts entity bodies, so the daemon serves its entity
//! documents itself and drives the catalog through locations (register, refresh, delete) and
//! entity deletion by uid. Every call carries the bearer token (never logged), is retried with
//! exponential backoff and jitter when the failure is transient (connection errors, 5xx, 429)
//! and reported once otherwise, with the catalog's own message.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

/// Why a catalog call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "catalog unreachable at {url}: {reason}; check `catalog.baseUrl` and that Backstage is running"
    )]
    Unreachable { url: String, reason: String },
    #[error(
        "catalog refused the token (401) for {op}: {message}; check `catalog.tokenEnv`/`catalog.tokenFile` and Backstage's `backend.auth.externalAccess`"
    )]
    Unauthorized { op: &'static str, message: String },
    #[error("catalog answered {status} to {op}: {message}")]
    Status {
        op: &'static str,
        status: u16,
        message: String,
    },
    #[error("catalog answered {op} with something unexpected: {reason}")]
    Decode { op: &'static str, reason: String },
    #[error(
        "the cycle's catalog work took longer than `catalog.cycleTimeout` ({seconds} s) and was cut short while {phase}; what was not done is retried next cycle (check that the catalog answers)"
    )]
    CutShort { phase: &'static str, seconds: f64 },
}

impl CatalogError {
    /// Worth retrying: the catalog may answer differently in a moment.
    pub fn is_transient(&self) -> bool {
        match self {
            CatalogError::Unreachable { .. } => true,
            CatalogError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// A short stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            CatalogError::Unreachable { .. } => "unreachable",
            CatalogError::Unauthorized { .. } => "unauthorized",
            CatalogError::Status { status, .. } if *status >= 500 => "server_error",
            CatalogError::Status { .. } => "rejected",
            CatalogError::Decode { .. } => "decode",
            CatalogError::CutShort { .. } => "cycle_timeout",
        }
    }
}

/// A registered location.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Location {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub target: String,
}

/// The entity ref of the Location entity the catalog generates for a url location.
pub fn generated_location_ref(target: &str) -> String {
    let digest = Sha1::digest(format!("url:{target}").as_bytes());
    format!("location:default/generated-{}", hex::encode(digest))
}

/// Retry policy for transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub max_times: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_times: 4,
        }
    }
}

/// The catalog REST client.
#[derive(Clone)]
pub struct CatalogClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for CatalogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("CatalogClient")
            .field("base", &self.base)
            .finish()
    }
}

impl CatalogClient {
    pub fn new(base_url: &str, token: Option<String>, retry: RetryPolicy) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            http,
            base: format!("{}/api/catalog", base_url.trim_end_matches('/')),
            token,
            retry,
        }
    }

    async fn call(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Vec<u8>), CatalogError> {
        let attempt = || async {
            let result = self.call_once(op, method.clone(), path, body).await;
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) => e.metric_label(),
            };
            metrics::counter!("orchestrator_provider_catalog_calls_total", "op" => op, "outcome" => outcome)
                .increment(1);
            result
        };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(self.retry.min_delay)
                    .with_max_delay(self.retry.max_delay)
                    .with_max_times(self.retry.max_times)
                    .with_jitter(),
            )
            .when(CatalogError::is_transient)
            .notify(
                |e, delay| tracing::debug!(op, error = %e, ?delay, "catalog call failed, retrying"),
            )
            .await
    }

    async fn call_once(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Vec<u8>), CatalogError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CatalogError::Unreachable {
                url: self.base.clone(),
                reason: error_chain(&e),
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CatalogError::Unreachable {
                url: self.base.clone(),
                reason: error_chain(&e),
            })?
            .to_vec();
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok((status, bytes));
        }
        let message = error_message(&bytes);
        Err(if status == StatusCode::UNAUTHORIZED {
            CatalogError::Unauthorized { op, message }
        } else {
            CatalogError::Status {
                op,
                status: status.as_u16(),
                message,
            }
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(
        op: &'static str,
        bytes: &[u8],
    ) -> Result<T, CatalogError> {
        serde_json::from_slice(bytes).map_err(|e| CatalogError::Decode {
            op,
            reason: crate::redact::text(&e.to_string()),
        })
    }

    fn not_found(op: &'static str, status: StatusCode, bytes: &[u8]) -> Result<(), CatalogError> {
        if status == StatusCode::NOT_FOUND {
            return Err(CatalogError::Status {
                op,
                status: 404,
                message: error_message(bytes),
            });
        }
        Ok(())
    }

    /// `POST /validate-entity`: `Ok(None)` when valid, `Ok(Some(message))` when the catalog
    /// rejects it, with the catalog's own words.
    pub async fn validate_entity(
        &self,
        location: &str,
        entity: &Value,
    ) -> Result<Option<String>, CatalogError> {
        let body = json!({"location": format!("url:{location}"), "entity": entity});
        match self
            .call(
                "validate-entity",
                Method::POST,
                "/validate-entity",
                Some(&body),
            )
            .await
        {
            Ok(_) => Ok(None),
            Err(CatalogError::Status {
                status: 400,
                message,
                ..
            }) => Ok(Some(message)),
            Err(e) => Err(e),
        }
    }

    /// `POST /locations?dryRun=true`: surfaces what a real registration hides (a host missing
    /// from `backend.reading.allow`, a kind not allowed by `catalog.rules`).
    pub async fn dry_run_location(&self, target: &str) -> Result<(), CatalogError> {
        let body = json!({"type": "url", "target": target});
        let (status, bytes) = self
            .call(
                "register-dry-run",
                Method::POST,
                "/locations?dryRun=true",
                Some(&body),
            )
            .await?;
        Self::not_found("register-dry-run", status, &bytes)
    }

    /// `POST /locations?onConflict=refresh`: idempotent registration.
    pub async fn register_location(&self, target: &str) -> Result<Location, CatalogError> {
        #[derive(Deserialize)]
        struct Created {
            location: Location,
        }
        let body = json!({"type": "url", "target": target});
        let (status, bytes) = self
            .call(
                "register",
                Method::POST,
                "/locations?onConflict=refresh",
                Some(&body),
            )
            .await?;
        Self::not_found("register", status, &bytes)?;
        Ok(Self::decode::<Created>("register", &bytes)?.location)
    }

    /// `GET /locations`.
    pub async fn locations(&self) -> Result<Vec<Location>, CatalogError> {
        #[derive(Deserialize)]
        struct Item {
            data: Location,
        }
        let (status, bytes) = self
            .call("list-locations", Method::GET, "/locations", None)
            .await?;
        Self::not_found("list-locations", status, &bytes)?;
        Ok(Self::decode::<Vec<Item>>("list-locations", &bytes)?
            .into_iter()
            .map(|i| i.data)
            .collect())
    }

    /// `DELETE /locations/{id}`: the location and everything it emitted, at once. A location
    /// that is already gone is not an error.
    pub async fn delete_location(&self, id: &str) -> Result<(), CatalogError> {
        self.call(
            "delete-location",
            Method::DELETE,
            &format!("/locations/{}", enc(id)),
            None,
        )
        .await
        .map(|_| ())
    }

    /// `POST /refresh`. `Ok(false)` when the catalog does not know the entity (yet).
    pub async fn refresh(&self, entity_ref: &str) -> Result<bool, CatalogError> {
        let body = json!({"entityRef": entity_ref});
        let (status, _) = self
            .call("refresh", Method::POST, "/refresh", Some(&body))
            .await?;
        Ok(status != StatusCode::NOT_FOUND)
    }

    /// `GET /entities/by-name/{kind}/{namespace}/{name}`.
    pub async fn entity(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, CatalogError> {
        let path = format!(
            "/entities/by-name/{}/{}/{}",
            enc(kind),
            enc(namespace),
            enc(name)
        );
        let (status, bytes) = self.call("get-entity", Method::GET, &path, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Self::decode("get-entity", &bytes).map(Some)
    }

    /// `DELETE /entities/by-uid/{uid}`. Only for an entity no longer served, or it comes back.
    pub async fn delete_entity(&self, uid: &str) -> Result<(), CatalogError> {
        self.call(
            "delete-entity",
            Method::DELETE,
            &format!("/entities/by-uid/{}", enc(uid)),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Every entity matching `filter` (e.g. `kind=template`), following the cursor.
    pub async fn query(&self, filter: &str, fields: &str) -> Result<Vec<Value>, CatalogError> {
        #[derive(Deserialize)]
        struct Page {
            items: Vec<Value>,
            #[serde(rename = "pageInfo", default)]
            page_info: PageInfo,
        }
        #[derive(Deserialize, Default)]
        struct PageInfo {
            #[serde(rename = "nextCursor")]
            next_cursor: Option<String>,
        }
        let mut items = Vec::new();
        let mut path = format!("/entities/by-query?filter={}&limit=500", enc(filter));
        if !fields.is_empty() {
            path.push_str(&format!("&fields={}", enc(fields)));
        }
        loop {
            let (status, bytes) = self
                .call("query-entities", Method::GET, &path, None)
                .await?;
            Self::not_found("query-entities", status, &bytes)?;
            let page: Page = Self::decode("query-entities", &bytes)?;
            let done = page.items.is_empty();
            items.extend(page.items);
            match page.page_info.next_cursor {
                Some(cursor) if !done => {
                    path = format!("/entities/by-query?cursor={}", enc(&cursor))
                }
                _ => return Ok(items),
            }
        }
    }
}

fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The message of a Backstage error body (`{"error":{"message"}}` or validate-entity's
/// `{"errors":[{"message"}]}`), else the start of the body; without any secret (the body is
/// upstream text: a proxy or a catalog may echo the request's headers).
fn error_message(bytes: &[u8]) -> String {
    crate::redact::text(&raw_error_message(bytes))
}

fn raw_error_message(bytes: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        if let Some(m) = v.pointer("/error/message").and_then(Value::as_str) {
            return m.to_owned();
        }
        if let Some(errors) = v.get("errors").and_then(Value::as_array) {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect();
            if !messages.is_empty() {
                return messages.join("; ");
            }
        }
    }
    // Redacted before it is cut, so that no part of a secret survives at the cut.
    let text = crate::redact::text(&String::from_utf8_lossy(bytes));
    text.chars().take(300).collect()
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    crate::redact::text(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_and_outcome_is_a_series_registered_at_start() {
        use crate::telemetry::labels::{CATALOG_OPS, CATALOG_OUTCOMES};
        // Every operation named in a `.call(` of this file.
        let source = include_str!("catalog.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
        let ops: Vec<&str> = code
            .split(".call(")
            .skip(1)
            .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
            .collect();
        assert_eq!(ops.len(), CATALOG_OPS.len(), "{ops:?}");
        for op in ops {
            assert!(
                CATALOG_OPS.contains(&op),
                "{op} is not in labels::CATALOG_OPS"
            );
        }
        let errors = [
            super::CatalogError::Unreachable {
                url: String::new(),
                reason: String::new(),
            },
            super::CatalogError::Unauthorized {
                op: "x",
                message: String::new(),
            },
            super::CatalogError::Status {
                op: "x",
                status: 500,
                message: String::new(),
            },
            super::CatalogError::Status {
                op: "x",
                status: 400,
                message: String::new(),
            },
            super::CatalogError::Decode {
                op: "x",
                reason: String::new(),
            },
        ];
        for e in errors {
            assert!(CATALOG_OUTCOMES.contains(&e.metric_label()), "{e}");
        }
    }

    use super::*;

    #[test]
    fn generated_location_ref_matches_the_catalogs_rule() {
        // FACTS.md: sha1("url:http://127.0.0.1:8099/tpl.yaml") starts with 26c7264c.
        let r = generated_location_ref("http://127.0.0.1:8099/tpl.yaml");
        assert!(r.starts_with("location:default/generated-26c7264c"), "{r}");
    }

    #[test]
    fn error_messages_are_taken_from_both_backstage_shapes() {
        assert_eq!(
            error_message(br#"{"error":{"name":"InputError","message":"bad"}}"#),
            "bad"
        );
        assert_eq!(
            error_message(br#"{"errors":[{"name":"InputError","message":"a"},{"message":"b"}]}"#),
            "a; b"
        );
    }

    #[test]
    fn only_connection_errors_5xx_and_429_are_transient() {
        let status = |s| CatalogError::Status {
            op: "x",
            status: s,
            message: String::new(),
        };
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(409).is_transient());
        assert!(
            CatalogError::Unreachable {
                url: String::new(),
                reason: String::new()
            }
            .is_transient()
        );
    }
}
