//! Resolving a workflow's `dataInputSchema` into one self-contained JSON Schema.
//!
//! The schema may be inline or a file; it may `$ref` other local files (`other.json`,
//! `../common.json#/definitions/x`, `classpath:/schemas/x.json`, `file://...`). Every `$ref` is
//! inlined so that the scaffolder form needs nothing else. Remote references are never fetched,
//! nothing outside the source root is read (the [`Tree`] enforces it), cycles and runaway
//! expansions are reported instead of followed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::parse::InputSchemaRef;
use super::tree::{Tree, TreeError, join, parent, percent_decode};

/// Why an input schema could not be resolved. The workflow is still published, without a form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "`{reference}` is remote; remote schemas are never fetched: copy the schema into the repository and reference it by path"
    )]
    Remote { reference: String },
    #[error("`{reference}` not found (looked for {tried})")]
    NotFound { reference: String, tried: String },
    #[error("`{reference}` points outside the source root; only files inside it are read")]
    OutsideRoot { reference: String },
    #[error("`$ref` cycle: {chain}; a form cannot be generated from a recursive schema")]
    Cycle { chain: String },
    #[error("`{file}` is not a valid JSON or YAML schema: {reason}")]
    Invalid { file: String, reason: String },
    #[error("`{reference}`: the JSON pointer `{pointer}` matches nothing in `{file}`")]
    Pointer {
        reference: String,
        file: String,
        pointer: String,
    },
    #[error("expanding its `$ref`s exceeds {limit} schema nodes; simplify the schema")]
    TooLarge { limit: usize },
    #[error(
        "inlining its `$ref`s makes it over {limit} bytes of JSON, more than any form may hold; share less through `$ref`s (a long text or list inlined at every use) or split the workflow's input"
    )]
    TooManyBytes { limit: usize },
    #[error(
        "`$ref`s nest more than {limit} deep (at `{reference}`); a form cannot be generated from it: flatten the chain of definitions"
    )]
    RefsTooDeep { reference: String, limit: usize },
    #[error(
        "objects and lists nest more than {limit} deep once its `$ref`s are inlined; a form cannot be generated from it: flatten the schema"
    )]
    TooDeep { limit: usize },
    #[error("{0}")]
    Tree(TreeError),
}

/// Expansion budget per resolved schema: generous for real forms, fatal for ref explosions.
const MAX_NODES: usize = 100_000;

/// How many bytes of JSON (compact, as the form is measured) one schema may expand to, each
/// `$ref` counted as written. Nodes alone do not bound memory: 5000 `$ref`s to one 100 KB
/// `description` are 15 000 nodes and 500 MB. The form built from the schema must fit 256 KiB
/// (`entity::MAX_FORM_BYTES`) and is the schema minus `$schema`/`$id`, plus a title per page: an
/// expansion four times that size can only make a form that is dropped anyway. The largest schema
/// of the ~650 corpus workflows expands to under 100 KB.
pub const MAX_SCHEMA_BYTES: usize = 1024 * 1024;

/// How many `$ref`s may be expanded one inside another (a chain `a -> b -> c` is 3 deep). Real
/// schemas chain a handful; the bound keeps the recursive expansion off the end of the stack.
pub const MAX_REF_DEPTH: usize = 64;

/// How deep objects and lists may nest in a resolved schema (`{"properties": {"a": {}}}` is 3
/// deep). The deepest schema in the corpus nests 13; every later walk (form building, YAML and
/// JSON rendering, reading it back) recurses at most this deep plus the Template around it.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// Reads and inlines input schemas for the workflows of one tree, parsing each schema file once.
pub struct SchemaResolver<'t> {
    tree: &'t dyn Tree,
    resource_roots: Vec<String>,
    files: HashMap<String, Result<Arc<Value>, SchemaError>>,
    /// Files some `$ref` pointed into: kept in `files` for the next schema.
    shared: HashSet<String>,
}

/// Where a `$ref` is evaluated: the document it is in and the path its relative refs start from.
#[derive(Clone)]
struct Context {
    doc: Arc<Value>,
    doc_key: String,
    base: String,
}

impl<'t> SchemaResolver<'t> {
    /// `resource_roots` are path suffixes (`src/main/resources`) that mark a classpath root: the
    /// nearest ancestor of a workflow that ends with one, and the folder itself if it exists at
    /// the top of the tree, are searched for `classpath:` references.
    pub fn new(tree: &'t dyn Tree, resource_roots: &[String]) -> Self {
        Self {
            tree,
            resource_roots: resource_roots
                .iter()
                .map(|r| r.trim_matches('/').to_owned())
                .filter(|r| !r.is_empty())
                .collect(),
            files: HashMap::new(),
            shared: HashSet::new(),
        }
    }

