//! Entities as text: YAML documents (what the catalog reads) and pretty JSON (`--format json`).
//!
//! Block-style YAML and pretty JSON indent every line by its depth, so a deeply nested form
//! would grow quadratically: a 40 KB schema nested a few hundred levels made a 2 MB template.
//! Both writers therefore switch style at a fixed depth: a collection of the form whose entries
//! would start right of column [`MAX_BLOCK_INDENT`] is written in YAML flow style
//! (`{type: string, enum: [a, b]}`), and JSON is compact below [`JSON_PRETTY_DEPTH`] levels. No
//! YAML line of a template is then indented by more than 18 columns, and its text is at most
//! about four times the size of the compact JSON of the same entity (the worst case is a wide
//! form of one-letter keys at the deepest block column, ~3.8 times). Forms of the ~650 corpus
//! workflows render in block style exactly as before. Output stays deterministic: the style
//! depends on the position alone.

use std::io;

use rayon::prelude::*;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use super::map::Template;

/// The deepest column at which a block-style line of the form starts; a collection whose
/// entries would start further right is written in flow style. The deepest form of the corpus
/// reaches it exactly.
pub const MAX_BLOCK_INDENT: usize = 18;

/// Levels of a template document written pretty in JSON (the template is level 1, `spec` 2,
/// `parameters` 3, a page 4...): as deep as the corpus' forms go.
const JSON_PRETTY_DEPTH: usize = 11;

/// One Template as a YAML document (no `---`).
///
/// Ambiguous scalars (`yes`, `1.0`, `010`, `null`) are quoted by serde-saphyr, so every string
/// reads back as a string.
pub fn to_yaml_one(template: &Template) -> String {
    // Only strings, sequences, string-keyed maps and JSON values: nothing the serializer rejects.
    serde_saphyr::to_string(template).expect("a Template always serialises to YAML")
}

/// Templates as one multi-document YAML stream, `---` between documents; empty for no templates.
pub fn to_yaml(templates: &[Template]) -> String {
    let docs: Vec<String> = templates.par_iter().map(to_yaml_one).collect();
    docs.join("---\n")
}

/// A value (a Template, or a list of them) as JSON indented by two spaces, compact below the
/// depth at which YAML turns to flow style; with a final newline. `templates_nested`: how many
/// levels the templates are below the top (1 in a list of templates).
pub fn to_json_pretty<T: Serialize + ?Sized>(value: &T, templates_nested: usize) -> String {
    let mut out = Vec::with_capacity(4096);
    write_json_pretty(&mut out, value, templates_nested).expect("writing to memory never fails");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// [`to_json_pretty`] into a writer, without holding the text.
pub fn write_json_pretty<W: io::Write, T: Serialize + ?Sized>(
    out: W,
    value: &T,
    templates_nested: usize,
) -> io::Result<()> {
    let formatter = Formatter {
        depth: 0,
        has_value: false,
        pretty_depth: JSON_PRETTY_DEPTH + templates_nested,
    };
    let mut ser = serde_json::Serializer::with_formatter(out, formatter);
    value.serialize(&mut ser).map_err(io::Error::other)?;
    ser.into_inner().write_all(b"\n")
}

/// [`to_yaml`] into a writer: rendered a batch at a time on every core, written in order, so
/// the whole stream is never held.
pub fn write_yaml<W: io::Write>(out: W, templates: &[Template]) -> io::Result<()> {
    let mut stream = YamlStream::new(out);
    for batch in templates.chunks(256) {
        stream.write(batch)?;
    }
    stream.finish().map(drop)
}

/// A multi-document YAML stream written a batch of templates at a time: the same bytes as
/// [`to_yaml`] of all the batches in order.
#[derive(Debug)]
pub struct YamlStream<W> {
    out: W,
    documents: usize,
}

impl<W: io::Write> YamlStream<W> {
    pub fn new(out: W) -> Self {
        Self { out, documents: 0 }
    }

    /// Renders the batch on every core and writes it.
    pub fn write(&mut self, templates: &[Template]) -> io::Result<()> {
        let docs: Vec<String> = templates.par_iter().map(to_yaml_one).collect();
        for doc in docs {
            if self.documents > 0 {
                self.out.write_all(b"---\n")?;
            }
            self.out.write_all(doc.as_bytes())?;
            self.documents += 1;
        }
        Ok(())
    }

    pub fn finish(self) -> io::Result<W> {
        Ok(self.out)
    }
}

/// A JSON list of templates written a batch at a time: the same bytes as
/// [`write_json_pretty`]`(out, all, 1)`, each template rendered on its own at the list's
/// first level, as the formatter would have reached it.
#[derive(Debug)]
pub struct JsonList<W> {
    out: W,
    items: usize,
}

impl<W: io::Write> JsonList<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"[")?;
        Ok(Self { out, items: 0 })
    }

    /// Renders the batch on every core and writes it.
    pub fn write(&mut self, templates: &[Template]) -> io::Result<()> {
        let items: Vec<io::Result<Vec<u8>>> = templates.par_iter().map(list_item).collect();
        for item in items {
            // `,` then a new line indented one level, as `Formatter::item` writes at depth 1.
            self.out
                .write_all(if self.items > 0 { b",\n  " } else { b"\n  " })?;
            self.out.write_all(&item?)?;
            self.items += 1;
        }
        Ok(())
    }

    /// Closes the list (and the line); the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out
            .write_all(if self.items > 0 { b"\n]\n" } else { b"]\n" })?;
        Ok(self.out)
    }
}

