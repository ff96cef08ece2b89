//! The model of instance events once read, whatever their encoding: the types SonataFlow
//! gives them, and what an event changes.

/// The CloudEvent types of instance events (`type`).
pub mod event_type {
    pub const STATE: &str = "ProcessInstanceStateDataEvent";
    pub const ERROR: &str = "ProcessInstanceErrorDataEvent";
    pub const NODE: &str = "ProcessInstanceNodeDataEvent";
    pub const VARIABLE: &str = "ProcessInstanceVariableDataEvent";
    pub const SLA: &str = "ProcessInstanceSLADataEvent";
    /// A group of the five above, one per unit of work.
    pub const MULTIPLE: &str = "MultipleProcessInstanceDataEvent";
    /// Kogito 1.x's snapshot of an instance.
    pub const KOGITO_1X: &str = "ProcessInstanceEvent";
}

/// Whether `event_type` is one of SonataFlow's 10.x instance event types (groups included).
pub fn is_instance_event(event_type: &str) -> bool {
    use event_type::*;
    matches!(event_type, STATE | ERROR | NODE | VARIABLE | SLA | MULTIPLE)
}

/// One event that changes a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceEvent {
    /// `id` and `source` of the event itself (inside a group: of the inner event): a redelivery
    /// repeats both.
    pub id: String,
    pub source: String,
    /// The workflow id (`processId`).
    pub workflow: String,
    /// The instance id (`processInstanceId`).
    pub instance: String,
    pub change: Change,
}

/// What an event changes; `at` is its `eventDate` in epoch milliseconds, when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Started { at: Option<i64> },
    Completed { at: Option<i64> },
    Aborted { at: Option<i64> },
    Failed,
}

/// The instance events of one request, read but not counted yet.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub events: Vec<InstanceEvent>,
    /// Instance events that change no metric (node, variable and SLA events; state events of
    /// other kinds).
    pub not_counted: u64,
    /// Kogito 1.x `ProcessInstanceEvent`s, ignored.
    pub kogito_1x: u64,
}