    /// Resolves the `dataInputSchema` of the workflow in file `workflow_path`.
    pub fn resolve(
        &mut self,
        workflow_path: &str,
        reference: &InputSchemaRef,
    ) -> Result<Value, SchemaError> {
        let roots = self.classpath_roots(workflow_path);
        let (ctx, root) = match reference {
            InputSchemaRef::Inline(schema) => {
                let doc = Arc::new(schema.clone());
                let ctx = Context {
                    doc: doc.clone(),
                    doc_key: format!("{workflow_path}#dataInputSchema"),
                    base: workflow_path.to_owned(),
                };
                (ctx, doc)
            }
            InputSchemaRef::Path(path) => {
                let (file, pointer) = split_fragment(path);
                let file = self.locate(file, workflow_path, &roots, true)?;
                let doc = self.load(&file)?;
                let target = select(&doc, pointer, path, &file)?.clone();
                let ctx = Context {
                    doc,
                    doc_key: file.clone(),
                    base: file,
                };
                (ctx, Arc::new(target))
            }
        };
        let mut walk = Walk {
            roots: &roots,
            stack: Vec::new(),
            budget: MAX_NODES,
            bytes: MAX_SCHEMA_BYTES,
        };
        let resolved = self.expand(&root, &ctx, &mut walk, 1);
        // A workflow's own schema file is mostly read for it alone: keeping every one parsed
        // would hold all of them at once (for 10 000 wide forms, gigabytes). Files reached
        // through `$ref`s (shared definitions) stay cached.
        if let InputSchemaRef::Path(_) = reference
            && !self.shared.contains(&ctx.doc_key)
        {
            self.files.remove(&ctx.doc_key);
        }
        resolved
    }

    fn classpath_roots(&self, workflow_path: &str) -> Vec<String> {
        let dir = parent(workflow_path);
        let mut roots = vec![dir.to_owned()];
        for suffix in &self.resource_roots {
            // The nearest ancestor folder of the workflow that is a resource root...
            let mut ancestor = dir;
            loop {
                if ancestor == suffix.as_str() || ancestor.ends_with(&format!("/{suffix}")) {
                    roots.push(ancestor.to_owned());
                    break;
                }
                if ancestor.is_empty() {
                    break;
                }
                ancestor = parent(ancestor);
            }
            // ...and the root folder of that name at the top of the tree.
            roots.push(suffix.clone());
        }
        let mut seen = std::collections::HashSet::new();
        roots.retain(|r| seen.insert(r.clone()));
        roots
    }

