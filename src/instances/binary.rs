//! Kogito's byte encoding of a binary-mode `MultipleProcessInstanceDataEvent`: what the
//! SonataFlow operator turns on for every non-dev profile, so the common case.
//!
//! The layout (`../shared/sonataflow-events/README.md` §6, from Apache KIE 10.x's
//! `MultipleProcessInstanceDataEventSerializer` and `KogitoEventBodySerializationHelper`): a Java
//! `DataOutputStream`, big-endian. An `int` count, then per event a marker (`FF` a new instance
//! record follows, else the index of an earlier one), the record, the CloudEvent type, a time
//! delta, the CloudEvent attributes, and the body. Bodies are not length-prefixed, so all five
//! kinds are read field by field to reach the next event.
//!
//! Every length and count in the stream comes from the sender. Nothing is allocated from one:
//! a length is checked against the bytes that remain before it is used, a count only bounds a
//! loop that consumes input, embedded JSON is skipped unparsed, and nothing recurses. Strings
//! are Java's modified UTF-8, decoded only for the few fields the metrics need.

use std::borrow::Cow;

use super::event::{Change, Decoded, InstanceEvent, event_type};

/// `marshallflags`: the node body carries `retrigger`.
pub const FLAG_RETRIGGER: u32 = 1;
/// `marshallflags`: the state body carries `cloudEventId` and `cloudEventSource`.
pub const FLAG_CLOUDEVENT_ID: u32 = 2;
/// `marshallflags`: the node body carries its input and output parameters.
pub const FLAG_FUNCTION_ARGS: u32 = 4;
/// Every flag this reader knows.
pub const KNOWN_FLAGS: u32 = FLAG_RETRIGGER | FLAG_CLOUDEVENT_ID | FLAG_FUNCTION_ARGS;

/// The fewest bytes one event takes (marker, type, delta, spec version, id, three absent
/// optional attributes, the data flag), so that a count the bytes cannot hold is refused at once.
const MIN_EVENT_BYTES: usize = 13;

/// Where in the byte stream reading failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryError {
    pub offset: usize,
    pub message: String,
}

impl std::fmt::Display for BinaryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.message)
    }
}

type Result<T> = std::result::Result<T, BinaryError>;

/// Reads one decoded (base64-decoded, inflated) group into `out`; `flags` is its
/// `marshallflags`. The whole stream is read before the caller counts anything.
pub fn read(bytes: &[u8], flags: u32, out: &mut Decoded) -> std::result::Result<(), String> {
    let mut r = Reader { bytes, at: 0 };
    let count = r.int().map_err(|e| e.to_string())?;
    let Ok(count) = usize::try_from(count) else {
        return Err(format!("byte 0: the event count is negative ({count})"));
    };
    if count > r.remaining() / MIN_EVENT_BYTES {
        return Err(format!(
            "byte 0: the group says it holds {count} events, more than its {} bytes can",
            bytes.len()
        ));
    }
    let mut records: Vec<Record<'_>> = Vec::new();
    for n in 1..=count {
        read_event(&mut r, flags, &mut records, out)
            .map_err(|e| format!("event {n} of {count}: {e}"))?;
    }
    if r.remaining() > 0 {
        return Err(format!(
            "{} bytes follow the last of its {count} events (is `marshallflags` right?)",
            r.remaining()
        ));
    }
    Ok(())
}

/// What one instance's events in a group share (`ProcessInstanceDataEventExtensionRecord`).
struct Record<'a> {
    process_id: &'a [u8],
    instance_id: &'a [u8],
    /// Epoch milliseconds; events add their delta to it.
    time: Option<i64>,
    source: &'a [u8],
}

