//! Instance events in JSON: one structured or binary-mode CloudEvent, a batch item, or an event
//! inside a JSON-mode group. The body is `ProcessInstance*EventBody` as Jackson writes it (null
//! fields present as `null`); the workflow and the instance come from the body, else from the
//! `kogitoprocid` and `kogitoprocinstanceid` extensions.

use serde_json::{Map, Value};

use super::event::{Change, Decoded, InstanceEvent, event_type};
use super::time;
use crate::cloudevent::CloudEvent;

/// Reads one event of an instance type (not a group) into `out`.
pub fn read(ce: &CloudEvent, out: &mut Decoded) -> Result<(), String> {
    let change = match ce.event_type.as_str() {
        event_type::STATE => state(ce)?,
        event_type::ERROR => {
            data(ce)?;
            Some(Change::Failed)
        }
        _ => {
            // Node, variable and SLA events change no metric; their body is not read.
            match &ce.data {
                None | Some(Value::Null | Value::Object(_)) => {}
                Some(other) => {
                    return Err(format!("`data` is {}, not an object", kind(other)));
                }
            }
            None
        }
    };
    let Some(change) = change else {
        out.not_counted += 1;
        return Ok(());
    };
    let body = data(ce)?;
    let workflow = text(body, "processId", ce, "kogitoprocid")?
        .ok_or("it names no workflow (neither `data.processId` nor `kogitoprocid`)")?;
    let instance = text(body, "processInstanceId", ce, "kogitoprocinstanceid")?.ok_or(
        "it names no instance (neither `data.processInstanceId` nor `kogitoprocinstanceid`)",
    )?;
    out.events.push(InstanceEvent {
        id: ce.id.clone(),
        source: ce.source.clone(),
        workflow: workflow.to_owned(),
        instance: instance.to_owned(),
        change,
    });
    Ok(())
}

/// What a `ProcessInstanceStateDataEvent` changes: a start by `eventType` 1 (whatever the
/// state says: a run that ended synchronously reports its end state there), an end by
/// `eventType` 2 with state 2 or 3; nothing for the others (migrated, retriggered, updated).
fn state(ce: &CloudEvent) -> Result<Option<Change>, String> {
    let body = data(ce)?;
    let at = date(body)?;
    Ok(
        match (integer(body, "eventType")?, integer(body, "state")?) {
            (None, _) => return Err("a state event without `data.eventType`".into()),
            (Some(1), _) => Some(Change::Started { at }),
            (Some(2), None) => {
                return Err("an ended state event (eventType 2) without `data.state`".into());
            }
            (Some(2), Some(2)) => Some(Change::Completed { at }),
            (Some(2), Some(3)) => Some(Change::Aborted { at }),
            _ => None,
        },
    )
}

fn data(ce: &CloudEvent) -> Result<&Map<String, Value>, String> {
    match &ce.data {
        Some(Value::Object(map)) => Ok(map),
        None | Some(Value::Null) => Err("it has no `data`".into()),
        Some(other) => Err(format!("`data` is {}, not an object", kind(other))),
    }
}

/// A string field of the body, else the extension attribute; an empty string is absent.
fn text<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    ce: &'a CloudEvent,
    extension: &str,
) -> Result<Option<&'a str>, String> {
    let (name, value) = match body.get(field) {
        None | Some(Value::Null) => (extension.to_owned(), ce.extensions.get(extension)),
        some => (format!("data.{field}"), some),
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.is_empty())),
        Some(other) => Err(format!("`{name}` is {}, not a string", kind(other))),
    }
}

fn integer(body: &Map<String, Value>, field: &str) -> Result<Option<i64>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("`data.{field}` is {n}, not an integer")),
        Some(other) => Err(format!("`data.{field}` is {}, not an integer", kind(other))),
    }
}

/// `eventDate`: an ISO-8601 date-time, epoch milliseconds, or null.
fn date(body: &Map<String, Value>) -> Result<Option<i64>, String> {
    match body.get("eventDate") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("`data.eventDate` is {n}, not epoch milliseconds")),
        Some(Value::String(s)) => time::parse_millis(s).map(Some).ok_or_else(|| {
            format!("`data.eventDate` {s:?} is not an ISO-8601 date-time with an offset")
        }),
        Some(other) => Err(format!("`data.eventDate` is {}, not a date", kind(other))),
    }
}

/// How a JSON value is named in an error.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