    /// Turns a reference into a tree path. `from` is the file the reference is written in.
    /// `fallback_to_roots`: SonataFlow loads a relative `dataInputSchema` from the classpath, so
    /// a relative path is tried beside the workflow first, then in the resource roots.
    fn locate(
        &mut self,
        reference: &str,
        from: &str,
        roots: &[String],
        fallback_to_roots: bool,
    ) -> Result<String, SchemaError> {
        let outside = || SchemaError::OutsideRoot {
            reference: reference.to_owned(),
        };
        let candidates: Vec<String> = if let Some(rest) = reference.strip_prefix("classpath:") {
            let rest = rest.trim_start_matches('/');
            roots
                .iter()
                .map(|root| join(root, rest).map_err(|_| outside()))
                .collect::<Result<_, _>>()?
        } else if let Some(rest) = reference.strip_prefix("file:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.starts_with('/') {
                let root = self.tree.local_root().ok_or_else(outside)?;
                let relative = std::path::Path::new(path)
                    .strip_prefix(root)
                    .map_err(|_| outside())?;
                vec![join("", &relative.to_string_lossy()).map_err(|_| outside())?]
            } else {
                vec![join(parent(from), path).map_err(|_| outside())?]
            }
        } else if is_remote(reference) {
            return Err(SchemaError::Remote {
                reference: reference.to_owned(),
            });
        } else if reference.starts_with('/') {
            return Err(outside());
        } else {
            let mut c = vec![join(parent(from), reference).map_err(|_| outside())?];
            if fallback_to_roots {
                for root in roots {
                    if let Ok(p) = join(root, reference) {
                        c.push(p);
                    }
                }
            }
            c
        };
        let mut tried = Vec::new();
        for candidate in candidates {
            if tried.contains(&candidate) {
                continue;
            }
            match self.load(&candidate) {
                Ok(_) => return Ok(candidate),
                Err(SchemaError::Tree(TreeError::NotFound { .. })) => tried.push(candidate),
                Err(SchemaError::Tree(TreeError::OutsideRoot { .. })) => return Err(outside()),
                Err(e) => return Err(e),
            }
        }
        Err(SchemaError::NotFound {
            reference: reference.to_owned(),
            tried: tried.join(", "),
        })
    }

    fn load(&mut self, path: &str) -> Result<Arc<Value>, SchemaError> {
        if let Some(cached) = self.files.get(path) {
            return cached.clone();
        }
        let loaded = self
            .tree
            .read(path)
            .map_err(SchemaError::Tree)
            .and_then(|bytes| parse_schema(path, &bytes).map(Arc::new));
        self.files.insert(path.to_owned(), loaded.clone());
        loaded
    }

    /// Inlines every `$ref` of `value`, which sits `depth` levels deep in the result (the root is
    /// 1). Recursive, but never deeper than [`MAX_SCHEMA_DEPTH`] + [`MAX_REF_DEPTH`] frames.
    fn expand(
        &mut self,
        value: &Value,
        ctx: &Context,
        walk: &mut Walk,
        depth: usize,
    ) -> Result<Value, SchemaError> {
        walk.budget = walk
            .budget
            .checked_sub(1)
            .ok_or(SchemaError::TooLarge { limit: MAX_NODES })?;
        if depth > MAX_SCHEMA_DEPTH && (value.is_object() || value.is_array()) {
            return Err(SchemaError::TooDeep {
                limit: MAX_SCHEMA_DEPTH,
            });
        }
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    return self.expand_ref(reference, map, ctx, walk, depth);
                }
                // The braces; each key and value is charged as it is written.
                walk.charge(2)?;
                let mut out = Map::with_capacity(map.len());
                for (key, v) in map {
                    match key.as_str() {
                        // Reachable only through `$ref`s, which are inlined: drop them.
                        "definitions" | "$defs" => {}
                        // Data, not schemas: a `$ref` key in there is a value. Still bounded:
                        // the whole resolved schema obeys the depth limit, and the copy is
                        // counted whole before it is made.
                        "enum" | "const" | "default" | "examples" => {
                            if super::depth::nests_deeper_than(v, MAX_SCHEMA_DEPTH - depth) {
                                return Err(SchemaError::TooDeep {
                                    limit: MAX_SCHEMA_DEPTH,
                                });
                            }
                            walk.charge_key(key)?;
                            walk.charge_value(v)?;
                            out.insert(key.clone(), v.clone());
                        }
                        _ => {
                            walk.charge_key(key)?;
                            out.insert(key.clone(), self.expand(v, ctx, walk, depth + 1)?);
                        }
                    }
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => {
                // The brackets and a comma per item.
                walk.charge(2 + items.len())?;
                items
                    .iter()
                    .map(|v| self.expand(v, ctx, walk, depth + 1))
                    .collect::<Result<_, _>>()
                    .map(Value::Array)
            }
            scalar => {
                walk.charge_value(scalar)?;
                Ok(scalar.clone())
            }
        }
    }

    fn expand_ref(
        &mut self,
        reference: &str,
        siblings: &Map<String, Value>,
        ctx: &Context,
        walk: &mut Walk,
        depth: usize,
    ) -> Result<Value, SchemaError> {
        if walk.stack.len() >= MAX_REF_DEPTH {
            return Err(SchemaError::RefsTooDeep {
                reference: reference.to_owned(),
                limit: MAX_REF_DEPTH,
            });
        }
        // Following a `$ref` costs its text (a key is built from it, its pointer decoded), and
        // the `{"$ref": ...}` it replaces would have been written as that much.
        walk.charge_key("$ref")?;
        walk.charge_value(reference)?;
        let (file, pointer) = split_fragment(reference);
        let target_ctx = if file.is_empty() {
            ctx.clone()
        } else {
            let path = self.locate(file, &ctx.base, walk.roots, false)?;
            self.shared.insert(path.clone());
            Context {
                doc: self.load(&path)?,
                doc_key: path.clone(),
                base: path,
            }
        };
        let key = format!("{}#{}", target_ctx.doc_key, pointer);
        if walk.stack.contains(&key) {
            let mut chain: Vec<&str> = walk.stack.iter().map(String::as_str).collect();
            chain.push(&key);
            return Err(SchemaError::Cycle {
                chain: chain.join(" -> "),
            });
        }
        let doc = target_ctx.doc.clone();
        let target = select(&doc, pointer, reference, &target_ctx.doc_key)?;
        walk.stack.push(key);
        let expanded = self.expand(target, &target_ctx, walk, depth);
        walk.stack.pop();
        let mut expanded = expanded?;
        // Keywords beside a `$ref` (a title, a description, `ui:` hints) refine the target.
        if let Value::Object(out) = &mut expanded {
            for (k, v) in siblings {
                if k != "$ref" {
                    walk.charge_key(k)?;
                    out.insert(k.clone(), self.expand(v, ctx, walk, depth + 1)?);
                }
            }
        }
        Ok(expanded)
    }
}

