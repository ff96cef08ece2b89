//! When the loop wakes: the schedule with jitter (a backoff while the catalog is failing), and
//! what a burst of triggers asks for.

use std::time::Duration;

use crate::sink::serve::Trigger;

/// The schedule with a tenth of jitter, or a backoff while the catalog is failing.
pub(super) fn next_delay(interval: Duration, catalog_failures: u32) -> Duration {
    if catalog_failures > 0 {
        let backoff = Duration::from_millis(500 * 2u64.pow(catalog_failures.min(6)));
        return backoff.min(interval).min(Duration::from_secs(30));
    }
    interval + interval.mul_f64(0.1 * jitter())
}

/// The reason a burst of triggers gives its cycle, and whether it forces a re-read of every
/// source (`POST /sync` does).
pub(super) fn reason(kinds: &[Trigger]) -> (&'static str, bool) {
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
