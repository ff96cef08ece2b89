//! Parsing one workflow file: JSON or YAML, one or many documents, plain Serverless Workflow 0.8
//! definitions and `kind: SonataFlow` custom resources (plus the ConfigMaps beside them).
//!
//! Parsing is as lenient as SonataFlow (no `specVersion` needed; `id` or `key`) and as strict as
//! safety needs: a size limit, an alias budget and a node budget bound the work any file can
//! cause. Scalars that identify a workflow (`id`, `name`, `version`...) are kept exactly as
//! written: `version: 1.10` stays `1.10`, `id: 010` stays `010`, `yes` stays `yes`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use serde_saphyr::Spanned;

use super::graph::Graph;
use super::states::{Shape, Start, States};

/// Bounds on the work one file may cause.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Files larger than this are refused before parsing.
    pub max_file_bytes: u64,
    /// Upper bound on YAML nodes after alias expansion (defeats "billion laughs").
    pub max_nodes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 1024 * 1024,
            max_nodes: 200_000,
        }
    }
}

/// What one file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFile {
    pub workflows: Vec<ParsedWorkflow>,
    /// `kind: ConfigMap` documents (a SonataFlow CR may mount them as files).
    pub config_maps: Vec<ConfigMap>,
    /// Documents that look like workflows but cannot be used (no id, no states...).
    pub problems: Vec<DocumentProblem>,
}

/// A workflow as written, before its input schema is resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedWorkflow {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub annotations: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub data_input_schema: Option<InputSchemaRef>,
    /// For a SonataFlow CR: the ConfigMaps it mounts (`spec.resources.configMaps`).
    pub mounts: Vec<Mount>,
    pub custom_resource: bool,
    /// 0-based index of the document in a multi-document file.
    pub document: usize,
    /// The states and transitions, for the workflow's diagram.
    pub graph: Arc<Graph>,
}

/// `dataInputSchema`, in either of its forms, reduced to what it points at.
#[derive(Debug, Clone, PartialEq)]
pub enum InputSchemaRef {
    /// A path or URI (`schemas/in.json`, `classpath:/schemas/in.json`, `file:///...`).
    Path(String),
    /// A JSON Schema written inline.
    Inline(Value),
}

/// `spec.resources.configMaps[*]` of a SonataFlow CR: a ConfigMap's keys appear as files under
/// `workflow_path` (relative to the workflow's folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub config_map: String,
    pub workflow_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMap {
    pub name: String,
    pub data: BTreeMap<String, String>,
}

/// A document that is meant as a workflow but cannot be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentProblem {
    pub document: usize,
    pub workflow_id: Option<String>,
    pub message: String,
}

/// Why a whole file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not valid UTF-8 text")]
    NotUtf8,
    #[error("invalid {format}: {reason}")]
    Syntax {
        format: &'static str,
        reason: String,
        /// The 1-based line the parser stopped at, when it says.
        line: Option<u64>,
    },
}

impl ParseError {
    /// The line of the file the error is at, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            ParseError::Syntax { line, .. } => *line,
            ParseError::NotUtf8 => None,
        }
    }
}

/// Parses the bytes of one file. `path` only decides the format (`.json` is JSON, anything else
/// YAML); the bytes have already passed the size limit.
pub fn parse_file(
    path: &str,
    bytes: &[u8],
    limits: &ParseLimits,
) -> Result<ParsedFile, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parsed = ParsedFile::default();
    if path.to_ascii_lowercase().ends_with(".json") {
        // serde_json is ten times faster than a YAML parser on JSON; raw values keep numbers
        // as written. A JSON file is always one document.
        let doc: Doc<Box<RawValue>> =
            serde_json::from_str(text).map_err(|e| ParseError::Syntax {
                format: "JSON",
                reason: e.to_string(),
                line: (e.line() > 0).then_some(e.line() as u64),
            })?;
        classify(text, 0, doc, &mut parsed);
    } else {
        let docs: Vec<Doc<Spanned<Value>>> =
            serde_saphyr::from_multiple_with_options(text, yaml_options(limits))
                .map_err(|e| syntax("YAML", e))?;
        for (index, doc) in docs.into_iter().enumerate() {
            classify(text, index, doc, &mut parsed);
        }
    }
    Ok(parsed)
}

fn syntax(format: &'static str, e: serde_saphyr::Error) -> ParseError {
    // The library's message carries a multi-line source snippet; the first line says it all.
    let text = e.to_string();
    let reason = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown error")
        .trim_start_matches("error: ")
        .to_owned();
    let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
    ParseError::Syntax {
        format,
        reason,
        line,
    }
}

