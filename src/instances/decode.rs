//! A request's instance events, read whole before anything is counted: events in JSON (alone,
//! batched, or in a JSON-mode group) go to `json`, binary-mode groups (base64, maybe gzip) to
//! `binary`. Nesting is fixed (batch, group, event): nothing recurses on what the sender wrote.

use std::io::Read;

use base64::Engine;
use serde_json::{Map, Value};

use super::event::{Decoded, event_type, is_instance_event};
use super::{binary, json};
use crate::cloudevent::{self, CloudEvent};

/// A group inflates to at most this many bytes (the request body is at most 2 MiB).
pub const MAX_INFLATED_BYTES: usize = 16 * 1024 * 1024;

/// Why a request's instance events were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed instance event: {0}")]
pub struct InstanceError(pub String);

/// Reads the instance events among `events` (the other types are left alone). Any malformed
/// one refuses them all.
pub fn decode(events: Vec<CloudEvent>) -> Result<Decoded, InstanceError> {
    let total = events.len();
    let mut out = Decoded::default();
    for (i, ce) in events.into_iter().enumerate() {
        if ce.event_type == event_type::KOGITO_1X {
            out.kogito_1x += 1;
            continue;
        }
        if !is_instance_event(&ce.event_type) {
            continue;
        }
        let context = |ce_type: &str, id: &str, e: String| {
            let at = if total > 1 {
                format!("batch item {} of {total}, ", i + 1)
            } else {
                String::new()
            };
            InstanceError(format!("{at}{ce_type} {id:?}: {e}"))
        };
        match ce.event_type.as_str() {
            event_type::MULTIPLE => {
                let (ce_type, id) = (ce.event_type.clone(), ce.id.clone());
                group(ce, &mut out).map_err(|e| context(&ce_type, &id, e))?;
            }
            _ => json::read(&ce, &mut out).map_err(|e| context(&ce.event_type, &ce.id, e))?,
        }
    }
    Ok(out)
}

/// A `MultipleProcessInstanceDataEvent`: a list of events (JSON mode) or the byte encoding.
fn group(ce: CloudEvent, out: &mut Decoded) -> Result<(), String> {
    let CloudEvent {
        data,
        binary_data,
        extensions,
        ..
    } = ce;
    match (data, binary_data) {
        (Some(Value::Array(items)), None) => json_group(items, out),
        (Some(Value::String(text)), None) => {
            let bytes = base64(text.as_bytes())?;
            binary_group(bytes, &extensions, out)
        }
        (None, Some(body)) => {
            // The body of a binary-mode request is the base64 text (what a broker forwards);
            // raw bytes, which start with an integer's type byte or gzip's magic where base64
            // text cannot, are taken as they are.
            let bytes = match body.first() {
                Some(4 | 5 | 7 | 0x1F) => body,
                _ => base64(&body)?,
            };
            binary_group(bytes, &extensions, out)
        }
        (None | Some(Value::Null), None) => Err("a group without `data`".into()),
        (Some(other), _) => Err(format!(
            "a group's `data` is {}, not a list of events (JSON mode) nor base64 bytes (binary mode)",
            json::kind(&other)
        )),
    }
}

fn json_group(items: Vec<Value>, out: &mut Decoded) -> Result<(), String> {
    let count = items.len();
    for (n, item) in items.into_iter().enumerate() {
        let at = |e: String| format!("event {} of {count}: {e}", n + 1);
        let inner = cloudevent::from_json(item).map_err(|e| at(e.0))?;
        match inner.event_type.as_str() {
            event_type::MULTIPLE => return Err(at("a group inside a group".into())),
            t if !is_instance_event(t) => {
                return Err(at(format!("{t:?} is not an instance event type")));
            }
            _ => json::read(&inner, out)
                .map_err(|e| at(format!("{} {:?}: {e}", inner.event_type, inner.id)))?,
        }
    }
    Ok(())
}

fn binary_group(
    bytes: Vec<u8>,
    extensions: &Map<String, Value>,
    out: &mut Decoded,
) -> Result<(), String> {
    let flags = marshall_flags(extensions)?;
    let compressed = match extensions.get("compressdata") {
        None | Some(Value::Null) => bytes.starts_with(&[0x1F, 0x8B]),
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(other) => {
            return Err(format!("`compressdata` is {other}, not true or false"));
        }
    };
    let bytes = if compressed { inflate(&bytes)? } else { bytes };
    binary::read(&bytes, flags, out)
}

/// `marshallflags`, a number (or a numeric string in binary HTTP mode); absent is 0.
fn marshall_flags(extensions: &Map<String, Value>) -> Result<u32, String> {
    let value = match extensions.get("marshallflags") {
        None | Some(Value::Null) => return Ok(0),
        Some(v) => v,
    };
    let flags = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match flags {
        Some(f) if f & !u64::from(binary::KNOWN_FLAGS) == 0 => Ok(f as u32),
        Some(f) => Err(format!(
            "`marshallflags` {f} has bits this reader does not know (1 retrigger, 2 cloud event id, 4 function arguments): the layout is unknown"
        )),
        None => Err(format!("`marshallflags` is {value}, not a number")),
    }
}

fn base64(text: &[u8]) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim_ascii())
        .map_err(|e| format!("a binary-mode group's data is not base64 ({e})"))
}

/// Gunzips a compressed group, refusing one that inflates past [`MAX_INFLATED_BYTES`].
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut inflated = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_INFLATED_BYTES as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| format!("a compressed group does not inflate as gzip ({e})"))?;
    if inflated.len() > MAX_INFLATED_BYTES {
        return Err(format!(
            "a compressed group inflates past {} MiB",
            MAX_INFLATED_BYTES >> 20
        ));
    }
    Ok(inflated)
}
