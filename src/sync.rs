//! The sync loop: on a schedule and on triggers, read every source, keep the last good state of
//! each, map, compare with what is published, and apply only the difference, to the served
//! shards first and then to the catalog.
//!
//! Rules that keep a user's templates safe:
//! - a source that fails, or suddenly reads empty, keeps its last good workflows;
//! - a plan that would remove too much holds its removals (`sync.maxDeleteFraction`);
//! - an entity the catalog rejects is not published (a changed one keeps its previous version);
//! - a name another location owns is reported as a conflict and never deleted.
//!
//! A cycle in which nothing changed reads nothing it can avoid (watched folders are re-read only
//! after a change event; unwatched ones only when their fingerprint moved), maps nothing, and
//! makes no catalog calls.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::pipeline::{self, SourceRead};
use crate::plan::{DeleteGuard, Entities, Held, Item, plan};
use crate::sink::catalog::{CatalogClient, RetryPolicy};
use crate::sink::catalog_sync::CatalogSync;
use crate::sink::serve::{Shared, Trigger, build_shards};
use crate::source::{self, Reader, Role, Snapshot, bundled};
use crate::telemetry::{self, rfc3339, unix_now};
use crate::workflow::Severity;

/// How often watched folders are re-checked as if they were not watched.
const RECHECK_WATCHED: Duration = Duration::from_secs(600);
/// How long after start a source that has never been read holds updates and removals.
const UNREAD_GRACE: Duration = Duration::from_secs(600);

/// What a blocking read found.
struct LocalRead {
    /// `None`: unchanged since the previous fingerprint.
    changed: Option<(u64, Snapshot)>,
    /// The commit a git source is at.
    revision: Option<String>,
}

/// Reads a folder, a repository or the bundled examples; unchanged since `previous` reads
/// nothing more than the fingerprint (a folder's walk, a repository's fetch). A watched folder
/// is known to have changed (its watcher said so), so it skips the walk. An error comes with a
/// short label for metrics.
fn read_local(
    reader: &Reader,
    previous: Option<u64>,
    watched: bool,
) -> Result<LocalRead, (String, &'static str)> {
    let plain = |changed| LocalRead {
        changed,
        revision: None,
    };
    let folder_error = |e: crate::source::SourceError| (e.to_string(), "source_read");
    match reader {
        Reader::Dir { dir, .. } if watched && previous.is_some() => dir
            .read()
            .map(|s| plain(Some((0, s))))
            .map_err(folder_error),
        Reader::Dir { dir, .. } => {
            let fingerprint = dir.fingerprint().map_err(folder_error)?;
            if previous == Some(fingerprint) {
                return Ok(plain(None));
            }
            dir.read()
                .map(|s| plain(Some((fingerprint, s))))
                .map_err(folder_error)
        }
        Reader::Git(git) => {
            let failed = |e: crate::source::git::GitError| (e.to_string(), e.kind());
            let commit = git.fetch().map_err(failed)?;
            let fingerprint = fingerprint_of(&commit);
            let changed = if previous == Some(fingerprint) {
                None
            } else {
                Some((fingerprint, git.read(&commit).map_err(failed)?))
            };
            Ok(LocalRead {
                changed,
                revision: Some(commit),
            })
        }
        Reader::Bundled {
            limits,
            resource_roots,
        } => {
            if previous.is_some() {
                return Ok(plain(None));
            }
            Ok(plain(Some((0, bundled::read(limits, resource_roots)))))
        }
        Reader::DataIndex(_) => unreachable!("a Data Index is read asynchronously"),
    }
}

