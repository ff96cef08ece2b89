//! Writing a laid-out diagram as one self-contained SVG document.
//!
//! No scripts, no external references, no `id`s taken from workflow text: the only ids are the
//! arrowhead markers. Styles are one inline `<style>` element (allowed by the
//! `style-src 'unsafe-inline'` the daemon sends). Every text goes through [`escape`]. Coordinates
//! are written with one decimal at most, so the bytes depend only on the input.

use std::fmt::Write;

use super::layout::{Layout, Point, Seg};
use super::scene::{KIND_SPACING, LABEL_HEIGHT, Node, Part, SMALL_FONT, SWITCH_INSET, What};
use super::text::escape;
use crate::workflow::graph::{EdgeKind, StateKind};

const STYLE: &str = "\
text{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;fill:#1f2328}\
.h{font-size:15px;font-weight:bold}\
.hs{font-size:11px;fill:#57606a}\
.k{font-size:10px;fill:#57606a;letter-spacing:.6px;text-anchor:middle}\
.n{font-size:13px;font-weight:bold;text-anchor:middle}\
.f,.m{font-size:11px;text-anchor:middle}\
.f{fill:#3d444d;font-style:italic}\
.l{font-size:11px;fill:#3d444d}\
.lb{fill:#fff;fill-opacity:.85}\
.o{stroke-width:1.5}\
.i{fill:none;stroke-width:1}\
.edge path{fill:none;stroke:#6e7781;stroke-width:1.4;marker-end:url(#a)}\
.begin path{fill:none;stroke:#1f2328;stroke-width:1.4;marker-end:url(#a)}\
.edge.error path{stroke:#cf222e;stroke-dasharray:6 4;marker-end:url(#ae)}\
.edge.error .l{fill:#a40e26}\
.edge.compensation path{stroke:#8250df;stroke-dasharray:1.5 3;marker-end:url(#ac)}\
.edge.default .l{font-style:italic}\
.operation .o{fill:#e7f0fd;stroke:#4a7cc2}.operation .i{stroke:#4a7cc2}\
.switch .o{fill:#fff3d1;stroke:#b58614}\
.event .o{fill:#e4f5e9;stroke:#3f9a5d}.event .i{stroke:#3f9a5d}\
.callback .o{fill:#e2f4f4;stroke:#2f8f8f}.callback .i{stroke:#2f8f8f}\
.sleep .o{fill:#f0eafb;stroke:#7b5cc0}\
.parallel .o{fill:#fde9e7;stroke:#c0534a}.parallel .i{stroke:#c0534a}\
.foreach .o{fill:#fdeedd;stroke:#c77a2a}\
.inject .o{fill:#eef0f2;stroke:#6e7781}\
.other .o{fill:#fff;stroke:#8c959f}\
.unreachable .o{stroke-dasharray:5 3}\
.start circle{fill:#1f2328}\
.end .eo{fill:#fff;stroke:#1f2328;stroke-width:1.5}.end .ei{fill:#1f2328}\
.missing .o{fill:#fff1f0;stroke:#cf222e;stroke-dasharray:4 3}.missing .m{fill:#a40e26}\
.ref .o{fill:#f6f8fa;stroke:#8c959f}\
.apart .frame{fill:#fffbf0;stroke:#b58614;stroke-dasharray:6 4}\
.apart .ft{font-size:11px;fill:#7d4e00;font-weight:bold}";

const DEFS: &str = "<defs>\
<marker id=\"a\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#57606a\"/></marker>\
<marker id=\"ae\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#cf222e\"/></marker>\
<marker id=\"ac\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#8250df\"/></marker>\
</defs>";

/// A number written with at most one decimal, never `-0` (formatted without allocating: a
/// diagram has hundreds of them).
#[derive(Debug, Clone, Copy)]
pub struct Num(pub f64);

impl Num {
    /// The value in tenths, rounded; 0 for what is not finite.
    pub fn tenths(self) -> i64 {
        if self.0.is_finite() {
            (self.0 * 10.0).round() as i64
        } else {
            0
        }
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.tenths();
        if t < 0 {
            f.write_str("-")?;
        }
        let a = t.unsigned_abs();
        match a % 10 {
            0 => write!(f, "{}", a / 10),
            d => write!(f, "{}.{d}", a / 10),
        }
    }
}

/// A point shifted by `(dx, dy)`, written `x y`.
struct At(Point, f64, f64);

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", Num(self.0.x + self.1), Num(self.0.y + self.2))
    }
}

/// The document: `<svg>` with its size, the title, styles and a white background.
pub struct Document {
    out: String,
}

