//! An encoder for binary-mode `MultipleProcessInstanceDataEvent` groups, written from the layout
//! in `../shared/sonataflow-events/README.md` §6 (Kogito's `DataOutputStream` encoding), not from
//! the daemon's reader: tests build groups with it and check the reader against it, and check it
//! against the start of a real capture (kie-issues#2113).
//!
//! ```ignore
//! #[path = "support/kogito_binary.rs"]
//! mod kogito_binary;
//! let group = kogito_binary::Group { flags: 7, records: vec![..], events: vec![..] };
//! let envelope = group.envelope("group-1", false); // the structured JSON a runtime POSTs
//! ```
#![allow(dead_code)]

use std::io::Write;

use base64::Engine;
use serde_json::{Value, json};

/// `ProcessInstanceDataEventExtensionRecord`: what one instance's events in a group share.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub process_id: String,
    pub instance_id: String,
    pub version: String,
    /// `kogitoprocist`, the state as a string.
    pub state: String,
    pub process_type: Option<String>,
    pub parent_instance_id: Option<String>,
    pub root_process_id: Option<String>,
    pub root_instance_id: Option<String>,
    pub business_key: Option<String>,
    pub identity: Option<String>,
    /// Epoch milliseconds.
    pub time: Option<i64>,
    pub source: String,
    pub addons: Option<String>,
}

/// `writeObject`'s payloads.
#[derive(Debug, Clone)]
pub enum Object {
    Null,
    Json(String),
    Default(String),
    Str(String),
    Int(i32),
    Short(i16),
    Long(i64),
    Byte(i8),
    Bool(bool),
    Float(f32),
    Double(f64),
}

/// The five bodies.
#[derive(Debug, Clone)]
pub enum Body {
    State {
        event_type: Option<i32>,
        process_name: Option<String>,
        state: Option<i32>,
        /// `None` is written as the count -1.
        roles: Option<Vec<Option<String>>>,
        sla_due: Option<i64>,
        /// Written when flag 2 is set.
        cloud_event_id: Option<String>,
        cloud_event_source: Option<String>,
    },
    Error {
        node_definition_id: String,
        node_instance_id: String,
        error_message: String,
    },
    Node {
        event_type: Option<i32>,
        connection_node_definition_id: Option<String>,
        node_definition_id: String,
        node_name: Option<String>,
        node_type: String,
        node_instance_id: String,
        work_item_id: Option<String>,
        sla_due: Option<i64>,
        data: Object,
        /// Written when flag 1 is set.
        retrigger: Object,
        /// Written when flag 4 is set.
        input: Object,
        output: Object,
    },
    Variable {
        node_container_definition_id: Option<String>,
        node_container_instance_id: Option<String>,
        variable_id: Option<String>,
        variable_name: String,
        value: Object,
    },
    Sla {
        node_definition_id: String,
        node_name: Option<String>,
        node_type: String,
        node_instance_id: String,
        sla_due: Option<i64>,
    },
}

