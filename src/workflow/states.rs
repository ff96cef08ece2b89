//! Reading a workflow's `states` list for its diagram, without building the rest of it.
//!
//! Deserialised straight from the parser (YAML, JSON, or an already parsed `serde_json::Value` for
//! a SonataFlow CR's `spec.flow`), keeping only names, types, transitions, conditions, error
//! handlers, compensation and sub-flow calls; everything else (action arguments, filters, jq
//! expressions) is skipped unread. Reading is as tolerant as the rest of the parser: a field of an
//! unexpected shape is ignored, never an error, so a definition the mapper accepts always gets a
//! diagram (perhaps a sparse one). Repeated keys: the last one wins, as in Jackson.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::graph::{EdgeKind, RawEdge, RawState};

/// What `states` held: its shape (for the "no states" diagnostics) and the states themselves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct States {
    pub shape: Shape,
    pub states: Vec<RawState>,
}

/// What `states` looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    #[default]
    Null,
    EmptyList,
    List,
    /// A mapping or a scalar: not a list of states.
    Other,
}

/// Implements the visitor methods of a value that accepts anything and makes the default of
/// what it did not expect (scalars, lists, maps are drained as needed).
macro_rules! otherwise_default {
    ($($skip:ident),*) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Ok(Default::default()) }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Ok(Default::default()) }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Ok(Default::default()) }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Ok(Default::default()) }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Ok(Default::default()) }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Ok(Default::default()) }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> { Ok(Default::default()) }
        $(otherwise_default!(@ $skip);)*
    };
    (@ seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
    (@ map) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
    (@ some) => {
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    };
}

/// Declares a type read from a mapping by a key loop; any other value gives its default.
macro_rules! from_map {
    ($ty:ty, $expecting:literal, |$map:ident, $key:ident, $out:ident| $body:block) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut $map: A,
                    ) -> Result<Self::Value, A::Error> {
                        let mut $out = <$ty>::default();
                        while let Some(Key($key)) = $map.next_key::<Key>()? {
                            $body
                        }
                        Ok($out)
                    }
                    otherwise_default!(seq, some);
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// A mapping key: its text when it is a string (other keys are never ours).
struct Key(Option<String>);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Key(Scalar::deserialize(d)?.0))
    }
}

/// A scalar as text (numbers and booleans as written by the deserializer); anything else `None`.
#[derive(Default)]
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(Some(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            otherwise_default!(@ seq);
            otherwise_default!(@ map);
            otherwise_default!(@ some);
        }
        d.deserialize_any(V)
    }
}

impl Scalar {
    /// The text, trimmed; `None` when empty.
    fn text(self) -> Option<String> {
        self.0
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }
}

