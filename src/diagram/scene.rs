//! What a diagram shows, before it is placed: boxes for states and markers, edges between them,
//! their text and sizes, split into the part reachable from the start and the part apart.
//!
//! - every state is a box, its type on the first line and its name (shortened to fit, the full
//!   name in a tooltip) on the second, then the workflows its actions call;
//! - a start marker points at the start state; every state that ends gets its own end marker;
//!   a transition to a state that does not exist points at a "missing" box;
//! - states no path from the start reaches are drawn apart; an edge from there into the
//!   reachable part points at a small reference box naming its target.

use std::collections::BTreeMap;

use super::layout;
use super::text::Font;
use crate::workflow::graph::{EdgeKind, Flow, StateKind, Target};

pub const KIND_FONT: Font = Font {
    size: 10.0,
    bold: false,
};
pub const NAME_FONT: Font = Font {
    size: 13.0,
    bold: true,
};
pub const SMALL_FONT: Font = Font {
    size: 11.0,
    bold: false,
};
/// Letter spacing of the type line, per character.
pub const KIND_SPACING: f64 = 0.6;

const PAD_X: f64 = 12.0;
const MIN_WIDTH: f64 = 120.0;
const MAX_WIDTH: f64 = 240.0;
/// Height of a state box without sub-flow lines, and of each sub-flow line.
const BOX_HEIGHT: f64 = 44.0;
const LINE_HEIGHT: f64 = 15.0;
/// Sub-flows listed on a box at most; more are counted.
const MAX_SUB_FLOWS: usize = 3;
/// How far a switch's hexagon points reach in.
pub const SWITCH_INSET: f64 = 14.0;
const LABEL_MAX: f64 = 150.0;
pub const LABEL_HEIGHT: f64 = 15.0;

/// One thing drawn as a box or marker.
#[derive(Debug, Clone)]
pub struct Node {
    pub what: What,
    pub width: f64,
    pub height: f64,
    pub order: u64,
}

#[derive(Debug, Clone)]
pub enum What {
    Start,
    State {
        index: usize,
        kind: StateKind,
        /// The type line (`switch`, `operation · compensation`...).
        kind_line: String,
        /// The name as it fits the box, and in full (for the tooltip).
        name_line: String,
        name: String,
        sub_flows: Vec<String>,
    },
    End,
    /// A transition target no state has.
    Missing {
        line: String,
        name: String,
    },
    /// From the part apart: a reachable state an edge goes to.
    Ref {
        line: String,
        name: String,
    },
}

/// One edge; `kind` is `None` for the arrow from the start marker.
#[derive(Debug, Clone)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: Option<EdgeKind>,
    /// The label as drawn, and in full (for the tooltip).
    pub label: Option<(String, String)>,
}

/// A part of the diagram laid out on its own.
#[derive(Debug, Clone, Default)]
pub struct Part {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Part {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn layout(&self) -> layout::Layout {
        let nodes: Vec<layout::Node> = self
            .nodes
            .iter()
            .map(|n| layout::Node {
                width: n.width,
                height: n.height,
                port_span: match &n.what {
                    What::Start | What::End => 0.0,
                    What::State {
                        kind: StateKind::Switch,
                        ..
                    } => n.width - 2.0 * SWITCH_INSET - 8.0,
                    _ => n.width * 0.6,
                },
                order: n.order,
            })
            .collect();
        let edges: Vec<layout::Edge> = self
            .edges
            .iter()
            .map(|e| layout::Edge {
                from: e.from,
                to: e.to,
                label: e
                    .label
                    .as_ref()
                    .map(|(l, _)| (SMALL_FONT.width(l) + 6.0, LABEL_HEIGHT)),
            })
            .collect();
        layout::layout(&nodes, &edges)
    }
}

/// The reachable part (with the start marker) and the part apart.
pub fn parts(flow: &Flow) -> (Part, Part) {
    let reachable = flow.reachable();
    let mut main = Builder::default();
    let mut apart = Builder::default();
    let start = match &flow.start {
        Target::State(_) | Target::Missing(_) => Some(main.push(What::Start, 16.0, 16.0, 0)),
        Target::End => None,
    };
    for (i, _) in flow.states.iter().enumerate() {
        let b = if reachable[i] { &mut main } else { &mut apart };
        b.state(flow, i);
    }
    if let Some(from) = start {
        let to = main.target(flow, &flow.start, None);
        main.part.edges.push(Edge {
            from,
            to,
            kind: None,
            label: None,
        });
    }
    for (i, s) in flow.states.iter().enumerate() {
        let b = if reachable[i] { &mut main } else { &mut apart };
        let from = b.states[&i];
        for e in &s.edges {
            let to = match &e.to {
                Target::State(j) if !reachable[*j] || reachable[i] => {
                    b.target(flow, &e.to, Some(i))
                }
                // From the part apart into the reachable part: a reference box.
                Target::State(j) => b.reference(flow, *j),
                other => b.target(flow, other, Some(i)),
            };
            let label = match (e.kind, &e.label) {
                (EdgeKind::Default, _) => Some("default".to_owned()),
                (_, Some(l)) => Some(l.clone()),
                _ => None,
            };
            b.part.edges.push(Edge {
                from,
                to,
                kind: Some(e.kind),
                label: label.map(|l| (SMALL_FONT.fit(&l, LABEL_MAX), l)),
            });
        }
    }
    (main.part, apart.part)
}

#[derive(Default)]
struct Builder {
    part: Part,
    states: BTreeMap<usize, usize>,
    ends: BTreeMap<usize, usize>,
    missing: BTreeMap<String, usize>,
    refs: BTreeMap<usize, usize>,
}

/// Order keys: each state's end marker and references right after it, missing boxes last.
fn order_of_state(i: usize) -> u64 {
    (i as u64 + 1) * 4
}

impl Builder {
    fn push(&mut self, what: What, width: f64, height: f64, order: u64) -> usize {
        self.part.nodes.push(Node {
            what,
            width,
            height,
            order,
        });
        self.part.nodes.len() - 1
    }

