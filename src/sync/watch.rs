//! Watching a folder: every change sets the source's flag (read it at the next cycle), records
//! when the folder last changed, and wakes the loop at once. The loop starts a cycle on the
//! first change after a quiet period (the leading edge) and one more once the folder has been
//! quiet for `sync.debounce` (the trailing edge), coalescing what arrives in between.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::Watcher as _;
use tokio::sync::mpsc;

use crate::sink::serve::Trigger;

/// A folder watcher; watching stops when it is dropped.
pub(super) type Watcher = notify::RecommendedWatcher;

/// When a watched folder changed, shared by its watcher and the sync loop.
#[derive(Debug, Default)]
pub(super) struct Activity {
    /// The first change no cycle has taken yet, and the last change.
    changes: Mutex<(Option<Instant>, Option<Instant>)>,
}

impl Activity {
    fn touch(&self) {
        let now = Instant::now();
        let mut c = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        c.0.get_or_insert(now);
        c.1 = Some(now);
    }

    /// When the folder will have been quiet for `debounce`; `None` if it never changed.
    pub(super) fn quiet_at(&self, debounce: Duration) -> Option<Instant> {
        let c = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        c.1.map(|last| last + debounce)
    }

    /// The first change since the last call, if any.
    pub(super) fn take_first(&self) -> Option<Instant> {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .take()
    }
}

/// Watches a folder recursively; each change (not our own reads' access events) is recorded
/// in `activity`, sets `flag` and sends a trigger.
pub(super) fn watch_folder(
    root: &Path,
    flag: Arc<AtomicBool>,
    activity: Arc<Activity>,
    trigger: mpsc::Sender<Trigger>,
) -> Result<Watcher, String> {
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        // Our own reads produce access events, which must not re-trigger. An error (events
        // lost) counts as a change: re-read to be sure.
        let changed = result.map_or(true, |e| !matches!(e.kind, notify::EventKind::Access(_)));
        if changed {
            activity.touch();
            flag.store(true, Ordering::Release);
            // A full channel already holds a pending wake-up, which will see the flag.
            let _ = trigger.try_send(Trigger::FileChange);
        }
    })
    .map_err(|e| e.to_string())?;
    watcher
        .watch(root, notify::RecursiveMode::Recursive)
        .map_err(|e| e.to_string())?;
    Ok(watcher)
}
