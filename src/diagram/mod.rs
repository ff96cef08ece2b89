//! Workflow diagrams: a workflow's states and transitions drawn as one self-contained SVG.
//!
//! Pure and deterministic, like mapping: the same [`Graph`] and heading give the same bytes.
//! The daemon renders on request (`GET /diagrams/<name>.svg`) and `export --out` writes
//! `<name>.svg` beside each template.
//!
//! **Layout: hand-written, layered (Sugiyama-style), in [`layout`].** The graphs are small (3 states
//! on average in the corpus, 33 at most; a diagram is drawn up to 1000), mostly chains with
//! switches and retry loops, exactly what the layered method was made for: a flow top to bottom,
//! few crossings, and bends and labels laid out like boxes so nothing overlaps. It is about 1000
//! lines with no dependency, every step is deterministic (stable sorts, no hashing, no clock), and
//! it can promise what the diagrams promise (no overlapping boxes, never more crossings than file
//! order). The candidate crate, `layout-rs`, lays out through its own graph and SVG types with
//! its own text measuring and styling, which would leave the escaping, the shapes per state type
//! and those two guarantees to check from outside a dependency; for graphs this size that costs
//! more than it saves.
//!
//! - [`text`]: text widths (DejaVu Sans metrics), shortening, XML escaping;
//! - [`scene`]: what is drawn: boxes per state type, start and end markers, missing targets, the
//!   part no path from the start reaches;
//! - [`layout`]: where it goes;
//! - [`svg`]: the document.

pub mod layout;
pub mod scene;
pub mod svg;
pub mod text;

use std::sync::Arc;

use crate::workflow::graph::{Graph, MAX_EDGES, MAX_STATES};
use text::Font;

/// What the diagram of one template is drawn from. Shared: the daemon keeps one per published
/// template (the graph itself is shared with the parsed workflow) and renders on request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub graph: Arc<Graph>,
    /// The template's title, the diagram's heading.
    pub title: String,
    pub workflow_id: String,
}

impl Source {
    pub fn render(&self) -> Svg {
        render(&self.graph, &self.title, &self.workflow_id)
    }
}

/// A rendered diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg {
    pub text: String,
    /// The `width` and `height` of the `<svg>` element, in pixels.
    pub width: u32,
    pub height: u32,
}

const MARGIN: f64 = 16.0;
const HEADING_HEIGHT: f64 = 48.0;
/// Space between the reachable part and the frame of the part apart; padding inside the frame.
const APART_GAP: f64 = 32.0;
const FRAME_PAD: f64 = 14.0;
const FRAME_CAPTION: f64 = 26.0;
const CAPTION_FONT: Font = Font {
    size: 11.0,
    bold: true,
};
const HEADING_FONT: Font = Font {
    size: 15.0,
    bold: true,
};

/// Draws `graph` under `heading` (the workflow's title); `subheading` is a second, smaller line
/// (the workflow id, say).
pub fn render(graph: &Graph, heading: &str, subheading: &str) -> Svg {
    let flow = match graph {
        Graph::Drawn(flow) if !flow.states.is_empty() => flow,
        Graph::Drawn(_) => return message(heading, subheading, "This workflow has no states."),
        Graph::TooLarge { states, edges } => {
            return message(
                heading,
                subheading,
                &format!(
                    "This workflow has {states} states and {edges} transitions: too many to draw (diagrams are drawn up to {MAX_STATES} states and {MAX_EDGES} transitions)."
                ),
            );
        }
    };
    let (main, apart) = scene::parts(flow);
    let main_layout = main.layout();
    let apart_layout = (!apart.is_empty()).then(|| apart.layout());
    let (mw, mh) = (main_layout.width, main_layout.height);
    let top = MARGIN + HEADING_HEIGHT;
    // The part apart goes beside a tall drawing and under a wide one.
    let caption = apart_caption(&apart);
    let frame = apart_layout.as_ref().map(|l| {
        let (fw, fh) = (
            l.width.max(CAPTION_FONT.width(&caption) + 6.0) + 2.0 * FRAME_PAD,
            l.height + FRAME_CAPTION + FRAME_PAD,
        );
        if mh >= mw {
            (MARGIN + mw + APART_GAP, top, fw, fh)
        } else {
            (MARGIN, top + mh + APART_GAP, fw, fh)
        }
    });
    let mut width = MARGIN + mw;
    let mut height = top + mh;
    if let Some((x, y, w, h)) = frame {
        width = width.max(x + w);
        height = height.max(y + h);
    }
    let heading_line = HEADING_FONT.fit(heading, (width - MARGIN).max(320.0));
    width = width.max(MARGIN + HEADING_FONT.width(&heading_line));
    let width = (width + MARGIN).ceil();
    let height = (height + MARGIN).ceil();

    let mut doc = svg::Document::new(width, height, heading);
    doc.heading(MARGIN, MARGIN + 16.0, &heading_line, "h");
    doc.heading(
        MARGIN,
        MARGIN + 33.0,
        &scene::SMALL_FONT.fit(subheading, width - 2.0 * MARGIN),
        "hs",
    );
    doc.part(&main, &main_layout, MARGIN, top, false);
    if let (Some(layout), Some((x, y, w, h))) = (&apart_layout, frame) {
        doc.frame(x, y, w, h, &caption);
        doc.part(&apart, layout, x + FRAME_PAD, y + FRAME_CAPTION, true);
    }
    Svg {
        text: doc.finish(),
        width: width as u32,
        height: height as u32,
    }
}

fn apart_caption(apart: &scene::Part) -> String {
    let states = apart
        .nodes
        .iter()
        .filter(|n| matches!(n.what, scene::What::State { .. }))
        .count();
    match states {
        1 => "Not reachable from the start: 1 state".to_owned(),
        n => format!("Not reachable from the start: {n} states"),
    }
}

/// A diagram that is only a sentence (no states, too many).
fn message(heading: &str, subheading: &str, text: &str) -> Svg {
    let body = scene::SMALL_FONT;
    let width = (MARGIN * 2.0
        + body
            .width(text)
            .max(HEADING_FONT.width(heading).min(600.0))
            .max(320.0))
    .ceil();
    let height = MARGIN * 2.0 + HEADING_HEIGHT + 20.0;
    let mut doc = svg::Document::new(width, height, heading);
    doc.heading(
        MARGIN,
        MARGIN + 16.0,
        &HEADING_FONT.fit(heading, width - 2.0 * MARGIN),
        "h",
    );
    doc.heading(
        MARGIN,
        MARGIN + 33.0,
        &body.fit(subheading, width - 2.0 * MARGIN),
        "hs",
    );
    doc.heading(MARGIN, MARGIN + HEADING_HEIGHT + 12.0, text, "l");
    Svg {
        text: doc.finish(),
        width: width as u32,
        height: height as u32,
    }
}