/// The state of one schema's expansion.
struct Walk<'r> {
    roots: &'r [String],
    /// The `$ref`s being expanded, outermost first (`file#pointer`).
    stack: Vec<String>,
    /// Nodes still allowed.
    budget: usize,
    /// Bytes of output still allowed (see [`MAX_SCHEMA_BYTES`]).
    bytes: usize,
}

impl Walk<'_> {
    fn charge(&mut self, bytes: usize) -> Result<(), SchemaError> {
        self.bytes = self
            .bytes
            .checked_sub(bytes)
            .ok_or(SchemaError::TooManyBytes {
                limit: MAX_SCHEMA_BYTES,
            })?;
        Ok(())
    }

    /// An object key: itself as a JSON string, its colon and the comma after its value.
    fn charge_key(&mut self, key: &str) -> Result<(), SchemaError> {
        self.charge(json_len(key, self.bytes).map_or(usize::MAX, |n| n + 2))
    }

    /// `value` as compact JSON, measured without building it and given up as soon as it is
    /// over what is left, so a huge value costs no more than the budget to refuse.
    fn charge_value<V: serde::Serialize + ?Sized>(&mut self, value: &V) -> Result<(), SchemaError> {
        self.charge(json_len(value, self.bytes).unwrap_or(usize::MAX))
    }
}

