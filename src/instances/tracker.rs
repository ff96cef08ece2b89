//! What the daemon has seen of workflow instances, and the counting.
//!
//! Shared by the HTTP side (which counts a request's events under one lock, after all of them
//! were read) and the sync loop (which says which workflow ids are published, when that changes).
//! Everything is bounded: events are remembered for the redelivery window and at most
//! `events.dedupMaxEvents` of them; at most `events.maxTrackedInstances` started instances are
//! tracked (the oldest start is forgotten first, taking it out of the active gauge); ends seen
//! before their start are remembered for the same window. Keys are hashes (SipHash with a key
//! drawn at start), 8 bytes each, so a sender cannot aim collisions.
//!
//! Counters survive nothing across a restart, and a restarted daemon does not know which
//! instances are running: the active gauge counts only starts this process saw, so it never goes
//! below zero and reads low after a restart until those instances end.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use metrics::Counter;

use super::event::{Change, Decoded};
use super::series::Series;
use crate::telemetry::{INSTANCE_EVENTS, INSTANCES_EVICTED};

/// The `workflow` label value of every workflow id the daemon does not publish.
pub const OTHER: &str = "other";

/// The bounds of what is remembered (`events.*` in the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub dedup_window: Duration,
    pub dedup_max_events: usize,
    pub max_tracked_instances: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            dedup_window: Duration::from_secs(600),
            dedup_max_events: 100_000,
            max_tracked_instances: 100_000,
        }
    }
}

/// What one request's events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Events that changed a counter.
    pub counted: u64,
    /// Events seen before (same `id` and `source`, within the window), not counted again.
    pub duplicates: u64,
    /// Instance events that change no metric.
    pub not_counted: u64,
    /// Kogito 1.x snapshots, ignored.
    pub kogito_1x: u64,
}

/// The instance metrics and what they are computed from.
pub struct InstanceMetrics {
    state: Mutex<State>,
}

struct State {
    limits: Limits,
    hasher: RandomState,
    /// Every workflow id ever published: its series (an index into `series`) and whether it is
    /// published now.
    labels: HashMap<String, Label>,
    /// `series[0]` is [`OTHER`].
    series: Vec<Series>,
    /// Events seen, by a hash of (`id`, `source`).
    seen: Fifo<()>,
    /// Instances whose start was seen and whose end was not, by a hash of the instance id.
    started: Fifo<Started>,
    /// Instances whose end was seen without their start.
    ended: Fifo<Ended>,
    outcomes: Outcomes,
}

struct Label {
    series: usize,
    published: bool,
}

#[derive(Clone, Copy)]
struct Started {
    series: usize,
    at: Option<i64>,
}

#[derive(Clone, Copy)]
struct Ended {
    at: Option<i64>,
}

struct Outcomes {
    counted: Counter,
    duplicate: Counter,
    not_counted: Counter,
    kogito_1x: Counter,
    evicted: Counter,
}

