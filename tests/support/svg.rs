//! Reading a rendered diagram back: the SVG is parsed as XML (it must be well-formed) and its
//! boxes, states and edges are collected, so tests check what was drawn, not what was meant.

#![allow(dead_code)]

use roxmltree::{Document, Node};

/// A box of the drawing: `(x, y, width, height)` in document coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }

    pub fn contains(&self, o: &Rect) -> bool {
        o.x >= self.x
            && o.y >= self.y
            && o.x + o.w <= self.x + self.w
            && o.y + o.h <= self.y + self.h
    }
}

/// One box: a state, a marker, a missing target, a reference.
#[derive(Debug, Clone)]
pub struct Drawn {
    /// The classes of its group (`state switch unreachable`, `end`...).
    pub class: String,
    /// Its `<title>` (a state's full name).
    pub title: String,
    pub rect: Rect,
}

#[derive(Debug, Clone)]
pub struct Diagram {
    pub width: f64,
    pub height: f64,
    pub boxes: Vec<Drawn>,
    /// The class of every workflow edge (`edge condition`...), the start arrow excluded.
    pub edges: Vec<String>,
    /// The frame around the states no path reaches, if any.
    pub apart: Option<Rect>,
    /// Every element name in the document.
    pub elements: Vec<String>,
    /// Every attribute name in the document.
    pub attributes: Vec<String>,
}

impl Diagram {
    pub fn states(&self) -> impl Iterator<Item = &Drawn> {
        self.boxes.iter().filter(|b| has_class(&b.class, "state"))
    }
}

pub fn has_class(class: &str, token: &str) -> bool {
    class.split_whitespace().any(|c| c == token)
}

/// Parses the SVG; panics (naming `what`) if it is not well-formed or not shaped as expected.
pub fn read(svg: &str, what: &str) -> Diagram {
    let doc = Document::parse(svg).unwrap_or_else(|e| panic!("{what}: not well-formed XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{what}");
    let num = |n: Node, a: &str| -> f64 {
        n.attribute(a)
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{what}: {a}={v}")))
            .unwrap_or(0.0)
    };
    let mut out = Diagram {
        width: num(root, "width"),
        height: num(root, "height"),
        boxes: Vec::new(),
        edges: Vec::new(),
        apart: None,
        elements: root
            .descendants()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name().to_owned())
            .collect(),
        attributes: root
            .descendants()
            .flat_map(|n| n.attributes().map(|a| a.name().to_owned()))
            .collect(),
    };
    for g in root.descendants().filter(|n| n.has_tag_name("g")) {
        let class = g.attribute("class").unwrap_or("");
        if has_class(class, "edge") {
            out.edges.push(class.to_owned());
            continue;
        }
        if has_class(class, "apart") {
            let frame = g
                .children()
                .find(|n| n.attribute("class") == Some("frame"))
                .expect("a frame");
            out.apart = Some(Rect {
                x: num(frame, "x"),
                y: num(frame, "y"),
                w: num(frame, "width"),
                h: num(frame, "height"),
            });
            continue;
        }
        let Some(transform) = g.attribute("transform") else {
            continue;
        };
        let (tx, ty) = transform
            .strip_prefix("translate(")
            .and_then(|t| t.strip_suffix(')'))
            .and_then(|t| t.split_once(','))
            .map(|(x, y)| (x.parse::<f64>().unwrap(), y.parse::<f64>().unwrap()))
            .unwrap_or_else(|| panic!("{what}: transform {transform}"));
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        let mut grow = |x: f64, y: f64| {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        };
        for shape in g.children().filter(|n| n.is_element()) {
            match shape.tag_name().name() {
                "rect" => {
                    let (x, y) = (num(shape, "x"), num(shape, "y"));
                    grow(x, y);
                    grow(x + num(shape, "width"), y + num(shape, "height"));
                }
                "circle" => {
                    let (cx, cy, r) = (num(shape, "cx"), num(shape, "cy"), num(shape, "r"));
                    grow(cx - r, cy - r);
                    grow(cx + r, cy + r);
                }
                "polygon" => {
                    for pair in shape.attribute("points").unwrap().split_whitespace() {
                        let (x, y) = pair.split_once(',').unwrap();
                        grow(x.parse().unwrap(), y.parse().unwrap());
                    }
                }
                _ => {}
            }
        }
        assert!(x0 <= x1, "{what}: a box without a shape: {class}");
        let title = g
            .children()
            .find(|n| n.has_tag_name("title"))
            .and_then(|t| t.text())
            .unwrap_or("")
            .to_owned();
        out.boxes.push(Drawn {
            class: class.to_owned(),
            title,
            rect: Rect {
                x: tx + x0,
                y: ty + y0,
                w: x1 - x0,
                h: y1 - y0,
            },
        });
    }
    out
}

/// Panics when two boxes overlap, a box leaves the picture, or a reachable box overlaps the
/// frame of the part apart.
pub fn assert_no_overlaps(d: &Diagram, what: &str) {
    let page = Rect {
        x: 0.0,
        y: 0.0,
        w: d.width,
        h: d.height,
    };
    for (i, a) in d.boxes.iter().enumerate() {
        assert!(page.contains(&a.rect), "{what}: {a:?} leaves the picture");
        for b in &d.boxes[i + 1..] {
            assert!(
                !a.rect.overlaps(&b.rect),
                "{what}: {:?} ({}) overlaps {:?} ({})",
                a.title,
                a.class,
                b.title,
                b.class
            );
        }
        if let Some(frame) = d.apart
            && !frame.contains(&a.rect)
        {
            assert!(
                !frame.overlaps(&a.rect),
                "{what}: {:?} overlaps the frame",
                a.title
            );
        }
    }
}
