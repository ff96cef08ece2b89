//! Workflow instances: SonataFlow's own instance events, read in every form they arrive in on
//! `POST /events`, counted into per-workflow metrics.
//!
//! Forms (`../shared/sonataflow-events/README.md`): one event per request (structured or binary
//! HTTP mode), a CloudEvents batch, and a `MultipleProcessInstanceDataEvent` group per unit of
//! work, whose `data` is a list of events (JSON mode) or Kogito's own byte encoding, base64,
//! optionally gzip-compressed (binary mode, what the SonataFlow operator turns on). [`decode`]
//! reads a whole request before anything is counted, so a request holding one malformed event
//! is refused whole and changes no counter. Nesting is fixed (batch, group, event): nothing
//! recurses on what the sender wrote.
//!
//! What counts, as SonataFlow defines it: a start is a state event with `eventType` 1 (never
//! inferred from a state); an end is `eventType` 2, completed with state 2, aborted with state 3;
//! a failure is a `ProcessInstanceErrorDataEvent`, after which the instance is still alive.
//! Kogito 1.x `ProcessInstanceEvent` snapshots carry no `eventType`, so their starts could only
//! be guessed: they are counted as ignored.
//!
//! - `event`: the events once read; `decode`: a request's events, read whole;
//!   `json`: events in JSON; `binary`: the byte encoding; `time`: `eventDate`s.
//! - `tracker`: what was seen (the redelivery window, the instances whose start was seen, the
//!   published ids) and the counting; `series`: the metric handles of one `workflow` label.

mod binary;
mod decode;
mod event;
mod json;
mod series;
mod time;
mod tracker;

pub use binary::{FLAG_CLOUDEVENT_ID, FLAG_FUNCTION_ARGS, FLAG_RETRIGGER};
pub use decode::{InstanceError, MAX_INFLATED_BYTES, decode};
pub use event::{Change, Decoded, InstanceEvent, event_type, is_instance_event};
pub use time::parse_millis;
pub use tracker::{InstanceMetrics, Limits, OTHER, Summary};