fn yaml_options(limits: &ParseLimits) -> serde_saphyr::Options {
    let mut opts = serde_saphyr::Options::default();
    // `yes`/`on` stay strings and `010` is not a number: workflow data is untyped.
    opts.strict_booleans = true;
    opts.leading_zero_numbers_as_strings = true;
    // Jackson (SonataFlow's reader) lets the last duplicate key win; do the same.
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    opts.with_snippet = false;
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = limits.max_nodes;
    budget.max_total_scalar_bytes = (limits.max_file_bytes as usize).saturating_mul(4);
    opts.budget = Some(budget);
    opts.alias_limits.max_total_replayed_events = limits.max_nodes;
    opts
}

/// One document of a file, whatever it is. Anything that is not a mapping is `Other`.
enum Doc<S> {
    Mapping(Box<RawDoc<S>>),
    Other,
}

/// The fields of a document that matter to us; everything else is skipped unread. Loosely typed
/// fields are `Value` so that a non-workflow document of another shape is skipped, not refused;
/// of `states` only what a diagram draws is built.
///
/// A key written twice keeps its last value, as SonataFlow's reader (Jackson, whose
/// `STRICT_DUPLICATE_DETECTION` and `FAIL_ON_READING_DUP_TREE_KEY` are off by default) does, in
/// YAML and in JSON alike; serde's derived struct reader would refuse the document instead.
#[derive(Debug)]
struct RawDoc<S> {
    id: Option<S>,
    key: Option<S>,
    name: Option<S>,
    description: Option<S>,
    version: Option<S>,
    spec_version: Option<de::IgnoredAny>,
    annotations: Option<Value>,
    metadata: Option<Value>,
    data_input_schema: Option<Value>,
    states: Option<States>,
    start: Option<Start>,
    kind: Option<S>,
    spec: Option<Value>,
    data: Option<Value>,
}

impl<S> Default for RawDoc<S> {
    fn default() -> Self {
        Self {
            id: None,
            key: None,
            name: None,
            description: None,
            version: None,
            spec_version: None,
            annotations: None,
            metadata: None,
            data_input_schema: None,
            states: None,
            start: None,
            kind: None,
            spec: None,
            data: None,
        }
    }
}