fn read_event<'a>(
    r: &mut Reader<'a>,
    flags: u32,
    records: &mut Vec<Record<'a>>,
    out: &mut Decoded,
) -> Result<()> {
    let marker_at = r.at;
    let marker = r.u8()? as i8;
    let record = if marker == -1 {
        records.push(Record::read(r)?);
        records.len() - 1
    } else {
        match usize::try_from(marker) {
            Ok(i) if i < records.len() => i,
            _ => {
                return Err(r.error_at(
                    marker_at,
                    format!(
                        "refers to instance record {marker}, but only {} came before it",
                        records.len()
                    ),
                ));
            }
        }
    };
    let record = &records[record];
    let type_at = r.at;
    let ce_type = r.utf()?;
    let delta = r.int()?;
    let _spec_version = r.utf()?;
    let id = r.utf()?;
    let _subject = r.nutf()?;
    let _data_content_type = r.nutf()?;
    let _data_schema = r.nutf()?;
    let has_data = r.bool()?;
    let time = record.time.map(|t| t.saturating_add(i64::from(delta)));
    let change = match ce_type {
        t if t == event_type::STATE.as_bytes() => {
            if !has_data {
                return Err(r.error_at(type_at, "a state event without its body".into()));
            }
            state_body(r, flags, time)?
        }
        t if t == event_type::ERROR.as_bytes() => {
            if !has_data {
                return Err(r.error_at(type_at, "an error event without its body".into()));
            }
            r.utf()?; // nodeDefinitionId
            r.utf()?; // nodeInstanceId
            r.utf()?; // errorMessage
            Some(Change::Failed)
        }
        t if t == event_type::NODE.as_bytes() => {
            if has_data {
                node_body(r, flags)?;
            }
            None
        }
        t if t == event_type::VARIABLE.as_bytes() => {
            if has_data {
                for _ in 0..3 {
                    r.nutf()?; // nodeContainerDefinitionId, nodeContainerInstanceId, variableId
                }
                r.utf()?; // variableName
                r.object()?; // variableValue
            }
            None
        }
        t if t == event_type::SLA.as_bytes() => {
            if has_data {
                r.utf()?; // nodeDefinitionId
                r.nutf()?; // nodeName
                r.utf()?; // nodeType
                r.utf()?; // nodeInstanceId
                r.date()?; // slaDueDate
            }
            None
        }
        other => {
            return Err(r.error_at(
                type_at,
                format!(
                    "unknown event type {:?}: a group holds state, node, error, variable and SLA events",
                    String::from_utf8_lossy(other)
                ),
            ));
        }
    };
    match change {
        Some(change) => out.events.push(InstanceEvent {
            id: java_utf(id, r, type_at)?.into_owned(),
            source: java_utf(record.source, r, type_at)?.into_owned(),
            workflow: java_utf(record.process_id, r, type_at)?.into_owned(),
            instance: java_utf(record.instance_id, r, type_at)?.into_owned(),
            change,
        }),
        None => out.not_counted += 1,
    }
    Ok(())
}

/// `ProcessInstanceStateEventBody`: what it changes, if anything.
fn state_body(r: &mut Reader<'_>, flags: u32, time: Option<i64>) -> Result<Option<Change>> {
    let at = r.at;
    let event_type = r.integer()?;
    r.nutf()?; // processName
    let state = r.integer()?;
    let roles = r.int()?;
    if roles < -1 {
        return Err(r.error_at(r.at, format!("a negative role count ({roles})")));
    }
    for _ in 0..roles.max(0) {
        r.nutf()?;
    }
    r.date()?; // slaDueDate
    if flags & FLAG_CLOUDEVENT_ID != 0 {
        r.nutf()?; // cloudEventId
        r.nutf()?; // cloudEventSource
    }
    Ok(match (event_type, state) {
        (None, _) => return Err(r.error_at(at, "a state event without an eventType".into())),
        (Some(1), _) => Some(Change::Started { at: time }),
        (Some(2), None) => {
            return Err(r.error_at(
                at,
                "an ended state event (eventType 2) without a state".into(),
            ));
        }
        (Some(2), Some(2)) => Some(Change::Completed { at: time }),
        (Some(2), Some(3)) => Some(Change::Aborted { at: time }),
        _ => None,
    })
}

/// `ProcessInstanceNodeEventBody`, skipped.
fn node_body(r: &mut Reader<'_>, flags: u32) -> Result<()> {
    r.integer()?; // eventType
    r.nutf()?; // connectionNodeDefinitionId
    r.utf()?; // nodeDefinitionId
    r.nutf()?; // nodeName
    r.utf()?; // nodeType
    r.utf()?; // nodeInstanceId
    r.nutf()?; // workItemId
    r.date()?; // slaDueDate
    r.object()?; // data
    if flags & FLAG_RETRIGGER != 0 {
        r.object()?;
    }
    if flags & FLAG_FUNCTION_ARGS != 0 {
        r.object()?; // inputParameters
        r.object()?; // outputParameters
    }
    Ok(())
}

