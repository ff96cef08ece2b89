//! From rows to workflows: one row per id, its `source` parsed with the project's parser.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::row::Deployment;
use super::versions::compare_rows;
use crate::workflow::{
    Availability, Diagnostic, InputSchemaRef, MemoryTree, Origin, ParseLimits, Workflow,
    parse_file, resolve_input_schema,
};

/// One deployed workflow: the row chosen for its id, and what follows from it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedWorkflow {
    pub id: String,
    /// The deployed version (the chosen row's).
    pub version: Option<String>,
    pub service_url: Option<String>,
    pub availability: Availability,
    /// The versions of the other rows with this id, which were not chosen.
    pub other_versions: Vec<Option<String>>,
    /// The definition parsed from the row's `source`, with origin `data-index:<id>`; `None`
    /// when the row carries no source (the caller knew it, or the Data Index could not get it)
    /// or the source could not be used (then a diagnostic says why).
    pub workflow: Option<Workflow>,
    /// The source's `dataInputSchema` when it names a file: the Data Index does not hold the
    /// schema, so it must come from git or the workflow service. An inline schema is resolved
    /// into `workflow.input_schema` instead.
    pub input_schema_ref: Option<String>,
    /// The chosen row itself.
    pub row: Deployment,
}

/// The origin path of a workflow read from the Data Index.
pub fn origin_path(id: &str) -> String {
    format!("data-index:{id}")
}

/// Reduces rows to one per id (the greatest by [`compare_rows`]), sorted by id, and parses the
/// chosen rows' sources. Diagnostics name the origin `data-index:<id>`.
pub fn select(
    rows: Vec<Deployment>,
    limits: &ParseLimits,
) -> (Vec<DeployedWorkflow>, Vec<Diagnostic>) {
    let mut by_id: BTreeMap<String, Vec<Deployment>> = BTreeMap::new();
    for row in rows {
        by_id.entry(row.id.clone()).or_default().push(row);
    }
    let mut out = Vec::with_capacity(by_id.len());
    let mut diagnostics = Vec::new();
    for (id, mut group) in by_id {
        group.sort_by(compare_rows);
        let row = group.pop().expect("a group has a row");
        let other_versions = group.into_iter().rev().map(|r| r.version).collect();
        let (workflow, input_schema_ref) = match (&row.source, &row.source_error) {
            (Some(source), _) => match parse_source(&id, source, limits) {
                Ok((wf, reference, mut warnings)) => {
                    diagnostics.append(&mut warnings);
                    (Some(wf), reference)
                }
                Err(d) => {
                    diagnostics.push(d);
                    (None, None)
                }
            },
            (None, Some(reason)) => {
                diagnostics.push(Diagnostic::warning(
                    origin_path(&id),
                    Some(&id),
                    format!("no source from the Data Index: {reason}"),
                ));
                (None, None)
            }
            (None, None) => (None, None),
        };
        out.push(DeployedWorkflow {
            id,
            version: row.version.clone(),
            service_url: row.service_url.clone(),
            availability: row.availability(),
            other_versions,
            workflow,
            input_schema_ref,
            row,
        });
    }
    diagnostics.sort();
    (out, diagnostics)
}

/// Parses a row's `source` with the project's parser: JSON when it starts with `{`, else YAML.
#[allow(clippy::type_complexity)]
fn parse_source(
    id: &str,
    source: &str,
    limits: &ParseLimits,
) -> Result<(Workflow, Option<String>, Vec<Diagnostic>), Diagnostic> {
    let origin = origin_path(id);
    // A parser's message may quote the source, which came from upstream: redacted like any
    // upstream text.
    let error =
        |message: String| Diagnostic::error(&origin, Some(id), crate::redact::text(&message));
    if source.len() as u64 > limits.max_file_bytes {
        return Err(error(format!(
            "source is {} bytes, over the {} byte limit",
            source.len(),
            limits.max_file_bytes
        )));
    }
    let text = source.trim_start_matches('\u{feff}').trim_start();
    let path = if text.starts_with('{') {
        format!("{origin}.sw.json")
    } else {
        format!("{origin}.sw.yaml")
    };
    let parsed = parse_file(&path, source.as_bytes(), limits)
        .map_err(|e| error(format!("source from the Data Index: {e}")))?;
    let Some(wf) = parsed.workflows.into_iter().next() else {
        let reason = parsed
            .problems
            .first()
            .map(|p| p.message.clone())
            .unwrap_or_else(|| "it holds no workflow".into());
        return Err(error(format!("source from the Data Index: {reason}")));
    };
    let mut warnings = Vec::new();
    if wf.id != id {
        warnings.push(Diagnostic::warning(
            &origin,
            Some(id),
            format!(
                "source says id {:?} but the Data Index deploys it as {id:?}; the deployed id is used",
                wf.id
            ),
        ));
    }
    let (input_schema, reference) = match &wf.data_input_schema {
        Some(InputSchemaRef::Path(p)) => (None, Some(p.clone())),
        Some(inline @ InputSchemaRef::Inline(_)) => {
            match resolve_input_schema(&MemoryTree::new(), &[], &path, inline) {
                Ok(schema) => (Some(schema), None),
                Err(e) => {
                    warnings.push(Diagnostic::warning(
                        &origin,
                        Some(id),
                        crate::redact::text(&format!(
                            "input schema (inline): {e}; the template is published without a form"
                        )),
                    ));
                    (None, None)
                }
            }
        }
        None => (None, None),
    };
    let workflow = Workflow {
        id: id.to_owned(),
        name: wf.name,
        description: wf.description,
        version: wf.version,
        annotations: wf.annotations,
        metadata: wf.metadata,
        input_schema,
        origin: Origin {
            path: origin,
            sha256: hex::encode(Sha256::digest(source.as_bytes())),
            custom_resource: false,
            links: None,
        },
        deployment: None,
        graph: wf.graph,
    };
    Ok((workflow, reference, warnings))
}