/// One template as an item of a [`JsonList`]: serialised from the formatter's state inside a
/// list at the top (one collection open, pretty to one level more than a template alone).
fn list_item(template: &Template) -> io::Result<Vec<u8>> {
    let formatter = Formatter {
        depth: 1,
        has_value: false,
        pretty_depth: JSON_PRETTY_DEPTH + 1,
    };
    let mut out = Vec::with_capacity(4096);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    template.serialize(&mut ser).map_err(io::Error::other)?;
    Ok(out)
}

/// `serialize_with` for `spec.parameters`: block style up to [`MAX_BLOCK_INDENT`], flow style
/// beyond. Other serializers (JSON) see the plain value.
pub(super) fn form<S: Serializer>(value: &Value, s: S) -> Result<S::Ok, S::Error> {
    // `  parameters:` then `  - title: ...`: the pages' list starts at column 2.
    Nested { value, indent: 2 }.serialize(s)
}

/// A value of the form whose entries, if it is a collection written in block style, start at
/// column `indent`.
struct Nested<'v> {
    value: &'v Value,
    indent: usize,
}

impl Nested<'_> {
    /// Where the entries of `child` start, as serde-saphyr lays them out: a mapping inside a
    /// mapping is indented by two, a list inside a mapping is not (compact lists), anything
    /// inside a list is (after its `- `).
    fn child<'c>(&self, child: &'c Value) -> Nested<'c> {
        let step = match (self.value, child) {
            (Value::Object(_), Value::Object(_)) | (Value::Array(_), _) => 2,
            _ => 0,
        };
        Nested {
            value: child,
            indent: self.indent + step,
        }
    }
}

impl Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let deep = self.indent > MAX_BLOCK_INDENT;
        match self.value {
            // Everything inside a flow collection is flow: one wrapper is enough.
            Value::Object(map) if deep && !map.is_empty() => {
                serde_saphyr::FlowMap(self.value).serialize(s)
            }
            Value::Array(items) if deep && !items.is_empty() => {
                serde_saphyr::FlowSeq(self.value).serialize(s)
            }
            Value::Object(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (key, value) in map {
                    out.serialize_entry(key, &self.child(value))?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = s.serialize_seq(Some(items.len()))?;
                for value in items {
                    out.serialize_element(&self.child(value))?;
                }
                out.end()
            }
            scalar => scalar.serialize(s),
        }
    }
}

/// serde_json's pretty formatter (two spaces), compact inside collections deeper than
/// `pretty_depth`.
struct Formatter {
    /// Collections open around the current position.
    depth: usize,
    /// Whether the innermost open collection has a value yet.
    has_value: bool,
    pretty_depth: usize,
}

impl Formatter {
    fn pretty(&self) -> bool {
        self.depth <= self.pretty_depth
    }

    fn newline_indent<W: ?Sized + io::Write>(&self, w: &mut W, depth: usize) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn begin<W: ?Sized + io::Write>(&mut self, w: &mut W, open: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(open)
    }

