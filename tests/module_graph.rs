//! The crate's files import each other without a circle, and the configuration imports none of
//! them: so each layer can be read without the ones above it.
//!
//! Every file under `src/` (but `main.rs`, the binary's own crate) is lexed with proc-macro2
//! (comments, strings and doc text are not code), and every path that names a module of the
//! crate is collected: `use` trees (braces included), `crate::`, `super::` and `self::` paths in
//! code and in macro arguments, and paths through a child module in scope (`dir::DirSource` in
//! `source/mod.rs`). Each is resolved to the file that defines the module it names (an item of
//! `source/mod.rs` is that file; an inline `mod tests` is its file's). `mod x;` declarations are
//! structure, not imports. A strongly connected set of more than one file is a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// A path found in a file, relative to where it was written.
struct Reference {
    /// The module the path was written in (inline modules included).
    module: Vec<String>,
    segments: Vec<String>,
    line: usize,
}

/// One file's module and what it references.
struct File {
    name: String,
    module: Vec<String>,
    references: Vec<Reference>,
    /// Inline modules (`mod tests { .. }`) defined in the file.
    inline: Vec<Vec<String>>,
}

/// An import from one file to another: the path as written and its line.
#[derive(Debug, Clone)]
struct Import {
    path: String,
    line: usize,
}

/// Files and the imports between them.
#[derive(Debug, Default)]
struct Graph {
    files: Vec<String>,
    /// from -> to -> the imports that make the edge.
    edges: BTreeMap<usize, BTreeMap<usize, Vec<Import>>>,
}

/// The module a file under `src/` defines: `source/git.rs` and `source/git/mod.rs` are
/// `source::git`, `lib.rs` the crate root.
fn module_of(relative: &str) -> Vec<String> {
    let stem = relative.strip_suffix(".rs").unwrap_or(relative);
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn is_path_separator(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

fn ident(tokens: &[TokenTree], i: usize) -> Option<String> {
    match tokens.get(i) {
        Some(TokenTree::Ident(id)) => Some(id.to_string()),
        _ => None,
    }
}

/// Reads `a::b::c` from `i`; returns the segments and the index after them.
fn read_path(tokens: &[TokenTree], mut i: usize) -> (Vec<String>, usize) {
    let mut segments = Vec::new();
    while let Some(name) = ident(tokens, i) {
        segments.push(name);
        i += 1;
        if is_path_separator(tokens, i) && ident(tokens, i + 2).is_some() {
            i += 2;
        } else {
            break;
        }
    }
    (segments, i)
}

/// Collects the paths of one `use` tree (`a::{b, c::{d, e}}`) under `prefix`.
fn use_tree(
    tokens: &[TokenTree],
    prefix: &[String],
    line: usize,
    out: &mut Vec<(Vec<String>, usize)>,
) {
    // Split at top-level commas.
    for part in tokens.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
        let mut path = prefix.to_vec();
        let mut i = 0;
        let mut grouped = false;
        while i < part.len() {
            match &part[i] {
                TokenTree::Ident(id) if id == "as" => break,
                TokenTree::Ident(id) => path.push(id.to_string()),
                TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
                    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                    use_tree(&inner, &path, line, out);
                    grouped = true;
                }
                // `::` and `*`: separators and a glob keep the path as it is.
                _ => {}
            }
            i += 1;
        }
        if !grouped && !path.is_empty() {
            out.push((path, line));
        }
    }
}

