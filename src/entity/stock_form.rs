//! Form pages fitted to the stock scaffolder's Create page: the widget policy.
//!
//! The Create page renders each page with react-jsonschema-form, which knows only its own widgets
//! plus the scaffolder's `password`; any other `ui:widget` makes the whole page fail to render
//! (`No widget 'ActiveTextInput' for type 'string'`). Workflow input schemas name such widgets:
//! RHDH's orchestrator form widgets, which exist only on the Orchestrator's own workflow-run page,
//! and custom widgets a team registered in its own form (`CountryWidget`). With the default
//! policy, [`Policy::Portable`], every such widget is replaced by the closest plain rendering that
//! still lets a user submit values the workflow accepts:
//!
//! | widget | on the Create page |
//! |---|---|
//! | `ActiveTextInput` | the plain field for its type (a text field; a select with `enum`) |
//! | `ActiveDropdown` | a select when the schema has `enum` / `oneOf`, else a text field |
//! | `ActiveMultiSelect` | the plain list for an array of strings |
//! | `ActiveText` | its text as description text: an object field with no inputs |
//! | `AuthRequester`, `SchemaUpdater` | removed from the form, and from `required` |
//! | any other unregistered widget | the plain field for its type |
//!
//! Title, description, default, enum and the rest of the schema are kept; only the keys that
//! drive a widget the page no longer has go (the `ui:widget`, and for `ActiveText` its
//! `ui:props`, whose text becomes the description). The `fetch:*` / `validate:*` keys inside
//! `ui:props` stay: the stock form ignores them. [`Policy::Keep`] copies widgets as they are, for
//! a scaffolder that registers them; `allow` names widgets kept under either policy.
//!
//! One more repair, under both policies: an object whose `ui:order` lists some of its properties
//! and has no `*` is refused by react-jsonschema-form ("uiSchema order list does not contain
//! properties ..."), so `*` is appended and the unlisted properties come after the listed ones.
//!
//! The walk visits the schema positions the Create page takes `ui:*` keys from
//! (`extractSchemaFromStep` of `@backstage/plugin-scaffolder-react`): `properties`, `items`,
//! `anyOf` / `oneOf` / `allOf`, `dependencies`, `then` / `else`. Every change is reported as a
//! [`FormChange`] naming the field by its path in the submitted values (`firstStep.country`,
//! `list[].name`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// What happens to a `ui:widget` the stock scaffolder does not register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Replace it by the closest plain rendering (see the module table).
    #[default]
    Portable,
    /// Copy it as it is: the installation's scaffolder registers it.
    Keep,
}

/// The widget policy and the widgets kept whatever the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WidgetPolicy {
    pub policy: Policy,
    /// Widget names a team registered in its own scaffolder: always kept as they are.
    pub allow: BTreeSet<String>,
}

/// One change made to a form so that it renders on the Create page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormChange {
    /// The field, as its path in the submitted values (`firstStep.country`, `list[].name`).
    pub field: String,
    /// The widget that was replaced or removed; `None` for a repair that is not about a widget.
    pub widget: Option<String>,
    /// What was done and what it means for the user, for the diagnostic.
    pub message: String,
}

/// RHDH's orchestrator form widgets (the `orchestrator-form-widgets` plugin).
const ORCHESTRATOR_WIDGETS: [&str; 6] = [
    "ActiveTextInput",
    "ActiveText",
    "ActiveDropdown",
    "ActiveMultiSelect",
    "AuthRequester",
    "SchemaUpdater",
];

/// Widgets the Create page resolves for any type: react-jsonschema-form's registry (5.24) and the
/// scaffolder's `password`.
const REGISTERED: [&str; 20] = [
    "AltDateWidget",
    "AltDateTimeWidget",
    "CheckboxWidget",
    "CheckboxesWidget",
    "ColorWidget",
    "DateWidget",
    "DateTimeWidget",
    "EmailWidget",
    "FileWidget",
    "HiddenWidget",
    "PasswordWidget",
    "RadioWidget",
    "RangeWidget",
    "SelectWidget",
    "TextWidget",
    "TextareaWidget",
    "TimeWidget",
    "UpDownWidget",
    "URLWidget",
    "password",
];