impl Document {
    pub fn new(width: f64, height: f64, title: &str) -> Self {
        let mut out = String::with_capacity(4096);
        let (w, h) = (Num(width), Num(height));
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">\n<title>{}</title>\n<style>{STYLE}</style>\n{DEFS}\n<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\n",
            escape(title)
        );
        Document { out }
    }

    pub fn heading(&mut self, x: f64, y: f64, text: &str, class: &str) {
        let _ = writeln!(
            self.out,
            "<text class=\"{class}\" x=\"{}\" y=\"{}\">{}</text>",
            Num(x),
            Num(y),
            escape(text)
        );
    }

    /// The frame around the part apart, with its caption.
    pub fn frame(&mut self, x: f64, y: f64, w: f64, h: f64, caption: &str) {
        let _ = writeln!(
            self.out,
            "<g class=\"apart\"><rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\"/><text class=\"ft\" x=\"{}\" y=\"{}\">{}</text></g>",
            Num(x),
            Num(y),
            Num(w),
            Num(h),
            Num(x + 10.0),
            Num(y + 17.0),
            escape(caption)
        );
    }

    /// Edges first (boxes are drawn over their ends), then boxes; `(dx, dy)` shifts the part.
    pub fn part(&mut self, part: &Part, layout: &Layout, dx: f64, dy: f64, apart: bool) {
        let at = |p: Point| At(p, dx, dy);
        for (e, route) in part.edges.iter().zip(&layout.routes) {
            let class = match e.kind {
                None => "begin".to_owned(),
                Some(kind) => format!("edge {}", edge_class(kind)),
            };
            let _ = write!(self.out, "<g class=\"{class}\">");
            if let Some((_, full)) = &e.label {
                let _ = write!(self.out, "<title>{}</title>", escape(full));
            }
            let _ = write!(self.out, "<path d=\"M{}", at(route.start));
            let mut x = route.start.x;
            for s in &route.segs {
                let _ = match *s {
                    Seg::Line(p) if Num(p.x).tenths() == Num(x).tenths() => {
                        write!(self.out, "V{}", Num(p.y + dy))
                    }
                    Seg::Line(p) => write!(self.out, "L{}", at(p)),
                    Seg::Cubic(a, b, p) => write!(self.out, "C{} {} {}", at(a), at(b), at(p)),
                };
                x = match *s {
                    Seg::Line(p) | Seg::Cubic(_, _, p) => p.x,
                };
            }
            self.out.push_str("\"/>");
            if let (Some((shown, _)), Some(p)) = (&e.label, route.label) {
                let w = SMALL_FONT.width(shown) + 6.0;
                let _ = write!(
                    self.out,
                    "<rect class=\"lb\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\"/><text class=\"l\" x=\"{}\" y=\"{}\">{}</text>",
                    Num(p.x + dx),
                    Num(p.y + dy),
                    Num(w),
                    Num(LABEL_HEIGHT),
                    Num(p.x + dx + 3.0),
                    Num(p.y + dy + 11.5),
                    escape(shown)
                );
            }
            self.out.push_str("</g>\n");
        }
        for (node, p) in part.nodes.iter().zip(&layout.nodes) {
            self.node(node, p.x + dx, p.y + dy, apart);
        }
    }

    fn node(&mut self, node: &Node, x: f64, y: f64, apart: bool) {
        let (w, h) = (node.width, node.height);
        let translate = format!("transform=\"translate({},{})\"", Num(x), Num(y));
        match &node.what {
            What::Start => {
                let _ = writeln!(
                    self.out,
                    "<g class=\"start\" {translate}><title>start</title><circle cx=\"8\" cy=\"8\" r=\"7\"/></g>"
                );
            }
            What::End => {
                let _ = writeln!(
                    self.out,
                    "<g class=\"end\" {translate}><title>end</title><circle class=\"eo\" cx=\"10\" cy=\"10\" r=\"9\"/><circle class=\"ei\" cx=\"10\" cy=\"10\" r=\"5\"/></g>"
                );
            }
            What::Missing { line, name } => {
                let _ = writeln!(
                    self.out,
                    "<g class=\"missing\" {translate}><title>no state is named {}</title><rect class=\"o\" width=\"{}\" height=\"{}\" rx=\"4\"/><text class=\"m\" x=\"{}\" y=\"18\">{}</text></g>",
                    escape(name),
                    Num(w),
                    Num(h),
                    Num(w / 2.0),
                    escape(line)
                );
            }
            What::Ref { line, name } => {
                let _ = writeln!(
                    self.out,
                    "<g class=\"ref\" {translate}><title>goes to {}</title><rect class=\"o\" width=\"{}\" height=\"{}\" rx=\"12\"/><text class=\"m\" x=\"{}\" y=\"16\">{}</text></g>",
                    escape(name),
                    Num(w),
                    Num(h),
                    Num(w / 2.0),
                    escape(line)
                );
            }
            What::State {
                kind,
                kind_line,
                name_line,
                name,
                sub_flows,
                ..
            } => {
                let mut class = format!("state {}", kind_class(kind));
                if apart {
                    class.push_str(" unreachable");
                }
                let _ = write!(
                    self.out,
                    "<g class=\"{class}\" {translate}><title>{}</title>",
                    escape(name)
                );
                self.outline(kind, w, h);
                // Text is centred on the box; a foreach's front card is 4 px left and down.
                let (cx, top) = match kind {
                    StateKind::ForEach => ((w - 4.0) / 2.0, 4.0),
                    _ => (w / 2.0, 0.0),
                };
                let kind_shift = KIND_SPACING / 2.0;
                let _ = write!(
                    self.out,
                    "<text class=\"k\" x=\"{}\" y=\"{}\">{}</text><text class=\"n\" x=\"{}\" y=\"{}\">{}</text>",
                    Num(cx + kind_shift),
                    Num(top + 16.0),
                    escape(kind_line),
                    Num(cx),
                    Num(top + 33.0),
                    escape(name_line)
                );
                for (i, f) in sub_flows.iter().enumerate() {
                    let _ = write!(
                        self.out,
                        "<text class=\"f\" x=\"{}\" y=\"{}\">{}</text>",
                        Num(cx),
                        Num(top + 48.0 + 15.0 * i as f64),
                        escape(f)
                    );
                }
                self.out.push_str("</g>\n");
            }
        }
    }

    /// The box of a state: its shape tells its type.
    fn outline(&mut self, kind: &StateKind, w: f64, h: f64) {
        let (w_, h_) = (Num(w), Num(h));
        let _ = match kind {
            StateKind::Operation => write!(
                self.out,
                "<rect class=\"o\" width=\"{w_}\" height=\"{h_}\" rx=\"8\"/>"
            ),
            StateKind::Switch => {
                let i = SWITCH_INSET;
                write!(
                    self.out,
                    "<polygon class=\"o\" points=\"{},0 {},0 {w_},{} {},{h_} {},{h_} 0,{}\"/>",
                    Num(i),
                    Num(w - i),
                    Num(h / 2.0),
                    Num(w - i),
                    Num(i),
                    Num(h / 2.0)
                )
            }
            StateKind::Event => write!(
                self.out,
                "<rect class=\"o\" width=\"{w_}\" height=\"{h_}\" rx=\"4\"/><rect class=\"i\" x=\"3\" y=\"3\" width=\"{}\" height=\"{}\" rx=\"2\"/>",
                Num(w - 6.0),
                Num(h - 6.0)
            ),
            StateKind::Callback => {
                let c = 9.0;
                write!(
                    self.out,
                    "<polygon class=\"o\" points=\"{c},0 {},0 {w_},{c} {w_},{} {},{h_} {c},{h_} 0,{} 0,{c}\"/><path class=\"i\" d=\"M{} 7h6v6\"/>",
                    Num(w - c),
                    Num(h - c),
                    Num(w - c),
                    Num(h - c),
                    Num(w - 16.0),
                )
            }
            StateKind::Sleep => write!(
                self.out,
                "<rect class=\"o\" width=\"{w_}\" height=\"{h_}\" rx=\"{}\"/>",
                Num(h / 2.0)
            ),
            StateKind::Parallel => write!(
                self.out,
                "<rect class=\"o\" width=\"{w_}\" height=\"{h_}\" rx=\"2\"/><path class=\"i\" d=\"M6 0V{h_}M{} 0V{h_}\"/>",
                Num(w - 6.0)
            ),
            StateKind::ForEach => write!(
                self.out,
                "<rect class=\"o\" x=\"4\" width=\"{}\" height=\"{}\" rx=\"4\"/><rect class=\"o\" y=\"4\" width=\"{}\" height=\"{}\" rx=\"4\"/>",
                Num(w - 4.0),
                Num(h - 4.0),
                Num(w - 4.0),
                Num(h - 4.0)
            ),
            StateKind::Inject => write!(
                self.out,
                "<rect class=\"o\" width=\"{w_}\" height=\"{h_}\"/>"
            ),
            StateKind::Other(_) => write!(
                self.out,
                "<rect class=\"o\" width=\"{w_}\" height=\"{h_}\" rx=\"1\"/>"
            ),
        };
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

fn edge_class(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Transition => "transition",
        EdgeKind::Condition => "condition",
        EdgeKind::Default => "default",
        EdgeKind::Error => "error",
        EdgeKind::Compensation => "compensation",
    }
}

/// The class of a state box: its type, or `other` for a type the specification does not have.
fn kind_class(kind: &StateKind) -> &'static str {
    match kind {
        StateKind::Operation => "operation",
        StateKind::Switch => "switch",
        StateKind::Event => "event",
        StateKind::Sleep => "sleep",
        StateKind::Parallel => "parallel",
        StateKind::ForEach => "foreach",
        StateKind::Inject => "inject",
        StateKind::Callback => "callback",
        StateKind::Other(_) => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_one_decimal_at_most_and_no_negative_zero() {
        let num = |v: f64| Num(v).to_string();
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.25), "1.3");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(-3.5), "-3.5");
        assert_eq!(num(-0.5), "-0.5");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::INFINITY), "0");
    }
}