/// Walks a token stream written in `module`; `children` are the child modules in scope.
fn walk(tokens: &[TokenTree], module: &[String], children: &BTreeSet<String>, file: &mut File) {
    let mut i = 0;
    while i < tokens.len() {
        let line = tokens[i].span().start().line;
        // `mod name { .. }`: an inline module.
        if ident(tokens, i).as_deref() == Some("mod")
            && let (Some(name), Some(TokenTree::Group(g))) =
                (ident(tokens, i + 1), tokens.get(i + 2))
            && g.delimiter() == Delimiter::Brace
        {
            let mut inner_module = module.to_vec();
            inner_module.push(name);
            file.inline.push(inner_module.clone());
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            walk(&inner, &inner_module, &BTreeSet::new(), file);
            i += 3;
            continue;
        }
        // `use tree;`
        if ident(tokens, i).as_deref() == Some("use") {
            let end = tokens[i..]
                .iter()
                .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ';'))
                .map_or(tokens.len(), |p| i + p);
            // `use ::std::..` names another crate.
            if !is_path_separator(tokens, i + 1) {
                let mut paths = Vec::new();
                use_tree(&tokens[i + 1..end], &[], line, &mut paths);
                for (segments, line) in paths {
                    file.references.push(Reference {
                        module: module.to_vec(),
                        segments,
                        line,
                    });
                }
            }
            i = end + 1;
            continue;
        }
        match &tokens[i] {
            TokenTree::Group(g) => {
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                walk(&inner, module, children, file);
                i += 1;
            }
            TokenTree::Ident(id) => {
                let name = id.to_string();
                let after_separator = i >= 2 && is_path_separator(tokens, i - 2);
                let macro_variable =
                    i >= 1 && matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == '$');
                let starts_path =
                    matches!(name.as_str(), "crate" | "super" | "self") || children.contains(&name);
                if starts_path
                    && !after_separator
                    && !macro_variable
                    && is_path_separator(tokens, i + 1)
                {
                    let (segments, next) = read_path(tokens, i);
                    file.references.push(Reference {
                        module: module.to_vec(),
                        segments,
                        line,
                    });
                    i = next;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
}

/// Child modules a file declares with `mod name;` or `mod name { .. }` at its top level.
fn declared_children(tokens: &[TokenTree]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for i in 0..tokens.len() {
        if ident(tokens, i).as_deref() == Some("mod")
            && let Some(name) = ident(tokens, i + 1)
        {
            out.insert(name);
        }
    }
    out
}

/// Parses `(path under src/, text)` pairs into the graph of imports between them.
fn graph(sources: &[(String, String)]) -> Result<Graph, String> {
    let mut files = Vec::new();
    for (name, text) in sources {
        let stream: TokenStream = text
            .parse()
            .map_err(|e| format!("src/{name}: does not lex as Rust: {e:?}"))?;
        let tokens: Vec<TokenTree> = stream.into_iter().collect();
        let module = module_of(name);
        let mut file = File {
            name: name.clone(),
            module: module.clone(),
            references: Vec::new(),
            inline: Vec::new(),
        };
        walk(&tokens, &module, &declared_children(&tokens), &mut file);
        files.push(file);
    }
    // Every module of the crate and the file that holds it.
    let mut holder: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        holder.insert(f.module.clone(), i);
        for m in &f.inline {
            holder.insert(m.clone(), i);
        }
    }
    let mut g = Graph {
        files: files.iter().map(|f| f.name.clone()).collect(),
        ..Graph::default()
    };
    for (from, f) in files.iter().enumerate() {
        for r in &f.references {
            let mut base: Vec<String> = match r.segments[0].as_str() {
                "crate" => Vec::new(),
                "super" | "self" => r.module.clone(),
                _ => r.module.clone(),
            };
            let mut rest = &r.segments[..];
            match rest[0].as_str() {
                "crate" | "self" => rest = &rest[1..],
                _ => {}
            }
            while rest.first().is_some_and(|s| s == "super") {
                if base.pop().is_none() {
                    return Err(format!(
                        "src/{}:{}: `{}` goes above the crate root",
                        f.name,
                        r.line,
                        r.segments.join("::")
                    ));
                }
                rest = &rest[1..];
            }
            // The deepest module the path names; what follows are items.
            for seg in rest {
                let mut next = base.clone();
                next.push(seg.clone());
                if holder.contains_key(&next) {
                    base = next;
                } else {
                    break;
                }
            }
            let Some(&to) = holder.get(&base) else {
                continue;
            };
            if to != from {
                g.edges
                    .entry(from)
                    .or_default()
                    .entry(to)
                    .or_default()
                    .push(Import {
                        path: r.segments.join("::"),
                        line: r.line,
                    });
            }
        }
    }
    Ok(g)
}