/// The short names react-jsonschema-form resolves per schema type (`widgetMap` of
/// `@rjsf/utils` 5.24 `getWidget`); for other types (object, null) a widget is never looked up.
fn aliases(schema_type: &str) -> Option<&'static [&'static str]> {
    const NUMBER: &[&str] = &["text", "select", "updown", "range", "radio", "hidden"];
    Some(match schema_type {
        "boolean" => &["checkbox", "radio", "select", "hidden"],
        "string" => &[
            "text",
            "password",
            "email",
            "hostname",
            "ipv4",
            "ipv6",
            "uri",
            "data-url",
            "radio",
            "select",
            "textarea",
            "hidden",
            "date",
            "datetime",
            "date-time",
            "alt-date",
            "alt-datetime",
            "time",
            "color",
            "file",
        ],
        "number" | "integer" => NUMBER,
        "array" => &["select", "checkboxes", "files", "hidden"],
        _ => return None,
    })
}

/// The type react-jsonschema-form gives a schema (`getSchemaType` of `@rjsf/utils`).
fn schema_type(schema: &Map<String, Value>) -> Option<String> {
    match schema.get("type") {
        Some(Value::String(t)) => return Some(t.clone()),
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            let chosen = match names.as_slice() {
                [a, "null"] | ["null", a] => Some(*a),
                _ => names.first().copied(),
            };
            return chosen.map(str::to_owned);
        }
        Some(_) => return None,
        None => {}
    }
    if let Some(c) = schema.get("const").filter(|c| is_truthy(c)) {
        return Some(
            match c {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::Object(_) => "object",
                Value::Null => "null",
            }
            .into(),
        );
    }
    if schema.contains_key("enum") {
        return Some("string".into());
    }
    if schema.contains_key("properties") || schema.contains_key("additionalProperties") {
        return Some("object".into());
    }
    None
}

/// JavaScript truthiness, for `if (!type && schema.const)`.
fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Whether the Create page can render `widget` for a schema of type `ty`.
fn is_stock(widget: &str, ty: Option<&str>) -> bool {
    if REGISTERED.contains(&widget) {
        return true;
    }
    match ty.and_then(aliases) {
        Some(names) => names.contains(&widget),
        // An object's (or an untyped schema's) widget is never looked up; a known short name
        // such as `hidden` is still understood there.
        None => ["boolean", "string", "number", "array"]
            .iter()
            .filter_map(|t| aliases(t))
            .any(|names| names.contains(&widget)),
    }
}

/// What the stock form shows for a schema once its widget is gone, for the diagnostic.
fn plain_rendering(schema: &Map<String, Value>, ty: Option<&str>) -> &'static str {
    let has_choices = ["enum", "oneOf", "anyOf"]
        .iter()
        .any(|k| schema.get(*k).is_some_and(Value::is_array));
    match ty {
        Some("string" | "number" | "integer") if has_choices => "a select of its values",
        Some("string") => "a text field",
        Some("number" | "integer") => "a number field",
        Some("boolean") => "a checkbox",
        Some("array") => {
            let items = schema.get("items").and_then(Value::as_object);
            let item_choices = items.is_some_and(|i| i.get("enum").is_some_and(Value::is_array));
            let unique = schema.get("uniqueItems") == Some(&Value::Bool(true));
            if item_choices && unique {
                "a multiple choice of its values"
            } else {
                "a list of entries"
            }
        }
        Some("object") => "its fields",
        _ => "the form's default field",
    }
}

/// What to do with one schema's widget.
enum Action {
    Keep,
    /// Drop `ui:widget`: the stock form shows the plain field for the type.
    Plain,
    /// `ActiveText`: replace the field by description text (only where it is a property).
    Describe,
    /// `AuthRequester`, `SchemaUpdater`: drop the field (only where it is a property).
    Remove,
}

/// Fits every page of `pages` (a `spec.parameters` array) to the stock Create page; returns what
/// was changed, in page and schema order. Deterministic; touches nothing that renders already.
pub fn fit(pages: &mut Value, policy: &WidgetPolicy) -> Vec<FormChange> {
    let mut fitter = Fitter {
        policy,
        changes: Vec::new(),
    };
    if let Value::Array(pages) = pages {
        for page in pages {
            fitter.position(page, "", None);
        }
    }
    fitter.changes
}