impl<'a> Record<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        let process_id = r.utf()?;
        let instance_id = r.utf()?;
        r.utf()?; // version
        r.utf()?; // state, as kogitoprocist
        for _ in 0..6 {
            // type, parentInstanceId, rootId, rootInstanceId, businessKey, identity
            r.nutf()?;
        }
        let time = r.date()?;
        let source = r.utf()?;
        r.nutf()?; // addons
        Ok(Self {
            process_id,
            instance_id,
            time,
            source,
        })
    }
}

/// A cursor over the stream; every read checks the bytes that remain.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn error_at(&self, offset: usize, message: String) -> BinaryError {
        BinaryError { offset, message }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error_at(
                self.at,
                format!(
                    "{what} needs {n} bytes, {} remain: the group is cut short",
                    self.remaining()
                ),
            ));
        }
        let part = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(part)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1, "a byte")?[0])
    }

    fn bool(&mut self) -> Result<bool> {
        Ok(self.u8()? != 0)
    }

    fn i16(&mut self) -> Result<i16> {
        let b = self.take(2, "a short")?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32> {
        let b = self.take(4, "an int")?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self) -> Result<i64> {
        let b = self.take(8, "a long")?;
        Ok(i64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    /// `writeInt`: a type byte (7 byte, 5 short, 4 int), then the value.
    fn int(&mut self) -> Result<i32> {
        let at = self.at;
        let kind = self.u8()?;
        self.int_of(kind, at)
    }

    fn int_of(&mut self, kind: u8, at: usize) -> Result<i32> {
        match kind {
            7 => Ok(i32::from(self.u8()? as i8)),
            5 => Ok(i32::from(self.i16()?)),
            4 => self.i32(),
            other => Err(self.error_at(
                at,
                format!("an integer's type byte is {other}, not 7 (byte), 5 (short) or 4 (int)"),
            )),
        }
    }

    /// `writeInteger`: 0 for null, else `writeInt`.
    fn integer(&mut self) -> Result<Option<i32>> {
        let at = self.at;
        match self.u8()? {
            0 => Ok(None),
            kind => self.int_of(kind, at).map(Some),
        }
    }

    /// `DataOutput.writeUTF`: an unsigned 16-bit length, then modified UTF-8.
    fn utf(&mut self) -> Result<&'a [u8]> {
        let b = self.take(2, "a string length")?;
        let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
        self.take(n, "a string")
    }

    /// A nullable string: a boolean, then `utf` when true.
    fn nutf(&mut self) -> Result<Option<&'a [u8]>> {
        if self.bool()? {
            self.utf().map(Some)
        } else {
            Ok(None)
        }
    }

    /// A nullable date: a boolean, then epoch milliseconds.
    fn date(&mut self) -> Result<Option<i64>> {
        if self.bool()? {
            self.i64().map(Some)
        } else {
            Ok(None)
        }
    }

    /// `writeObject`, skipped: a type byte, then its payload (JSON as an int length and bytes,
    /// left unparsed).
    fn object(&mut self) -> Result<()> {
        let at = self.at;
        let skip = match self.u8()? {
            0 => 0,
            1 | 2 => {
                let n = self.i32()?;
                usize::try_from(n).map_err(|_| {
                    self.error_at(at, format!("an embedded JSON value of length {n}"))
                })?
            }
            3 => {
                self.utf()?;
                0
            }
            4 | 9 => 4,
            5 => 2,
            6 | 10 => 8,
            7 | 8 => 1,
            other => {
                return Err(
                    self.error_at(at, format!("an object's type byte is {other}, not 0 to 10"))
                );
            }
        };
        self.take(skip, "an embedded value").map(|_| ())
    }
}

