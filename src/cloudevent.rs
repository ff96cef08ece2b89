//! CloudEvents 1.0 over HTTP, as the SonataFlow runtime and operator send them (directly, or
//! through a Knative broker): structured mode (`application/cloudevents+json`), batched mode
//! (`application/cloudevents-batch+json`) and binary mode (`ce-*` headers, the body is `data`).
//!
//! The envelope only: the required attributes, the extension attributes and `data` as it came.
//! What a `ProcessDefinitionEvent` names is read here; instance events are read by
//! [`crate::instances`]. A malformed event is an error that says what is wrong; the caller
//! answers 400.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

/// `type` of the event the runtime emits for each deployed workflow definition.
pub const PROCESS_DEFINITION_EVENT: &str = "ProcessDefinitionEvent";
/// The same events' type as a Knative trigger or Kafka topic names them.
pub const PROCESS_DEFINITION_EVENT_KNATIVE: &str = "kogito-processdefinitions-events";

/// One event: its required attributes and what the daemon reads from it.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    /// `data` as JSON: structured mode's `data` (a `data_base64` as its base64 string), or a
    /// binary-mode body whose content type is JSON.
    pub data: Option<Value>,
    /// A binary-mode body whose content type is not JSON, as it came.
    pub binary_data: Option<Vec<u8>>,
    /// `kogitoprocid`, the runtime's extension attribute naming the workflow.
    pub process_id: Option<String>,
    /// Every other attribute (`datacontenttype`, `time`, the `kogito*` extensions...): as given in
    /// structured mode, as strings from `ce-*` headers in binary mode (there `datacontenttype` is
    /// the `Content-Type`).
    pub extensions: Map<String, Value>,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed CloudEvent: {0}")]
pub struct CloudEventError(pub String);

impl CloudEvent {
    /// A `ProcessDefinitionEvent` (a workflow definition was deployed, changed or removed).
    pub fn is_process_definition(&self) -> bool {
        self.event_type == PROCESS_DEFINITION_EVENT
            || self.event_type == PROCESS_DEFINITION_EVENT_KNATIVE
    }

    /// The workflow the event is about: `data.id`, else the `kogitoprocid` extension.
    pub fn workflow_id(&self) -> Option<&str> {
        self.data
            .as_ref()
            .and_then(|d| d.get("id"))
            .and_then(Value::as_str)
            .or(self.process_id.as_deref())
            .filter(|s| !s.trim().is_empty())
    }
}

/// Reads the events of one HTTP request, whatever its mode.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Vec<CloudEvent>, CloudEventError> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type == "application/cloudevents+json" {
        return Ok(vec![from_json(json(body)?)?]);
    }
    if content_type == "application/cloudevents-batch+json" {
        let Value::Array(items) = json(body)? else {
            return Err(CloudEventError("a batch must be a JSON array".into()));
        };
        return items.into_iter().map(from_json).collect();
    }
    if headers.contains_key("ce-specversion") {
        return binary(headers, &content_type, body).map(|e| vec![e]);
    }
    Err(CloudEventError(format!(
        "neither structured (content-type application/cloudevents+json, got {content_type:?}) nor binary mode (no ce-specversion header)"
    )))
}

fn json(body: &[u8]) -> Result<Value, CloudEventError> {
    serde_json::from_slice(body).map_err(|e| CloudEventError(format!("the body is not JSON ({e})")))
}

/// One event in structured mode (a JSON object), as a request body, a batch item or an event
/// inside a JSON-mode group.
pub fn from_json(value: Value) -> Result<CloudEvent, CloudEventError> {
    let Value::Object(mut map) = value else {
        return Err(CloudEventError("an event must be a JSON object".into()));
    };
    let attr = |map: &Map<String, Value>, name: &str| -> Result<String, CloudEventError> {
        match map.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(CloudEventError(format!(
                "`{name}` must be a non-empty string"
            ))),
            None => Err(CloudEventError(format!("`{name}` is missing"))),
        }
    };
    check_version(&attr(&map, "specversion")?)?;
    let data = match map.remove("data") {
        Some(d) => Some(d),
        None => match map.get("data_base64") {
            Some(Value::String(b)) => Some(Value::String(b.clone())),
            _ => None,
        },
    };
    let id = attr(&map, "id")?;
    let source = attr(&map, "source")?;
    let event_type = attr(&map, "type")?;
    for name in ["specversion", "id", "source", "type", "data_base64"] {
        map.remove(name);
    }
    Ok(CloudEvent {
        id,
        source,
        event_type,
        data,
        binary_data: None,
        process_id: map
            .get("kogitoprocid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        extensions: map,
    })
}

