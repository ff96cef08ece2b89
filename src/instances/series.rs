//! The metric handles of one `workflow` label value, created (and so exported, at zero) when the
//! label is: a counter that is born at its first increment loses that increment to `increase()`,
//! and a series that does not exist yet cannot be alerted on.

use metrics::{Counter, Gauge, Histogram};

use crate::telemetry::{
    INSTANCE_DURATION, INSTANCES_ABORTED, INSTANCES_ACTIVE, INSTANCES_COMPLETED, INSTANCES_FAILED,
    INSTANCES_STARTED,
};

/// Every instance series of one `workflow` label value.
pub struct Series {
    pub started: Counter,
    pub completed: Counter,
    pub aborted: Counter,
    pub failed: Counter,
    pub active: Gauge,
    pub duration: Histogram,
}

impl Series {
    /// Registers the series of `workflow` with the current recorder, at zero.
    pub fn register(workflow: &str) -> Self {
        let counter = |name: &'static str| {
            let c = metrics::counter!(name, "workflow" => workflow.to_owned());
            c.increment(0);
            c
        };
        let active = metrics::gauge!(INSTANCES_ACTIVE, "workflow" => workflow.to_owned());
        active.increment(0.0);
        Self {
            started: counter(INSTANCES_STARTED),
            completed: counter(INSTANCES_COMPLETED),
            aborted: counter(INSTANCES_ABORTED),
            failed: counter(INSTANCES_FAILED),
            active,
            duration: metrics::histogram!(INSTANCE_DURATION, "workflow" => workflow.to_owned()),
        }
    }
}
