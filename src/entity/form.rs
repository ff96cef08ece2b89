//! A workflow's input JSON Schema as scaffolder form pages (`spec.parameters`).
//!
//! The scaffolder shows one page per element of `spec.parameters` and sends the union of all
//! pages' values as `parameters`; the run step passes that object to the workflow unchanged. A
//! schema whose top-level properties are all objects (the usual way orchestrator workflows group
//! their input) becomes one page per property, each page holding that property under its own key
//! so the merged values keep the nested shape the workflow expects. Any other schema becomes one
//! page.
//!
//! Pages are cleaned for the scaffolder, which validates with its own JSON Schema draft and
//! refuses two schemas with the same `$id`: `$schema` and `$id` are removed at every schema
//! position (the resolver inlines `$ref`s, so one file's `$id` can appear several times).
//! `definitions` / `$defs` are kept only where a `$ref` still needs them: the input comes with
//! every `$ref` inlined, so normally they are dropped. When a `$ref` does remain outside them,
//! every page that contains a `$ref` gets a copy of the root's `definitions` / `$defs` (a
//! `#/...` pointer resolves against the page, which is the root the form validates against).
//! Pointers to anything else than those (e.g. `#/properties/...`) are not rewritten.

use serde_json::{Map, Value, json};

use super::escape::in_parameters;

/// Keywords whose value is a map from names to schemas.
const SCHEMA_MAPS: [&str; 5] = [
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependentSchemas",
];

/// Keywords whose value is a schema, or (for `items`, `dependencies`) may contain schemas.
const SCHEMA_VALUES: [&str; 11] = [
    "items",
    "additionalProperties",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
];

/// Keywords whose value is a list of schemas.
const SCHEMA_LISTS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];

/// Keywords that would make the scaffolder validate the page as another draft or document.
const DROPPED: [&str; 2] = ["$schema", "$id"];

/// Where a schema keeps reusable sub-schemas.
const DEFINITIONS: [&str; 2] = ["definitions", "$defs"];

/// The form pages (`spec.parameters`) for a resolved input schema; an empty array when the schema
/// has no properties to ask for.
///
/// With a non-empty top-level `properties` whose every value is an object schema (`type: object`,
/// a `type` list containing `object`, or a `properties` keyword), one page per property in schema
/// order: `{title, description?, required?: [key], properties: {key: schema}}`, the title and
/// description taken from the property (title defaults to the key) and `required` set when the
/// key is required at the top level. Top-level keywords other than `properties` and `required`
/// are not carried into these pages (a top-level `additionalProperties: false` would reject the
/// other pages' values, since the scaffolder validates the merged values against each page).
///
/// Otherwise one page: the schema itself, with `title` first (the schema's own title, else
/// `fallback_title`). `required`, `ui:*` hints, `default`, `enum` etc. are kept as written.
///
/// The pages are linear in the schema's size but for the copies of `definitions` (a schema from
/// a workflow service keeps its `$ref`s): `None` as soon as those copies alone would be over
/// `max_bytes` of JSON, before they are made.
pub fn parameters(schema: &Value, fallback_title: &str, max_bytes: usize) -> Option<Value> {
    let Some(root) = schema.as_object() else {
        return Some(json!([]));
    };
    let Some(props) = root.get("properties").and_then(Value::as_object) else {
        return Some(json!([]));
    };
    if props.is_empty() {
        return Some(json!([]));
    }
    let defs = remaining_refs(root).then(|| definitions_of(root));

    if props.values().all(is_object_schema) {
        let required: Vec<&str> = root
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let copy_size = defs.as_ref().map_or(0, |d| {
            serde_json::to_vec(d).map_or(usize::MAX, |json| json.len())
        });
        let copies = match &defs {
            Some(_) => props.values().filter(|prop| contains_ref(prop)).count(),
            None => 0,
        };
        if copies.saturating_mul(copy_size) > max_bytes {
            return None;
        }
        let pages = props.iter().map(|(key, prop)| {
            let mut page = Map::new();
            let title = prop.get("title").and_then(Value::as_str).unwrap_or(key);
            page.insert("title".into(), in_parameters(title).into());
            if let Some(description) = prop.get("description").and_then(Value::as_str) {
                page.insert("description".into(), in_parameters(description).into());
            }
            if required.contains(&key.as_str()) {
                page.insert("required".into(), json!([key]));
            }
            let mut properties = Map::new();
            properties.insert(key.clone(), clean_schema(prop));
            page.insert("properties".into(), Value::Object(properties));
            if let Some(defs) = &defs
                && contains_ref(prop)
            {
                page.extend(defs.clone());
            }
            Value::Object(page)
        });
        return Some(Value::Array(pages.collect()));
    }

    let mut page = Map::new();
    let title = root
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or(fallback_title);
    page.insert("title".into(), in_parameters(title).into());
    let Value::Object(cleaned) = clean_schema(schema) else {
        unreachable!("cleaning an object gives an object")
    };
    for (key, value) in cleaned {
        let unused_definitions = DEFINITIONS.contains(&key.as_str()) && defs.is_none();
        if key != "title" && !unused_definitions {
            page.insert(key, value);
        }
    }
    Some(json!([page]))
}