fn fingerprint_of(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// One source and what the daemon remembers of it.
struct SourceState {
    name: String,
    role: Role,
    reader: Arc<Reader>,
    /// Set by a file watcher, a webhook or a CloudEvent: read at the next cycle.
    poke: Arc<AtomicBool>,
    /// A folder whose watcher works: read only when poked (and on the periodic re-check).
    watched: bool,
    /// Time between reads (git, Data Index); folders are checked every cycle.
    interval: Option<Duration>,
    next_due: Instant,
    fingerprint: Option<u64>,
    /// The commit a git source is at.
    revision: Option<String>,
    last_good: Option<Arc<Snapshot>>,
    last_success: Option<f64>,
    last_error: Option<String>,
}

impl SourceState {
    /// Takes a read's result; `true` when the last good snapshot changed. A failure, or an empty
    /// read where there was something, keeps the last good snapshot.
    ///
    /// `published`: templates are published (or adopted) already, so a first read that is
    /// empty is as suspect as an empty read after a full one. `force` (`POST /sync`) believes
    /// an empty read: the way to empty a source on purpose.
    fn accept(
        &mut self,
        read: Result<Option<(u64, Snapshot)>, (String, &'static str)>,
        published: bool,
        force: bool,
    ) -> bool {
        let mut changed = false;
        match read {
            // Unchanged since the last good read.
            Ok(None) => {
                self.last_success = Some(unix_now());
                self.last_error = None;
            }
            Ok(Some((fingerprint, snapshot))) => {
                let before = self.last_good.as_ref().map_or(0, |s| s.len());
                let suspect = snapshot.is_empty()
                    && !force
                    && (before > 0 || (self.last_good.is_none() && published));
                if suspect {
                    let message = if before > 0 {
                        format!(
                            "read 0 workflows where there were {before}: treated as a failure, the last good state is kept (POST /sync accepts it)"
                        )
                    } else {
                        "read 0 workflows at start while templates are published: treated as a failure, nothing is removed (POST /sync accepts it)".to_owned()
                    };
                    tracing::warn!(source = %self.name, "{message}");
                    metrics::counter!(telemetry::ERRORS, "kind" => "source_empty").increment(1);
                    self.last_error = Some(message);
                    return false;
                }
                self.fingerprint = Some(fingerprint);
                self.last_success = Some(unix_now());
                self.last_error = None;
                if self.last_good.as_deref() != Some(&snapshot) {
                    self.last_good = Some(Arc::new(snapshot));
                    changed = true;
                }
                metrics::gauge!(telemetry::LAST_SUCCESS, "what" => format!("source:{}", self.name))
                    .set(unix_now());
            }
            Err((message, kind)) => {
                if self.last_error.as_deref() != Some(message.as_str()) {
                    tracing::warn!(source = %self.name, error = %message, "source read failed; its last good state is kept");
                }
                metrics::counter!(telemetry::ERRORS, "kind" => "source_read").increment(1);
                metrics::counter!(telemetry::SOURCE_FAILURES, "source" => self.name.clone(), "kind" => kind).increment(1);
                self.last_error = Some(message);
            }
        }
        let count = self.last_good.as_ref().map_or(0, |s| s.len());
        metrics::gauge!(telemetry::WORKFLOWS, "source" => self.name.clone()).set(count as f64);
        changed
    }

    /// The commit a git source is at, in `/status` and the metrics.
    fn set_revision(&mut self, revision: Option<String>) {
        if revision == self.revision {
            return;
        }
        if let Some(old) = self.revision.take() {
            metrics::gauge!(telemetry::SOURCE_REVISION, "source" => self.name.clone(), "commit" => old)
                .set(0.0);
        }
        if let Some(new) = &revision {
            metrics::gauge!(telemetry::SOURCE_REVISION, "source" => self.name.clone(), "commit" => new.clone())
                .set(1.0);
        }
        self.revision = revision;
    }

    fn kind(&self) -> &'static str {
        match *self.reader {
            Reader::Dir { .. } => "dir",
            Reader::Git(_) => "git",
            Reader::Bundled { .. } => "bundled",
            Reader::DataIndex(_) => "dataIndex",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Definitions,
    Deployments,
}

/// What the last cycle did, for `/status` and the logs.
#[derive(Debug, Clone, Default)]
struct CycleReport {
    reason: &'static str,
    at: f64,
    duration: Duration,
    added: usize,
    updated: usize,
    removed: usize,
    catalog_calls: usize,
}

/// The daemon's state between cycles.
pub struct Daemon {
    config: Config,
    shared: Arc<Shared>,
    sources: Vec<SourceState>,
    catalog: Option<CatalogSync>,
    adopted: bool,
    desired: Option<Arc<Entities>>,
    diagnostics: (usize, usize),
    served: Entities,
    published_once: bool,
    held: Option<Held>,
    /// Templates the catalog rejected: name -> (content hash, the catalog's message).
    rejected: BTreeMap<String, (String, String)>,
    catalog_error: Option<String>,
    catalog_failures: u32,
    last: Option<CycleReport>,
    last_catalog_success: Option<f64>,
    last_recheck: Instant,
    started: Instant,
    // Kept alive for as long as the daemon runs.
    _watchers: Vec<
        notify_debouncer_full::Debouncer<
            notify::RecommendedWatcher,
            notify_debouncer_full::RecommendedCache,
        >,
    >,
}

impl Daemon {
    /// Sets up sources, file watchers and the catalog client. Watch errors are logged, not fatal:
    /// the schedule still syncs. A secret that cannot be read is an error.
    pub fn new(
        config: Config,
        shared: Arc<Shared>,
        catalog_token: Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        let mut sources = Vec::new();
        let mut watchers = Vec::new();
        for configured in source::configured(&config)? {
            let poke = Arc::new(AtomicBool::new(false));
            let mut watched = false;
            if let Reader::Dir { dir, watch: true } = &configured.reader {
                match watch_folder(
                    &dir.root,
                    config.sync.debounce.duration(),
                    poke.clone(),
                    shared.trigger.clone(),
                ) {
                    Ok(watcher) => {
                        watchers.push(watcher);
                        watched = true;
                    }
                    Err(e) => {
                        tracing::warn!(source = %dir.root.display(), error = %e, "cannot watch the folder; it is re-read on the schedule");
                    }
                }
            }
            sources.push(SourceState {
                name: configured.name,
                role: configured.role,
                reader: Arc::new(configured.reader),
                poke,
                watched,
                interval: configured.interval,
                next_due: Instant::now(),
                fingerprint: None,
                revision: None,
                last_good: None,
                last_success: None,
                last_error: None,
            });
        }
        let catalog = config.catalog.base_url.as_ref().map(|url| {
            let client = CatalogClient::new(url, catalog_token, RetryPolicy::default());
            CatalogSync::new(
                client,
                &config.server.base_url(),
                config.catalog.shards,
                config.catalog.concurrency,
            )
        });
        // Without a catalog to adopt from, what was published before a restart is read back from
        // the state folder, so that the delete guard protects it like adopted templates.
        let served = if catalog.is_none() && !config.sources.is_empty() {
            load_published(&config.state_dir)
        } else {
            Entities::new()
        };
        Ok(Self {
            config,
            shared,
            sources,
            catalog,
            adopted: false,
            desired: None,
            diagnostics: (0, 0),
            served,
            published_once: false,
            held: None,
            rejected: BTreeMap::new(),
            catalog_error: None,
            catalog_failures: 0,
            last: None,
            last_catalog_success: None,
            last_recheck: Instant::now(),
            started: Instant::now(),
            _watchers: watchers,
        })
    }

    /// Runs cycles until `shutdown` turns true. A cycle in flight when it does is given a bounded
    /// grace period to finish its catalog calls.
    pub async fn run(
        mut self,
        mut triggers: mpsc::Receiver<Trigger>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // The first cycle runs at once.
        let mut first = true;
        let mut next = tokio::time::Instant::now();
        let refresh_every = self.config.catalog.refresh_interval.map(|s| s.duration());
        let mut next_refresh = refresh_every.map(|d| tokio::time::Instant::now() + d);
        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
            let (reason, force) = tokio::select! {
                _ = tokio::time::sleep_until(next) => (if std::mem::take(&mut first) { "start" } else { "schedule" }, false),
                Some(t) = triggers.recv() => {
                    let mut kinds = vec![t];
                    // Coalesce a burst of triggers into one cycle.
                    while let Ok(t) = triggers.try_recv() {
                        kinds.push(t);
                    }
                    if self.shared.force_sync.swap(false, Ordering::AcqRel) {
                        kinds.push(Trigger::Manual);
                    }
                    let has = |k: Trigger| kinds.contains(&k);
                    if has(Trigger::Manual) {
                        ("manual", true)
                    } else if has(Trigger::Event) {
                        ("cloudevent", false)
                    } else if has(Trigger::Push) {
                        ("webhook", false)
                    } else {
                        ("file change", false)
                    }
                }
                _ = tokio::time::sleep_until(next_refresh.unwrap_or(far)), if next_refresh.is_some() => {
                    next_refresh = refresh_every.map(|d| tokio::time::Instant::now() + d);
                    // The same bounded grace as a cycle if a signal arrives meanwhile.
                    let refresh = self.refresh_all();
                    tokio::pin!(refresh);
                    tokio::select! {
                        _ = &mut refresh => continue,
                        _ = shutdown.changed() => {
                            let _ = tokio::time::timeout(Duration::from_secs(10), refresh).await;
                            break;
                        }
                    }
                }
                _ = shutdown.changed() => break,
            };
            {
                let cycle = self.cycle(reason, force);
                tokio::pin!(cycle);
                tokio::select! {
                    _ = &mut cycle => {}
                    _ = shutdown.changed() => {
                        tracing::info!("shutting down: letting the current sync finish (at most 10 s)");
                        let _ = tokio::time::timeout(Duration::from_secs(10), cycle).await;
                        break;
                    }
                }
            }
            next = tokio::time::Instant::now() + self.next_delay();
            // A source with a shorter interval than the schedule's wakes the loop sooner.
            if let Some(due) = self
                .sources
                .iter()
                .filter(|s| s.interval.is_some())
                .map(|s| s.next_due)
                .min()
            {
                next = next.min(tokio::time::Instant::from_std(due));
            }
        }
        tracing::info!("sync loop stopped");
    }

    /// The schedule with a tenth of jitter, or a backoff while the catalog is failing.
    fn next_delay(&self) -> Duration {
        let interval = self.config.sync.interval.duration();
        if self.catalog_failures > 0 {
            let backoff = Duration::from_millis(500 * 2u64.pow(self.catalog_failures.min(6)));
            return backoff.min(interval).min(Duration::from_secs(30));
        }
        interval + interval.mul_f64(0.1 * jitter())
    }

    async fn refresh_all(&mut self) {
        if let Some(catalog) = &mut self.catalog {
            match catalog.refresh_all().await {
                Ok(n) => {
                    tracing::info!(locations = n, "scheduled refresh of every managed template")
                }
                Err(e) => tracing::warn!(error = %e, "scheduled refresh failed"),
            }
        }
    }

    /// One cycle. Public so tests and `diff` can drive it step by step.
    pub async fn cycle(&mut self, reason: &'static str, force: bool) {
        let started = Instant::now();
        metrics::counter!(telemetry::SYNCS, "reason" => reason).increment(1);
        // Every ten minutes a cycle (whatever started it) re-checks watched folders too: a watch can miss
        // events (a full inotify queue, a root swapped behind a symlink).
        let recheck = self.last_recheck.elapsed() >= RECHECK_WATCHED;
        if recheck {
            self.last_recheck = Instant::now();
        }
        self.take_pending().await;
        let changed = self.read_sources(force, recheck).await;
        if changed || self.desired.is_none() {
            self.desired = Some(Arc::new(self.map().await));
        }
        let desired = self.desired.clone().expect("mapped above");
        if !self.adopted {
            self.adopt(&desired).await;
        }
        if !self.adopted {
            // Without knowing what the catalog holds from us, publishing could replace it with
            // less than it has (a source that reads empty at start) past the delete guard.
            // Serve nothing new (shard URLs answer 503) until the catalog answers.
            self.last = Some(CycleReport {
                reason,
                at: unix_now(),
                duration: started.elapsed(),
                ..CycleReport::default()
            });
            self.update_status().await;
            return;
        }
        let report = self.publish(&desired, reason).await;
        let calls = self.apply_catalog().await;
        if changed || report.added + report.updated + report.removed > 0 {
            crate::memory::release_free_memory();
        }
        let report = CycleReport {
            duration: started.elapsed(),
            catalog_calls: calls,
            ..report
        };
        metrics::histogram!(telemetry::SYNC_DURATION).record(report.duration.as_secs_f64());
        metrics::gauge!(telemetry::TEMPLATES_PUBLISHED).set(self.served.len() as f64);
        metrics::gauge!(telemetry::LAST_SUCCESS, "what" => "sync").set(unix_now());
        if report.added + report.updated + report.removed > 0 || reason != "schedule" {
            tracing::info!(
                reason,
                added = report.added,
                updated = report.updated,
                removed = report.removed,
                templates = self.served.len(),
                catalog_calls = report.catalog_calls,
                ms = report.duration.as_millis() as u64,
                "sync"
            );
        }
        self.last = Some(report);
        self.update_status().await;
    }

    /// Takes what webhooks and CloudEvents asked for: the sources they concern are read in this
    /// cycle, and a Data Index fetches the definitions the events named again.
    async fn take_pending(&mut self) {
        let pending = std::mem::take(&mut *self.shared.pending.lock().expect("pending lock"));
        if pending.event_all || !pending.event_ids.is_empty() {
            let ids: Vec<String> = if pending.event_all {
                Vec::new()
            } else {
                pending.event_ids.into_iter().collect()
            };
            for source in &self.sources {
                if let Reader::DataIndex(di) = &*source.reader {
                    di.lock().await.mark_stale(&ids);
                    source.poke.store(true, Ordering::Release);
                }
            }
        }
        for push in &pending.pushes {
            let urls: Vec<&str> = push.repository_urls.iter().map(String::as_str).collect();
            let mut matched = false;
            for source in &self.sources {
                if let Reader::Git(git) = &*source.reader
                    && git.matches_push(&urls, &push.git_ref)
                {
                    matched = true;
                    // A burst of deliveries for one commit: the first fetch got it.
                    if push.after.is_none() || push.after != source.revision {
                        source.poke.store(true, Ordering::Release);
                    }
                }
            }
            if !matched {
                tracing::info!(repository = ?urls.first(), git_ref = %push.git_ref, "a push no git source follows; ignored");
            }
        }
    }

    /// Reads the sources that may have changed; `true` when any last good snapshot moved.
    /// Definitions sources are read first: a Data Index is then not asked for their content.
    async fn read_sources(&mut self, force: bool, recheck: bool) -> bool {
        let mut changed = false;
        let mut definitions_changed = false;
        let published = !self.served.is_empty();
        for pass in [Pass::Definitions, Pass::Deployments] {
            if pass == Pass::Deployments && definitions_changed {
                // Ids a folder or git dropped may now need their content from the Data Index.
                for s in &self.sources {
                    if s.role != Role::Definitions {
                        s.poke.store(true, Ordering::Release);
                    }
                }
            }
            // Which sources this pass reads.
            let mut todo = Vec::new();
            for (i, source) in self.sources.iter_mut().enumerate() {
                if (source.role == Role::Definitions) != (pass == Pass::Definitions) {
                    continue;
                }
                let poked = source.poke.swap(false, Ordering::AcqRel);
                let due = source.interval.is_none() || Instant::now() >= source.next_due;
                // A source that keeps failing (never read, or read before) is tried again when
                // due, not on every cycle: one that hangs until its timeout would stall each.
                let needed = force
                    || recheck
                    || poked
                    || (due && (!source.watched || source.last_good.is_none()));
                if !needed {
                    continue;
                }
                if let Some(interval) = source.interval {
                    // A tenth early: cycles come with up to a tenth of jitter.
                    source.next_due = Instant::now() + interval.mul_f64(0.9);
                }
                todo.push(i);
            }
            // Folders and repositories are read at once, each on the blocking pool: a git
            // server that hangs until its timeout does not hold up the others' reads.
            let mut blocking = Vec::new();
            for &i in &todo {
                let source = &self.sources[i];
                if matches!(*source.reader, Reader::DataIndex(_)) {
                    continue;
                }
                let reader = source.reader.clone();
                let previous = if force { None } else { source.fingerprint };
                // A re-check goes through the fingerprint, like an unwatched folder.
                let watched = source.watched && !recheck;
                blocking.push((
                    i,
                    tokio::task::spawn_blocking(move || read_local(&reader, previous, watched)),
                ));
            }
            let mut reads = Vec::new();
            for (i, handle) in blocking {
                let read = handle
                    .await
                    .unwrap_or_else(|e| Err((format!("the reader panicked: {e}"), "panic")));
                reads.push((i, read.map(|r| (r.changed, r.revision))));
            }
            // What the definitions sources define (read above): a Data Index is not asked for it.
            let defined = if pass == Pass::Deployments && !todo.is_empty() {
                pipeline::defined_ids(&self.reads())
            } else {
                Default::default()
            };
            for &i in &todo {
                if let Reader::DataIndex(di) = &*self.sources[i].reader {
                    let mut di = di.lock().await;
                    if force {
                        di.mark_stale(&[]);
                    }
                    let read = di
                        .read_if_changed(&defined)
                        .await
                        .map(|s| (s.map(|s| (0, s)), None))
                        .map_err(|e| (e.to_string(), e.kind()));
                    drop(di);
                    reads.push((i, read));
                }
            }
            // Accepted in configuration order.
            reads.sort_by_key(|(i, _)| *i);
            for (i, read) in reads {
                let source = &mut self.sources[i];
                let (read, revision) = match read {
                    Ok((changed, revision)) => (Ok(changed), revision),
                    Err(e) => (Err(e), None),
                };
                if source.accept(read, published, force) {
                    changed = true;
                    definitions_changed |= source.role == Role::Definitions;
                }
                // The commit counts as the source's only once its read is accepted (a push
                // for a commit whose read was refused must fetch again).
                if source.last_error.is_none() && revision.is_some() {
                    source.set_revision(revision);
                }
            }
        }
        changed
    }

    /// Every source's last good snapshot, or why it has none, for merging.
    fn reads(&self) -> Vec<SourceRead> {
        self.sources
            .iter()
            .map(|s| SourceRead {
                name: s.name.clone(),
                role: s.role,
                snapshot: match &s.last_good {
                    Some(snap) => Ok(snap.clone()),
                    None => Err(s
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "not read yet".into())),
                },
            })
            .collect()
    }

    /// Merges the last good snapshots and maps them (off the async runtime: it is CPU work).
    async fn map(&mut self) -> Entities {
        let reads = self.reads();
        let config = self.config.clone();
        let previous = self.desired.clone();
        let (entities, diagnostics) = tokio::task::spawn_blocking(move || {
            use rayon::prelude::*;
            let outcome = pipeline::assemble(&config, &reads);
            // A template equal to the one mapped last time keeps its rendered document.
            let items: Vec<Arc<Item>> = outcome
                .templates
                .into_par_iter()
                .map(
                    |t| match previous.as_ref().and_then(|p| p.get(&t.metadata.name)) {
                        Some(old) if old.template == t => old.clone(),
                        _ => Arc::new(Item::new(t)),
                    },
                )
                .collect();
            let entities: Entities = items
                .into_iter()
                .map(|i| (i.name().to_owned(), i))
                .collect();
            (entities, outcome.diagnostics)
        })
        .await
        .expect("mapping panicked");
        let mut counts = (0, 0);
        for d in &diagnostics {
            match d.severity {
                Severity::Error => {
                    counts.0 += 1;
                    tracing::warn!(file = %d.file, workflow = d.workflow_id.as_deref().unwrap_or(""), "{}", d.message);
                }
                Severity::Warning => {
                    counts.1 += 1;
                    tracing::info!(file = %d.file, workflow = d.workflow_id.as_deref().unwrap_or(""), "{}", d.message);
                }
            }
        }
        if counts.0 > 0 {
            metrics::counter!(telemetry::ERRORS, "kind" => "workflow").increment(counts.0 as u64);
        }
        self.diagnostics = counts;
        entities
    }

    /// Takes over what the catalog already holds under our public URL: those templates become
    /// the published state, so the first plan adds only what is missing, updates only what
    /// differs and removes only what is no longer produced (within the delete guard).
    async fn adopt(&mut self, desired: &Entities) {
        let Some(catalog) = &mut self.catalog else {
            self.adopted = true;
            return;
        };
        match catalog.adopt().await {
            Ok(adopted) => {
                let n = adopted.entities.len();
                for (name, value) in adopted.entities {
                    // A template its shard must re-emit (the shard count changed) is not in sync
                    // whatever its content.
                    let moved = adopted.moved.contains(&name);
                    match desired.get(&name) {
                        Some(item) if item.json() == value => {
                            catalog.mark_synced(&name, if moved { "moved" } else { &item.hash });
                            self.served.insert(name, item.clone());
                        }
                        _ => match Item::from_value(value) {
                            Some(item) => {
                                catalog.mark_synced(&name, "adopted");
                                self.served.insert(name, Arc::new(item));
                            }
                            None => tracing::warn!(
                                template = %name,
                                "a template the catalog holds from us cannot be read back; unless a source still produces it, the catalog will remove it"
                            ),
                        },
                    }
                }
                tracing::info!(
                    templates = n,
                    locations = adopted.locations,
                    "adopted what the catalog holds under our public URL"
                );
                self.adopted = true;
            }
            Err(e) => self.catalog_failed(&e),
        }
    }

    /// Plans served vs desired, validates what is new or changed, and serves the result.
    async fn publish(&mut self, desired: &Entities, reason: &'static str) -> CycleReport {
        let published: BTreeMap<String, String> = self
            .served
            .iter()
            .map(|(k, v)| (k.clone(), v.hash.clone()))
            .collect();
        let guard = DeleteGuard {
            max_fraction: self.config.sync.max_delete_fraction,
            minimum: self.config.sync.delete_guard_minimum,
        };
        let mut plan = plan(&published, desired, guard);
        // A source that has never been read cannot justify a removal: what it would bring back
        // is not known yet (a Data Index down at start, with `publish: deployed`).
        // For at most UNREAD_GRACE after start: a source broken for good must not freeze the
        // others' changes forever (the delete guard still applies after that).
        let unread: Vec<&str> = if self.started.elapsed() < UNREAD_GRACE {
            self.sources
                .iter()
                .filter(|s| s.last_good.is_none())
                .map(|s| s.name.as_str())
                .collect()
        } else {
            Vec::new()
        };
        // Nor an update: a folder or git source not read yet may define what a Data Index would
        // otherwise publish from its own copy, and a Data Index not read yet would turn every
        // availability into `not-deployed`. Additions go on.
        if !unread.is_empty() && !plan.update.is_empty() {
            tracing::info!(
                updates = plan.update.len(),
                waiting_for = %unread.join(", "),
                "updates wait until every source has been read once"
            );
            plan.update.clear();
        }
        if !unread.is_empty() && !plan.remove.is_empty() {
            let mut names = std::mem::take(&mut plan.remove);
            names.extend(plan.held.take().map(|h| h.names).unwrap_or_default());
            names.sort();
            plan.held = Some(Held {
                names,
                reason: format!(
                    "removals wait until every source has been read once; not read yet: {}",
                    unread.join(", ")
                ),
            });
        }
        if let Some(held) = &plan.held
            && self.held.as_ref() != Some(held)
        {
            tracing::warn!(held = held.names.len(), "{}", held.reason);
            metrics::counter!(telemetry::ERRORS, "kind" => "deletes_held").increment(1);
        }
        self.held = plan.held.clone();
        let mut report = CycleReport {
            reason,
            at: unix_now(),
            ..CycleReport::default()
        };
        if plan.is_empty() && self.published_once {
            return report;
        }
        // Validate new and changed entities when a catalog can say what it would reject. A
        // template rejected before with the same content is not asked about again.
        let mut rejected: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut candidates: Vec<(String, Value)> = Vec::new();
        for name in plan.add.iter().chain(&plan.update) {
            let item = &desired[name];
            match self.rejected.get(name) {
                Some((hash, message)) if *hash == item.hash => {
                    rejected.insert(name.clone(), (hash.clone(), message.clone()));
                }
                _ => candidates.push((name.clone(), item.json())),
            }
        }
        if let (Some(catalog), false) = (&self.catalog, candidates.is_empty()) {
            match catalog.validate(candidates).await {
                Ok(list) => {
                    for (name, message) in list {
                        tracing::warn!(entity = %name, "the catalog rejects this template, it is not published: {message}");
                        rejected.insert(name.clone(), (desired[&name].hash.clone(), message));
                    }
                }
                // Unvalidated is still published: the catalog validates again when it reads.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot validate entities with the catalog; publishing them unvalidated")
                }
            }
        }
        self.rejected = rejected;
        for name in plan.add.iter().chain(&plan.update) {
            if self.rejected.contains_key(name) {
                continue;
            }
            if self
                .served
                .insert(name.clone(), desired[name].clone())
                .is_some()
            {
                report.updated += 1;
            } else {
                report.added += 1;
            }
        }
        for name in &plan.remove {
            self.served.remove(name);
            report.removed += 1;
        }
        let shards = build_shards(
            self.served.values().map(Arc::as_ref),
            self.config.catalog.shards,
        );
        self.shared.publish(shards).await;
        if self.catalog.is_none() && !self.config.sources.is_empty() {
            save_published(&self.config.state_dir, &self.served);
        }
        if !self.published_once {
            self.published_once = true;
            tracing::info!(templates = self.served.len(), "first snapshot published");
        }
        report
    }

    /// Brings the catalog in step with what is served; returns the number of calls made.
    async fn apply_catalog(&mut self) -> usize {
        let Some(catalog) = &mut self.catalog else {
            return 0;
        };
        if !self.adopted {
            return 0;
        }
        let result = catalog.apply(&self.served).await;
        match result {
            Ok(applied) => {
                let mut added = Vec::new();
                for change in &applied.changes {
                    tracing::info!(
                        target: "audit",
                        action = change.action,
                        entity_ref = %change.entity_ref,
                        source = %self.source_of(&change.entity_ref),
                        reason = %change.reason,
                        "catalog change"
                    );
                    metrics::counter!(telemetry::CATALOG_CHANGES, "action" => change.action)
                        .increment(1);
                    if change.action == "added" {
                        added.push((
                            change
                                .entity_ref
                                .rsplit('/')
                                .next()
                                .unwrap_or_default()
                                .to_owned(),
                            change.entity_ref.clone(),
                        ));
                    }
                }
                if let Some(catalog) = &self.catalog {
                    catalog.verify(added);
                }
                self.catalog_error = None;
                self.catalog_failures = 0;
                self.last_catalog_success = Some(unix_now());
                metrics::gauge!(telemetry::LAST_SUCCESS, "what" => "catalog").set(unix_now());
                applied.calls
            }
            Err(e) => {
                self.catalog_failed(&e);
                0
            }
        }
    }

    fn catalog_failed(&mut self, e: &crate::sink::catalog::CatalogError) {
        let message = e.to_string();
        if self.catalog_error.as_deref() != Some(message.as_str()) {
            tracing::warn!(error = %message, "catalog sync failed; it is retried");
        }
        metrics::counter!(telemetry::ERRORS, "kind" => format!("catalog_{}", e.metric_label()))
            .increment(1);
        self.catalog_error = Some(message);
        self.catalog_failures += 1;
    }

    /// The source file of a template, for the audit log.
    fn source_of(&self, entity_ref: &str) -> String {
        let name = entity_ref.rsplit('/').next().unwrap_or_default();
        self.served
            .get(name)
            .and_then(|i| {
                i.template
                    .metadata
                    .annotations
                    .get("orchestrator.io/workflow-id")
            })
            .and_then(|id| {
                self.sources.iter().find_map(|s| {
                    let snap = s.last_good.as_ref()?;
                    let wf = snap.workflows.iter().find(|w| &w.id == id)?;
                    Some(format!("{}/{}", s.name, wf.origin.path))
                })
            })
            .unwrap_or_else(|| "-".into())
    }

    async fn update_status(&self) {
        let sources: Vec<Value> = self
            .sources
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "type": s.kind(),
                    "watched": s.watched,
                    "commit": s.revision,
                    "workflows": s.last_good.as_ref().map_or(0, |x| x.len()),
                    "lastSuccess": s.last_success.map(rfc3339),
                    "lastError": s.last_error,
                })
            })
            .collect();
        let conflicts = match &self.catalog {
            Some(c) => c.conflicts.lock().await.clone(),
            None => BTreeMap::new(),
        };
        let status = json!({
            "ready": self.published_once,
            "templates": self.served.len(),
            "diagnostics": {"errors": self.diagnostics.0, "warnings": self.diagnostics.1},
            "sources": sources,
            "catalog": match &self.catalog {
                None => json!({"state": "disabled"}),
                Some(c) => json!({
                    "state": if self.catalog_error.is_some() { "failing" } else if self.adopted { "in-sync" } else { "pending" },
                    "baseUrl": self.config.catalog.base_url,
                    "registeredLocations": c.registered_locations(),
                    "lastSuccess": self.last_catalog_success.map(rfc3339),
                    "lastError": self.catalog_error,
                    "conflicts": conflicts,
                    "rejected": self.rejected.iter().map(|(k, (_, m))| (k.clone(), m.clone())).collect::<BTreeMap<_, _>>(),
                }),
            },
            "deletesHeld": self.held.as_ref().map(|h| json!({"count": h.names.len(), "reason": h.reason, "templates": h.names})),
            "lastSync": self.last.as_ref().map(|r| json!({
                "at": rfc3339(r.at),
                "reason": r.reason,
                "durationMs": r.duration.as_millis() as u64,
                "added": r.added,
                "updated": r.updated,
                "removed": r.removed,
                "catalogCalls": r.catalog_calls,
            })),
        });
        *self.shared.status.write().await = status;
    }
}

