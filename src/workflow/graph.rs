//! The shape of a workflow: its states and the edges between them, as a diagram draws them.
//!
//! Built from the `states` list of a Serverless Workflow 0.8 definition (see
//! [`states`](super::states) for how that list is read). Transition targets are resolved to state
//! indices here; a target no state has becomes [`Target::Missing`], so a broken reference is drawn,
//! not dropped. Text is kept up to [`MAX_TEXT_CHARS`] characters (a state name is matched against
//! transitions in full before it is shortened): a hostile file cannot make the daemon hold a
//! megabyte per label. A workflow with more than [`MAX_STATES`] states keeps only its size.

use std::collections::HashMap;

/// Longest text kept for a name or label, in characters; longer text ends in `…`.
pub const MAX_TEXT_CHARS: usize = 200;
/// Most states drawn; a larger workflow's diagram says how many it has instead.
pub const MAX_STATES: usize = 1000;
/// Most edges drawn (conditions and error handlers included).
pub const MAX_EDGES: usize = 4000;

/// What a diagram is drawn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Graph {
    /// States and edges, in file order.
    Drawn(Flow),
    /// Over [`MAX_STATES`] states or [`MAX_EDGES`] edges: only the counts are kept.
    TooLarge { states: usize, edges: usize },
}

/// The states of a workflow and where each one goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub states: Vec<State>,
    /// Where the workflow starts: `start`, else the first state.
    pub start: Target,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The name as written (shortened past [`MAX_TEXT_CHARS`]); may be empty.
    pub name: String,
    pub kind: StateKind,
    /// Outgoing edges, in the order the definition lists them.
    pub edges: Vec<Edge>,
    /// Workflows its actions call (`subFlowRef`), in order, without repeats.
    pub sub_flows: Vec<String>,
    /// `usedForCompensation: true`.
    pub compensation: bool,
}

/// The state types of Serverless Workflow 0.8 (`delay` is 0.7's name for `sleep`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateKind {
    Operation,
    Switch,
    Event,
    Sleep,
    Parallel,
    ForEach,
    Inject,
    Callback,
    /// Any other `type`, as written (empty when there is none).
    Other(String),
}

impl StateKind {
    pub fn from_type(t: Option<&str>) -> Self {
        match t.unwrap_or("") {
            "operation" => Self::Operation,
            "switch" => Self::Switch,
            "event" => Self::Event,
            "sleep" | "delay" => Self::Sleep,
            "parallel" => Self::Parallel,
            "foreach" => Self::ForEach,
            "inject" => Self::Inject,
            "callback" => Self::Callback,
            other => Self::Other(shorten_owned(other)),
        }
    }

    /// The type as the specification spells it (`unknown` for a missing one).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Operation => "operation",
            Self::Switch => "switch",
            Self::Event => "event",
            Self::Sleep => "sleep",
            Self::Parallel => "parallel",
            Self::ForEach => "foreach",
            Self::Inject => "inject",
            Self::Callback => "callback",
            Self::Other(t) if t.is_empty() => "unknown",
            Self::Other(t) => t,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub kind: EdgeKind,
    /// The condition's `name` (else its condition or `eventRef`), the `errorRef`s of an error
    /// handler; `None` for plain transitions.
    pub label: Option<String>,
    pub to: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// `transition`, or `end`.
    Transition,
    /// A switch's `dataConditions` or `eventConditions` entry.
    Condition,
    /// A switch's `defaultCondition`.
    Default,
    /// An `onErrors` entry.
    Error,
    /// `compensatedBy`.
    Compensation,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    State(usize),
    /// `end`: the workflow ends here.
    End,
    /// A state name no state has.
    Missing(String),
}

/// A state as read from the definition, names not resolved yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawState {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub edges: Vec<RawEdge>,
    pub sub_flows: Vec<String>,
    pub compensation: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RawEdge {
    pub kind: EdgeKind,
    pub label: Option<String>,
    /// A state name, or `None` for `end`.
    pub to: Option<String>,
}

impl Default for Graph {
    /// No states.
    fn default() -> Self {
        Graph::Drawn(Flow {
            states: Vec::new(),
            start: Target::End,
        })
    }
}