/// Whether a property schema describes an object (and so can be a page of its own).
fn is_object_schema(schema: &Value) -> bool {
    let Some(schema) = schema.as_object() else {
        return false;
    };
    let typed_object = match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        _ => false,
    };
    typed_object || schema.get("properties").is_some_and(Value::is_object)
}

/// Whether a `$ref` remains anywhere outside the root's `definitions` / `$defs`.
fn remaining_refs(root: &Map<String, Value>) -> bool {
    root.iter()
        .filter(|(key, _)| !DEFINITIONS.contains(&key.as_str()))
        .any(|(_, value)| contains_ref(value))
}

fn contains_ref(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| (key == "$ref" && value.is_string()) || contains_ref(value)),
        Value::Array(items) => items.iter().any(contains_ref),
        _ => false,
    }
}

/// The root's `definitions` / `$defs`, cleaned, ready to be copied into a page.
fn definitions_of(root: &Map<String, Value>) -> Map<String, Value> {
    DEFINITIONS
        .iter()
        .filter_map(|key| Some((key.to_string(), clean_schema(root.get(*key)?))))
        .collect()
}

/// A schema without `$schema` / `$id` at any schema position, every string value passed through
/// [`in_parameters`]. Property names (and other map keys) are data, not keywords: a property
/// called `$id` is kept.
fn clean_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        // `true` / `false` schemas, or something that is not a schema at all.
        return clean_data(schema);
    };
    let mut out = Map::with_capacity(map.len());
    for (key, value) in map {
        let key_str = key.as_str();
        if DROPPED.contains(&key_str) {
            continue;
        }
        let cleaned = if SCHEMA_MAPS.contains(&key_str) {
            clean_schema_map(value)
        } else if key_str == "dependencies" {
            // Values are schemas or lists of property names.
            clean_schema_map(value)
        } else if SCHEMA_VALUES.contains(&key_str) {
            match value {
                Value::Array(items) => Value::Array(items.iter().map(clean_schema).collect()),
                _ => clean_schema(value),
            }
        } else if SCHEMA_LISTS.contains(&key_str) {
            match value {
                Value::Array(items) => Value::Array(items.iter().map(clean_schema).collect()),
                _ => clean_data(value),
            }
        } else {
            clean_data(value)
        };
        out.insert(key.clone(), cleaned);
    }
    Value::Object(out)
}

fn clean_schema_map(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(name, schema)| (name.clone(), clean_schema(schema)))
                .collect(),
        ),
        _ => clean_data(value),
    }
}