struct Fitter<'a> {
    policy: &'a WidgetPolicy,
    changes: Vec<FormChange>,
}

/// The longest field path a change names, in bytes: paths of real forms are a few dozen; one
/// built from 2 KB keys 60 deep would be copied into the change of every field below it (a
/// 256 KiB form could make gigabytes of diagnostics).
const MAX_FIELD_PATH: usize = 200;

/// `path.key` (or `key` at the top), cut at [`MAX_FIELD_PATH`] bytes with `…`; a path already
/// cut stays as it is.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        shorten(key.to_owned())
    } else if path.ends_with('…') {
        path.to_owned()
    } else {
        let mut joined = String::with_capacity(path.len() + 1 + key.len().min(MAX_FIELD_PATH));
        joined.push_str(path);
        joined.push('.');
        joined.push_str(&key[..floor_char_boundary(key, MAX_FIELD_PATH + 1)]);
        shorten(joined)
    }
}

/// `path[]`, the items of an array field, cut as [`join`] cuts.
fn items_of(path: &str) -> String {
    if path.ends_with('…') {
        path.to_owned()
    } else {
        shorten(format!("{path}[]"))
    }
}

fn shorten(mut path: String) -> String {
    if path.len() > MAX_FIELD_PATH {
        path.truncate(floor_char_boundary(&path, MAX_FIELD_PATH));
        path.push('…');
    }
    path
}

/// The largest index `<= at` that is a char boundary of `s` (or its length).
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