/// A list whose elements are read with `T` (which must accept anything); anything but a list is
/// an empty one.
struct List<T>(Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<T>()? {
                    out.push(item);
                }
                Ok(List(out))
            }
            otherwise_default!(map, some);
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for States {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = States;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of states")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<States, A::Error> {
                let mut states = Vec::new();
                while let Some(s) = seq.next_element::<StateDoc>()? {
                    states.push(s.0);
                }
                let shape = if states.is_empty() {
                    Shape::EmptyList
                } else {
                    Shape::List
                };
                Ok(States { shape, states })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<States, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(other())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<States, E> {
                Ok(other())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<States, E> {
                Ok(other())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<States, E> {
                Ok(other())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<States, E> {
                Ok(other())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<States, E> {
                Ok(other())
            }
            fn visit_unit<E: de::Error>(self) -> Result<States, E> {
                Ok(States::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<States, E> {
                Ok(States::default())
            }
            otherwise_default!(@ some);
        }
        fn other() -> States {
            States {
                shape: Shape::Other,
                states: Vec::new(),
            }
        }
        d.deserialize_any(V)
    }
}

/// `start`: a state name, or `{stateName, schedule}`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Start(pub Option<String>);

impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Start(Target::deserialize(d)?.name))
    }
}

/// A transition target: `transition: Name` or `{nextState: Name}`; also `start`'s
/// `{stateName}`.
#[derive(Default)]
struct Target {
    name: Option<String>,
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Target;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a state name or {nextState}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Target, E> {
                Ok(Target {
                    name: Scalar(Some(v.to_owned())).text(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Target, A::Error> {
                let mut name = None;
                while let Some(Key(key)) = map.next_key::<Key>()? {
                    match key.as_deref() {
                        Some("nextState" | "stateName") => {
                            name = map.next_value::<Scalar>()?.text();
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Target { name })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Target, E> {
                Ok(Target::default())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Target, E> {
                Ok(Target {
                    name: Some(v.to_string()),
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Target, E> {
                Ok(Target {
                    name: Some(v.to_string()),
                })
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Target, E> {
                Ok(Target::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Target, E> {
                Ok(Target::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Target, E> {
                Ok(Target::default())
            }
            otherwise_default!(@ seq);
            otherwise_default!(@ some);
        }
        d.deserialize_any(V)
    }
}

/// `end`: `true`, or an object (`{terminate, produceEvents, compensate, continueAs}`) that ends
/// too; `false`, null and anything else do not.
#[derive(Default)]
struct End(bool);

impl<'de> Deserialize<'de> for End {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = End;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean or an end definition")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<End, E> {
                Ok(End(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<End, E> {
                // Jackson reads the string "true" as a boolean.
                Ok(End(v.trim() == "true"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<End, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(End(true))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<End, E> {
                Ok(End(false))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<End, E> {
                Ok(End(false))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<End, E> {
                Ok(End(false))
            }
            fn visit_unit<E: de::Error>(self) -> Result<End, E> {
                Ok(End(false))
            }
            fn visit_none<E: de::Error>(self) -> Result<End, E> {
                Ok(End(false))
            }
            otherwise_default!(@ seq);
            otherwise_default!(@ some);
        }
        d.deserialize_any(V)
    }
}

/// Where a state, condition or error handler goes: a transition and/or the end.
#[derive(Default)]
struct Next {
    transition: Option<String>,
    end: bool,
}

impl Next {
    fn edges(&self, kind: EdgeKind, label: Option<String>, out: &mut Vec<RawEdge>) {
        if let Some(to) = &self.transition {
            out.push(RawEdge {
                kind,
                label: label.clone(),
                to: Some(to.clone()),
            });
        }
        if self.end {
            out.push(RawEdge {
                kind,
                label,
                to: None,
            });
        }
    }

    fn read<'de, A: MapAccess<'de>>(
        &mut self,
        key: Option<&str>,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            Some("transition") => self.transition = map.next_value::<Target>()?.name,
            Some("end") => self.end = map.next_value::<End>()?.0,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A `dataConditions`/`eventConditions` entry or the `defaultCondition`.
#[derive(Default)]
struct Condition {
    name: Option<String>,
    condition: Option<String>,
    event_ref: Option<String>,
    next: Next,
}

from_map!(Condition, "a condition", |map, key, out| {
    if !out.next.read(key.as_deref(), &mut map)? {
        match key.as_deref() {
            Some("name") => out.name = map.next_value::<Scalar>()?.text(),
            Some("condition") => out.condition = map.next_value::<Scalar>()?.text(),
            Some("eventRef") => out.event_ref = map.next_value::<Scalar>()?.text(),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
});

/// An `onErrors` entry.
#[derive(Default)]
struct OnError {
    error_ref: Option<String>,
    error_refs: Vec<String>,
    next: Next,
}

from_map!(OnError, "an error handler", |map, key, out| {
    if !out.next.read(key.as_deref(), &mut map)? {
        match key.as_deref() {
            Some("errorRef") => out.error_ref = map.next_value::<Scalar>()?.text(),
            Some("errorRefs") => {
                out.error_refs = map
                    .next_value::<List<Scalar>>()?
                    .0
                    .into_iter()
                    .filter_map(Scalar::text)
                    .collect()
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
});

/// An action: only the workflow it calls, if it is a `subFlowRef`.
#[derive(Default)]
struct Action {
    sub_flow: Option<String>,
}

from_map!(Action, "an action", |map, key, out| {
    match key.as_deref() {
        Some("subFlowRef") => out.sub_flow = map.next_value::<SubFlowRef>()?.0,
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

/// `subFlowRef`: a workflow id, or `{workflowId, version, ...}`.
#[derive(Default)]
struct SubFlowRef(Option<String>);

impl<'de> Deserialize<'de> for SubFlowRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SubFlowRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a workflow id or {workflowId}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SubFlowRef, E> {
                Ok(SubFlowRef(Scalar(Some(v.to_owned())).text()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SubFlowRef, A::Error> {
                let mut id = None;
                while let Some(Key(key)) = map.next_key::<Key>()? {
                    match key.as_deref() {
                        Some("workflowId") => id = map.next_value::<Scalar>()?.text(),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(SubFlowRef(id))
            }
            otherwise_default!(@ seq);
            otherwise_default!(@ some);
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<SubFlowRef, E> {
                Ok(SubFlowRef(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<SubFlowRef, E> {
                Ok(SubFlowRef(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<SubFlowRef, E> {
                Ok(SubFlowRef(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<SubFlowRef, E> {
                Ok(SubFlowRef(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<SubFlowRef, E> {
                Ok(SubFlowRef(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<SubFlowRef, E> {
                Ok(SubFlowRef(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Something holding `actions` (an `onEvents` entry, a parallel branch).
#[derive(Default)]
struct WithActions {
    actions: List<Action>,
}

from_map!(WithActions, "a list of actions", |map, key, out| {
    match key.as_deref() {
        Some("actions") => out.actions = map.next_value()?,
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

/// One element of `states`, read into a [`RawState`].
struct StateDoc(RawState);

#[derive(Default)]
struct StateFields {
    name: Option<String>,
    kind: Option<String>,
    next: Next,
    data_conditions: List<Condition>,
    event_conditions: List<Condition>,
    default_condition: Option<Condition>,
    on_errors: List<OnError>,
    compensated_by: Option<String>,
    compensation: bool,
    actions: Vec<Action>,
    on_events: List<WithActions>,
    branches: List<WithActions>,
    action: Option<Action>,
}

from_map!(StateFields, "a state", |map, key, out| {
    if !out.next.read(key.as_deref(), &mut map)? {
        match key.as_deref() {
            Some("name") => out.name = map.next_value::<Scalar>()?.text(),
            Some("type") => out.kind = map.next_value::<Scalar>()?.text(),
            Some("dataConditions") => out.data_conditions = map.next_value()?,
            Some("eventConditions") => out.event_conditions = map.next_value()?,
            Some("defaultCondition") => out.default_condition = Some(map.next_value()?),
            Some("onErrors") => out.on_errors = map.next_value()?,
            Some("compensatedBy") => out.compensated_by = map.next_value::<Scalar>()?.text(),
            Some("usedForCompensation") => {
                out.compensation = map.next_value::<Scalar>()?.0.as_deref() == Some("true")
            }
            Some("actions") => out.actions = map.next_value::<List<Action>>()?.0,
            Some("onEvents") => out.on_events = map.next_value()?,
            Some("branches") => out.branches = map.next_value()?,
            Some("action") => out.action = Some(map.next_value()?),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
});

impl<'de> Deserialize<'de> for StateDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(StateDoc(StateFields::deserialize(d)?.into_raw()))
    }
}

impl StateFields {
    /// Edges in a fixed order whatever the order of the keys: conditions (data, then event), the
    /// default condition, the transition or end, error handlers, compensation.
    fn into_raw(self) -> RawState {
        let mut edges = Vec::new();
        for c in self.data_conditions.0 {
            let label = c.name.or(c.condition);
            c.next.edges(EdgeKind::Condition, label, &mut edges);
        }
        for c in self.event_conditions.0 {
            let label = c.name.or(c.event_ref);
            c.next.edges(EdgeKind::Condition, label, &mut edges);
        }
        if let Some(c) = self.default_condition {
            c.next.edges(EdgeKind::Default, None, &mut edges);
        }
        self.next.edges(EdgeKind::Transition, None, &mut edges);
        for e in self.on_errors.0 {
            let label = e
                .error_ref
                .or_else(|| Some(e.error_refs.join(", ")).filter(|s| !s.is_empty()));
            e.next.edges(EdgeKind::Error, label, &mut edges);
        }
        if let Some(to) = self.compensated_by {
            edges.push(RawEdge {
                kind: EdgeKind::Compensation,
                label: None,
                to: Some(to),
            });
        }
        let mut sub_flows: Vec<String> = Vec::new();
        let actions = self
            .actions
            .into_iter()
            .chain(self.on_events.0.into_iter().flat_map(|e| e.actions.0))
            .chain(self.branches.0.into_iter().flat_map(|b| b.actions.0))
            .chain(self.action);
        for a in actions {
            if let Some(id) = a.sub_flow
                && !sub_flows.contains(&id)
            {
                sub_flows.push(id);
            }
        }
        RawState {
            name: self.name,
            kind: self.kind,
            edges,
            sub_flows,
            compensation: self.compensation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> States {
        serde_saphyr::from_str(text).unwrap()
    }

    fn edges(s: &RawState) -> Vec<(EdgeKind, Option<&str>, Option<&str>)> {
        s.edges
            .iter()
            .map(|e| (e.kind, e.label.as_deref(), e.to.as_deref()))
            .collect()
    }

    #[test]
    fn every_kind_of_edge_is_read_in_a_fixed_order() {
        let s = yaml(
            r#"
- name: Check
  type: switch
  onErrors:
    - errorRef: timeout
      transition: Retry
    - errorRefs: [a, b]
      end: true
  defaultCondition: {transition: {nextState: Fallback}}
  dataConditions:
    - name: big
      condition: ${ .n > 10 }
      transition: Big
    - condition: ${ .n < 0 }
      end: {terminate: true}
  eventConditions:
    - eventRef: approved
      transition: Approve
  compensatedBy: Undo
"#,
        );
        assert_eq!(s.shape, Shape::List);
        assert_eq!(
            edges(&s.states[0]),
            [
                (EdgeKind::Condition, Some("big"), Some("Big")),
                (EdgeKind::Condition, Some("${ .n < 0 }"), None),
                (EdgeKind::Condition, Some("approved"), Some("Approve")),
                (EdgeKind::Default, None, Some("Fallback")),
                (EdgeKind::Error, Some("timeout"), Some("Retry")),
                (EdgeKind::Error, Some("a, b"), None),
                (EdgeKind::Compensation, None, Some("Undo")),
            ]
        );
    }

    #[test]
    fn sub_flows_are_found_in_every_place_actions_live() {
        let s = yaml(
            r#"
- name: a
  type: operation
  actions: [{subFlowRef: one}, {functionRef: f}, {subFlowRef: {workflowId: two, version: '1'}}, {subFlowRef: one}]
  end: true
- name: b
  type: parallel
  branches: [{name: x, actions: [{subFlowRef: three}]}]
- name: c
  type: event
  onEvents: [{eventRefs: [e], actions: [{subFlowRef: four}]}]
- name: d
  type: callback
  action: {subFlowRef: five}
"#,
        );
        let flows: Vec<&[String]> = s.states.iter().map(|s| &s.sub_flows[..]).collect();
        assert_eq!(
            flows,
            [
                &["one".to_owned(), "two".to_owned()][..],
                &["three".to_owned()],
                &["four".to_owned()],
                &["five".to_owned()],
            ]
        );
    }

    #[test]
    fn fields_of_unexpected_shapes_are_ignored_not_errors() {
        let s = yaml(
            r#"
- just a string
- [1, 2]
- name: {a: 1}
  type: [x]
  transition: [y]
  end: 3
  dataConditions: {not: a list}
  onErrors: [1, {errorRef: [x], transition: t}]
  actions: oops
  usedForCompensation: true
- name: 7
  transition: 8
"#,
        );
        assert_eq!(s.states.len(), 4);
        assert_eq!(s.states[0], RawState::default());
        assert_eq!(s.states[2].name, None);
        assert!(s.states[2].compensation);
        assert_eq!(edges(&s.states[2]), [(EdgeKind::Error, None, Some("t"))]);
        assert_eq!(s.states[3].name.as_deref(), Some("7"));
        assert_eq!(
            edges(&s.states[3]),
            [(EdgeKind::Transition, None, Some("8"))]
        );
    }

    #[test]
    fn the_last_of_repeated_keys_wins_in_json() {
        let s: States = serde_json::from_str(
            r#"[{"name": "a", "transition": "x", "transition": "y", "name": "b"}]"#,
        )
        .unwrap();
        assert_eq!(s.states[0].name.as_deref(), Some("b"));
        assert_eq!(
            edges(&s.states[0]),
            [(EdgeKind::Transition, None, Some("y"))]
        );
    }

    #[test]
    fn shapes_of_states() {
        assert_eq!(yaml("[]").shape, Shape::EmptyList);
        assert_eq!(yaml("~").shape, Shape::Null);
        assert_eq!(yaml("{a: 1}").shape, Shape::Other);
        assert_eq!(yaml("text").shape, Shape::Other);
        let v = serde_json::json!([{"name": "s", "end": true}]);
        let s = States::deserialize(&v).unwrap();
        assert_eq!(edges(&s.states[0]), [(EdgeKind::Transition, None, None)]);
    }

    #[test]
    fn start_is_a_name_or_a_state_name_object() {
        let s: Start = serde_saphyr::from_str("{stateName: Begin, schedule: x}").unwrap();
        assert_eq!(s.0.as_deref(), Some("Begin"));
        let s: Start = serde_saphyr::from_str("Begin").unwrap();
        assert_eq!(s.0.as_deref(), Some("Begin"));
    }
}
