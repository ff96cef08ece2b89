//! A Data Index as a daemon source: what is deployed, where, whether it is available, and (for
//! deployed workflows no git or folder source has) the definition and its input schema.
//!
//! One read is one listing (a page per `pageSize` rows, `source` only for rows whose content is
//! not already known) plus, for definitions that are new or changed and have a file-based
//! `dataInputSchema`, one `GET <serviceUrl>/management/processes/<id>` each. An unchanged cycle
//! therefore costs one request per page and no workflow-service call.
//!
//! The Data Index does not bump a definition's version when its content changes. Content known
//! by `(id, version)` is fetched again only when a CloudEvent names the workflow
//! ([`DataIndexSource::mark_stale`]) or a sync is forced.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::data_index::{
    Capabilities, DataIndexClient, DataIndexError, DeployedWorkflow, Deployment, origin_path,
    select,
};
use super::snapshot::Snapshot;
use crate::config::without_userinfo;
use crate::workflow::{Availability, DeploymentInfo, Diagnostic, ParseLimits, Workflow};

/// A failed input-schema call is tried again after this long (it is not retried every cycle).
const SCHEMA_RETRY: Duration = Duration::from_secs(600);
/// Workflow ids remembered as stale; more than this means every one (`POST /events` counts
/// more than this as an event that names no workflow, which is rate-limited).
pub const MAX_STALE_IDS: usize = 10_000;
/// Workflow-service calls in flight at once.
const SCHEMA_CONCURRENCY: usize = 8;

/// Settings of one Data Index source.
#[derive(Debug, Clone)]
pub struct DataIndexSettings {
    pub url: String,
    pub token: Option<String>,
    pub page_size: usize,
    pub fetch_input_schema: bool,
    pub timeout: Duration,
    pub limits: ParseLimits,
}

/// The definition of one `(id, version)` row, parsed once.
#[derive(Debug, Clone)]
struct Known {
    workflow: Option<Workflow>,
    input_schema_ref: Option<String>,
    diagnostics: Vec<Diagnostic>,
}

/// The outcome of asking a workflow service for an input schema.
#[derive(Debug, Clone)]
struct SchemaFetch {
    result: Result<Value, String>,
    at: Instant,
}

/// A Data Index source with what it remembers between reads.
pub struct DataIndexSource {
    settings: DataIndexSettings,
    client: DataIndexClient,
    http: reqwest::Client,
    caps: Option<Capabilities>,
    known: HashMap<(String, Option<String>), Known>,
    /// Input schemas by the definition's SHA-256.
    schemas: HashMap<String, SchemaFetch>,
    /// Workflow ids whose content must be fetched again; `all` for every one.
    stale: HashSet<String>,
    stale_all: bool,
    /// What the last read was made of; the same rows for the same defined ids give the same
    /// snapshot, so an idle read stops at comparing them.
    last_input: Option<(Vec<Deployment>, BTreeSet<String>)>,
}

impl std::fmt::Debug for DataIndexSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataIndexSource")
            .field("client", &self.client)
            .field("known", &self.known.len())
            .finish()
    }
}

