//! The set of sources the daemon follows, each with what it remembers: its last good snapshot,
//! when it is due, why it last failed, the commit it is at. A read that fails, or suddenly reads
//! empty, keeps the last good snapshot; a source never read holds removals for a grace period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::provisional;
use super::watch::Activity;
use crate::pipeline::{self, SourceRead};
use crate::sink::serve::Pending;
use crate::source::{Reader, Role, Snapshot, bundled};
use crate::telemetry::{self, unix_now};

/// How often watched folders are re-checked as if they were not watched.
const RECHECK_WATCHED: Duration = Duration::from_secs(600);
/// How long after start a source that has never been read holds updates and removals.
const UNREAD_GRACE: Duration = Duration::from_secs(600);

/// One source and what the daemon remembers of it.
pub(super) struct SourceState {
    pub(super) name: String,
    pub(super) role: Role,
    pub(super) reader: Arc<Reader>,
    /// Set by a file watcher, a webhook or a CloudEvent: read at the next cycle.
    pub(super) poke: Arc<AtomicBool>,
    /// For a folder whose watcher works (read only when poked, and on the periodic re-check):
    /// when it changed.
    pub(super) activity: Option<Arc<Activity>>,
    /// Time between reads (git, Data Index); folders are checked every cycle.
    pub(super) interval: Option<Duration>,
    pub(super) next_due: Instant,
    pub(super) fingerprint: Option<u64>,
    /// The commit a git source is at.
    pub(super) revision: Option<String>,
    pub(super) last_good: Option<Arc<Snapshot>>,
    pub(super) last_success: Option<f64>,
    pub(super) last_error: Option<String>,
    /// When the current run of failed reads began.
    failing_since: Option<f64>,
}

impl SourceState {
    pub(super) fn new(
        name: String,
        role: Role,
        reader: Reader,
        interval: Option<Duration>,
        poke: Arc<AtomicBool>,
        activity: Option<Arc<Activity>>,
    ) -> Self {
        Self {
            name,
            role,
            reader: Arc::new(reader),
            poke,
            activity,
            interval,
            next_due: Instant::now(),
            fingerprint: None,
            revision: None,
            last_good: None,
            last_success: None,
            last_error: None,
            failing_since: None,
        }
    }

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
                self.succeeded();
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
                    self.failed();
                    return false;
                }
                self.fingerprint = Some(fingerprint);
                self.last_success = Some(unix_now());
                self.last_error = None;
                self.succeeded();
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
                self.failed();
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

    /// Whether a watcher says when the folder changes.
    pub(super) fn watched(&self) -> bool {
        self.activity.is_some()
    }

    /// The `kind` labels of its `source_failures_total`.
    pub(super) fn failure_kinds(&self) -> &'static [&'static str] {
        match *self.reader {
            Reader::Git(_) => telemetry::labels::GIT_FAILURES,
            Reader::DataIndex(_) => telemetry::labels::DATA_INDEX_FAILURES,
            Reader::Dir { .. } | Reader::Bundled { .. } => telemetry::labels::DIR_FAILURES,
        }
    }

    pub(super) fn is_data_index(&self) -> bool {
        matches!(*self.reader, Reader::DataIndex(_))
    }

    /// Records a failed read (an error, or an empty read treated as one) for
    /// `failing_since_timestamp_seconds`: the first of a run of failures sets the time.
    fn failed(&mut self) {
        if self.failing_since.is_none() {
            let now = unix_now();
            self.failing_since = Some(now);
            metrics::gauge!(telemetry::FAILING_SINCE, "what" => format!("source:{}", self.name))
                .set(now);
        }
    }

    fn succeeded(&mut self) {
        if self.failing_since.take().is_some() {
            metrics::gauge!(telemetry::FAILING_SINCE, "what" => format!("source:{}", self.name))
                .set(0.0);
        }
    }

    /// The source's type, for `/status`.
    pub(super) fn kind(&self) -> &'static str {
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

/// Every source, in configuration order.
pub(super) struct Sources {
    pub(super) list: Vec<SourceState>,
    /// `sync.debounce`: a watched folder that changed more recently is still changing.
    debounce: Duration,
    started: Instant,
    last_recheck: Instant,
}

impl Sources {
    pub(super) fn new(list: Vec<SourceState>, debounce: Duration) -> Self {
        Self {
            list,
            debounce,
            started: Instant::now(),
            last_recheck: Instant::now(),
        }
    }

