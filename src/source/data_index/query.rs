//! The GraphQL this client sends: the introspection query, what it learns ([`Capabilities`]),
//! and the listing and `source` queries built for exactly what a server has.

use std::collections::BTreeSet;

use serde_json::Value;

/// The `ProcessDefinition` fields a listing selects, when the server has them (`source` apart).
const LIST_FIELDS: [&str; 9] = [
    "id",
    "version",
    "name",
    "type",
    "endpoint",
    "serviceUrl",
    "description",
    "annotations",
    "metadata",
];

/// The `type` of a Serverless Workflow row (BPMN processes in the same Data Index say `BPMN`).
pub const WORKFLOW_TYPE: &str = "SW";

/// The introspection query [`DataIndexClient::introspect`] sends.
pub const INTROSPECTION_QUERY: &str = r#"query DataIndexCapabilities {
  __schema { queryType { fields { name args { name } } } }
  definition: __type(name: "ProcessDefinition") { fields { name } }
  argument: __type(name: "ProcessDefinitionArgument") { inputFields { name } }
}"#;

/// What one Data Index supports, learnt by [`DataIndexClient::introspect`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `Query.ProcessDefinitions` exists (1.44.0+).
    pub has_process_definitions: bool,
    /// The fields of `type ProcessDefinition`.
    pub fields: BTreeSet<String>,
    /// `ProcessDefinitions` takes `where`, `orderBy` and `pagination`.
    pub filters: bool,
    /// The arguments `ProcessDefinitions` takes.
    pub query_args: BTreeSet<String>,
    /// The fields of `input ProcessDefinitionArgument` (what `where` can filter on).
    pub where_fields: BTreeSet<String>,
}

impl Capabilities {
    pub(super) fn arg(&self, name: &str) -> bool {
        self.query_args.contains(name)
    }

    /// `where: {type: {equal: "SW"}}` is accepted (10.1.0+).
    pub fn filters_type(&self) -> bool {
        self.arg("where") && self.where_fields.contains("type")
    }

    /// `where: {or: [{id: .., version: ..}]}` is accepted (1.44.0+), so `source` can be asked
    /// for the unknown rows only.
    pub fn filters_id_version(&self) -> bool {
        self.arg("where")
            && ["or", "id", "version"]
                .iter()
                .all(|f| self.where_fields.contains(*f))
    }

    /// Which release line this looks like, for logs and `/status`.
    pub fn release(&self) -> &'static str {
        if !self.has_process_definitions {
            "before 1.44"
        } else if self.filters_type() {
            "10.1 or later"
        } else if self.fields.contains("metadata") {
            "10.0"
        } else {
            "1.44"
        }
    }
}

/// The query [`DataIndexClient::list`] pages with, for these capabilities.
pub fn list_query(caps: &Capabilities, with_source: bool) -> String {
    let mut params = Vec::new();
    let mut args = Vec::new();
    if caps.filters_type() {
        params.push("$where: ProcessDefinitionArgument");
        args.push("where: $where".to_owned());
    }
    if caps.arg("orderBy") {
        // `version` too: rows with one id and several versions keep a stable order across pages.
        args.push("orderBy: {id: ASC, version: ASC}".to_owned());
    }
    if caps.arg("pagination") {
        params.push("$limit: Int");
        params.push("$offset: Int");
        args.push("pagination: {limit: $limit, offset: $offset}".to_owned());
    }
    let mut fields: Vec<&str> = LIST_FIELDS
        .iter()
        .copied()
        .filter(|f| caps.fields.contains(*f))
        .collect();
    if with_source {
        fields.push("source");
    }
    let params = if params.is_empty() {
        String::new()
    } else {
        format!("({})", params.join(", "))
    };
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("({})", args.join(", "))
    };
    format!(
        "query ListWorkflowDefinitions{params} {{\n  ProcessDefinitions{args} {{\n    {}\n  }}\n}}",
        fields.join(" ")
    )
}

/// The query that fetches `source` for given `(id, version)` rows.
pub const SOURCE_QUERY: &str = "query WorkflowSources($where: ProcessDefinitionArgument) {\n  ProcessDefinitions(where: $where) {\n    id version source\n  }\n}";

pub(super) fn parse_capabilities(data: &Value) -> Option<Capabilities> {
    let names = |v: &Value, key: &str| -> BTreeSet<String> {
        v.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let query_field = data
        .pointer("/__schema/queryType/fields")
        .and_then(Value::as_array)?
        .iter()
        .find(|f| f.get("name").and_then(Value::as_str) == Some("ProcessDefinitions"))?;
    let definition = data.get("definition").filter(|v| !v.is_null())?;
    let query_args = names(query_field, "args");
    let fields = names(definition, "fields");
    let where_fields = data
        .get("argument")
        .map(|a| names(a, "inputFields"))
        .unwrap_or_default();
    Some(Capabilities {
        has_process_definitions: true,
        filters: ["where", "orderBy", "pagination"]
            .iter()
            .all(|a| query_args.contains(*a)),
        fields,
        query_args,
        where_fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn capabilities_from_introspection() {
        let data = json!({
            "__schema": {"queryType": {"fields": [
                {"name": "ProcessDefinitions", "args": [{"name": "where"}, {"name": "orderBy"}, {"name": "pagination"}]}
            ]}},
            "definition": {"fields": [{"name": "id"}, {"name": "version"}, {"name": "source"}]},
            "argument": {"inputFields": [{"name": "or"}, {"name": "id"}, {"name": "version"}]}
        });
        let caps = parse_capabilities(&data).unwrap();
        assert!(caps.filters && caps.filters_id_version() && !caps.filters_type());
        assert_eq!(caps.release(), "1.44");
        let old = json!({"__schema": {"queryType": {"fields": [{"name": "Jobs", "args": []}]}}, "definition": null, "argument": null});
        assert!(parse_capabilities(&old).is_none());
    }
}