impl Graph {
    /// Resolves names: a transition goes to the first state of that name. `start` is the
    /// `start` of the definition (`None`: the first state).
    pub fn build(raw: &[RawState], start: Option<&str>) -> Graph {
        let edges: usize = raw.iter().map(|s| s.edges.len()).sum();
        if raw.len() > MAX_STATES || edges > MAX_EDGES {
            return Graph::TooLarge {
                states: raw.len(),
                edges,
            };
        }
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            if let Some(name) = &s.name {
                index.entry(name.as_str()).or_insert(i);
            }
        }
        let resolve = |name: &str| match index.get(name) {
            Some(&i) => Target::State(i),
            None => Target::Missing(shorten_owned(name)),
        };
        let start = match start {
            Some(name) => resolve(name),
            None if raw.is_empty() => Target::End,
            None => Target::State(0),
        };
        let states = raw
            .iter()
            .map(|s| State {
                name: s.name.as_deref().map(shorten_owned).unwrap_or_default(),
                kind: StateKind::from_type(s.kind.as_deref()),
                edges: s
                    .edges
                    .iter()
                    .map(|e| Edge {
                        kind: e.kind,
                        label: e.label.as_deref().map(shorten_owned),
                        to: e.to.as_deref().map_or(Target::End, &resolve),
                    })
                    .collect(),
                sub_flows: s.sub_flows.iter().map(|f| shorten_owned(f)).collect(),
                compensation: s.compensation,
            })
            .collect();
        Graph::Drawn(Flow { states, start })
    }
}

impl Flow {
    /// Which states a path from the start reaches, following every kind of edge.
    pub fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.states.len()];
        let mut stack = Vec::new();
        if let Target::State(i) = self.start {
            seen[i] = true;
            stack.push(i);
        }
        while let Some(i) = stack.pop() {
            for e in &self.states[i].edges {
                if let Target::State(j) = e.to
                    && !seen[j]
                {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        seen
    }
}

/// `text` cut to [`MAX_TEXT_CHARS`] characters, with `…` when cut.
pub fn shorten_owned(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        None => text.to_owned(),
        Some((at, _)) => {
            let mut s = text[..at].to_owned();
            s.push('…');
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, edges: &[(EdgeKind, Option<&str>)]) -> RawState {
        RawState {
            name: Some(name.into()),
            kind: Some("operation".into()),
            edges: edges
                .iter()
                .map(|(kind, to)| RawEdge {
                    kind: *kind,
                    label: None,
                    to: to.map(str::to_owned),
                })
                .collect(),
            ..RawState::default()
        }
    }

    #[test]
    fn targets_resolve_to_the_first_state_of_that_name_or_to_a_missing_one() {
        let g = Graph::build(
            &[
                state("a", &[(EdgeKind::Transition, Some("b"))]),
                state("b", &[(EdgeKind::Error, Some("nowhere"))]),
                state("b", &[(EdgeKind::Transition, None)]),
            ],
            None,
        );
        let Graph::Drawn(f) = g else { panic!() };
        assert_eq!(f.start, Target::State(0));
        assert_eq!(f.states[0].edges[0].to, Target::State(1));
        assert_eq!(f.states[1].edges[0].to, Target::Missing("nowhere".into()));
        assert_eq!(f.states[2].edges[0].to, Target::End);
    }

    #[test]
    fn reachability_follows_every_edge_kind_from_the_start() {
        let g = Graph::build(
            &[
                state("orphan", &[(EdgeKind::Transition, Some("a"))]),
                state("a", &[(EdgeKind::Compensation, Some("undo"))]),
                state("undo", &[]),
            ],
            Some("a"),
        );
        let Graph::Drawn(f) = g else { panic!() };
        assert_eq!(f.reachable(), [false, true, true]);
    }

    #[test]
    fn long_text_is_shortened_but_matched_in_full() {
        let long = "x".repeat(MAX_TEXT_CHARS + 50);
        let other = format!("{long}y");
        let g = Graph::build(
            &[
                state(&long, &[(EdgeKind::Transition, Some(&other))]),
                state(&other, &[]),
            ],
            None,
        );
        let Graph::Drawn(f) = g else { panic!() };
        assert_eq!(f.states[0].edges[0].to, Target::State(1));
        assert_eq!(f.states[0].name.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(f.states[0].name.ends_with('…'));
    }

    #[test]
    fn a_huge_workflow_keeps_only_its_size() {
        let raw = (0..MAX_STATES + 1)
            .map(|i| state(&i.to_string(), &[]))
            .collect::<Vec<_>>();
        assert_eq!(
            Graph::build(&raw, None),
            Graph::TooLarge {
                states: MAX_STATES + 1,
                edges: 0
            }
        );
    }
}