impl Fitter<'_> {
    /// A schema position whose `ui:*` keys the Create page reads. `inherited` is the type of the
    /// schema a branch (`allOf` etc.) belongs to: its widget lands on that schema's field.
    fn position(&mut self, node: &mut Value, path: &str, inherited: Option<&str>) {
        let Value::Object(map) = node else { return };
        let ty = schema_type(map).or_else(|| inherited.map(str::to_owned));
        // A widget here that is not a property's (a page, an item, a branch) can only be
        // dropped: there is no parent field to remove or describe.
        if let Some((widget, action)) = self.decide(map, ty.as_deref())
            && !matches!(action, Action::Keep)
        {
            map.shift_remove("ui:widget");
            let rendering = plain_rendering(map, ty.as_deref());
            self.widget_change(path, &widget, format!("shown as {rendering}"));
        }
        self.properties(map, path);
        match map.get_mut("items") {
            Some(Value::Object(_)) => {
                let items = map.get_mut("items").expect("just seen");
                self.position(items, &items_of(path), None);
            }
            Some(Value::Array(items)) => {
                let path = items_of(path);
                for item in items {
                    self.position(item, &path, None);
                }
            }
            _ => {}
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(Value::Array(branches)) = map.get_mut(key) {
                for branch in branches {
                    self.position(branch, path, ty.as_deref());
                }
            }
        }
        if let Some(Value::Object(deps)) = map.get_mut("dependencies") {
            for dep in deps.values_mut() {
                self.position(dep, path, ty.as_deref());
            }
        }
        for key in ["then", "else"] {
            if let Some(branch) = map.get_mut(key) {
                self.position(branch, path, ty.as_deref());
            }
        }
        self.complete_order(map, path);
    }

    /// The widgets of `map`'s properties: replaced, described or removed; then each property's
    /// own positions.
    fn properties(&mut self, map: &mut Map<String, Value>, path: &str) {
        let Some(Value::Object(props)) = map.get_mut("properties") else {
            return;
        };
        let keys: Vec<String> = props.keys().cloned().collect();
        let mut removed = Vec::new();
        for key in keys {
            let field = join(path, &key);
            let Some(Value::Object(prop)) = props.get_mut(&key) else {
                continue;
            };
            let ty = schema_type(prop);
            match self.decide(prop, ty.as_deref()) {
                None | Some((_, Action::Keep)) => {}
                Some((widget, Action::Plain)) => {
                    prop.shift_remove("ui:widget");
                    let what = if ORCHESTRATOR_WIDGETS.contains(&widget.as_str()) {
                        format!(
                            "exists only on the Orchestrator's workflow-run page; shown as {}",
                            plain_rendering(prop, ty.as_deref())
                        )
                    } else {
                        format!(
                            "is not registered in the stock scaffolder; shown as {} (list it in `templates.widgets.allow` if your scaffolder registers it)",
                            plain_rendering(prop, ty.as_deref())
                        )
                    };
                    self.widget_change(&field, &widget, what);
                }
                Some((widget, Action::Describe)) => {
                    let (described, notes) = describe(prop);
                    props.insert(key.clone(), described);
                    removed.push((key.clone(), widget, notes));
                    continue;
                }
                Some((widget, Action::Remove)) => {
                    props.shift_remove(&key);
                    removed.push((key.clone(), widget, String::new()));
                    continue;
                }
            }
            if let Some(prop) = props.get_mut(&key) {
                self.position(prop, &field, None);
            }
        }
        // Fields that no longer take a value leave `required` and `ui:order`.
        for (key, widget, notes) in removed {
            let was_required = remove_string(map.get_mut("required"), &key);
            if map.get("properties").and_then(|p| p.get(&key)).is_none() {
                remove_string(map.get_mut("ui:order"), &key);
            }
            let mut what = if widget == "ActiveText" {
                format!(
                    "exists only on the Orchestrator's workflow-run page; its text is shown as description text{notes}"
                )
            } else {
                "cannot work without the Orchestrator's workflow-run page; the field is removed from the form".to_owned()
            };
            if was_required {
                what.push_str(
                    "; the input schema requires it, so the workflow will reject runs started from the Create page: run it from the Orchestrator",
                );
            }
            self.widget_change(&join(path, &key), &widget, what);
        }
    }

    /// The widget of a schema and what to do with it; `None` without a `ui:widget`.
    fn decide(&self, schema: &Map<String, Value>, ty: Option<&str>) -> Option<(String, Action)> {
        let widget = schema.get("ui:widget")?;
        let Some(name) = widget.as_str() else {
            // Not a name: react-jsonschema-form refuses it ("Unsupported widget definition").
            let shown = widget.to_string();
            let action = match self.policy.policy {
                Policy::Keep => Action::Keep,
                Policy::Portable => Action::Plain,
            };
            return Some((shown, action));
        };
        let action = if self.policy.policy == Policy::Keep
            || self.policy.allow.contains(name)
            || is_stock(name, ty)
        {
            Action::Keep
        } else {
            match name {
                "AuthRequester" | "SchemaUpdater" => Action::Remove,
                "ActiveText" => Action::Describe,
                _ => Action::Plain,
            }
        };
        Some((name.to_owned(), action))
    }

    fn widget_change(&mut self, field: &str, widget: &str, what: String) {
        self.changes.push(FormChange {
            field: field.to_owned(),
            widget: Some(widget.to_owned()),
            message: format!("form field `{field}`: widget `{widget}` {what}"),
        });
    }

    /// Appends `*` to a `ui:order` that leaves out some property and has no `*`.
    fn complete_order(&mut self, map: &mut Map<String, Value>, path: &str) {
        let Some(Value::Array(order)) = map.get("ui:order") else {
            return;
        };
        if order.iter().any(|o| o == "*") {
            return;
        }
        let listed: BTreeSet<&str> = order.iter().filter_map(Value::as_str).collect();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut unlisted: Vec<String> = Vec::new();
        for key in property_names(map) {
            if !listed.contains(key.as_str()) && seen.insert(key.clone()) {
                unlisted.push(key);
            }
        }
        if unlisted.is_empty() {
            return;
        }
        if let Some(Value::Array(order)) = map.get_mut("ui:order") {
            order.push(Value::String("*".into()));
        }
        let field = if path.is_empty() { "(page)" } else { path };
        let names = unlisted
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        self.changes.push(FormChange {
            field: field.to_owned(),
            widget: None,
            message: format!(
                "form field `{field}`: `ui:order` leaves out {names} and has no `*`, so the form would not show this section; `*` was appended (those fields come last)"
            ),
        });
    }
}