impl InstanceMetrics {
    /// Registers the [`OTHER`] series and the outcome counters with the current recorder.
    pub fn new(limits: Limits) -> Self {
        let outcome = |o: &'static str| {
            let c = metrics::counter!(INSTANCE_EVENTS, "outcome" => o);
            c.increment(0);
            c
        };
        let evicted = metrics::counter!(INSTANCES_EVICTED);
        evicted.increment(0);
        Self {
            state: Mutex::new(State {
                limits,
                hasher: RandomState::new(),
                labels: HashMap::new(),
                series: vec![Series::register(OTHER)],
                seen: Fifo::default(),
                started: Fifo::default(),
                ended: Fifo::default(),
                outcomes: Outcomes {
                    counted: outcome("counted"),
                    duplicate: outcome("duplicate"),
                    not_counted: outcome("not_counted"),
                    kogito_1x: outcome("kogito_1x"),
                    evicted,
                },
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The workflow ids the daemon publishes now: only these become `workflow` label values.
    /// A new one's series are registered at once; one no longer published keeps its series
    /// (its tracked instances still end there), and its new events count under [`OTHER`].
    pub fn set_published<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let ids: HashSet<&str> = ids.into_iter().collect();
        let mut state = self.lock();
        for (id, label) in state.labels.iter_mut() {
            label.published = ids.contains(id.as_str());
        }
        for id in ids {
            if !state.labels.contains_key(id) {
                let series = state.series.len();
                state.series.push(Series::register(id));
                state.labels.insert(
                    id.to_owned(),
                    Label {
                        series,
                        published: true,
                    },
                );
            }
        }
    }

    /// Counts one request's events, all under one lock. `now` dates what is remembered.
    pub fn apply(&self, decoded: Decoded, now: Instant) -> Summary {
        let mut guard = self.lock();
        let state = &mut *guard;
        let limits = state.limits;
        let horizon = now.checked_sub(limits.dedup_window);
        state.seen.expire(horizon);
        state.ended.expire(horizon);
        let mut summary = Summary {
            not_counted: decoded.not_counted,
            kogito_1x: decoded.kogito_1x,
            ..Summary::default()
        };
        for event in decoded.events {
            let seen = state
                .hasher
                .hash_one((event.id.as_str(), event.source.as_str()));
            if state.seen.contains(seen) {
                summary.duplicates += 1;
                continue;
            }
            state.seen.insert(seen, (), now);
            state.seen.trim(limits.dedup_max_events);
            let series = match state.labels.get(event.workflow.as_str()) {
                Some(l) if l.published => l.series,
                _ => 0,
            };
            let instance = state.hasher.hash_one(event.instance.as_str());
            match event.change {
                Change::Started { at } => {
                    if state.started.contains(instance) {
                        // A second start of an instance already running.
                        summary.not_counted += 1;
                        continue;
                    }
                    state.series[series].started.increment(1);
                    match state.ended.remove(instance) {
                        // Its end came first (out of order): it is not running.
                        Some(end) => observe(&state.series[series], at, end.at),
                        None => {
                            state.started.insert(instance, Started { series, at }, now);
                            state.series[series].active.increment(1.0);
                            while state.started.len() > limits.max_tracked_instances {
                                if let Some(old) = state.started.pop_oldest() {
                                    state.series[old.series].active.decrement(1.0);
                                    state.outcomes.evicted.increment(1);
                                }
                            }
                        }
                    }
                }
                Change::Completed { at } | Change::Aborted { at } => {
                    let s = &state.series[series];
                    match event.change {
                        Change::Completed { .. } => s.completed.increment(1),
                        _ => s.aborted.increment(1),
                    }
                    match state.started.remove(instance) {
                        Some(start) => {
                            let s = &state.series[start.series];
                            s.active.decrement(1.0);
                            observe(s, start.at, at);
                        }
                        None => {
                            state.ended.insert(instance, Ended { at }, now);
                            state.ended.trim(limits.max_tracked_instances);
                        }
                    }
                }
                // The instance stays active: it can be retriggered or aborted later.
                Change::Failed => state.series[series].failed.increment(1),
            }
            summary.counted += 1;
        }
        let o = &state.outcomes;
        o.counted.increment(summary.counted);
        o.duplicate.increment(summary.duplicates);
        o.not_counted.increment(summary.not_counted);
        o.kogito_1x.increment(summary.kogito_1x);
        summary
    }
}

/// Records a duration when both ends are known and in order.
fn observe(series: &Series, start: Option<i64>, end: Option<i64>) {
    if let (Some(start), Some(end)) = (start, end)
        && end >= start
    {
        series.duration.record((end - start) as f64 / 1000.0);
    }
}

/// A map from hashed keys that forgets its oldest entries first: by age (`expire`) or by count
/// (`trim`, `pop_oldest`). The order is a queue; entries removed out of order leave a stale
/// queue slot, dropped when it reaches the front or when stale slots outnumber live ones.
struct Fifo<V> {
    entries: HashMap<u64, (u64, V)>,
    order: VecDeque<(u64, u64, Instant)>,
    next: u64,
}

impl<V> Default for Fifo<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
        }
    }
}

impl<V: Copy> Fifo<V> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn contains(&self, key: u64) -> bool {
        self.entries.contains_key(&key)
    }

    fn insert(&mut self, key: u64, value: V, now: Instant) {
        let seq = self.next;
        self.next += 1;
        self.entries.insert(key, (seq, value));
        self.order.push_back((seq, key, now));
    }

    fn remove(&mut self, key: u64) -> Option<V> {
        let removed = self.entries.remove(&key).map(|(_, v)| v);
        if self.order.len() > 2 * self.entries.len() + 1024 {
            let entries = &self.entries;
            self.order
                .retain(|(seq, key, _)| entries.get(key).is_some_and(|(s, _)| s == seq));
        }
        removed
    }

    /// Removes and returns the oldest live entry.
    fn pop_oldest(&mut self) -> Option<V> {
        while let Some((seq, key, _)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|(s, _)| *s == seq) {
                return self.entries.remove(&key).map(|(_, v)| v);
            }
        }
        None
    }

    /// Forgets the oldest entries until at most `max` remain.
    fn trim(&mut self, max: usize) {
        while self.entries.len() > max && self.pop_oldest().is_some() {}
    }

    /// Forgets what was inserted before `horizon`.
    fn expire(&mut self, horizon: Option<Instant>) {
        let Some(horizon) = horizon else { return };
        while let Some(&(seq, key, at)) = self.order.front() {
            if at >= horizon {
                break;
            }
            self.order.pop_front();
            if self.entries.get(&key).is_some_and(|(s, _)| *s == seq) {
                self.entries.remove(&key);
            }
        }
    }
}
