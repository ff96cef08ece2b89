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
//!
//! The loop ([`Daemon::run`]) waits for the schedule or a trigger and runs one reconcile
//! ([`Daemon::cycle`]) over its parts:
//! - `sources`: the set of sources, their last good state and the grace period for unread ones;
//! - `provisional`: what a read of a folder caught mid-save may not do;
//! - `desired`: the last good state merged and mapped into templates;
//! - `publisher`: adoption, the delete guard, validation, the shards and the catalog;
//! - `status`: the `/status` document; `schedule`: when the next cycle runs;
//! - `watch`: folder watchers (a change starts a cycle at once, and one more once the folder is
//!   quiet); `state_file`: what is published, without a catalog;
//! - `diff`: the `diff` command.

mod desired;
mod diff;
mod provisional;
mod publisher;
mod schedule;
mod sources;
mod state_file;
mod status;
mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch as signal};

use crate::config::{Config, ConfigError};
use crate::plan::Entities;
use crate::sink::serve::{Shared, Trigger};
use crate::source::{self, Reader};
use crate::telemetry::{self, unix_now};
pub use diff::{Diff, diff};
use publisher::Publisher;
use sources::{SourceState, Sources};
use status::CycleReport;
use watch::{Activity, Watcher, watch_folder};

/// Where a cycle's time went, for its log line.
#[derive(Debug, Default)]
struct Phases {
    /// From the first folder change it reads to its start.
    since_change: Option<Duration>,
    /// Reading the sources (and taking what webhooks and events asked for).
    read: Duration,
    /// Merging and mapping (nothing when no source changed).
    map: Duration,
    /// Planning, validating with the catalog and serving the shards.
    publish: Duration,
    /// Bringing the catalog in step.
    catalog: Duration,
}

/// The daemon's state between cycles: the context every cycle reconciles.
pub struct Daemon {
    config: Config,
    shared: Arc<Shared>,
    sources: Sources,
    publisher: Publisher,
    /// What the sources' last good state maps to; `None` until the first mapping.
    desired: Option<Arc<Entities>>,
    /// Errors and warnings of the last mapping.
    diagnostics: (usize, usize),
    last: Option<CycleReport>,
    // Kept alive for as long as the daemon runs.
    _watchers: Vec<Watcher>,
}

impl Daemon {
    /// Sets up sources, file watchers and the catalog client. Watch errors are logged, not fatal:
    /// the schedule still syncs. A secret that cannot be read is an error.
    pub fn new(
        config: Config,
        shared: Arc<Shared>,
        catalog_token: Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut states = Vec::new();
        let mut watchers = Vec::new();
        for configured in source::configured(&config)? {
            let poke = Arc::new(AtomicBool::new(false));
            let mut watched = None;
            if let Reader::Dir { dir, watch: true } = &configured.reader {
                let activity = Arc::new(Activity::default());
                let trigger = shared.trigger.clone();
                match watch_folder(&dir.root, poke.clone(), activity.clone(), trigger) {
                    Ok(watcher) => {
                        watchers.push(watcher);
                        watched = Some(activity);
                    }
                    Err(e) => {
                        tracing::warn!(source = %dir.root.display(), error = %e, "cannot watch the folder; it is re-read on the schedule");
                    }
                }
            }
            let c = configured;
            states.push(SourceState::new(
                c.name, c.role, c.reader, c.interval, poke, watched,
            ));
        }
        let debounce = config.sync.debounce.duration();
        telemetry::register_series(&telemetry::Series {
            sources: states
                .iter()
                .map(|s: &SourceState| (s.name.clone(), s.failure_kinds(), s.is_data_index()))
                .collect(),
            catalog: config.catalog.base_url.is_some(),
            forges: [
                ("github", config.webhooks.github.is_some()),
                ("gitlab", config.webhooks.gitlab.is_some()),
            ]
            .into_iter()
            .filter_map(|(forge, on)| on.then_some(forge))
            .collect(),
        });
        Ok(Self {
            publisher: Publisher::new(&config, catalog_token),
            config,
            shared,
            sources: Sources::new(states, debounce),
            desired: None,
            diagnostics: (0, 0),
            last: None,
            _watchers: watchers,
        })
    }

