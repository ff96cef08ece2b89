//! `GET /diagrams/<template-name>.svg`: each published template's workflow diagram, rendered on
//! request and kept in a cache bounded in bytes.
//!
//! The daemon holds one [`diagram::Source`] per published template (the workflow's graph, shared
//! with the parsed workflow, and its title), never the rendered SVGs beyond the cache: the memory
//! budget does not grow with what nobody looks at. A cached SVG is used while its template's
//! source is the same one (same `Arc`, or equal); an edited workflow gets a new diagram, an
//! unchanged one the same bytes and ETag. The least recently used SVGs leave first.
//!
//! Answers carry a strong ETag (`304` on `If-None-Match`), `Content-Type: image/svg+xml`, and
//! headers that keep an SVG from running anything: `Content-Security-Policy: default-src 'none';
//! style-src 'unsafe-inline'` and `X-Content-Type-Options: nosniff`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::diagram;

/// The `Content-Security-Policy` of every diagram answer.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// Diagram sources by template name, as published.
pub type Sources = BTreeMap<String, Arc<diagram::Source>>;

/// One rendered diagram.
#[derive(Debug)]
pub struct Rendered {
    pub svg: Arc<str>,
    pub etag: String,
}

impl Rendered {
    pub fn new(svg: String) -> Self {
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(svg.as_bytes()))[..32]);
        Self {
            svg: svg.into(),
            etag,
        }
    }
}

struct Entry {
    source: Arc<diagram::Source>,
    rendered: Arc<Rendered>,
    used: u64,
}

/// Rendered diagrams by template name, at most `max_bytes` of SVG in all.
pub struct Cache {
    max_bytes: usize,
    bytes: usize,
    clock: u64,
    entries: HashMap<String, Entry>,
}

impl Cache {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            bytes: 0,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    /// The bytes of SVG held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The diagram of `name` if it was rendered from this same source.
    pub fn get(&mut self, name: &str, source: &Arc<diagram::Source>) -> Option<Arc<Rendered>> {
        self.clock += 1;
        let entry = self.entries.get_mut(name)?;
        if Arc::ptr_eq(&entry.source, source) || entry.source == *source {
            entry.used = self.clock;
            return Some(entry.rendered.clone());
        }
        None
    }

    /// Keeps a rendering, then lets the least recently used go until the cache fits.
    pub fn insert(&mut self, name: &str, source: Arc<diagram::Source>, rendered: Arc<Rendered>) {
        self.clock += 1;
        let size = rendered.svg.len();
        if let Some(old) = self.entries.remove(name) {
            self.bytes -= old.rendered.svg.len();
        }
        if size > self.max_bytes {
            return;
        }
        self.entries.insert(
            name.to_owned(),
            Entry {
                source,
                rendered,
                used: self.clock,
            },
        );
        self.bytes += size;
        while self.bytes > self.max_bytes {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
                .expect("over budget means not empty");
            let e = self.entries.remove(&oldest).expect("just found");
            self.bytes -= e.rendered.svg.len();
        }
    }

    /// Forgets what no published template has any more.
    pub fn retain(&mut self, sources: &Sources) {
        let mut bytes = self.bytes;
        self.entries.retain(|name, e| {
            let keep = sources.contains_key(name);
            if !keep {
                bytes -= e.rendered.svg.len();
            }
            keep
        });
        self.bytes = bytes;
    }
}

/// Whether the request's `If-None-Match` names `etag` (or is `*`): the client has it, 304.
/// Shared by every document the daemon serves with an ETag (shards, the index, diagrams).
pub fn client_has(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// The answer for a rendered diagram: 200 with the SVG, or 304 when the client has it.
pub fn answer(rendered: &Rendered, headers: &HeaderMap) -> Response {
    let matches = client_has(headers, &rendered.etag);
    let builder = protected(Response::builder())
        .header(header::ETAG, &rendered.etag)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::CONTENT_TYPE, "image/svg+xml");
    if matches {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .expect("valid response");
    }
    builder
        .status(StatusCode::OK)
        .body(Body::from(rendered.svg.to_string()))
        .expect("valid response")
}

/// A plain-text refusal (unknown template, not ready), with the same protective headers.
pub fn refusal(status: StatusCode, message: &str) -> Response {
    protected(Response::builder())
        .status(status)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )
        .body(Body::from(format!("{message}\n")))
        .expect("valid response")
}

fn protected(builder: axum::http::response::Builder) -> axum::http::response::Builder {
    builder
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Graph;

    fn source(title: &str) -> Arc<diagram::Source> {
        Arc::new(diagram::Source {
            graph: Arc::new(Graph::default()),
            title: title.into(),
            workflow_id: "w".into(),
        })
    }

    fn rendered(bytes: usize) -> Arc<Rendered> {
        Arc::new(Rendered::new("x".repeat(bytes)))
    }

    #[test]
    fn the_cache_stays_within_its_bytes_and_drops_the_least_recently_used() {
        let mut cache = Cache::new(100);
        let (a, b, c) = (source("a"), source("b"), source("c"));
        cache.insert("a", a.clone(), rendered(40));
        cache.insert("b", b.clone(), rendered(40));
        assert!(cache.get("a", &a).is_some());
        cache.insert("c", c.clone(), rendered(40));
        assert_eq!(cache.bytes(), 80);
        assert!(
            cache.get("b", &b).is_none(),
            "b was the least recently used"
        );
        assert!(cache.get("a", &a).is_some());
        assert!(cache.get("c", &c).is_some());
        cache.insert("huge", source("h"), rendered(101));
        assert_eq!(cache.bytes(), 80);
    }

    #[test]
    fn a_changed_source_misses_and_an_equal_one_hits() {
        let mut cache = Cache::new(1000);
        cache.insert("a", source("one"), rendered(10));
        assert!(cache.get("a", &source("one")).is_some());
        assert!(cache.get("a", &source("two")).is_none());
        cache.insert("a", source("two"), rendered(20));
        assert_eq!(cache.bytes(), 20);
        cache.retain(&Sources::new());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn answers_are_protected_and_revalidated() {
        let r = Rendered::new("<svg/>".into());
        let resp = answer(&r, &HeaderMap::new());
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_TYPE], "image/svg+xml");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, r.etag.parse().unwrap());
        assert_eq!(answer(&r, &headers).status(), StatusCode::NOT_MODIFIED);
        let refused = refusal(StatusCode::NOT_FOUND, "no");
        assert_eq!(refused.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
