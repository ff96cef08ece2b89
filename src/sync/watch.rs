//! Watching a folder: a change sets the source's flag (read it at the next cycle) and sends a
//! trigger once the folder has been quiet for `sync.debounce`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::sink::serve::Trigger;

/// A folder watcher; watching stops when it is dropped.
pub(super) type Watcher = notify_debouncer_full::Debouncer<
    notify::RecommendedWatcher,
    notify_debouncer_full::RecommendedCache,
>;

/// Watches a folder; changes set `flag` and send a trigger after `debounce`.
pub(super) fn watch_folder(
    root: &Path,
    debounce: Duration,
    flag: Arc<AtomicBool>,
    trigger: mpsc::Sender<Trigger>,
) -> Result<Watcher, String> {
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