    /// Takes what webhooks and CloudEvents asked for: the sources they concern are read in this
    /// cycle, and a Data Index fetches the definitions the events named again.
    pub(super) async fn take_pending(&self, pending: Pending) {
        if pending.event_all || !pending.event_ids.is_empty() {
            let ids: Vec<String> = if pending.event_all {
                Vec::new()
            } else {
                pending.event_ids.into_iter().collect()
            };
            for source in &self.list {
                if let Reader::DataIndex(di) = &*source.reader {
                    di.lock().await.mark_stale(&ids);
                    source.poke.store(true, Ordering::Release);
                }
            }
        }
        for push in &pending.pushes {
            let urls: Vec<&str> = push.repository_urls.iter().map(String::as_str).collect();
            let mut matched = false;
            for source in &self.list {
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
    /// `published`: templates are published already (see [`SourceState::accept`]).
    pub(super) async fn read(&mut self, force: bool, published: bool) -> bool {
        // Every ten minutes a cycle (whatever started it) re-checks watched folders too: a
        // watch can miss events (a full inotify queue, a root swapped behind a symlink).
        let recheck = self.last_recheck.elapsed() >= RECHECK_WATCHED;
        if recheck {
            self.last_recheck = Instant::now();
        }
        let mut changed = false;
        let mut definitions_changed = false;
        for pass in [Pass::Definitions, Pass::Deployments] {
            if pass == Pass::Deployments && definitions_changed {
                // Ids a folder or git dropped may now need their content from the Data Index.
                for s in &self.list {
                    if s.role != Role::Definitions {
                        s.poke.store(true, Ordering::Release);
                    }
                }
            }
            // Which sources this pass reads.
            let mut todo = Vec::new();
            for (i, source) in self.list.iter_mut().enumerate() {
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
                    || (due && (!source.watched() || source.last_good.is_none()));
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
            let reads_started = Instant::now();
            for &i in &todo {
                let source = &self.list[i];
                if matches!(*source.reader, Reader::DataIndex(_)) {
                    continue;
                }
                let reader = source.reader.clone();
                let previous = if force { None } else { source.fingerprint };
                // A re-check goes through the fingerprint, like an unwatched folder.
                let watched = source.watched() && !recheck;
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
                if let Reader::DataIndex(di) = &*self.list[i].reader {
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
                let source = &mut self.list[i];
                let (mut read, revision) = match read {
                    Ok((changed, revision)) => (Ok(changed), revision),
                    Err(e) => (Err(e), None),
                };
                // A folder that changed within `sync.debounce` before its read, or during it,
                // may have been caught mid-save: the read is provisional (see `provisional`).
                let still_changing = source
                    .activity
                    .as_ref()
                    .and_then(|a| a.quiet_at(self.debounce))
                    .is_some_and(|quiet_at| quiet_at > reads_started);
                if still_changing
                    && let (Ok(Some((_, snapshot))), Some(previous)) =
                        (&mut read, &source.last_good)
                {
                    let held;
                    (*snapshot, held) = provisional::hold_back(previous, std::mem::take(snapshot));
                    if held > 0 {
                        tracing::info!(source = %source.name, held, "the folder changed while it was read: these workflows keep their last version until it has been quiet for `sync.debounce`");
                        // The read after the folder is quiet decides.
                        source.poke.store(true, Ordering::Release);
                    }
                }
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
    pub(super) fn reads(&self) -> Vec<SourceRead> {
        self.list
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

    /// The sources never read since start, while the grace period lasts: what they would bring
    /// is not known yet, so removals and updates wait for them. Empty after the grace period
    /// (a source broken for good must not freeze the others' changes forever).
    pub(super) fn unread_in_grace(&self) -> Vec<String> {
        if self.started.elapsed() >= UNREAD_GRACE {
            return Vec::new();
        }
        self.list
            .iter()
            .filter(|s| s.last_good.is_none())
            .map(|s| s.name.clone())
            .collect()
    }

    /// `<source>/<file>` of the workflow with this id, for the audit log.
    pub(super) fn file_of(&self, workflow_id: &str) -> Option<String> {
        self.list.iter().find_map(|s| {
            let snap = s.last_good.as_ref()?;
            let wf = snap.workflows.iter().find(|w| w.id == workflow_id)?;
            Some(format!("{}/{}", s.name, wf.origin.path))
        })
    }

    /// When every watched folder will have been quiet for `sync.debounce` (now, if none
    /// changed).
    pub(super) fn quiet_at(&self) -> Instant {
        self.list
            .iter()
            .filter_map(|s| s.activity.as_ref()?.quiet_at(self.debounce))
            .max()
            .unwrap_or_else(Instant::now)
    }

    /// A watched folder has changed since it was last read (or a read of it held something
    /// back): it needs a read once it is quiet.
    pub(super) fn unsettled(&self) -> bool {
        self.list
            .iter()
            .any(|s| s.watched() && s.poke.load(Ordering::Acquire))
    }

    /// The first folder change no cycle has taken yet, if any.
    pub(super) fn take_first_change(&self) -> Option<Instant> {
        self.list
            .iter()
            .filter_map(|s| s.activity.as_ref()?.take_first())
            .min()
    }

    /// When the first source with an interval of its own is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.list
            .iter()
            .filter(|s| s.interval.is_some())
            .map(|s| s.next_due)
            .min()
    }
}

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