    fn state(&mut self, flow: &Flow, i: usize) {
        let s = &flow.states[i];
        let text_max = MAX_WIDTH - 2.0 * PAD_X;
        let name = if s.name.is_empty() {
            format!("(state {} has no name)", i + 1)
        } else {
            s.name.clone()
        };
        let name_line = NAME_FONT.fit(&name, text_max);
        let mut kind_line = s.kind.as_str().to_owned();
        if s.compensation {
            kind_line.push_str(" · compensation");
        }
        let kind_line = KIND_FONT.fit(&kind_line, text_max * 0.8);
        let mut sub_flows: Vec<String> = s
            .sub_flows
            .iter()
            .take(MAX_SUB_FLOWS)
            .map(|f| SMALL_FONT.fit(&format!("calls {f}"), text_max))
            .collect();
        if s.sub_flows.len() > MAX_SUB_FLOWS {
            sub_flows.push(format!(
                "and {} more sub-flows",
                s.sub_flows.len() - MAX_SUB_FLOWS
            ));
        }
        let kind_width =
            KIND_FONT.width(&kind_line) + KIND_SPACING * kind_line.chars().count() as f64;
        let text_width = sub_flows
            .iter()
            .map(|l| SMALL_FONT.width(l))
            .fold(NAME_FONT.width(&name_line).max(kind_width), f64::max);
        let mut width = (text_width + 2.0 * PAD_X).clamp(MIN_WIDTH, MAX_WIDTH);
        match s.kind {
            StateKind::Switch => width += 2.0 * SWITCH_INSET,
            // The stacked outline takes 4 px on each axis.
            StateKind::ForEach => width += 4.0,
            _ => {}
        }
        let mut height = BOX_HEIGHT + LINE_HEIGHT * sub_flows.len() as f64;
        if s.kind == StateKind::ForEach {
            height += 4.0;
        }
        let id = self.push(
            What::State {
                index: i,
                kind: s.kind.clone(),
                kind_line,
                name_line,
                name,
                sub_flows,
            },
            width.ceil(),
            height,
            order_of_state(i),
        );
        self.states.insert(i, id);
    }

    /// The node an edge from state `from` (or from the start marker) to `target` points at.
    fn target(&mut self, flow: &Flow, target: &Target, from: Option<usize>) -> usize {
        match target {
            Target::State(j) => self.states[j],
            Target::End => {
                let from = from.expect("the start never points at the end");
                if let Some(&id) = self.ends.get(&from) {
                    return id;
                }
                let id = self.push(What::End, 20.0, 20.0, order_of_state(from) + 1);
                self.ends.insert(from, id);
                id
            }
            Target::Missing(name) => {
                if let Some(&id) = self.missing.get(name) {
                    return id;
                }
                let line = SMALL_FONT.fit(&format!("missing: {name}"), MAX_WIDTH - 16.0);
                let width = (SMALL_FONT.width(&line) + 16.0).max(80.0).ceil();
                let order = order_of_state(flow.states.len()) + self.missing.len() as u64;
                let id = self.push(
                    What::Missing {
                        line,
                        name: name.clone(),
                    },
                    width,
                    28.0,
                    order,
                );
                self.missing.insert(name.clone(), id);
                id
            }
        }
    }

    fn reference(&mut self, flow: &Flow, j: usize) -> usize {
        if let Some(&id) = self.refs.get(&j) {
            return id;
        }
        let name = flow.states[j].name.clone();
        let line = SMALL_FONT.fit(&format!("→ {name}"), MAX_WIDTH - 16.0);
        let width = (SMALL_FONT.width(&line) + 16.0).max(60.0).ceil();
        let id = self.push(What::Ref { line, name }, width, 24.0, order_of_state(j) + 2);
        self.refs.insert(j, id);
        id
    }
}