impl Graph {
    /// Sets of files that import each other (strongly connected, more than one file), each as
    /// one circle spelled out with the import that makes each step.
    fn circles(&self) -> Vec<String> {
        // Tarjan's algorithm.
        struct State {
            index: usize,
            indices: BTreeMap<usize, usize>,
            low: BTreeMap<usize, usize>,
            stack: Vec<usize>,
            on_stack: BTreeSet<usize>,
            components: Vec<Vec<usize>>,
        }
        fn connect(g: &Graph, v: usize, s: &mut State) {
            s.indices.insert(v, s.index);
            s.low.insert(v, s.index);
            s.index += 1;
            s.stack.push(v);
            s.on_stack.insert(v);
            for &w in g.edges.get(&v).map(|e| e.keys()).into_iter().flatten() {
                if !s.indices.contains_key(&w) {
                    connect(g, w, s);
                    let low = s.low[&v].min(s.low[&w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(&w) {
                    let low = s.low[&v].min(s.indices[&w]);
                    s.low.insert(v, low);
                }
            }
            if s.low[&v] == s.indices[&v] {
                let mut component = Vec::new();
                loop {
                    let w = s.stack.pop().expect("on the stack");
                    s.on_stack.remove(&w);
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                s.components.push(component);
            }
        }
        let mut s = State {
            index: 0,
            indices: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            components: Vec::new(),
        };
        for v in 0..self.files.len() {
            if !s.indices.contains_key(&v) {
                connect(self, v, &mut s);
            }
        }
        s.components
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| self.spell_circle(&c))
            .collect()
    }

    /// One circle through the first file of a component: the shortest way back to it.
    fn spell_circle(&self, component: &[usize]) -> String {
        let members: BTreeSet<usize> = component.iter().copied().collect();
        let start = *members.first().expect("not empty");
        let mut previous: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut end = None;
        'search: while let Some(v) = queue.pop_front() {
            for &w in self.edges[&v].keys().filter(|w| members.contains(w)) {
                if w == start {
                    end = Some(v);
                    break 'search;
                }
                if let std::collections::btree_map::Entry::Vacant(e) = previous.entry(w) {
                    e.insert(v);
                    queue.push_back(w);
                }
            }
        }
        let mut back = Vec::new();
        let mut v = end.expect("a strongly connected set leads back");
        while v != start {
            back.push(v);
            v = previous[&v];
        }
        let mut path = vec![start];
        path.extend(back.into_iter().rev());
        path.push(start);
        let steps: Vec<String> = path
            .windows(2)
            .map(|w| {
                let i = &self.edges[&w[0]][&w[1]][0];
                format!(
                    "src/{} -> src/{} (line {}: {})",
                    self.files[w[0]], self.files[w[1]], i.line, i.path
                )
            })
            .collect();
        let names: Vec<String> = members
            .iter()
            .map(|&m| format!("src/{}", self.files[m]))
            .collect();
        format!(
            "files that import each other: {}; one circle:\n  {}",
            names.join(", "),
            steps.join("\n  ")
        )
    }

    /// Imports from the files of `module` (a file and its folder) to any other file.
    fn imports_out_of(&self, module: &str) -> Vec<String> {
        let inside = |f: &str| f == format!("{module}.rs") || f.starts_with(&format!("{module}/"));
        let mut out = Vec::new();
        for (&from, tos) in &self.edges {
            if !inside(&self.files[from]) {
                continue;
            }
            for (&to, imports) in tos {
                if !inside(&self.files[to]) {
                    for i in imports {
                        out.push(format!(
                            "src/{}:{} imports {} (src/{})",
                            self.files[from], i.line, i.path, self.files[to]
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Every file of the library under `src/`, relative to it, with its text.
fn crate_sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(&src)
                    .expect("under src/")
                    .to_string_lossy()
                    .replace('\\', "/");
                // The binary is its own crate: its `crate::` is not the library's.
                if relative != "main.rs" {
                    let text = std::fs::read_to_string(&path).expect("readable");
                    out.push((relative, text));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_two_files_of_the_crate_import_each_other_even_through_others() {
    let g = graph(&crate_sources()).unwrap();
    assert!(g.files.len() > 20, "the walk found only {:?}", g.files);
    let circles = g.circles();
    assert!(circles.is_empty(), "{}", circles.join("\n"));
}

#[test]
fn the_configuration_imports_no_other_module_of_the_crate() {
    let g = graph(&crate_sources()).unwrap();
    assert!(
        g.files
            .iter()
            .any(|f| f == "config.rs" || f == "config/mod.rs")
    );
    let out = g.imports_out_of("config");
    assert!(
        out.is_empty(),
        "the configuration must be a leaf:\n{}",
        out.join("\n")
    );
}

// The checker itself.

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

fn edges(g: &Graph) -> BTreeSet<(String, String)> {
    g.edges
        .iter()
        .flat_map(|(&f, tos)| {
            tos.keys()
                .map(move |&t| (g.files[f].clone(), g.files[t].clone()))
        })
        .collect()
}

fn edge(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

#[test]
fn checker_finds_a_circle_through_a_use_and_a_path_inside_a_macro() {
    let g = graph(&files(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("a.rs", "use crate::b::Thing;\npub fn f() {}\n"),
        ("b.rs", "pub struct Thing;\nfn g() { crate::c::h(); }\n"),
        (
            "c.rs",
            "pub fn h() { tracing::info!(x = crate::a::f(), \"x\"); }\n",
        ),
    ]))
    .unwrap();
    let circles = g.circles();
    assert_eq!(circles.len(), 1, "{circles:?}");
    let c = &circles[0];
    assert!(
        c.contains("src/a.rs -> src/b.rs (line 1: crate::b::Thing)")
            && c.contains("src/b.rs -> src/c.rs (line 2: crate::c::h)")
            && c.contains("src/c.rs -> src/a.rs (line 1: crate::a::f)"),
        "{c}"
    );
}

#[test]
fn checker_ignores_comments_strings_and_doc_text() {
    let g = graph(&files(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::b::X;\n"),
        (
            "b.rs",
            "//! See [`crate::a`].\n// use crate::a::Y;\n/* crate::a::z() */\nconst S: &str = \"crate::a::w\";\nconst R: &str = r#\"use crate::a;\"#;\n",
        ),
    ]))
    .unwrap();
    assert_eq!(edges(&g), BTreeSet::from([edge("a.rs", "b.rs")]));
    assert!(g.circles().is_empty());
}

#[test]
fn checker_reads_nested_use_trees_super_self_and_child_modules() {
    let g = graph(&files(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod s;\n"),
        ("a.rs", "use crate::{b::{self, X as Y}, s::{t::*}};\n"),
        ("b.rs", "pub struct X;\n"),
        (
            "s/mod.rs",
            "pub mod t;\npub mod u;\nuse u::Z;\nfn f() -> t::T { self::t::T }\n",
        ),
        (
            "s/t.rs",
            "use super::super::b::X;\npub struct T;\n#[cfg(test)]\nmod tests { use super::*; }\n",
        ),
        ("s/u.rs", "pub struct Z;\nuse super::t::T;\n"),
    ]))
    .unwrap();
    assert_eq!(
        edges(&g),
        BTreeSet::from([
            edge("a.rs", "b.rs"),
            edge("a.rs", "s/t.rs"),
            edge("s/mod.rs", "s/u.rs"),
            edge("s/mod.rs", "s/t.rs"),
            edge("s/t.rs", "b.rs"),
            edge("s/u.rs", "s/t.rs"),
        ])
    );
    assert!(g.circles().is_empty(), "{:?}", g.circles());
}

#[test]
fn checker_counts_an_item_of_a_parent_module_as_an_import_of_its_file() {
    // `s/mod.rs` uses its child, and the child uses an item `s/mod.rs` defines.
    let g = graph(&files(&[
        ("lib.rs", "pub mod s;\n"),
        (
            "s/mod.rs",
            "pub mod t;\npub struct Shared;\npub use t::T;\n",
        ),
        ("s/t.rs", "use super::Shared;\npub struct T;\n"),
    ]))
    .unwrap();
    let circles = g.circles();
    assert_eq!(circles.len(), 1, "{circles:?}");
}

#[test]
fn checker_reports_a_configuration_that_imports_the_crate() {
    let g = graph(&files(&[
        ("lib.rs", "pub mod config;\npub mod serve;\n"),
        ("config/mod.rs", "mod secrets;\npub use secrets::S;\n"),
        ("config/secrets.rs", "pub struct S(crate::serve::W);\n"),
        ("serve.rs", "pub struct W;\n"),
    ]))
    .unwrap();
    assert_eq!(
        g.imports_out_of("config"),
        ["src/config/secrets.rs:1 imports crate::serve::W (src/serve.rs)"]
    );
    let g = graph(&files(&[
        ("lib.rs", "pub mod config;\npub mod serve;\n"),
        ("config/mod.rs", "mod secrets;\npub use secrets::S;\n"),
        ("config/secrets.rs", "pub struct S;\n"),
        ("serve.rs", "use crate::config::S;\n"),
    ]))
    .unwrap();
    assert!(g.imports_out_of("config").is_empty());
}