    fn end<W: ?Sized + io::Write>(&mut self, w: &mut W, close: &[u8]) -> io::Result<()> {
        let was_pretty = self.pretty();
        self.depth -= 1;
        if was_pretty && self.has_value {
            self.newline_indent(w, self.depth)?;
        }
        w.write_all(close)
    }

    fn item<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        if self.pretty() {
            self.newline_indent(w, self.depth)?;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for Formatter {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.begin(w, b"[")
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.end(w, b"]")
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.begin(w, b"{")
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.end(w, b"}")
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(if self.pretty() { b": " } else { b":" })
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::map::map_all;
    use crate::entity::options::MapOptions;
    use crate::workflow::{Origin, Workflow};
    use serde_json::json;

    fn workflow(id: &str) -> Workflow {
        Workflow {
            id: id.into(),
            origin: Origin {
                path: format!("flows/{id}.sw.yaml"),
                sha256: "ab".repeat(32),
                ..Origin::default()
            },
            ..Workflow::default()
        }
    }

    fn map_single(w: Workflow, opts: &MapOptions) -> Template {
        map_all(&[w], opts).remove(0)
    }

    #[test]
    fn links_are_written_after_the_annotations_and_only_when_there_are_some() {
        let plain = to_yaml_one(&map_single(workflow("hello"), &MapOptions::default()));
        assert!(!plain.contains("\n  links:"), "{plain}");
        let opts = MapOptions {
            orchestrator_url: Some("https://rhdh.example.com".into()),
            ..MapOptions::default()
        };
        let yaml = to_yaml_one(&map_single(workflow("hello"), &opts));
        assert!(
            yaml.contains(
                "  links:\n  - url: https://rhdh.example.com/orchestrator/workflows/hello/execute\n    title: Run in the Orchestrator\nspec:"
            ),
            "{yaml}"
        );
    }

    #[test]
    fn yaml_documents_are_separated_by_dashes() {
        let ts = map_all(&[workflow("a"), workflow("b")], &MapOptions::default());
        let yaml = to_yaml(&ts);
        assert_eq!(yaml.matches("\n---\n").count(), 1);
        assert!(yaml.starts_with("apiVersion: "));
        assert_eq!(to_yaml(&[]), "");
    }

    /// `{"a": {"a": ... {"x": 1} ...}}`, `levels` objects deep.
    fn nested(levels: usize) -> Value {
        let mut v = json!({"x": 1});
        for _ in 1..levels {
            v = json!({ "a": v });
        }
        v
    }

    #[test]
    fn pretty_json_matches_serde_json_where_shallow() {
        let v = json!({"a": [1, {"b": []}, {}], "c": {"d": "e"}, "f": []});
        assert_eq!(
            to_json_pretty(&v, 0),
            serde_json::to_string_pretty(&v).unwrap() + "\n"
        );
    }

    #[test]
    fn pretty_json_turns_compact_below_the_depth_and_reads_back() {
        let v = nested(40);
        let text = to_json_pretty(&v, 0);
        let deepest_indent = text
            .lines()
            .map(|l| l.len() - l.trim_start().len())
            .max()
            .unwrap();
        assert_eq!(deepest_indent, 2 * JSON_PRETTY_DEPTH);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn streams_written_a_batch_at_a_time_are_the_bytes_of_the_whole_list() {
        let opts = MapOptions::default();
        let ids = ["a", "b", "c", "d", "e"];
        let mut workflows = ids.map(workflow);
        // A form deep enough that both writers change style inside it.
        let mut schema = json!({"type": "string"});
        for _ in 0..20 {
            schema =
                json!({"type": "object", "properties": {"a": schema, "b": {"type": "integer"}}});
        }
        workflows[1].input_schema = Some(schema);
        let all = map_all(&workflows, &opts);
        for n in 0..=all.len() {
            let templates = &all[..n];
            let mut json = JsonList::new(Vec::new()).unwrap();
            let mut yaml = YamlStream::new(Vec::new());
            for batch in templates.chunks(2) {
                json.write(batch).unwrap();
                yaml.write(batch).unwrap();
            }
            let mut whole = Vec::new();
            write_json_pretty(&mut whole, templates, 1).unwrap();
            assert_eq!(
                String::from_utf8(json.finish().unwrap()).unwrap(),
                String::from_utf8(whole).unwrap()
            );
            assert_eq!(
                String::from_utf8(yaml.finish().unwrap()).unwrap(),
                to_yaml(templates)
            );
        }
    }
}