fn binary(
    headers: &HeaderMap,
    content_type: &str,
    body: &[u8],
) -> Result<CloudEvent, CloudEventError> {
    let attr = |name: &str| -> Result<String, CloudEventError> {
        match headers.get(format!("ce-{name}")).map(|v| v.to_str()) {
            Some(Ok(s)) if !s.is_empty() => Ok(s.to_owned()),
            Some(_) => Err(CloudEventError(format!(
                "header ce-{name} must be non-empty text"
            ))),
            None => Err(CloudEventError(format!("header ce-{name} is missing"))),
        }
    };
    check_version(&attr("specversion")?)?;
    let json_body = content_type.is_empty() || content_type.ends_with("json");
    let (data, binary_data) = match (body.is_empty(), json_body) {
        (true, _) => (None, None),
        (false, true) => (Some(json(body)?), None),
        (false, false) => (None, Some(body.to_vec())),
    };
    let mut extensions = Map::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        if matches!(attribute, "specversion" | "id" | "source" | "type") {
            continue;
        }
        // A value that is not visible ASCII is left out, as before extensions were read: what
        // the daemon reads from them is checked where it is read.
        let Ok(value) = value.to_str() else {
            continue;
        };
        extensions.insert(attribute.to_owned(), Value::String(value.to_owned()));
    }
    if !content_type.is_empty() {
        extensions.insert(
            "datacontenttype".into(),
            Value::String(content_type.to_owned()),
        );
    }
    Ok(CloudEvent {
        id: attr("id")?,
        source: attr("source")?,
        event_type: attr("type")?,
        data,
        binary_data,
        process_id: attr("kogitoprocid").ok(),
        extensions,
    })
}

fn check_version(v: &str) -> Result<(), CloudEventError> {
    if v == "1.0" {
        Ok(())
    } else {
        Err(CloudEventError(format!(
            "specversion {v:?} is not supported (only 1.0)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn structured_runtime_event() {
        let body = json!({
            "specversion": "1.0", "id": "717af02d", "source": "http://localhost:8080/jsongreet",
            "type": "ProcessDefinitionEvent", "kogitoprocid": "jsongreet",
            "data": {"id": "jsongreet", "version": "1.0", "endpoint": "http://localhost:8080/jsongreet"}
        });
        let events = parse(
            &headers(&[(
                "content-type",
                "application/cloudevents+json; charset=utf-8",
            )]),
            body.to_string().as_bytes(),
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        assert!(events[0].is_process_definition());
        assert_eq!(events[0].workflow_id(), Some("jsongreet"));
    }

    #[test]
    fn binary_event_with_extension_only() {
        let h = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/operator"),
            ("ce-type", "ProcessDefinitionEvent"),
            ("ce-kogitoprocid", "greeting"),
            ("content-type", "application/json"),
        ]);
        let events = parse(&h, br#"{"version": "1.0"}"#).unwrap();
        assert_eq!(events[0].workflow_id(), Some("greeting"));
    }

    #[test]
    fn batch_and_other_types() {
        let body = json!([
            {"specversion": "1.0", "id": "a", "source": "s", "type": "ProcessInstanceStateDataEvent"},
            {"specversion": "1.0", "id": "b", "source": "s", "type": "ProcessDefinitionEvent", "data": {"id": "x"}}
        ]);
        let events = parse(
            &headers(&[("content-type", "application/cloudevents-batch+json")]),
            body.to_string().as_bytes(),
        )
        .unwrap();
        assert!(!events[0].is_process_definition());
        assert_eq!(events[1].workflow_id(), Some("x"));
    }

    #[test]
    fn malformed_events_say_why() {
        let ct = headers(&[("content-type", "application/cloudevents+json")]);
        let cases: [(&HeaderMap, &[u8], &str); 6] = [
            (&ct, b"{not json", "not JSON"),
            (
                &ct,
                br#"{"id": "1", "source": "s", "type": "t"}"#,
                "`specversion` is missing",
            ),
            (
                &ct,
                br#"{"specversion": "0.3", "id": "1", "source": "s", "type": "t"}"#,
                "0.3",
            ),
            (
                &ct,
                br#"{"specversion": "1.0", "id": "", "source": "s", "type": "t"}"#,
                "`id`",
            ),
            (&ct, b"[1]", "JSON object"),
            (&HeaderMap::new(), b"{}", "neither structured"),
        ];
        for (h, body, expected) in cases {
            let e = parse(h, body).unwrap_err();
            assert!(
                e.to_string().contains(expected),
                "{e} should say {expected}"
            );
        }
        let missing_type = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "s"),
        ]);
        assert!(
            parse(&missing_type, b"")
                .unwrap_err()
                .to_string()
                .contains("ce-type")
        );
    }
}