/// The file in `stateDir` that remembers what was published, for a daemon without a catalog.
const PUBLISHED_FILE: &str = "published.yaml";

/// Writes the served templates (one multi-document YAML, atomically). A failure is logged: the
/// daemon keeps serving, it only loses the memory across a restart.
fn save_published(dir: &std::path::Path, served: &Entities) {
    let text: Vec<&str> = served.values().map(|i| i.yaml.as_str()).collect();
    let result = std::fs::create_dir_all(dir).and_then(|()| {
        let tmp = dir.join(format!("{PUBLISHED_FILE}.tmp"));
        std::fs::write(&tmp, text.join("---\n"))?;
        std::fs::rename(&tmp, dir.join(PUBLISHED_FILE))
    });
    if let Err(e) = result {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remember the published templates in `stateDir`; a restart will not protect them");
    }
}

/// Reads what `save_published` wrote; nothing (with a warning) when it is missing or unreadable.
fn load_published(dir: &std::path::Path) -> Entities {
    let path = dir.join(PUBLISHED_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Entities::new();
    };
    match serde_saphyr::from_multiple::<crate::entity::Template>(&text) {
        Ok(templates) => {
            tracing::info!(templates = templates.len(), file = %path.display(), "read back what was published before the restart");
            templates
                .into_iter()
                .map(|t| (t.metadata.name.clone(), Arc::new(Item::new(t))))
                .collect()
        }
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read back the published templates; starting without them");
            Entities::new()
        }
    }
}