impl Body {
    pub fn ce_type(&self) -> &'static str {
        match self {
            Body::State { .. } => "ProcessInstanceStateDataEvent",
            Body::Error { .. } => "ProcessInstanceErrorDataEvent",
            Body::Node { .. } => "ProcessInstanceNodeDataEvent",
            Body::Variable { .. } => "ProcessInstanceVariableDataEvent",
            Body::Sla { .. } => "ProcessInstanceSLADataEvent",
        }
    }

    /// A state event: `eventType` 1 started, 2 ended (read `state`).
    pub fn state(event_type: i32, state: i32) -> Body {
        Body::State {
            event_type: Some(event_type),
            process_name: Some("A workflow".into()),
            state: Some(state),
            roles: None,
            sla_due: None,
            cloud_event_id: None,
            cloud_event_source: None,
        }
    }

    pub fn error(message: &str) -> Body {
        Body::Error {
            node_definition_id: "2".into(),
            node_instance_id: "e1f2a3b4-0000-4000-8000-000000000002".into(),
            error_message: message.into(),
        }
    }

    /// A node event with JSON data and input/output parameters.
    pub fn node(event_type: i32, name: &str) -> Body {
        Body::Node {
            event_type: Some(event_type),
            connection_node_definition_id: Some("1_2".into()),
            node_definition_id: "2".into(),
            node_name: Some(name.into()),
            node_type: "ActionNode".into(),
            node_instance_id: "c095b003-64ef-4cc1-93d1-b809d9392b74".into(),
            work_item_id: None,
            sla_due: None,
            data: Object::Default(r#"{"k":[1,{"n":null}]}"#.into()),
            retrigger: Object::Bool(false),
            input: Object::Json(r#"{"name":"x"}"#.into()),
            output: Object::Null,
        }
    }

    pub fn variable(name: &str, value: Object) -> Body {
        Body::Variable {
            node_container_definition_id: Some("1".into()),
            node_container_instance_id: None,
            variable_id: Some(name.into()),
            variable_name: name.into(),
            value,
        }
    }
}

/// One event of a group.
#[derive(Debug, Clone)]
pub struct Event {
    /// Index into [`Group::records`].
    pub record: usize,
    /// Milliseconds added to the record's time.
    pub time_delta: i32,
    pub spec_version: String,
    pub id: String,
    pub subject: Option<String>,
    pub data_content_type: Option<String>,
    pub data_schema: Option<String>,
    pub body: Option<Body>,
}

impl Event {
    pub fn new(record: usize, id: &str, body: Body) -> Event {
        Event {
            record,
            time_delta: 0,
            spec_version: "1.0".into(),
            id: id.into(),
            subject: None,
            data_content_type: Some("application/json".into()),
            data_schema: None,
            body: Some(body),
        }
    }
}

/// A group: its instance records, its events and its `marshallflags`.
#[derive(Debug, Clone)]
pub struct Group {
    pub flags: u32,
    pub records: Vec<Record>,
    pub events: Vec<Event>,
}

impl Group {
    /// The byte stream.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.int(self.events.len() as i32);
        // Records are written the first time an event of theirs comes; later events name the
        // record by the order in which records were written.
        let mut ordinal: Vec<Option<u8>> = vec![None; self.records.len()];
        let mut written = 0u8;
        for event in &self.events {
            match ordinal[event.record] {
                Some(i) => w.byte(i),
                None => {
                    w.byte(0xFF);
                    w.record(&self.records[event.record]);
                    ordinal[event.record] = Some(written);
                    written += 1;
                }
            }
            let ce_type = event
                .body
                .as_ref()
                .map_or("ProcessInstanceNodeDataEvent", Body::ce_type);
            w.utf(ce_type);
            w.int(event.time_delta);
            w.utf(&event.spec_version);
            w.utf(&event.id);
            w.nutf(event.subject.as_deref());
            w.nutf(event.data_content_type.as_deref());
            w.nutf(event.data_schema.as_deref());
            match &event.body {
                None => w.bool(false),
                Some(body) => {
                    w.bool(true);
                    w.body(body, self.flags);
                }
            }
        }
        w.0
    }

    /// The structured CloudEvent a runtime POSTs (`MultipleProcessInstanceDataEventSerializer`):
    /// the source of the first event's record, `compressdata` only when gzipped.
    pub fn envelope(&self, id: &str, gzip: bool) -> Value {
        let mut envelope = json!({
            "datacontenttype": "application/octet-stream",
            "source": self.records[self.events[0].record].source,
            "id": id,
            "specversion": "1.0",
            "type": "MultipleProcessInstanceDataEvent",
        });
        if gzip {
            envelope["compressdata"] = json!(true);
        }
        envelope["data"] = json!(self.base64(gzip));
        envelope["marshallflags"] = json!(self.flags);
        envelope
    }

    /// The payload as base64 text, gzipped first when asked.
    pub fn base64(&self, gzip: bool) -> String {
        let bytes = if gzip {
            gzip_bytes(&self.encode())
        } else {
            self.encode()
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

pub fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// `DataOutputStream` and `KogitoEventBodySerializationHelper`, as the README describes them.
struct Writer(Vec<u8>);

impl Writer {
    fn byte(&mut self, b: u8) {
        self.0.push(b);
    }

    fn bool(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }

    /// `int(n)`: `07`+1 byte if n<127, `05`+2 bytes if n<32767, else `04`+4 bytes.
    fn int(&mut self, n: i32) {
        if n < 127 {
            self.0.push(7);
            self.0.push(n as i8 as u8);
        } else if n < 32767 {
            self.0.push(5);
            self.0.extend((n as i16).to_be_bytes());
        } else {
            self.0.push(4);
            self.0.extend(n.to_be_bytes());
        }
    }

    /// `Integer`: `00` for null, else `int`.
    fn integer(&mut self, n: Option<i32>) {
        match n {
            None => self.0.push(0),
            Some(n) => self.int(n),
        }
    }

    /// `utf`: u16 length, then modified UTF-8.
    fn utf(&mut self, s: &str) {
        let mut bytes = Vec::new();
        for unit in s.encode_utf16() {
            match unit {
                1..=0x7F => bytes.push(unit as u8),
                0 | 0x80..=0x7FF => {
                    bytes.push(0xC0 | (unit >> 6) as u8);
                    bytes.push(0x80 | (unit & 0x3F) as u8);
                }
                _ => {
                    bytes.push(0xE0 | (unit >> 12) as u8);
                    bytes.push(0x80 | ((unit >> 6) & 0x3F) as u8);
                    bytes.push(0x80 | (unit & 0x3F) as u8);
                }
            }
        }
        self.0.extend((bytes.len() as u16).to_be_bytes());
        self.0.extend(bytes);
    }

    fn nutf(&mut self, s: Option<&str>) {
        match s {
            None => self.bool(false),
            Some(s) => {
                self.bool(true);
                self.utf(s);
            }
        }
    }

    fn date(&mut self, millis: Option<i64>) {
        match millis {
            None => self.bool(false),
            Some(m) => {
                self.bool(true);
                self.0.extend(m.to_be_bytes());
            }
        }
    }

    fn object(&mut self, o: &Object) {
        match o {
            Object::Null => self.0.push(0),
            Object::Json(text) | Object::Default(text) => {
                self.0
                    .push(if matches!(o, Object::Json(_)) { 1 } else { 2 });
                self.0.extend((text.len() as i32).to_be_bytes());
                self.0.extend(text.as_bytes());
            }
            Object::Str(s) => {
                self.0.push(3);
                self.utf(s);
            }
            Object::Int(n) => {
                self.0.push(4);
                self.0.extend(n.to_be_bytes());
            }
            Object::Short(n) => {
                self.0.push(5);
                self.0.extend(n.to_be_bytes());
            }
            Object::Long(n) => {
                self.0.push(6);
                self.0.extend(n.to_be_bytes());
            }
            Object::Byte(n) => {
                self.0.push(7);
                self.0.push(*n as u8);
            }
            Object::Bool(b) => {
                self.0.push(8);
                self.bool(*b);
            }
            Object::Float(f) => {
                self.0.push(9);
                self.0.extend(f.to_be_bytes());
            }
            Object::Double(f) => {
                self.0.push(10);
                self.0.extend(f.to_be_bytes());
            }
        }
    }

    fn record(&mut self, r: &Record) {
        self.utf(&r.process_id);
        self.utf(&r.instance_id);
        self.utf(&r.version);
        self.utf(&r.state);
        self.nutf(r.process_type.as_deref());
        self.nutf(r.parent_instance_id.as_deref());
        self.nutf(r.root_process_id.as_deref());
        self.nutf(r.root_instance_id.as_deref());
        self.nutf(r.business_key.as_deref());
        self.nutf(r.identity.as_deref());
        self.date(r.time);
        self.utf(&r.source);
        self.nutf(r.addons.as_deref());
    }

    fn body(&mut self, body: &Body, flags: u32) {
        match body {
            Body::State {
                event_type,
                process_name,
                state,
                roles,
                sla_due,
                cloud_event_id,
                cloud_event_source,
            } => {
                self.integer(*event_type);
                self.nutf(process_name.as_deref());
                self.integer(*state);
                match roles {
                    None => self.int(-1),
                    Some(roles) => {
                        self.int(roles.len() as i32);
                        for role in roles {
                            self.nutf(role.as_deref());
                        }
                    }
                }
                self.date(*sla_due);
                if flags & 2 != 0 {
                    self.nutf(cloud_event_id.as_deref());
                    self.nutf(cloud_event_source.as_deref());
                }
            }
            Body::Error {
                node_definition_id,
                node_instance_id,
                error_message,
            } => {
                self.utf(node_definition_id);
                self.utf(node_instance_id);
                self.utf(error_message);
            }
            Body::Node {
                event_type,
                connection_node_definition_id,
                node_definition_id,
                node_name,
                node_type,
                node_instance_id,
                work_item_id,
                sla_due,
                data,
                retrigger,
                input,
                output,
            } => {
                self.integer(*event_type);
                self.nutf(connection_node_definition_id.as_deref());
                self.utf(node_definition_id);
                self.nutf(node_name.as_deref());
                self.utf(node_type);
                self.utf(node_instance_id);
                self.nutf(work_item_id.as_deref());
                self.date(*sla_due);
                self.object(data);
                if flags & 1 != 0 {
                    self.object(retrigger);
                }
                if flags & 4 != 0 {
                    self.object(input);
                    self.object(output);
                }
            }
            Body::Variable {
                node_container_definition_id,
                node_container_instance_id,
                variable_id,
                variable_name,
                value,
            } => {
                self.nutf(node_container_definition_id.as_deref());
                self.nutf(node_container_instance_id.as_deref());
                self.nutf(variable_id.as_deref());
                self.utf(variable_name);
                self.object(value);
            }
            Body::Sla {
                node_definition_id,
                node_name,
                node_type,
                node_instance_id,
                sla_due,
            } => {
                self.utf(node_definition_id);
                self.nutf(node_name.as_deref());
                self.utf(node_type);
                self.utf(node_instance_id);
                self.date(*sla_due);
            }
        }
    }
}

/// A record for a SonataFlow (`SW`) instance of `process_id`, served at
/// `http://<process_id>.sonataflow-infra/<process_id>`.
pub fn record(process_id: &str, instance_id: &str, time: i64) -> Record {
    Record {
        process_id: process_id.into(),
        instance_id: instance_id.into(),
        version: "1.0".into(),
        state: "1".into(),
        process_type: Some("SW".into()),
        time: Some(time),
        source: format!("http://{process_id}.sonataflow-infra/{process_id}"),
        addons: Some(
            "jobs-management,prometheus-monitoring,process-management,source-files".into(),
        ),
        ..Record::default()
    }
}
