//! What the HTTP server and the sync loop share: the shard documents and where templates go in
//! them, the `/status` document, readiness, and the triggers (with what they were about).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::{RwLock, mpsc};

use crate::instances::{InstanceMetrics, Limits};
use crate::plan::Item;
use crate::secrets::WebhookSecrets;
use crate::sink::diagrams;

/// One shard document and its ETag. The document is the templates' own YAML documents with
/// `---` between them, held as parts that share the templates' bytes (nothing is copied: with
/// 100 000 templates a copy would be the largest thing the daemon holds) and written one after
/// the other when served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDoc {
    parts: Vec<Bytes>,
    len: usize,
    pub etag: String,
}

impl ShardDoc {
    /// A document of one piece of text.
    pub(crate) fn new(body: String) -> Self {
        let etag = etag(Sha256::digest(body.as_bytes()).as_slice());
        Self::from_parts(vec![Bytes::from(body)], etag)
    }

    fn from_parts(mut parts: Vec<Bytes>, etag: String) -> Self {
        parts.retain(|p| !p.is_empty());
        let len = parts.iter().map(Bytes::len).sum();
        Self { parts, len, etag }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The length of the document in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The document's pieces, in order.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// The whole document as text (tests, small documents).
    pub fn text(&self) -> String {
        let mut out = Vec::with_capacity(self.len);
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        String::from_utf8(out).expect("documents are UTF-8")
    }
}

/// A strong ETag from a digest.
fn etag(digest: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(digest)[..32])
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
/// shard's bytes depend only on its templates). A shard's ETag is the hash of its templates'
/// hashes (each the SHA-256 of its document), so it changes exactly when its bytes do, without
/// hashing every document again.
pub fn build_shards<'a>(items: impl Iterator<Item = &'a Item>, shards: usize) -> Vec<ShardDoc> {
    const SEPARATOR: Bytes = Bytes::from_static(b"---\n");
    let mut sorted: Vec<&Item> = items.collect();
    sorted.sort_by(|a, b| a.name().cmp(b.name()));
    let mut parts: Vec<Vec<Bytes>> = vec![Vec::new(); shards];
    let mut hashes: Vec<Sha256> = vec![Sha256::new(); shards];
    for item in sorted {
        let i = shard_of(item.name(), shards);
        if !parts[i].is_empty() {
            parts[i].push(SEPARATOR);
        }
        parts[i].push(item.yaml.clone());
        hashes[i].update(item.hash.as_bytes());
    }
    parts
        .into_iter()
        .zip(hashes)
        .map(|(parts, hash)| {
            if parts.is_empty() {
                ShardDoc::new(String::new())
            } else {
                ShardDoc::from_parts(parts, etag(hash.finalize().as_slice()))
            }
        })
        .collect()
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

/// The sync cycle in flight: why it started, since when, and what it is doing.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub reason: &'static str,
    /// Unix time it started.
    pub since: f64,
    pub started: Instant,
    pub phase: &'static str,
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
    /// Without `trigger_token`: at most one forced sync per this interval (`sync.triggerMinInterval`).
    pub forced_sync_min_interval: Duration,
    /// When the last forced sync was accepted (without a token).
    last_forced_sync: std::sync::Mutex<Option<Instant>>,
    /// A full re-read asked for by `POST /events` beyond the limit waits for its turn.
    full_reread_deferred: AtomicBool,
    /// The cycle in flight, if one is.
    cycle: std::sync::Mutex<Option<InFlight>>,
    /// What each served template's diagram is drawn from (`GET /diagrams/<name>.svg`).
    pub diagrams: RwLock<Arc<diagrams::Sources>>,
    /// Rendered diagrams, bounded in bytes (`diagrams.cacheBytes`).
    pub diagram_cache: std::sync::Mutex<diagrams::Cache>,
    /// Renderings in flight at once: a burst of requests cannot take every core or much memory.
    pub diagram_renders: tokio::sync::Semaphore,
    /// Workflow instance metrics: `POST /events` counts, the sync loop says what is published.
    pub instances: InstanceMetrics,
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
            forced_sync_min_interval: Duration::from_secs(30),
            last_forced_sync: std::sync::Mutex::new(None),
            full_reread_deferred: AtomicBool::new(false),
            cycle: std::sync::Mutex::new(None),
            diagrams: RwLock::new(Arc::new(diagrams::Sources::new())),
            diagram_cache: std::sync::Mutex::new(diagrams::Cache::new(4 * 1024 * 1024)),
            diagram_renders: tokio::sync::Semaphore::new(2),
            instances: InstanceMetrics::new(Limits::default()),
        }
    }

    /// Serves these diagrams from now on; cached renderings of templates gone are dropped.
    pub async fn publish_diagrams(&self, sources: diagrams::Sources) {
        self.diagram_cache
            .lock()
            .expect("diagram cache lock")
            .retain(&sources);
        *self.diagrams.write().await = Arc::new(sources);
    }

    /// A cycle starts (`reason`, unix time `since`) doing `phase`.
    pub fn cycle_started(&self, reason: &'static str, since: f64, phase: &'static str) {
        *self.cycle.lock().expect("cycle lock") = Some(InFlight {
            reason,
            since,
            started: Instant::now(),
            phase,
        });
    }

    /// The cycle in flight moves on to `phase`.
    pub fn cycle_phase(&self, phase: &'static str) {
        if let Some(c) = self.cycle.lock().expect("cycle lock").as_mut() {
            c.phase = phase;
        }
    }

    /// The cycle in flight is over.
    pub fn cycle_ended(&self) {
        *self.cycle.lock().expect("cycle lock") = None;
    }

    /// The cycle in flight, if one is.
    pub fn cycle_in_flight(&self) -> Option<InFlight> {
        self.cycle.lock().expect("cycle lock").clone()
    }

    /// Takes the one forced sync an interval allows (an open `POST /sync`), or says how long
    /// until the next one is allowed.
    pub fn forced_sync_allowed(&self, now: Instant) -> Result<(), Duration> {
        let mut last = self.last_forced_sync.lock().expect("forced sync lock");
        if let Some(at) = *last {
            let since = now.saturating_duration_since(at);
            if since < self.forced_sync_min_interval {
                return Err(self.forced_sync_min_interval - since);
            }
        }
        *last = Some(now);
        Ok(())
    }

    /// Makes the next cycle re-read every definition of the Data Index (an event that names
    /// no workflow, or more than a Data Index source remembers). `limited` (an open
    /// `POST /events`): these share the limit of an open `POST /sync`, at most one forced full
    /// re-read per `sync.triggerMinInterval`; one asked for beyond it is not refused but
    /// coalesced into a single full re-read when the interval has passed, so an event is never
    /// lost and a sender is never made to retry. `None`: scheduled now; `Some(wait)`: in `wait`.
    pub fn full_reread(self: &Arc<Self>, limited: bool) -> Option<Duration> {
        let wake = |s: &Shared| {
            s.pending.lock().expect("pending lock").event_all = true;
            // A full channel already holds a pending cycle, which takes `event_all`.
            let _ = s.trigger.try_send(Trigger::Event);
        };
        let wait = match limited {
            false => None,
            true => self.forced_sync_allowed(Instant::now()).err(),
        };
        let Some(wait) = wait else {
            wake(self);
            return None;
        };
        // At most one deferred re-read waits: the others are coalesced into it.
        if !self.full_reread_deferred.swap(true, Ordering::AcqRel) {
            let shared = self.clone();
            tokio::spawn(async move {
                let mut wait = wait;
                // A forced `POST /sync` may take the turn meanwhile: then wait for the next.
                loop {
                    tokio::time::sleep(wait).await;
                    match shared.forced_sync_allowed(Instant::now()) {
                        Ok(()) => break,
                        Err(w) => wait = w,
                    }
                }
                // Marked before the flag drops: an event in between is covered by this one.
                wake(&shared);
                shared.full_reread_deferred.store(false, Ordering::Release);
            });
        }
        Some(wait)
    }

    /// Serves `shards` (holding `templates` templates). The first call makes the daemon ready:
    /// `/status` says so (with the count) before `/readyz` does, so the two never disagree.
    pub async fn publish(&self, shards: Vec<ShardDoc>, templates: usize) {
        *self.shards.write().await = Arc::new(shards);
        {
            let mut status = self.status.write().await;
            if let Some(fields) = status.as_object_mut() {
                fields.insert("ready".into(), true.into());
                fields.insert("templates".into(), templates.into());
            }
        }
        self.ready.store(true, Ordering::Release);
    }
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