    /// Runs cycles until `shutdown` turns true. A cycle in flight when it does is given a bounded
    /// grace period to finish its catalog calls.
    pub async fn run(
        mut self,
        mut triggers: mpsc::Receiver<Trigger>,
        mut shutdown: signal::Receiver<bool>,
    ) {
        let grace = Duration::from_secs(10);
        // The first cycle runs at once.
        let mut first = true;
        let mut next = tokio::time::Instant::now();
        let refresh_every = self.config.catalog.refresh_interval.map(|s| s.duration());
        let mut next_refresh = refresh_every.map(|d| tokio::time::Instant::now() + d);
        // While set, watched folders are still changing: file changes wait for this trailing
        // edge (moved on by every change) instead of starting a cycle each.
        let mut settle: Option<Instant> = None;
        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
            let settle_at = settle.map_or(far, tokio::time::Instant::from_std);
            let (reason, force) = tokio::select! {
                _ = tokio::time::sleep_until(next) => (if std::mem::take(&mut first) { "start" } else { "schedule" }, false),
                Some(t) = triggers.recv() => {
                    // Coalesce a burst of triggers into one cycle.
                    let mut kinds = vec![t];
                    while let Ok(t) = triggers.try_recv() {
                        kinds.push(t);
                    }
                    if self.shared.force_sync.swap(false, Ordering::AcqRel) {
                        kinds.push(Trigger::Manual);
                    }
                    if settle.is_some() && kinds.iter().all(|k| *k == Trigger::FileChange) {
                        settle = Some(self.sources.quiet_at());
                        continue;
                    }
                    // Else the leading edge of a burst of file changes, or another trigger.
                    schedule::reason(&kinds)
                }
                _ = tokio::time::sleep_until(settle_at), if settle.is_some() => {
                    let quiet_at = self.sources.quiet_at();
                    if Instant::now() < quiet_at {
                        settle = Some(quiet_at);
                        continue;
                    }
                    settle = None;
                    // Nothing changed after the leading edge's read, and it held nothing back.
                    if !self.sources.unsettled() {
                        continue;
                    }
                    ("file change", false)
                }
                _ = tokio::time::sleep_until(next_refresh.unwrap_or(far)), if next_refresh.is_some() => {
                    next_refresh = refresh_every.map(|d| tokio::time::Instant::now() + d);
                    // The same bounded grace as a cycle if a signal arrives meanwhile.
                    let refresh = self.publisher.refresh_all();
                    tokio::pin!(refresh);
                    tokio::select! {
                        _ = &mut refresh => continue,
                        _ = shutdown.changed() => {
                            let _ = tokio::time::timeout(grace, refresh).await;
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
                        let _ = tokio::time::timeout(grace, cycle).await;
                        break;
                    }
                }
            }
            // A folder that changed within `sync.debounce` is still changing: what follows
            // waits for it to be quiet.
            let quiet_at = self.sources.quiet_at();
            if self.sources.unsettled() || Instant::now() < quiet_at {
                settle = Some(quiet_at);
            }
            let interval = self.config.sync.interval.duration();
            next = tokio::time::Instant::now()
                + schedule::next_delay(interval, self.publisher.catalog_failures);
            // A source with a shorter interval than the schedule's wakes the loop sooner.
            if let Some(due) = self.sources.next_due() {
                next = next.min(tokio::time::Instant::from_std(due));
            }
        }
        tracing::info!("sync loop stopped");
    }