/// A value that is not a schema (`default`, `enum`, `ui:options`...): only its strings change.
fn clean_data(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(in_parameters(s)),
        Value::Array(items) => Value::Array(items.iter().map(clean_data).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), clean_data(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_without_properties_gives_no_pages() {
        for schema in [
            json!({}),
            json!({"type": "object", "properties": {}}),
            json!("not a schema"),
            json!({"type": "string"}),
        ] {
            assert_eq!(
                parameters(&schema, "T", usize::MAX).unwrap(),
                json!([]),
                "{schema}"
            );
        }
    }

    #[test]
    fn all_object_properties_give_one_page_each_in_schema_order() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "required": ["b"],
            "properties": {
                "b": {"title": "B page", "description": "about b", "type": "object",
                      "properties": {"x": {"type": "string"}}},
                "a": {"properties": {"y": {"type": "integer"}}}
            }
        });
        let pages = parameters(&schema, "Fallback", usize::MAX).unwrap();
        assert_eq!(
            pages,
            json!([
                {"title": "B page", "description": "about b", "required": ["b"],
                 "properties": {"b": {"title": "B page", "description": "about b",
                     "type": "object", "properties": {"x": {"type": "string"}}}}},
                {"title": "a", "properties": {"a": {"properties": {"y": {"type": "integer"}}}}}
            ])
        );
        let keys: Vec<_> = pages[0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["title", "description", "required", "properties"]);
    }

    #[test]
    fn one_non_object_property_gives_a_single_page() {
        let schema = json!({
            "$schema": "x", "$id": "classpath:/schemas/in.json", "type": "object",
            "properties": {"a": {"type": "object"}, "n": {"type": "string", "ui:widget": "textarea"}},
            "required": ["n"]
        });
        let pages = parameters(&schema, "Fallback", usize::MAX).unwrap();
        assert_eq!(
            pages,
            json!([{"title": "Fallback", "type": "object",
                "properties": {"a": {"type": "object"}, "n": {"type": "string", "ui:widget": "textarea"}},
                "required": ["n"]}])
        );
    }

    #[test]
    fn single_page_keeps_schema_title_first() {
        let schema =
            json!({"type": "object", "title": "Mine", "properties": {"n": {"type": "string"}}});
        let pages = parameters(&schema, "Fallback", usize::MAX).unwrap();
        let keys: Vec<_> = pages[0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["title", "type", "properties"]);
        assert_eq!(pages[0]["title"], "Mine");
    }

    #[test]
    fn nested_ids_are_removed_but_properties_named_id_are_kept() {
        let schema = json!({"type": "object", "properties": {
            "$id": {"type": "string", "$id": "classpath:/x.json"},
            "list": {"type": "array", "items": {"$id": "y", "$schema": "z", "type": "string"}},
            "alt": {"anyOf": [{"$id": "u", "type": "string"}]}
        }});
        let pages = parameters(&schema, "T", usize::MAX).unwrap();
        assert_eq!(pages[0]["properties"]["$id"], json!({"type": "string"}));
        assert_eq!(
            pages[0]["properties"]["list"]["items"],
            json!({"type": "string"})
        );
        assert_eq!(
            pages[0]["properties"]["alt"]["anyOf"],
            json!([{"type": "string"}])
        );
    }

    #[test]
    fn values_keep_their_dollar_keys() {
        let schema = json!({"type": "object", "properties": {
            "n": {"type": "object", "default": {"$id": "kept"}, "enum": [{"$schema": "kept"}]}
        }});
        let pages = parameters(&schema, "T", usize::MAX).unwrap();
        let n = &pages[0]["properties"]["n"];
        assert_eq!(n["default"], json!({"$id": "kept"}));
        assert_eq!(n["enum"], json!([{"$schema": "kept"}]));
    }

    #[test]
    fn definitions_are_dropped_when_no_ref_remains() {
        let schema = json!({"type": "object",
            "definitions": {"d": {"type": "string"}}, "$defs": {"e": {"type": "string"}},
            "properties": {"n": {"type": "string"}}});
        let page = &parameters(&schema, "T", usize::MAX).unwrap()[0];
        assert!(page.get("definitions").is_none() && page.get("$defs").is_none());
    }

    #[test]
    fn definitions_stay_on_single_page_when_a_ref_remains() {
        let schema = json!({"type": "object",
            "definitions": {"d": {"$id": "x", "type": "string"}},
            "properties": {"n": {"$ref": "#/definitions/d"}}});
        let page = &parameters(&schema, "T", usize::MAX).unwrap()[0];
        assert_eq!(page["definitions"], json!({"d": {"type": "string"}}));
    }

    #[test]
    fn definitions_follow_only_pages_that_reference_them() {
        let schema = json!({"type": "object",
        "$defs": {"d": {"type": "string"}},
        "properties": {
            "a": {"type": "object", "properties": {"x": {"$ref": "#/$defs/d"}}},
            "b": {"type": "object", "properties": {"y": {"type": "string"}}}
        }});
        let pages = parameters(&schema, "T", usize::MAX).unwrap();
        assert_eq!(pages[0]["$defs"], json!({"d": {"type": "string"}}));
        assert!(pages[1].get("$defs").is_none());
    }

    #[test]
    fn copies_of_definitions_over_the_limit_are_refused_before_they_are_made() {
        // A workflow service's schema: 2000 pages each `$ref`ing a 1 KB definition would copy
        // it 2000 times (2 MB of form from 80 KB of schema).
        let props: Map<String, Value> = (0..2000)
            .map(|i| {
                let page = json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/d"}}});
                (format!("p{i}"), page)
            })
            .collect();
        let schema = json!({"$defs": {"d": {"type": "string", "description": "d".repeat(1000)}},
            "properties": props});
        assert_eq!(parameters(&schema, "T", 256 * 1024), None);
        let pages = parameters(&schema, "T", usize::MAX).unwrap();
        assert_eq!(pages.as_array().unwrap().len(), 2000);
    }

    #[test]
    fn refs_only_inside_definitions_do_not_keep_them() {
        let schema = json!({"type": "object",
            "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"type": "string"}},
            "properties": {"n": {"type": "string"}}});
        assert!(
            parameters(&schema, "T", usize::MAX).unwrap()[0]
                .get("definitions")
                .is_none()
        );
    }
}