/// The length of `value` as compact JSON, or `None` when it is over `cap`. Serialising recurses,
/// so a value given here must already be within the depth limit.
fn json_len<V: serde::Serialize + ?Sized>(value: &V, cap: usize) -> Option<usize> {
    struct Count {
        len: usize,
        cap: usize,
    }
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.len += buf.len();
            if self.len > self.cap {
                return Err(std::io::Error::other("over the cap"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count { len: 0, cap };
    serde_json::to_writer(&mut count, value).ok()?;
    Some(count.len)
}

/// Resolves one workflow's input schema with a resolver of its own (no cache shared).
pub fn resolve_input_schema(
    tree: &dyn Tree,
    resource_roots: &[String],
    workflow_path: &str,
    reference: &InputSchemaRef,
) -> Result<Value, SchemaError> {
    SchemaResolver::new(tree, resource_roots).resolve(workflow_path, reference)
}

fn split_fragment(reference: &str) -> (&str, &str) {
    match reference.split_once('#') {
        Some((file, pointer)) => (file, pointer),
        None => (reference, ""),
    }
}

fn is_remote(reference: &str) -> bool {
    // Any URI scheme other than the two we map to files (`classpath:`, `file:`).
    match reference.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn select<'v>(
    doc: &'v Value,
    pointer: &str,
    reference: &str,
    file: &str,
) -> Result<&'v Value, SchemaError> {
    if pointer.is_empty() || pointer == "/" {
        return Ok(doc);
    }
    let decoded = percent_decode(pointer);
    doc.pointer(&decoded).ok_or_else(|| SchemaError::Pointer {
        reference: reference.to_owned(),
        file: file.to_owned(),
        pointer: pointer.to_owned(),
    })
}

fn parse_schema(path: &str, bytes: &[u8]) -> Result<Value, SchemaError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let invalid = |reason: String| SchemaError::Invalid {
        file: path.to_owned(),
        reason,
    };
    let lower = path.to_ascii_lowercase();
    let value: Value = if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        let text = std::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8".into()))?;
        let mut opts = serde_saphyr::Options::default();
        opts.strict_booleans = true;
        opts.with_snippet = false;
        // As for workflow files (and serde_json for JSON schemas): the last repeated key wins.
        opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
        serde_saphyr::from_str_with_options(text, opts)
            .map_err(|e| invalid(e.to_string().lines().next().unwrap_or("").to_owned()))?
    } else {
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?
    };
    if !value.is_object() {
        return Err(invalid("a schema must be a JSON object".into()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::tree::MemoryTree;
    use serde_json::json;

    fn tree(files: &[(&str, Value)]) -> MemoryTree {
        let mut t = MemoryTree::new();
        for (path, v) in files {
            t.insert(*path, serde_json::to_vec(v).unwrap());
        }
        t
    }

    fn resolve(t: &MemoryTree, wf: &str, r: &str) -> Result<Value, SchemaError> {
        resolve_input_schema(
            t,
            &["src/main/resources".to_owned()],
            wf,
            &InputSchemaRef::Path(r.into()),
        )
    }

    #[test]
    fn relative_parent_and_cross_file_refs_are_inlined() {
        let t = tree(&[
            (
                "flows/a/in.json",
                json!({"type": "object", "properties": {"who": {"$ref": "../common.json#/definitions/person", "title": "Who"}}}),
            ),
            (
                "flows/common.json",
                json!({"definitions": {"person": {"type": "object", "properties": {"name": {"$ref": "#/definitions/name"}}}, "name": {"type": "string"}}}),
            ),
        ]);
        let s = resolve(&t, "flows/a/a.sw.yaml", "in.json").unwrap();
        assert_eq!(
            s,
            json!({"type": "object", "properties": {"who": {"type": "object", "properties": {"name": {"type": "string"}}, "title": "Who"}}})
        );
    }

    #[test]
    fn classpath_refs_resolve_against_the_resource_root() {
        let t = tree(&[(
            "svc/src/main/resources/schemas/in.json",
            json!({"type": "object"}),
        )]);
        let s = resolve(
            &t,
            "svc/src/main/resources/sub/a.sw.yaml",
            "classpath:/schemas/in.json",
        )
        .unwrap();
        assert_eq!(s, json!({"type": "object"}));
        // A plain relative path falls back to the classpath root, as SonataFlow loads it.
        assert!(
            resolve(
                &t,
                "svc/src/main/resources/sub/a.sw.yaml",
                "schemas/in.json"
            )
            .is_ok()
        );
    }

    #[test]
    fn cycles_are_reported_with_their_chain() {
        let t = tree(&[
            ("a.json", json!({"properties": {"b": {"$ref": "b.json"}}})),
            ("b.json", json!({"properties": {"a": {"$ref": "a.json"}}})),
        ]);
        let err = resolve(&t, "w.sw.json", "a.json").unwrap_err();
        assert!(matches!(err, SchemaError::Cycle { .. }), "{err}");
        assert!(err.to_string().contains("b.json# -> a.json#"), "{err}");
    }

    #[test]
    fn remote_and_escaping_refs_are_refused() {
        let t = tree(&[
            ("r.json", json!({"$ref": "https://example.com/s.json"})),
            ("e.json", json!({"$ref": "../../etc/passwd"})),
        ]);
        assert!(matches!(
            resolve(&t, "w.sw.json", "r.json"),
            Err(SchemaError::Remote { .. })
        ));
        assert!(matches!(
            resolve(&t, "w.sw.json", "e.json"),
            Err(SchemaError::OutsideRoot { .. })
        ));
        assert!(matches!(
            resolve(&t, "w.sw.json", "/etc/passwd"),
            Err(SchemaError::OutsideRoot { .. })
        ));
    }

    #[test]
    fn a_missing_file_names_where_it_looked() {
        let t = tree(&[]);
        let err = resolve(&t, "f/w.sw.json", "schemas/x.json").unwrap_err();
        assert!(err.to_string().contains("f/schemas/x.json"), "{err}");
    }

    #[test]
    fn a_ref_explosion_hits_the_budget() {
        // Each level references the previous one twice: 2^20 thousand nodes if followed, each
        // two bytes (`0,`): the node budget is reached at 200 KB, before the byte budget.
        let mut defs = serde_json::Map::new();
        defs.insert("d0".into(), json!({"enumish": vec![0; 1000]}));
        for i in 1..=20 {
            let prev = format!("#/definitions/d{}", i - 1);
            defs.insert(
                format!("d{i}"),
                json!({"properties": {"a": {"$ref": prev}, "b": {"$ref": prev}}}),
            );
        }
        let t = tree(&[(
            "x.json",
            json!({"definitions": defs, "properties": {"top": {"$ref": "#/definitions/d20"}}}),
        )]);
        assert!(matches!(
            resolve(&t, "w.sw.json", "x.json"),
            Err(SchemaError::TooLarge { .. })
        ));
    }
}
