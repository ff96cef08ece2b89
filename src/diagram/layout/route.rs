//! Step 6 of the layout: ports on the boxes and the path of every edge.

use super::model::{Edge, LABEL_PAD, LOOP_OUT, LOOP_STEP, Node, Placed, Point, Route, Seg};

pub(super) struct Geometry<'a> {
    pub(super) nodes: &'a [Node],
    pub(super) node_rank: &'a [usize],
    pub(super) points: &'a [Point],
    pub(super) xs: &'a [f64],
    pub(super) rank_top: &'a [f64],
    pub(super) rank_height: &'a [f64],
}

/// Where an edge leaves its upper node (x) and enters its lower one (x).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Ports {
    out_x: f64,
    in_x: f64,
}

/// Spreads the edges leaving a node's bottom (and entering its top) along its port span, in the
/// order of where they go.
pub(super) fn ports(g: &Geometry, placed: &[Option<Placed>]) -> Vec<Ports> {
    let n = g.nodes.len();
    let mut bottom: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
    let mut top: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
    for (i, p) in placed.iter().enumerate() {
        let Some(p) = p else { continue };
        let next = p.bends.first().map_or(g.xs[p.lower], |&b| g.xs[b]);
        let prev = p.bends.last().map_or(g.xs[p.upper], |&b| g.xs[b]);
        bottom[p.upper].push((next, i));
        top[p.lower].push((prev, i));
    }
    let mut out = vec![Ports::default(); placed.len()];
    let spread = |node: usize, list: &mut Vec<(f64, usize)>, set: &mut dyn FnMut(usize, f64)| {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let span = g.nodes[node].port_span;
        let k = list.len() as f64;
        for (j, &(_, e)) in list.iter().enumerate() {
            let x = g.xs[node] - span / 2.0 + span * (j as f64 + 1.0) / (k + 1.0);
            set(e, x);
        }
    };
    for node in 0..n {
        spread(node, &mut bottom[node], &mut |e, x| out[e].out_x = x);
        spread(node, &mut top[node], &mut |e, x| out[e].in_x = x);
    }
    out
}

impl Geometry<'_> {
    fn bottom(&self, node: usize) -> f64 {
        self.points[node].y + self.nodes[node].height
    }

    /// Through every bend; reversed edges are routed downwards, then turned around.
    pub(super) fn route(&self, p: &Placed, ports: Ports, label: Option<(f64, f64)>) -> Route {
        let start = Point {
            x: ports.out_x,
            y: self.bottom(p.upper),
        };
        let end = Point {
            x: ports.in_x,
            y: self.points[p.lower].y,
        };
        let mut path = PathBuilder::new(start);
        let mut label_at = None;
        for (k, &b) in p.bends.iter().enumerate() {
            let x = self.xs[b];
            let r = self.node_rank[p.upper] + 1 + k;
            path.curve_to(Point {
                x,
                y: self.rank_top[r],
            });
            path.line_to(Point {
                x,
                y: self.rank_top[r] + self.rank_height[r],
            });
            if p.label_bend == Some(k)
                && let Some((_, h)) = label
            {
                label_at = Some(Point {
                    x: x + LABEL_PAD,
                    y: self.rank_top[r] + (self.rank_height[r] - h) / 2.0,
                });
            }
        }
        path.curve_to(end);
        let segs = path.segs;
        if p.bends.is_empty()
            && let Some((_, h)) = label
        {
            // A direct edge: beside its middle.
            label_at = Some(Point {
                x: (start.x + end.x) / 2.0 + LABEL_PAD,
                y: (start.y + end.y) / 2.0 - h / 2.0,
            });
        }
        let route = Route {
            start,
            segs,
            label: label_at,
        };
        if p.reversed { reverse(route) } else { route }
    }

    /// A loop out of the right side of the box and back, one per self-edge, nested.
    pub(super) fn self_loop(
        &self,
        node: usize,
        loops: &[usize],
        edge: usize,
        edges: &[Edge],
    ) -> Route {
        let j = loops.iter().position(|&e| e == edge).unwrap_or(0) as f64;
        let p = self.points[node];
        let (w, h) = (self.nodes[node].width, self.nodes[node].height);
        let right = p.x + w;
        let out = LOOP_OUT + LOOP_STEP * j;
        let start = Point {
            x: right,
            y: p.y + h * 0.3,
        };
        let end = Point {
            x: right,
            y: p.y + h * 0.7,
        };
        let reach = Point {
            x: right + out * 1.3,
            y: p.y + h * 0.3 - 6.0,
        };
        let back = Point {
            x: right + out * 1.3,
            y: p.y + h * 0.7 + 6.0,
        };
        let label = edges[edge].label.map(|(_, lh)| Point {
            x: right + LOOP_OUT + LOOP_STEP * (loops.len() - 1) as f64 + LABEL_PAD,
            y: p.y + h / 2.0 - lh / 2.0 + j * lh,
        });
        Route {
            start,
            segs: vec![Seg::Cubic(reach, back, end)],
            label,
        }
    }
}

/// Builds a route, merging straight vertical pieces: a long edge that runs straight is one line,
/// however many ranks it crosses (which bounds the size of the SVG).
struct PathBuilder {
    segs: Vec<Seg>,
    at: Point,
    /// Where the last segment started, when it is a vertical line.
    line_from: Option<Point>,
}

impl PathBuilder {
    fn new(start: Point) -> Self {
        Self {
            segs: Vec::new(),
            at: start,
            line_from: None,
        }
    }

    /// A curve leaving and arriving vertically; a line when `to` is straight below.
    fn curve_to(&mut self, to: Point) {
        if (to.x - self.at.x).abs() < 0.05 {
            return self.line_to(Point { x: self.at.x, ..to });
        }
        let mid = (self.at.y + to.y) / 2.0;
        self.segs.push(Seg::Cubic(
            Point {
                x: self.at.x,
                y: mid,
            },
            Point { x: to.x, y: mid },
            to,
        ));
        self.at = to;
        self.line_from = None;
    }

    fn line_to(&mut self, to: Point) {
        if to == self.at {
            return;
        }
        if self.line_from.is_some() && (to.x - self.at.x).abs() < 0.05 {
            self.segs.pop();
        } else {
            self.line_from = Some(self.at);
        }
        self.segs.push(Seg::Line(to));
        self.at = to;
    }
}

/// The same path walked from its end to its start.
fn reverse(route: Route) -> Route {
    let mut points = vec![route.start];
    for s in &route.segs {
        points.push(match *s {
            Seg::Line(p) | Seg::Cubic(_, _, p) => p,
        });
    }
    let mut segs = Vec::with_capacity(route.segs.len());
    for (i, s) in route.segs.iter().enumerate().rev() {
        let from = points[i];
        segs.push(match *s {
            Seg::Line(_) => Seg::Line(from),
            Seg::Cubic(c1, c2, _) => Seg::Cubic(c2, c1, from),
        });
    }
    Route {
        start: *points.last().expect("a route has a start"),
        segs,
        label: route.label,
    }
}
