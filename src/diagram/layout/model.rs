//! What the layout takes and gives, and the items it places (shared by its steps).

/// Bends beyond this many (over all edges) make the longest edges direct curves.
pub const MAX_DUMMIES: usize = 6_000;

/// Horizontal space between two boxes, and between a box or bend and a bend.
pub(super) const NODE_GAP: f64 = 28.0;
pub(super) const BEND_GAP: f64 = 12.0;
/// Vertical space between two ranks.
pub(super) const RANK_GAP: f64 = 14.0;
/// How far a self-loop reaches out of its box, and the step between several.
pub(super) const LOOP_OUT: f64 = 22.0;
pub(super) const LOOP_STEP: f64 = 12.0;
/// Space between an edge line and its label.
pub(super) const LABEL_PAD: f64 = 6.0;

/// A box to place.
#[derive(Debug, Clone)]
pub struct Node {
    pub width: f64,
    pub height: f64,
    /// How much of the width edges may attach along (0: all at the centre).
    pub port_span: f64,
    /// The initial order (file order): lower first.
    pub order: u64,
}

/// An edge to route; a label is a box of (width, height) beside the line.
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub label: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// One piece of a route, from where the previous one ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seg {
    Line(Point),
    Cubic(Point, Point, Point),
}

/// The path of an edge, from its source to its target (the arrow goes at the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub start: Point,
    pub segs: Vec<Seg>,
    /// Top-left corner of the label box.
    pub label: Option<Point>,
}

/// Where everything went. Node positions are the top-left corners of the boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub nodes: Vec<Point>,
    pub routes: Vec<Route>,
    pub width: f64,
    pub height: f64,
    /// Edge crossings between adjacent ranks in the final order...
    pub crossings: usize,
    /// ...and in the initial (file) order, for comparison.
    pub initial_crossings: usize,
}

/// A thing in a rank: a node, or a bend of an edge.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Node,
    Bend,
}

#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) kind: Kind,
    pub(super) rank: usize,
    /// Extents left and right of the item's x, and its height.
    pub(super) left: f64,
    pub(super) right: f64,
    pub(super) height: f64,
    pub(super) key: (u64, u64, u64),
    pub(super) up: Vec<usize>,
    pub(super) down: Vec<usize>,
}

/// An edge after cycle removal: `upper` above `lower`.
#[derive(Debug, Clone)]
pub(super) struct Placed {
    pub(super) upper: usize,
    pub(super) lower: usize,
    pub(super) reversed: bool,
    /// Item ids of its bends, top to bottom; empty for a direct edge.
    pub(super) bends: Vec<usize>,
    /// Index into `bends` of the one carrying the label.
    pub(super) label_bend: Option<usize>,
}