    /// One cycle: read what may have changed, map, adopt (once), publish, apply to the catalog,
    /// report. Public so tests and benchmarks can drive it step by step.
    pub async fn cycle(&mut self, reason: &'static str, force: bool) {
        let started = Instant::now();
        let first_change = self.sources.take_first_change();
        self.shared
            .cycle_started(reason, unix_now(), "reading the sources");
        metrics::counter!(telemetry::SYNCS, "reason" => reason).increment(1);
        let pending = std::mem::take(&mut *self.shared.pending.lock().expect("pending lock"));
        self.sources.take_pending(pending).await;
        let published = !self.publisher.served.is_empty();
        let changed = self.sources.read(force, published).await;
        let mut phases = Phases {
            since_change: first_change.map(|t| started.saturating_duration_since(t)),
            read: started.elapsed(),
            ..Phases::default()
        };
        if changed || self.desired.is_none() {
            self.shared.cycle_phase("mapping workflows to templates");
            let reads = self.sources.reads();
            let (entities, diagnostics) =
                desired::map(&self.config, reads, self.desired.clone()).await;
            self.desired = Some(Arc::new(entities));
            self.diagnostics = diagnostics;
        }
        phases.map = started.elapsed() - phases.read;
        let desired = self.desired.clone().expect("mapped above");
        // The catalog's part of the cycle is bounded by `catalog.cycleTimeout` from here.
        self.publisher.start_catalog_phase();
        if !self.publisher.adopted {
            self.shared
                .cycle_phase("reading what the catalog holds (adoption)");
            self.publisher.adopt(&desired).await;
        }
        let mut report = CycleReport {
            reason,
            at: unix_now(),
            ..CycleReport::default()
        };
        // Without knowing what the catalog holds from us, publishing could replace it with less
        // than it has (a source that reads empty at start) past the delete guard. Serve nothing
        // new (shard URLs answer 503) until the catalog answers.
        if self.publisher.adopted {
            let unread = self.sources.unread_in_grace();
            let publishing = Instant::now();
            self.shared
                .cycle_phase("validating new and changed templates with the catalog");
            let changes = self
                .publisher
                .publish(&desired, &unread, &self.shared)
                .await;
            if changed || changes.any() {
                let diagrams = self.publisher.diagram_sources(&desired);
                self.shared.publish_diagrams(diagrams).await;
            }
            phases.publish = publishing.elapsed();
            let sources = &self.sources;
            self.shared
                .cycle_phase("applying the changes to the catalog");
            report.catalog_calls = self.publisher.apply_catalog(|id| sources.file_of(id)).await;
            phases.catalog = publishing.elapsed() - phases.publish;
            if changed || changes.any() {
                crate::memory::release_free_memory();
            }
            (report.added, report.updated, report.removed) =
                (changes.added, changes.updated, changes.removed);
            report.duration = started.elapsed();
            self.record(&report, &phases);
        } else {
            report.duration = started.elapsed();
        }
        report.cut_short = self.publisher.cut_short.clone();
        self.last = Some(report);
        let base_url = self.config.catalog.base_url.as_deref();
        status::write(
            &self.shared,
            &self.sources,
            &self.publisher,
            base_url,
            self.diagnostics,
            self.last.as_ref(),
        )
        .await;
        self.shared.cycle_ended();
    }

    /// Metrics and the log line of a cycle that published.
    fn record(&self, report: &CycleReport, phases: &Phases) {
        let templates = self.publisher.served.len();
        metrics::histogram!(telemetry::SYNC_DURATION).record(report.duration.as_secs_f64());
        metrics::gauge!(telemetry::TEMPLATES_PUBLISHED).set(templates as f64);
        metrics::gauge!(telemetry::LAST_SUCCESS, "what" => "sync").set(unix_now());
        if report.added + report.updated + report.removed > 0 || report.reason != "schedule" {
            tracing::info!(
                reason = report.reason,
                added = report.added,
                updated = report.updated,
                removed = report.removed,
                templates,
                catalog_calls = report.catalog_calls,
                ms = report.duration.as_millis() as u64,
                since_change_ms = phases.since_change.map(|d| d.as_secs_f64() * 1e3),
                read_ms = phases.read.as_secs_f64() * 1e3,
                map_ms = phases.map.as_secs_f64() * 1e3,
                publish_ms = phases.publish.as_secs_f64() * 1e3,
                catalog_ms = phases.catalog.as_secs_f64() * 1e3,
                "sync"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DirSourceConfig, SourceConfig};
    use state_file::PUBLISHED_FILE;

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
            .map(|d| d.text().matches("kind: Template").count())
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