/// Watches a folder; changes set `flag` and send a trigger after `debounce`.
fn watch_folder(
    root: &std::path::Path,
    debounce: Duration,
    flag: Arc<AtomicBool>,
    trigger: mpsc::Sender<Trigger>,
) -> Result<
    notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    String,
> {
    use notify::RecursiveMode;
    let set = flag;
    let mut debouncer = notify_debouncer_full::new_debouncer(
        debounce,
        None,
        move |result: notify_debouncer_full::DebounceEventResult| {
            // Only changes count: our own reads produce access events, which must not re-trigger.
            // An error (events lost) counts as a change: re-read to be sure.
            let changed = result.map_or(true, |events| {
                events
                    .iter()
                    .any(|e| !matches!(e.event.kind, notify::EventKind::Access(_)))
            });
            if changed {
                set.store(true, Ordering::Release);
                // A full channel already holds a pending cycle, which will see the flag.
                let _ = trigger.try_send(Trigger::FileChange);
            }
        },
    )
    .map_err(|e| e.to_string())?;
    debouncer
        .watch(root, RecursiveMode::Recursive)
        .map_err(|e| e.to_string())?;
    Ok(debouncer)
}

/// A number in [0, 1) that differs between calls, for schedule jitter.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// What `run` would change in the live catalog, without changing anything.
#[derive(Debug, Default)]
pub struct Diff {
    pub add: Vec<String>,
    pub update: Vec<String>,
    pub remove: Vec<String>,
    pub held: Option<Held>,
    pub diagnostics: Vec<crate::workflow::Diagnostic>,
}