/// Java's modified UTF-8 (`DataInput.readUTF`): `C0 80` for U+0000, characters above U+FFFF as
/// two encoded surrogates. ASCII, the common case for ids and sources, is borrowed.
fn java_utf<'a>(bytes: &'a [u8], r: &Reader<'_>, at: usize) -> Result<Cow<'a, str>> {
    if bytes.is_ascii() {
        return Ok(Cow::Borrowed(
            std::str::from_utf8(bytes).expect("ASCII is UTF-8"),
        ));
    }
    let malformed = || r.error_at(at, "a string is not modified UTF-8".into());
    let mut units: Vec<u16> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b0 = u16::from(bytes[i]);
        let continuation = |j: usize| -> Result<u16> {
            match bytes.get(j) {
                Some(&b) if b & 0xC0 == 0x80 => Ok(u16::from(b & 0x3F)),
                _ => Err(malformed()),
            }
        };
        match bytes[i] >> 4 {
            0..=7 => {
                units.push(b0);
                i += 1;
            }
            12 | 13 => {
                units.push(((b0 & 0x1F) << 6) | continuation(i + 1)?);
                i += 2;
            }
            14 => {
                units
                    .push(((b0 & 0x0F) << 12) | (continuation(i + 1)? << 6) | continuation(i + 2)?);
                i += 3;
            }
            _ => return Err(malformed()),
        }
    }
    Ok(Cow::Owned(String::from_utf16_lossy(&units)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], flags: u32) -> std::result::Result<Decoded, String> {
        let mut out = Decoded::default();
        read(bytes, flags, &mut out).map(|()| out)
    }

    #[test]
    fn modified_utf8_decodes_as_java_does() {
        let r = Reader { bytes: &[], at: 0 };
        let text = |b: &[u8]| java_utf(b, &r, 0).map(Cow::into_owned);
        assert_eq!(text(b"plain").unwrap(), "plain");
        assert_eq!(text(&[0xC0, 0x80]).unwrap(), "\0");
        assert_eq!(text("é€".as_bytes()).unwrap(), "é€");
        // U+1F600 as two 3-byte surrogates.
        assert_eq!(
            text(&[0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]).unwrap(),
            "\u{1F600}"
        );
        // A 4-byte UTF-8 sequence and a cut sequence are not modified UTF-8.
        assert!(text("\u{1F600}".as_bytes()).is_err());
        assert!(text(&[0xE2, 0x82]).is_err());
    }

    #[test]
    fn hostile_counts_and_lengths_are_refused_without_allocating() {
        // A count of 2^31 - 1 in a 6-byte stream.
        let e = read_all(&[4, 0x7F, 0xFF, 0xFF, 0xFF, 0], 0).unwrap_err();
        assert!(e.contains("more than its 6 bytes can"), "{e}");
        // A negative count.
        let e = read_all(&[7, 0xFE], 0).unwrap_err();
        assert!(e.contains("negative"), "{e}");
        // A record reference before any record.
        let mut stream = vec![7, 1, 3];
        stream.extend([0; 13]);
        let e = read_all(&stream, 0).unwrap_err();
        assert!(
            e.contains("event 1 of 1") && e.contains("instance record 3"),
            "{e}"
        );
        // A string length past the end.
        let mut stream = vec![7, 1, 0xFF, 0xFF, 0xFF];
        stream.extend([0; 13]);
        let e = read_all(&stream, 0).unwrap_err();
        assert!(e.contains("needs 65535 bytes"), "{e}");
        // An unknown integer type byte.
        let e = read_all(&[9, 1], 0).unwrap_err();
        assert!(e.contains("type byte is 9"), "{e}");
        // Empty input.
        let e = read_all(&[], 0).unwrap_err();
        assert!(e.contains("cut short"), "{e}");
    }

    #[test]
    fn an_embedded_json_length_is_checked_before_it_is_used() {
        let mut r = Reader {
            bytes: &[2, 0x7F, 0xFF, 0xFF, 0xFF, b'{'],
            at: 0,
        };
        let e = r.object().unwrap_err();
        assert!(e.message.contains("needs 2147483647 bytes"), "{e}");
        let mut r = Reader {
            bytes: &[1, 0xFF, 0xFF, 0xFF, 0xFE],
            at: 0,
        };
        assert!(r.object().unwrap_err().message.contains("length -2"));
        let mut r = Reader {
            bytes: &[11],
            at: 0,
        };
        assert!(r.object().unwrap_err().message.contains("type byte is 11"));
    }

    #[test]
    fn an_empty_group_reads_as_nothing() {
        let out = read_all(&[7, 0], 0).unwrap();
        assert!(out.events.is_empty() && out.not_counted == 0);
        let e = read_all(&[7, 0, 1], 0).unwrap_err();
        assert!(e.contains("1 bytes follow"), "{e}");
    }
}