/// The property names an object can have on the page: its own and its branches'.
fn property_names(map: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |props: Option<&Value>| {
        if let Some(props) = props.and_then(Value::as_object) {
            names.extend(props.keys().cloned());
        }
    };
    add(map.get("properties"));
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in map.get(key).and_then(Value::as_array).into_iter().flatten() {
            add(branch.get("properties"));
        }
    }
    for dep in map
        .get("dependencies")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|d| d.values())
    {
        add(dep.get("properties"));
    }
    for key in ["then", "else"] {
        add(map.get(key).and_then(|branch| branch.get("properties")));
    }
    names
}

/// Removes `key` from a list of strings; whether it was there.
fn remove_string(list: Option<&mut Value>, key: &str) -> bool {
    let Some(Value::Array(list)) = list else {
        return false;
    };
    let before = list.len();
    list.retain(|v| v != key);
    list.len() != before
}

/// An `ActiveText` field as description text: `{title, description, type: object}` with no
/// properties, which the form shows as its title and (markdown) description and for which it
/// submits nothing. The text is `ui:props["ui:text"]` after the field's own description; the
/// `$${{ ... }}` placeholders it fills from fetched data cannot be filled here and show as `…`.
/// Returns the schema and what the diagnostic should add.
fn describe(prop: &Map<String, Value>) -> (Value, String) {
    let mut notes = String::new();
    let text = prop
        .get("ui:props")
        .and_then(|p| p.get("ui:text"))
        .and_then(Value::as_str)
        .map(|t| {
            let (text, holes) = fill_placeholders(t);
            if holes > 0 {
                notes.push_str(&format!(
                    " without the {holes} value{} it fetches (shown as …)",
                    if holes == 1 { "" } else { "s" }
                ));
            }
            text
        });
    let description = prop.get("description").and_then(Value::as_str);
    let description = match (description, text) {
        (Some(d), Some(t)) => Some(format!("{d}\n\n{t}")),
        (Some(d), None) => Some(d.to_owned()),
        (None, Some(t)) => Some(t),
        (None, None) => None,
    };
    if prop.contains_key("default") {
        notes.push_str("; its `default` is no longer submitted");
    }
    let mut out = Map::new();
    if let Some(title) = prop.get("title") {
        out.insert("title".into(), title.clone());
    }
    if let Some(description) = description {
        out.insert("description".into(), Value::String(description));
    }
    out.insert("type".into(), Value::String("object".into()));
    (Value::Object(out), notes)
}