/// The keys of a document [`RawDoc`] keeps; any other key (or a key that is not a string) is
/// skipped.
enum Field {
    Id,
    Key,
    Name,
    Description,
    Version,
    SpecVersion,
    Annotations,
    Metadata,
    DataInputSchema,
    States,
    Start,
    Kind,
    Spec,
    Data,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
                Ok(match key {
                    "id" => Field::Id,
                    "key" => Field::Key,
                    "name" => Field::Name,
                    "description" => Field::Description,
                    "version" => Field::Version,
                    "specVersion" => Field::SpecVersion,
                    "annotations" => Field::Annotations,
                    "metadata" => Field::Metadata,
                    "dataInputSchema" => Field::DataInputSchema,
                    "states" => Field::States,
                    "start" => Field::Start,
                    "kind" => Field::Kind,
                    "spec" => Field::Spec,
                    "data" => Field::Data,
                    _ => Field::Other,
                })
            }
            fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<Field, E> {
                std::str::from_utf8(key).map_or(Ok(Field::Other), |k| self.visit_str(k))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field, E> {
                Ok(Field::Other)
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

impl<S> RawDoc<S> {
    /// Reads the entries of a mapping, the last of a repeated key winning.
    fn from_map<'de, A: de::MapAccess<'de>>(mut map: A) -> Result<Self, A::Error>
    where
        S: Deserialize<'de>,
    {
        let mut raw = RawDoc::default();
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Id => raw.id = map.next_value()?,
                Field::Key => raw.key = map.next_value()?,
                Field::Name => raw.name = map.next_value()?,
                Field::Description => raw.description = map.next_value()?,
                Field::Version => raw.version = map.next_value()?,
                Field::SpecVersion => raw.spec_version = map.next_value()?,
                Field::Annotations => raw.annotations = map.next_value()?,
                Field::Metadata => raw.metadata = map.next_value()?,
                Field::DataInputSchema => raw.data_input_schema = map.next_value()?,
                Field::States => raw.states = map.next_value()?,
                Field::Start => raw.start = map.next_value()?,
                Field::Kind => raw.kind = map.next_value()?,
                Field::Spec => raw.spec = map.next_value()?,
                Field::Data => raw.data = map.next_value()?,
                Field::Other => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

/// A scalar field that keeps its spelling: `1.10` stays `1.10`.
trait ScalarText {
    /// The text as written; `None` when the field is not a scalar (a mapping, a list, null).
    fn written(&self, src: &str) -> Option<String>;
}

/// In YAML, the scalar's place in the source: the value `1.10` is a float, but the text under its
/// span is `1.10`. The span of the definition is used, so a value reached through an alias or a
/// merge key is read where it was written.
impl ScalarText for Spanned<Value> {
    fn written(&self, src: &str) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Number(_) | Value::Bool(_) => {
                let span = self.defined.span();
                let text = match (span.byte_offset(), span.byte_len()) {
                    (Some(start), Some(len)) => src.get(start as usize..(start + len) as usize),
                    _ => None,
                };
                match text {
                    // A plain scalar: its spelling is its value (`1.10`, `010`, `yes`).
                    Some(t) if !t.starts_with(['\'', '"', '|', '>']) => Some(t.to_owned()),
                    // A quoted or block scalar made a number by a tag (`!!int '12'`): its
                    // content, without the quotes.
                    Some(t) => Some(
                        serde_saphyr::from_str::<String>(t)
                            .unwrap_or_else(|_| self.value.to_string()),
                    ),
                    None => Some(self.value.to_string()),
                }
            }
            _ => None,
        }
    }
}

/// In JSON, the raw text of the value.
impl ScalarText for Box<RawValue> {
    fn written(&self, _: &str) -> Option<String> {
        let raw = self.get();
        match raw.as_bytes().first()? {
            b'"' => serde_json::from_str(raw).ok(),
            b'-' | b'0'..=b'9' | b't' | b'f' => Some(raw.to_owned()),
            _ => None,
        }
    }
}

impl<'de, S: Deserialize<'de>> Deserialize<'de> for Doc<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DocVisitor<S>(std::marker::PhantomData<S>);
        impl<'de, S: Deserialize<'de>> Visitor<'de> for DocVisitor<S> {
            type Value = Doc<S>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a YAML or JSON document")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Doc<S>, A::Error> {
                RawDoc::<S>::from_map(map).map(|raw| Doc::Mapping(Box::new(raw)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Doc<S>, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Doc::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Doc<S>, E> {
                Ok(Doc::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Doc<S>, E> {
                Ok(Doc::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Doc<S>, E> {
                Ok(Doc::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Doc<S>, E> {
                Ok(Doc::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Doc<S>, E> {
                Ok(Doc::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Doc<S>, E> {
                Ok(Doc::Other)
            }
            fn visit_none<E: de::Error>(self) -> Result<Doc<S>, E> {
                Ok(Doc::Other)
            }
        }
        d.deserialize_any(DocVisitor(std::marker::PhantomData))
    }
}

/// The text of a scalar field as written; `None` when absent, empty, or not a scalar.
fn text<S: ScalarText>(src: &str, field: &Option<S>) -> Option<String> {
    let written = field.as_ref()?.written(src)?;
    Some(written.trim().to_owned()).filter(|t| !t.is_empty())
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
    .map(|s| s.trim().to_owned())
    .filter(|s| !s.is_empty())
}

fn classify<S: ScalarText>(src: &str, index: usize, doc: Doc<S>, out: &mut ParsedFile) {
    let Doc::Mapping(raw) = doc else { return };
    match text(src, &raw.kind).as_deref() {
        Some("SonataFlow") => sonataflow_cr(index, &raw, out),
        Some("ConfigMap") => config_map(&raw, out),
        _ if is_workflow(&raw) => plain_workflow(src, index, &raw, out),
        _ => {}
    }
}

/// A document is meant as a workflow when it has the shape of one (`states`, `start` or
/// `specVersion`), or an identity (`id`/`key`) together with a `name` or `version`; function or
/// event definition files, OpenAPI documents and the like are skipped silently.
fn is_workflow<S>(raw: &RawDoc<S>) -> bool {
    raw.states.is_some()
        || raw.start.is_some()
        || raw.spec_version.is_some()
        || ((raw.id.is_some() || raw.key.is_some())
            && (raw.name.is_some() || raw.version.is_some()))
}

fn states_problem(states: Option<&States>) -> Option<&'static str> {
    match states.map(|s| s.shape) {
        None | Some(Shape::Null) => {
            Some("has no `states`: SonataFlow cannot run it; add at least one state")
        }
        Some(Shape::EmptyList) => {
            Some("has an empty `states` list: SonataFlow cannot run it; add at least one state")
        }
        Some(Shape::List) => None,
        Some(Shape::Other) => Some("`states` is not a list of states"),
    }
}

fn plain_workflow<S: ScalarText>(src: &str, index: usize, raw: &RawDoc<S>, out: &mut ParsedFile) {
    let id = text(src, &raw.id).or_else(|| text(src, &raw.key));
    let Some(id) = id else {
        out.problems.push(DocumentProblem {
            document: index,
            workflow_id: None,
            message: "has no `id` (nor `key`): SonataFlow needs one to deploy it; add `id: <name>`"
                .into(),
        });
        return;
    };
    if let Some(problem) = states_problem(raw.states.as_ref()) {
        out.problems.push(DocumentProblem {
            document: index,
            workflow_id: Some(id),
            message: problem.into(),
        });
        return;
    }
    out.workflows.push(ParsedWorkflow {
        name: text(src, &raw.name),
        description: text(src, &raw.description),
        version: text(src, &raw.version),
        annotations: string_list(raw.annotations.as_ref()),
        metadata: string_map(raw.metadata.as_ref()),
        data_input_schema: raw.data_input_schema.as_ref().and_then(input_schema_ref),
        mounts: Vec::new(),
        custom_resource: false,
        document: index,
        graph: Arc::new(graph(raw.states.as_ref(), raw.start.as_ref())),
        id,
    });
}

fn sonataflow_cr<S>(index: usize, raw: &RawDoc<S>, out: &mut ParsedFile) {
    let meta = raw.metadata.as_ref();
    let id = meta.and_then(|m| m.get("name")).and_then(value_text);
    let Some(id) = id else {
        out.problems.push(DocumentProblem {
            document: index,
            workflow_id: None,
            message: "is a SonataFlow resource without `metadata.name`; add one".into(),
        });
        return;
    };
    let annotations = meta.and_then(|m| m.get("annotations"));
    let annotation = |key: &str| annotations.and_then(|a| a.get(key)).and_then(value_text);
    let spec = raw.spec.as_ref();
    let Some(flow) = spec.and_then(|s| s.get("flow")).filter(|f| f.is_object()) else {
        out.problems.push(DocumentProblem {
            document: index,
            workflow_id: Some(id),
            message: "is a SonataFlow resource without `spec.flow`; the workflow goes there".into(),
        });
        return;
    };
    // `spec` is a parsed value already: read its states from it (they cannot fail to read).
    let states = flow.get("states").and_then(|v| States::deserialize(v).ok());
    let start = flow.get("start").and_then(|v| Start::deserialize(v).ok());
    if let Some(problem) = states_problem(states.as_ref()) {
        out.problems.push(DocumentProblem {
            document: index,
            workflow_id: Some(id),
            message: format!("`spec.flow` {problem}"),
        });
        return;
    }
    let mounts = spec
        .and_then(|s| s.pointer("/resources/configMaps"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|m| {
                    let name = m.pointer("/configMap/name").and_then(value_text)?;
                    let workflow_path = m
                        .get("workflowPath")
                        .and_then(value_text)
                        .unwrap_or_default();
                    Some(Mount {
                        config_map: name,
                        workflow_path,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    out.workflows.push(ParsedWorkflow {
        name: flow.get("name").and_then(value_text),
        description: annotation("sonataflow.org/description")
            .or_else(|| flow.get("description").and_then(value_text)),
        version: annotation("sonataflow.org/version")
            .or_else(|| flow.get("version").and_then(value_text)),
        annotations: string_list(flow.get("annotations")),
        metadata: string_map(flow.get("metadata")),
        data_input_schema: flow.get("dataInputSchema").and_then(input_schema_ref),
        mounts,
        custom_resource: true,
        document: index,
        graph: Arc::new(graph(states.as_ref(), start.as_ref())),
        id,
    });
}

fn graph(states: Option<&States>, start: Option<&Start>) -> Graph {
    let raw = states.map_or(&[][..], |s| &s.states[..]);
    Graph::build(raw, start.and_then(|s| s.0.as_deref()))
}

fn config_map<S>(raw: &RawDoc<S>, out: &mut ParsedFile) {
    let Some(name) = raw
        .metadata
        .as_ref()
        .and_then(|m| m.get("name"))
        .and_then(value_text)
    else {
        return;
    };
    let data = raw
        .data
        .as_ref()
        .and_then(Value::as_object)
        .map(|d| {
            d.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    out.config_maps.push(ConfigMap { name, data });
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(value_text).collect(),
        _ => Vec::new(),
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    match v {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), value_text(v)?)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// `dataInputSchema: <path>` or `{schema: <path or inline schema>, failOnValidationErrors}`.
fn input_schema_ref(v: &Value) -> Option<InputSchemaRef> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(InputSchemaRef::Path(s.trim().to_owned())),
        Value::Object(m) => match m.get("schema") {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                Some(InputSchemaRef::Path(s.trim().to_owned()))
            }
            Some(inline @ Value::Object(_)) => Some(InputSchemaRef::Inline(inline.clone())),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str, text: &str) -> ParsedFile {
        parse_file(path, text.as_bytes(), &ParseLimits::default()).unwrap()
    }

    #[test]
    fn scalars_keep_their_spelling() {
        let f = parse(
            "a.sw.yaml",
            "id: '010'\nname: yes\nversion: 1.10\nstates: [{name: s}]\n",
        );
        let w = &f.workflows[0];
        assert_eq!(w.id, "010");
        assert_eq!(w.name.as_deref(), Some("yes"));
        assert_eq!(w.version.as_deref(), Some("1.10"));
        let f = parse("a.sw.yaml", "id: 010\nversion: 1.0\nstates: [{name: s}]\n");
        assert_eq!(f.workflows[0].id, "010");
        assert_eq!(f.workflows[0].version.as_deref(), Some("1.0"));
    }

    #[test]
    fn a_tagged_quoted_scalar_is_its_content_without_quotes() {
        let f = parse(
            "a.sw.yaml",
            "id: !!int '12'\nname: !!int '12'\nversion: !!float \"1.10\"\ndescription: !!int |\n  7\nstates: [{name: s}]\n",
        );
        let w = &f.workflows[0];
        assert_eq!(w.id, "12");
        assert_eq!(w.name.as_deref(), Some("12"));
        assert_eq!(w.version.as_deref(), Some("1.10"));
        assert_eq!(w.description.as_deref(), Some("7"));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_in_yaml_and_json_as_jackson_does() {
        let yaml = "id: first\nname: first\nid: dup\nname: second\nmetadata: {a: '1', a: '2'}\ndataInputSchema: a.json\ndataInputSchema: {schema: {type: object, type: string}}\nstates: [{name: s}]\n";
        let json = r#"{"id": "first", "name": "first", "id": "dup", "name": "second", "metadata": {"a": "1", "a": "2"}, "dataInputSchema": "a.json", "dataInputSchema": {"schema": {"type": "object", "type": "string"}}, "states": [{"name": "s"}]}"#;
        for (path, text) in [("d.sw.yaml", yaml), ("d.sw.json", json)] {
            let f = parse(path, text);
            let w = &f.workflows[0];
            assert_eq!(w.id, "dup", "{path}");
            assert_eq!(w.name.as_deref(), Some("second"), "{path}");
            assert_eq!(w.metadata["a"], "2", "{path}");
            assert_eq!(
                w.data_input_schema,
                Some(InputSchemaRef::Inline(
                    serde_json::json!({"type": "string"})
                )),
                "{path}"
            );
        }
    }

    #[test]
    fn json_numbers_keep_their_spelling_too() {
        let f = parse(
            "a.sw.json",
            r#"{"id": "j", "version": 1.10, "states": [{}]}"#,
        );
        assert_eq!(f.workflows[0].version.as_deref(), Some("1.10"));
    }

    #[test]
    fn key_is_used_when_id_is_missing_and_id_wins_over_key() {
        let f = parse("a.sw.yaml", "key: k\nstates: [{}]\n");
        assert_eq!(f.workflows[0].id, "k");
        let f = parse("a.sw.yaml", "id: i\nkey: k\nstates: [{}]\n");
        assert_eq!(f.workflows[0].id, "i");
    }

    #[test]
    fn a_workflow_without_id_is_a_problem_not_a_skip() {
        let f = parse("a.sw.yaml", "name: n\nstates: [{}]\n");
        assert!(f.workflows.is_empty());
        assert!(f.problems[0].message.contains("no `id`"));
    }

    #[test]
    fn fields_of_an_unexpected_shape_do_not_fail_the_file() {
        let f = parse(
            "a.sw.yaml",
            "id: x\nname: {en: Hello}\nversion: [1]\nstates: [{}]\n",
        );
        assert_eq!(f.workflows[0].name, None);
        assert_eq!(f.workflows[0].version, None);
    }

    #[test]
    fn non_workflow_documents_are_skipped() {
        let f = parse("f.json", r#"{"functions": [{"name": "x"}]}"#);
        assert_eq!(f, ParsedFile::default());
        let f = parse("f.json", r#"[1, 2]"#);
        assert_eq!(f, ParsedFile::default());
    }

    #[test]
    fn every_workflow_of_a_multi_document_file_counts() {
        let f = parse(
            "m.sw.yaml",
            "id: a\nstates: [{}]\n---\nkind: Other\n---\n- list\n---\nid: b\nstates: [{}]\n",
        );
        let ids: Vec<_> = f
            .workflows
            .iter()
            .map(|w| (w.id.as_str(), w.document))
            .collect();
        assert_eq!(ids, [("a", 0), ("b", 3)]);
    }

    #[test]
    fn bom_crlf_anchors_and_merge_keys_work() {
        let text =
            "\u{feff}common: &c\r\n  description: shared\r\nid: x\r\n<<: *c\r\nstates: [{}]\r\n";
        let f = parse("x.sw.yaml", text);
        assert_eq!(f.workflows[0].description.as_deref(), Some("shared"));
    }

    #[test]
    fn an_alias_bomb_is_refused_quickly() {
        let mut bomb = String::from("a: &a [x,x,x,x,x,x,x,x,x,x]\n");
        for (i, c) in ('b'..='j').enumerate() {
            let prev = (b'a' + i as u8) as char;
            bomb.push_str(&format!(
                "{c}: &{c} [{}]\n",
                vec![format!("*{prev}"); 10].join(",")
            ));
        }
        bomb.push_str("id: boom\nstates: [{}]\n");
        let started = std::time::Instant::now();
        let err = parse_file("b.sw.yaml", bomb.as_bytes(), &ParseLimits::default()).unwrap_err();
        assert!(err.to_string().contains("limit exceeded"), "{err}");
        // Refused at the limit, not after expanding: milliseconds; the bound leaves room for a
        // loaded machine.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn syntax_errors_are_one_line_with_a_position() {
        let err = parse_file("x.sw.yaml", b"id: [1\n", &ParseLimits::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("invalid YAML: unclosed bracket"), "{msg}");
        assert!(msg.contains("line 1, column 5"), "{msg}");
        assert!(!msg.contains('\n'));
        assert_eq!(err.line(), Some(1));
        let json = parse_file(
            "x.sw.json",
            b"{\n  \"id\": 1,\n  oops\n}",
            &ParseLimits::default(),
        );
        assert_eq!(json.unwrap_err().line(), Some(3));
    }

    #[test]
    fn a_sonataflow_cr_takes_id_description_and_version_from_metadata() {
        let f = parse(
            "cr.yaml",
            r#"
apiVersion: sonataflow.org/v1alpha08
kind: SonataFlow
metadata:
  name: greeting
  annotations:
    sonataflow.org/description: Says hello
    sonataflow.org/version: "0.1"
spec:
  resources:
    configMaps:
      - configMap: {name: greeting-schemas}
        workflowPath: schemas
  flow:
    dataInputSchema: schemas/in.json
    states: [{name: s}]
---
kind: ConfigMap
apiVersion: v1
metadata: {name: greeting-schemas}
data:
  in.json: '{"type": "object"}'
"#,
        );
        let w = &f.workflows[0];
        assert_eq!(w.id, "greeting");
        assert!(w.custom_resource);
        assert_eq!(w.description.as_deref(), Some("Says hello"));
        assert_eq!(w.version.as_deref(), Some("0.1"));
        assert_eq!(
            w.mounts,
            [Mount {
                config_map: "greeting-schemas".into(),
                workflow_path: "schemas".into()
            }]
        );
        assert_eq!(f.config_maps[0].data["in.json"], r#"{"type": "object"}"#);
    }

    #[test]
    fn input_schema_forms() {
        let f = parse(
            "a.sw.yaml",
            "id: a\nstates: [{}]\ndataInputSchema:\n  schema: {type: object}\n  failOnValidationErrors: false\n",
        );
        assert!(matches!(
            f.workflows[0].data_input_schema,
            Some(InputSchemaRef::Inline(_))
        ));
        let f = parse(
            "a.sw.yaml",
            "id: a\nstates: [{}]\ndataInputSchema: s.json\n",
        );
        assert_eq!(
            f.workflows[0].data_input_schema,
            Some(InputSchemaRef::Path("s.json".into()))
        );
    }
}