/// Reads the sources once and compares with what the catalog holds under our public URL.
pub async fn diff(
    config: &Config,
    catalog_token: Option<String>,
) -> Result<Diff, crate::sink::catalog::CatalogError> {
    let cfg = config.clone();
    let outcome = tokio::task::spawn_blocking(move || pipeline::run(&cfg))
        .await
        .expect("mapping panicked");
    let desired: Entities = outcome
        .templates
        .into_iter()
        .map(|t| (t.metadata.name.clone(), Arc::new(Item::new(t))))
        .collect();
    let mut catalog_hashes = BTreeMap::new();
    if let Some(url) = &config.catalog.base_url {
        let client = CatalogClient::new(url, catalog_token, RetryPolicy::default());
        let mut sync = CatalogSync::new(
            client,
            &config.server.base_url(),
            config.catalog.shards,
            config.catalog.concurrency,
        );
        for (name, value) in sync.adopt().await?.entities {
            let hash = match desired.get(&name) {
                Some(item) if item.json() == value => item.hash.clone(),
                _ => "differs".to_owned(),
            };
            catalog_hashes.insert(name, hash);
        }
    }
    let guard = DeleteGuard {
        max_fraction: config.sync.max_delete_fraction,
        minimum: config.sync.delete_guard_minimum,
    };
    let p = plan(&catalog_hashes, &desired, guard);
    let namespace = &config.templates.namespace;
    let refs = |names: Vec<String>| {
        names
            .into_iter()
            .map(|n| crate::plan::entity_ref(namespace, &n))
            .collect()
    };
    Ok(Diff {
        add: refs(p.add),
        update: refs(p.update),
        remove: refs(p.remove),
        held: p.held,
        diagnostics: outcome.diagnostics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DirSourceConfig, SourceConfig};

    fn config(flows: &std::path::Path, state: &std::path::Path) -> Config {
        Config {
            sources: vec![SourceConfig::Dir(DirSourceConfig {
                path: flows.to_owned(),
                include: vec!["**/*.sw.yaml".into()],
                exclude: Vec::new(),
                watch: false,
            })],
            state_dir: state.to_owned(),
            ..Config::default()
        }
    }

    async fn served_templates(shared: &Shared) -> usize {
        let shards = shared.shards.read().await.clone();
        shards
            .iter()
            .map(|d| d.body.matches("kind: Template").count())
            .sum()
    }

    fn daemon(config: &Config) -> (Daemon, Arc<Shared>) {
        let (tx, _rx) = mpsc::channel(1);
        let shared = Arc::new(Shared::new(
            "http://x".into(),
            config.catalog.shards,
            tx,
            None,
            None,
        ));
        (
            Daemon::new(config.clone(), shared.clone(), None).unwrap(),
            shared,
        )
    }

    #[tokio::test]
    async fn without_a_catalog_a_restart_with_an_emptied_source_keeps_what_was_published() {
        let flows = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        for i in 0..6 {
            std::fs::write(
                flows.path().join(format!("w{i}.sw.yaml")),
                format!("id: w{i}\nname: Workflow {i}\nstates: [{{name: s}}]\n"),
            )
            .unwrap();
        }
        let config = config(flows.path(), state.path());
        let (mut first, shared) = daemon(&config);
        first.cycle("start", false).await;
        assert_eq!(served_templates(&shared).await, 6);
        drop(first);

        // The folder reads empty when the daemon comes back (an unmounted volume, say).
        for i in 0..6 {
            std::fs::remove_file(flows.path().join(format!("w{i}.sw.yaml"))).unwrap();
        }
        let (mut second, shared) = daemon(&config);
        second.cycle("start", false).await;
        assert_eq!(
            served_templates(&shared).await,
            6,
            "the restart served less than before"
        );
        let status = shared.status.read().await.clone();
        assert_eq!(status["deletesHeld"]["count"], 6, "{status}");

        // A few removals are not held: they go, and the state file follows.
        for i in 0..6 {
            std::fs::write(
                flows.path().join(format!("w{i}.sw.yaml")),
                format!("id: w{i}\nname: Workflow {i}\nstates: [{{name: s}}]\n"),
            )
            .unwrap();
        }
        second.cycle("manual", true).await;
        std::fs::remove_file(flows.path().join("w0.sw.yaml")).unwrap();
        second.cycle("manual", true).await;
        assert_eq!(served_templates(&shared).await, 5);
        let saved = std::fs::read_to_string(state.path().join(PUBLISHED_FILE)).unwrap();
        assert_eq!(saved.matches("kind: Template").count(), 5);
    }
}