/// `text` with every `$${{ ... }}` placeholder replaced by `…`, and how many there were.
fn fill_placeholders(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut holes = 0;
    while let Some(start) = rest.find("$${{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push('…');
        holes += 1;
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    (out, holes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn portable() -> WidgetPolicy {
        WidgetPolicy::default()
    }

    fn fit_one(page: Value, policy: &WidgetPolicy) -> (Value, Vec<FormChange>) {
        let mut pages = json!([page]);
        let changes = fit(&mut pages, policy);
        (pages[0].clone(), changes)
    }

    #[test]
    fn stock_widgets_are_left_alone() {
        let page = json!({"title": "P", "properties": {
            "a": {"type": "string", "ui:widget": "textarea"},
            "b": {"type": "string", "ui:widget": "password"},
            "c": {"type": "boolean", "ui:widget": "radio"},
            "d": {"type": "object", "ui:widget": "hidden"},
            "e": {"type": "array", "items": {"type": "string", "enum": ["x"]}, "uniqueItems": true,
                  "ui:widget": "checkboxes"},
            "f": {"type": "integer", "ui:widget": "TextWidget"}
        }});
        let (out, changes) = fit_one(page.clone(), &portable());
        assert_eq!(out, page);
        assert_eq!(changes, []);
    }

    #[test]
    fn a_stock_name_on_a_type_without_it_is_dropped() {
        let (out, changes) = fit_one(
            json!({"properties": {"n": {"type": "integer", "ui:widget": "textarea"}}}),
            &portable(),
        );
        assert_eq!(out, json!({"properties": {"n": {"type": "integer"}}}));
        assert_eq!(changes[0].field, "n");
        assert!(changes[0].message.contains("a number field"), "{changes:?}");
    }

    #[test]
    fn input_widgets_become_plain_fields_keeping_the_rest_of_the_schema() {
        let page = json!({"required": ["t", "d"], "properties": {
            "t": {"type": "string", "title": "T", "default": "x", "ui:widget": "ActiveTextInput",
                  "ui:props": {"fetch:url": "u"}},
            "d": {"type": "string", "enum": ["a", "b"], "ui:widget": "ActiveDropdown"},
            "f": {"type": "string", "ui:widget": "ActiveDropdown"},
            "m": {"type": "array", "items": {"type": "string"}, "ui:widget": "ActiveMultiSelect"},
            "c": {"type": "string", "description": "where", "ui:widget": "CountryWidget"}
        }});
        let (out, changes) = fit_one(page, &portable());
        assert_eq!(
            out,
            json!({"required": ["t", "d"], "properties": {
                "t": {"type": "string", "title": "T", "default": "x", "ui:props": {"fetch:url": "u"}},
                "d": {"type": "string", "enum": ["a", "b"]},
                "f": {"type": "string"},
                "m": {"type": "array", "items": {"type": "string"}},
                "c": {"type": "string", "description": "where"}
            }})
        );
        let said: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.widget.as_deref().unwrap()))
            .collect();
        assert_eq!(
            said,
            [
                ("t", "ActiveTextInput"),
                ("d", "ActiveDropdown"),
                ("f", "ActiveDropdown"),
                ("m", "ActiveMultiSelect"),
                ("c", "CountryWidget")
            ]
        );
        assert!(changes[1].message.contains("a select of its values"));
        assert!(changes[2].message.contains("a text field"));
        assert!(changes[3].message.contains("a list of entries"));
        assert!(changes[4].message.contains("templates.widgets.allow"));
    }

    #[test]
    fn active_text_becomes_description_text_and_leaves_required() {
        let page = json!({"required": ["w"], "ui:order": ["w", "n"], "properties": {
            "w": {"type": "string", "title": "Welcome", "ui:widget": "ActiveText",
                  "ui:props": {"ui:text": "Hi $${{current.name}}, see $${{fetch:response:x}}.",
                               "ui:variant": "h3"}},
            "n": {"type": "string"}
        }});
        let (out, changes) = fit_one(page, &portable());
        assert_eq!(
            out,
            json!({"required": [], "ui:order": ["w", "n"], "properties": {
                "w": {"title": "Welcome", "description": "Hi …, see ….", "type": "object"},
                "n": {"type": "string"}
            }})
        );
        assert_eq!(changes.len(), 1);
        let m = &changes[0].message;
        assert!(
            m.contains("description text without the 2 values it fetches"),
            "{m}"
        );
        assert!(
            m.contains("will reject runs started from the Create page"),
            "{m}"
        );
    }

    #[test]
    fn orchestrator_only_widgets_are_removed_with_their_required_and_order_entries() {
        let page = json!({"properties": {"step": {"type": "object",
        "required": ["auth", "x"], "ui:order": ["auth", "x", "up"],
        "properties": {
            "auth": {"type": "string", "ui:widget": "AuthRequester"},
            "x": {"type": "string"},
            "up": {"type": "string", "ui:widget": "SchemaUpdater", "ui:props": {"fetch:url": "u"}}
        }}}});
        let (out, changes) = fit_one(page, &portable());
        assert_eq!(
            out,
            json!({"properties": {"step": {"type": "object", "required": ["x"], "ui:order": ["x"],
                "properties": {"x": {"type": "string"}}}}})
        );
        assert_eq!(changes[0].field, "step.auth");
        assert!(changes[0].message.contains("will reject runs"));
        assert_eq!(changes[1].field, "step.up");
        assert!(!changes[1].message.contains("will reject runs"));
    }

    #[test]
    fn keep_copies_every_widget() {
        let page = json!({"properties": {
            "a": {"type": "string", "ui:widget": "ActiveText"},
            "b": {"type": "string", "ui:widget": "SchemaUpdater"},
            "c": {"type": "string", "ui:widget": "CountryWidget"}
        }});
        let keep = WidgetPolicy {
            policy: Policy::Keep,
            allow: BTreeSet::new(),
        };
        let (out, changes) = fit_one(page.clone(), &keep);
        assert_eq!(out, page);
        assert_eq!(changes, []);
    }

    #[test]
    fn allowed_widgets_are_kept_and_only_those() {
        let page = json!({"properties": {
            "a": {"type": "string", "ui:widget": "CountryWidget"},
            "b": {"type": "string", "ui:widget": "LanguageWidget"},
            "c": {"type": "string", "ui:widget": "SchemaUpdater"}
        }});
        let allow = WidgetPolicy {
            policy: Policy::Portable,
            allow: ["CountryWidget", "SchemaUpdater"].map(String::from).into(),
        };
        let (out, changes) = fit_one(page, &allow);
        assert_eq!(
            out,
            json!({"properties": {
                "a": {"type": "string", "ui:widget": "CountryWidget"},
                "b": {"type": "string"},
                "c": {"type": "string", "ui:widget": "SchemaUpdater"}
            }})
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].widget.as_deref(), Some("LanguageWidget"));
    }

    #[test]
    fn widgets_in_items_and_branches_are_found_with_their_path() {
        let page = json!({"properties": {
            "list": {"type": "array", "items": {"type": "object", "properties": {
                "c": {"type": "string", "ui:widget": "CountryWidget"}}}},
            "alt": {"type": "string", "allOf": [{"ui:widget": "ActiveTextInput"}]},
            "cond": {"type": "object", "properties": {"k": {"type": "string"}},
                     "if": {"properties": {"k": {"const": "x"}}},
                     "then": {"properties": {"s": {"type": "string", "ui:widget": "SchemaUpdater"}}}}
        }});
        let (out, changes) = fit_one(page, &portable());
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["list[].c", "alt", "cond.s"]);
        assert_eq!(out["properties"]["alt"]["allOf"], json!([{}]));
        assert_eq!(out["properties"]["cond"]["then"], json!({"properties": {}}));
    }

    #[test]
    fn a_widget_given_as_an_object_is_dropped() {
        let (out, changes) = fit_one(
            json!({"properties": {"a": {"type": "string", "ui:widget": {"x": 1}}}}),
            &portable(),
        );
        assert_eq!(out, json!({"properties": {"a": {"type": "string"}}}));
        assert_eq!(changes[0].widget.as_deref(), Some(r#"{"x":1}"#));
    }

    #[test]
    fn an_incomplete_ui_order_gets_a_wildcard() {
        let page = json!({"properties": {"o": {"type": "object", "ui:order": ["b", "gone"],
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "allOf": [{"properties": {"c": {"type": "string"}}}]}}});
        let (out, changes) = fit_one(page, &portable());
        assert_eq!(
            out["properties"]["o"]["ui:order"],
            json!(["b", "gone", "*"])
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].widget, None);
        assert!(
            changes[0].message.contains("leaves out `a`, `c`"),
            "{changes:?}"
        );
        // Complete orders, and orders with `*`, are left alone.
        for order in [json!(["a", "b"]), json!(["*", "a"])] {
            let page = json!({"ui:order": order, "properties": {"a": {}, "b": {}}});
            let (out, changes) = fit_one(page.clone(), &portable());
            assert_eq!((out, changes), (page, vec![]));
        }
    }

    #[test]
    fn schema_type_follows_react_jsonschema_form() {
        let ty = |v: Value| schema_type(v.as_object().unwrap());
        assert_eq!(
            ty(json!({"type": ["null", "integer"]})).as_deref(),
            Some("integer")
        );
        assert_eq!(
            ty(json!({"type": ["string", "integer", "null"]})).as_deref(),
            Some("string")
        );
        assert_eq!(ty(json!({"const": true})).as_deref(), Some("boolean"));
        assert_eq!(ty(json!({"const": 0})), None);
        assert_eq!(ty(json!({"enum": [1]})).as_deref(), Some("string"));
        assert_eq!(
            ty(json!({"additionalProperties": {}})).as_deref(),
            Some("object")
        );
        assert_eq!(ty(json!({})), None);
    }
}