impl DataIndexSource {
    pub fn new(settings: DataIndexSettings) -> Self {
        let client = DataIndexClient::new(&settings.url, settings.token.clone(), settings.timeout);
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .timeout(settings.timeout)
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            settings,
            client,
            http,
            caps: None,
            known: HashMap::new(),
            schemas: HashMap::new(),
            stale: HashSet::new(),
            stale_all: false,
            last_input: None,
        }
    }

    /// The name used in logs, `/status` and diagnostics.
    pub fn name(&self) -> String {
        format!("data-index {}", without_userinfo(self.client.endpoint()))
    }

    /// The next read fetches the content of these workflows again (a CloudEvent said they
    /// changed); with no ids, of every workflow.
    pub fn mark_stale(&mut self, ids: &[String]) {
        if ids.is_empty() || self.stale.len() + ids.len() > MAX_STALE_IDS {
            // Past a bound (events keep coming while the Data Index is down), every definition.
            self.stale_all = true;
            self.stale.clear();
            return;
        }
        self.stale.extend(ids.iter().cloned());
    }

    /// Reads every deployed workflow. `defined_elsewhere`: ids a git or folder source has, whose
    /// content is therefore not asked for (only their deployment facts are used).
    pub async fn read(
        &mut self,
        defined_elsewhere: &BTreeSet<String>,
    ) -> Result<Snapshot, DataIndexError> {
        self.last_input = None;
        Ok(self
            .read_if_changed(defined_elsewhere)
            .await?
            .expect("a read after forgetting the last one is a change"))
    }

    /// Like [`read`](Self::read), but `None` when the Data Index answered exactly what it
    /// answered last time, nothing was marked stale and no failed schema call is due again:
    /// the snapshot would be the same, so it is not built.
    pub async fn read_if_changed(
        &mut self,
        defined_elsewhere: &BTreeSet<String>,
    ) -> Result<Option<Snapshot>, DataIndexError> {
        metrics::counter!(crate::telemetry::DATA_INDEX_READS, "source" => self.name()).increment(1);
        let mut caps = match self.caps.take() {
            Some(c) => c,
            None => self.client.introspect().await?,
        };
        // Stale content is asked for again but kept until new content arrives: a workflow
        // service that is down (the Data Index fetches `source` from it) must not empty it.
        let (known, stale, stale_all) = (&self.known, &self.stale, self.stale_all);
        let is_known = |id: &str, version: Option<&str>| {
            defined_elsewhere.contains(id)
                || (!stale_all
                    && !stale.contains(id)
                    && known.contains_key(&(id.to_owned(), version.map(str::to_owned))))
        };
        let listed = self
            .client
            .list(&mut caps, self.settings.page_size, &is_known)
            .await;
        // Capabilities survive a failed listing only when it was not a schema problem.
        match &listed {
            Err(e) if e.is_validation() => {}
            _ => self.caps = Some(caps),
        }
        let rows = listed?;
        let stale = self.stale_all || !self.stale.is_empty();
        self.stale.clear();
        self.stale_all = false;
        let retry_due = self
            .schemas
            .values()
            .any(|f| f.result.is_err() && f.at.elapsed() >= SCHEMA_RETRY);
        if !stale
            && !retry_due
            && self
                .last_input
                .as_ref()
                .is_some_and(|(r, d)| *r == rows && d == defined_elsewhere)
        {
            return Ok(None);
        }
        // An empty answer is not remembered: the daemon treats it as suspect and must see it
        // again (as a change) on the next read rather than "unchanged".
        self.last_input = (!rows.is_empty()).then(|| (rows.clone(), defined_elsewhere.clone()));
        let (deployed, parsed) = select(rows, &self.settings.limits);
        // Parse problems belong to the row's content and are repeated on every read that uses
        // it; everything else is this read's.
        let mut diagnostics = Vec::new();
        let mut by_workflow: HashMap<String, Vec<Diagnostic>> = HashMap::new();
        for d in parsed {
            match &d.workflow_id {
                Some(id) => by_workflow.entry(id.clone()).or_default().push(d),
                None => diagnostics.push(d),
            }
        }
        let live: HashSet<(String, Option<String>)> = deployed
            .iter()
            .map(|d| (d.id.clone(), d.version.clone()))
            .collect();
        self.known.retain(|k, _| live.contains(k));

        let mut snapshot = Snapshot::default();
        let mut need_schema: Vec<(usize, String, String, String)> = Vec::new();
        for d in deployed {
            let info = DeploymentInfo {
                availability: d.availability,
                service_url: d.service_url.clone(),
                version: d.version.clone(),
            };
            snapshot.deployments.insert(d.id.clone(), info.clone());
            if defined_elsewhere.contains(&d.id) {
                continue;
            }
            let key = (d.id.clone(), d.version.clone());
            let parse_diagnostics = by_workflow.remove(&d.id).unwrap_or_default();
            let Some(entry) = self.remember(key, d, parse_diagnostics, &mut diagnostics) else {
                continue;
            };
            diagnostics.extend(entry.diagnostics.iter().cloned());
            let input_schema_ref = entry.input_schema_ref.clone();
            let Some(mut workflow) = entry.workflow.clone() else {
                continue;
            };
            workflow.deployment = Some(info.clone());
            if workflow.input_schema.is_none()
                && let Some(reference) = &input_schema_ref
            {
                match (&info.service_url, self.settings.fetch_input_schema) {
                    (Some(url), true) if info.availability == Availability::Available => {
                        need_schema.push((
                            snapshot.workflows.len(),
                            workflow.id.clone(),
                            url.clone(),
                            workflow.origin.sha256.clone(),
                        ));
                    }
                    _ => diagnostics.push(Diagnostic::warning(
                        origin_path(&workflow.id),
                        Some(&workflow.id),
                        format!(
                            "input schema {reference:?} is a file the Data Index does not hold, and the workflow service is not asked (fetchInputSchema is off, or no available serviceUrl); the template is published without a form: add a git or folder source that has it"
                        ),
                    )),
                }
            }
            snapshot.workflows.push(workflow);
        }
        self.fetch_schemas(&need_schema).await;
        for (i, id, url, sha) in need_schema {
            match &self.schemas[&sha].result {
                Ok(schema) => snapshot.workflows[i].input_schema = Some(schema.clone()),
                Err(reason) => diagnostics.push(Diagnostic::warning(
                    origin_path(&id),
                    Some(&id),
                    format!(
                        "input schema from {}: {reason}; the template is published without a form (asked again in {} minutes or when the definition changes)",
                        without_userinfo(&management_url(&url, &id)),
                        SCHEMA_RETRY.as_secs() / 60
                    ),
                )),
            }
        }
        let live_shas: HashSet<&str> = snapshot
            .workflows
            .iter()
            .map(|w| w.origin.sha256.as_str())
            .collect();
        self.schemas
            .retain(|sha, _| live_shas.contains(sha.as_str()));
        snapshot.workflows.sort_by(|a, b| a.id.cmp(&b.id));
        diagnostics.sort();
        diagnostics.dedup();
        snapshot.diagnostics = diagnostics;
        Ok(Some(snapshot))
    }

    /// The parsed content of a row: parsed now when the row carries `source`, else what was
    /// parsed before (kept, with a warning, when asking again failed). `None` when the Data
    /// Index gave no content (a warning says why).
    fn remember(
        &mut self,
        key: (String, Option<String>),
        d: DeployedWorkflow,
        parse_diagnostics: Vec<Diagnostic>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<&Known> {
        if d.row.source.is_some() {
            self.known.insert(
                key.clone(),
                Known {
                    workflow: d.workflow,
                    input_schema_ref: d.input_schema_ref,
                    diagnostics: parse_diagnostics,
                },
            );
        } else if self.known.contains_key(&key) {
            if d.row.source_error.is_some() {
                // `select` said why; the definition read before is used meanwhile.
                diagnostics.extend(parse_diagnostics);
                diagnostics.push(Diagnostic::warning(
                    origin_path(&d.id),
                    Some(&d.id),
                    "the definition read before is kept until the Data Index can give it again",
                ));
            }
        } else {
            // `select` already explained a `source_error`; otherwise the Data Index has no
            // `source` to give.
            if d.row.source_error.is_none() {
                diagnostics.push(Diagnostic::warning(
                    origin_path(&d.id),
                    Some(&d.id),
                    "the Data Index gives no definition (`source`) for this workflow, so it has no template: add a git or folder source that has it",
                ));
            } else {
                diagnostics.extend(parse_diagnostics);
            }
            return None;
        }
        self.known.get(&key)
    }

    /// Asks workflow services for the input schemas not already known (a few at a time).
    async fn fetch_schemas(&mut self, needed: &[(usize, String, String, String)]) {
        let mut todo: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for (_, id, url, sha) in needed {
            let fresh = match self.schemas.get(sha) {
                Some(SchemaFetch { result: Ok(_), .. }) => true,
                Some(SchemaFetch { at, .. }) => at.elapsed() < SCHEMA_RETRY,
                None => false,
            };
            if !fresh {
                todo.insert(sha, (id, url));
            }
        }
        if todo.is_empty() {
            return;
        }
        let semaphore = Arc::new(tokio::sync::Semaphore::new(SCHEMA_CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for (sha, (id, url)) in todo {
            let http = self.http.clone();
            let target = management_url(url, id);
            let token = semaphore.clone();
            let sha = sha.to_owned();
            metrics::counter!(crate::telemetry::SCHEMA_CALLS).increment(1);
            tasks.spawn(async move {
                let _permit = token.acquire_owned().await;
                (sha, fetch_input_schema(&http, &target).await)
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok((sha, result)) = done {
                self.schemas.insert(
                    sha,
                    SchemaFetch {
                        result,
                        at: Instant::now(),
                    },
                );
            }
        }
    }
}

/// `<serviceUrl>/management/processes/<id>`.
pub fn management_url(service_url: &str, id: &str) -> String {
    format!(
        "{}/management/processes/{}",
        service_url.trim_end_matches('/'),
        crate::workflow::percent_encode_segment(id)
    )
}

/// The `inputSchema` of a workflow service's management answer; an error says why, without any
/// secret (see `crate::redact`).
async fn fetch_input_schema(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    fetch_input_schema_once(http, url)
        .await
        .map_err(|e| crate::redact::text(&e))
}

/// The most bytes a workflow service's answer for one input schema may have: four times the
/// bytes an input schema may expand to (`workflow::MAX_SCHEMA_BYTES`, 1 MiB), which is itself
/// four times the largest form.
pub const MAX_SCHEMA_ANSWER_BYTES: usize = 4 * crate::workflow::MAX_SCHEMA_BYTES;

async fn fetch_input_schema_once(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "no answer in time".to_owned()
            } else {
                format!("request failed ({})", super::data_index::root_cause(&e))
            }
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "HTTP {}{}",
            status.as_u16(),
            if status.as_u16() == 404 {
                " (the service does not know the workflow, or lacks the process-management add-on)"
            } else {
                ""
            }
        ));
    }
    let bytes = match super::bounded_body::read(response, MAX_SCHEMA_ANSWER_BYTES).await {
        Ok(bytes) => bytes,
        Err(super::bounded_body::BodyError::TooLarge) => {
            return Err(format!(
                "the answer is over {MAX_SCHEMA_ANSWER_BYTES} bytes, more than any input schema that can become a form"
            ));
        }
        Err(super::bounded_body::BodyError::Transport(e)) => {
            return Err(if e.is_timeout() {
                "no answer in time".to_owned()
            } else {
                format!(
                    "reading the answer failed ({})",
                    super::data_index::root_cause(&e)
                )
            });
        }
    };
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| crate::redact::text(&format!("the answer is not JSON ({e})")))?;
    match body.get("inputSchema") {
        Some(schema @ Value::Object(_)) => Ok(schema.clone()),
        Some(Value::Null) | None => Err("the answer has no `inputSchema`".into()),
        Some(_) => Err("`inputSchema` is not a JSON object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workflow service answering 200 with the start of an answer and then spaces without end.
    async fn endless_service() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/management/processes/{id}",
            axum::routing::get(|| async {
                let start = bytes::Bytes::from_static(br#"{"id": "x", "inputSchema": {"title": ""#);
                let spaces = bytes::Bytes::from(vec![b' '; 1 << 20]);
                let chunks = std::iter::once(start).chain(std::iter::repeat(spaces));
                axum::body::Body::from_stream(futures_util::stream::iter(
                    chunks.map(Ok::<_, std::convert::Infallible>),
                ))
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn a_workflow_service_answer_without_end_is_refused_past_the_limit() {
        let url = endless_service().await;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        let err = fetch_input_schema_once(&http, &format!("{url}/management/processes/x"))
            .await
            .unwrap_err();
        assert!(
            err.contains(&format!("over {MAX_SCHEMA_ANSWER_BYTES} bytes")),
            "{err}"
        );
    }

    #[test]
    fn names_never_carry_credentials() {
        assert_eq!(
            without_userinfo("https://user:s3cret@di.example/graphql"),
            "https://di.example/graphql"
        );
        assert_eq!(without_userinfo("http://di:8080/a@b"), "http://di:8080/a@b");
        let source = DataIndexSource::new(DataIndexSettings {
            url: "http://u:s3cret@di:8080".into(),
            token: None,
            page_size: 10,
            fetch_input_schema: true,
            timeout: Duration::from_secs(1),
            limits: ParseLimits::default(),
        });
        assert!(!source.name().contains("s3cret"));
        assert!(!format!("{source:?}").contains("s3cret"));
    }

    #[test]
    fn too_many_stale_ids_mean_all() {
        let mut source = DataIndexSource::new(DataIndexSettings {
            url: "http://di".into(),
            token: None,
            page_size: 10,
            fetch_input_schema: true,
            timeout: Duration::from_secs(1),
            limits: ParseLimits::default(),
        });
        source.mark_stale(&["a".into()]);
        assert!(!source.stale_all && source.stale.len() == 1);
        let many: Vec<String> = (0..MAX_STALE_IDS).map(|i| i.to_string()).collect();
        source.mark_stale(&many);
        assert!(source.stale_all && source.stale.is_empty());
    }
}
