//! The one-shot pipeline behind `export` and `check`: read every source, merge, then resolve,
//! map and hand over the templates a batch at a time, in name order.
//!
//! Names are chosen over the ids of all workflows first (they need the whole set, nothing
//! else); then each batch's input schemas are resolved, its workflows mapped and the batch
//! handed to the caller, which writes it before the next batch is made. No workflow's schema or
//! form outside the batch in hand is held: resolved schemas and forms are JSON trees several
//! times the size of their text, and holding all of them is what made an export of 10 000
//! large forms take gigabytes. The output is the same as [`assemble`](super::assemble)'s, in
//! the same order, with the same diagnostics (sorted, once every batch is done).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rayon::prelude::*;

use super::{
    Merge, Merged, SourceRead, diagram_source, merge, placed, places, qualify, read_all, summary,
};
use crate::config::Config;
use crate::diagram;
use crate::entity::{self, MapOptions, Template};
use crate::source::Deferred;
use crate::workflow::{Diagnostic, SchemaResolver, Severity, Workflow};

/// Templates per batch at most. A batch holds its templates' forms until it is written (each at
/// most [`entity::MAX_FORM_BYTES`] as JSON, a tree several times that in memory), and the
/// resolved schemas of the workflows being mapped.
pub const BATCH: usize = 64;

/// A batch ends early once its forms reach this many bytes as JSON: 16 of the largest forms,
/// where 64 of them would hold ~150 MB of JSON trees.
pub const BATCH_FORM_BYTES: usize = 4 << 20;

/// Workflows mapped in parallel at a time, per thread, while a batch fills.
const WAVE_PER_THREAD: usize = 4;

/// Every source read and merged, its templates named, nothing mapped yet.
pub struct OneShot {
    options: MapOptions,
    reads: Vec<SourceRead>,
    /// What resolves the input schemas of each read's workflows (`None`: they have theirs).
    deferred: Vec<Option<Deferred>>,
    merge: Merge,
    /// Indices into `merge.workflows` with their template names, in name order.
    named: Vec<(usize, String)>,
}

/// One batch of templates, in name order, and what each one's diagram is drawn from.
#[derive(Debug, Default)]
pub struct Batch {
    pub templates: Vec<Template>,
    pub diagrams: BTreeMap<String, Arc<diagram::Source>>,
}

/// What a one-shot run found, once every batch is done.
#[derive(Debug, Default)]
pub struct Report {
    /// How many templates were mapped.
    pub templates: usize,
    /// Every problem found, sorted (errors first, then by file).
    pub diagnostics: Vec<Diagnostic>,
    /// Sources that could not be read at all: what they define is missing.
    pub failed_sources: Vec<String>,
}

impl Report {
    pub fn errors(&self) -> usize {
        super::count(&self.diagnostics, Severity::Error)
    }

    /// `N templates, M errors, K warnings`.
    pub fn summary(&self) -> String {
        summary(self.templates, &self.diagnostics)
    }
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShot")
            .field("templates", &self.named.len())
            .field("failed_sources", &self.merge.failed_sources)
            .finish_non_exhaustive()
    }
}

impl OneShot {
    /// Reads every configured source once (input schemas deferred where a source has a tree),
    /// merges them and names the templates.
    pub fn read(config: &Config) -> Self {
        let (reads, deferred) = read_all(config, true);
        Self::new(config, reads, deferred)
    }

    fn new(config: &Config, reads: Vec<SourceRead>, deferred: Vec<Option<Deferred>>) -> Self {
        let mut merge = merge(&reads);
        let workflows: Vec<&Workflow> = merge.workflows.iter().map(|m| m.read(&reads)).collect();
        let (named, unnamed) = entity::name_all(&workflows);
        let places = places(&merge.workflows, &workflows);
        let unnamed: Vec<Diagnostic> = unnamed.into_iter().map(|d| placed(d, &places)).collect();
        merge.diagnostics.extend(unnamed);
        Self {
            options: MapOptions::from_config(&config.templates).with_diagrams(&config.diagrams),
            reads,
            deferred,
            merge,
            named,
        }
    }

    /// Sources that could not be read at all: what they define is missing from the output.
    pub fn failed_sources(&self) -> &[String] {
        &self.merge.failed_sources
    }

    /// How many templates the run maps.
    pub fn len(&self) -> usize {
        self.named.len()
    }

    pub fn is_empty(&self) -> bool {
        self.named.is_empty()
    }

    /// Resolves and maps the templates a batch at a time, in name order, handing each batch to
    /// `write` before making the next; stops at the first error `write` returns. Then resolves
    /// the schemas of the workflows read but not mapped (duplicates, unpublished, unnamed) for
    /// their warnings, as a read that resolves everything would have given them.
    pub fn run<E>(self, mut write: impl FnMut(Batch) -> Result<(), E>) -> Result<Report, E> {
        let mut diagnostics = Vec::new();
        let mut mapped = 0;
        let wave = WAVE_PER_THREAD * rayon::current_num_threads().max(1);
        let mut rest = self.named.as_slice();
        while !rest.is_empty() {
            let mut out = Batch::default();
            let mut form_bytes = 0;
            while !rest.is_empty() && out.templates.len() < BATCH && form_bytes < BATCH_FORM_BYTES {
                let (now, later) =
                    rest.split_at(wave.min(rest.len()).min(BATCH - out.templates.len()));
                rest = later;
                let made: Vec<(Template, Arc<diagram::Source>, Vec<Diagnostic>)> = now
                    .par_iter()
                    .map_init(
                        || self.resolvers(),
                        |resolvers, (i, name)| self.map(resolvers, &self.merge.workflows[*i], name),
                    )
                    .collect();
                for (template, diagram, notes) in made {
                    form_bytes += entity::map::json_size(&template.spec.parameters);
                    diagnostics.extend(notes);
                    out.diagrams.insert(template.metadata.name.clone(), diagram);
                    out.templates.push(template);
                }
            }
            mapped += out.templates.len();
            write(out)?;
        }
        diagnostics.extend(self.unmapped_warnings());
        let Self { merge, .. } = self;
        diagnostics.extend(merge.diagnostics);
        diagnostics.sort();
        Ok(Report {
            templates: mapped,
            diagnostics,
            failed_sources: merge.failed_sources,
        })
    }

    /// One schema resolver per read with a tree: each caches the schema files `$ref`s share.
    fn resolvers(&self) -> Vec<Option<SchemaResolver<'_>>> {
        self.deferred
            .iter()
            .map(|d| d.as_ref().map(Deferred::resolver))
            .collect()
    }

    /// The input schema of read `read`'s `index`-th workflow when that read deferred it (else
    /// `None`: the workflow has its own), and its warnings under the source's name.
    fn resolved(
        &self,
        resolvers: &mut [Option<SchemaResolver<'_>>],
        read: usize,
        index: usize,
    ) -> (Option<serde_json::Value>, Vec<Diagnostic>) {
        let (Some(deferred), Some(resolver)) = (&self.deferred[read], &mut resolvers[read]) else {
            return (None, Vec::new());
        };
        let (schema, diagnostics) = deferred.resolve(resolver, index);
        let name = &self.reads[read].name;
        let diagnostics = diagnostics
            .into_iter()
            .map(|d| Diagnostic {
                file: qualify(name, &d.file),
                ..d
            })
            .collect();
        (schema, diagnostics)
    }

    /// Resolves and maps one workflow: its template, its diagram's source and the diagnostics
    /// of both steps.
    fn map(
        &self,
        resolvers: &mut [Option<SchemaResolver<'_>>],
        m: &Merged,
        name: &str,
    ) -> (Template, Arc<diagram::Source>, Vec<Diagnostic>) {
        let mut workflow = m.workflow(&self.reads);
        let (schema, mut diagnostics) = self.resolved(resolvers, m.read, m.index);
        if self.deferred[m.read].is_some() {
            workflow.to_mut().input_schema = schema;
        }
        let (template, notes) = entity::map_one(&workflow, name.to_owned(), &self.options);
        // Under the place the workflow was read (the mapper knows only its own path).
        diagnostics.extend(notes.into_iter().map(|d| Diagnostic {
            file: if d.workflow_id.as_ref() == Some(&workflow.id) {
                m.place.clone()
            } else {
                d.file
            },
            ..d
        }));
        let diagram = diagram_source(&workflow, &template);
        (template, diagram, diagnostics)
    }

    /// The schema warnings of the workflows read with a tree that no batch mapped.
    fn unmapped_warnings(&self) -> Vec<Diagnostic> {
        let mapped: BTreeSet<(usize, usize)> = self
            .named
            .iter()
            .map(|(i, _)| &self.merge.workflows[*i])
            .map(|m| (m.read, m.index))
            .collect();
        let rest: Vec<(usize, usize)> = self
            .deferred
            .iter()
            .enumerate()
            .filter_map(|(read, d)| Some((read, d.as_ref()?.len())))
            .flat_map(|(read, len)| (0..len).map(move |i| (read, i)))
            .filter(|key| !mapped.contains(key))
            .collect();
        rest.par_iter()
            .map_init(
                || self.resolvers(),
                |resolvers, &(read, index)| self.resolved(resolvers, read, index).1,
            )
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DirSourceConfig, SourceConfig};
    use crate::entity::to_yaml;

    fn dir_source(path: &std::path::Path) -> SourceConfig {
        SourceConfig::Dir(DirSourceConfig {
            path: path.to_owned(),
            include: vec!["**/*.sw.json".into()],
            exclude: Vec::new(),
            watch: false,
        })
    }

    fn write_workflow(dir: &std::path::Path, id: &str, schema: &str) {
        let text = format!(
            r#"{{"id": "{id}", "name": "Flow {id}", "version": "1.0", "specVersion": "0.8", "start": "s", {schema}
               "states": [{{"name": "s", "type": "operation", "actions": [], "end": true}}]}}"#
        );
        std::fs::write(dir.join(format!("{id}.sw.json")), text).unwrap();
    }

    #[test]
    fn mapping_a_batch_at_a_time_gives_the_templates_and_diagnostics_of_mapping_all_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
        std::fs::create_dir_all(first.join("schemas")).unwrap();
        std::fs::create_dir_all(&second).unwrap();
        std::fs::write(
            first.join("schemas/shared.json"),
            r#"{"definitions": {"name": {"type": "string", "title": "Name"}}}"#,
        )
        .unwrap();
        // More than two batches, in an order unlike the names' (ids that differ only in case
        // get suffixed names).
        for i in 0..2 * BATCH + 7 {
            let id = if i % 10 == 0 {
                format!("Flow-{i}")
            } else {
                format!("flow-{i}")
            };
            let schema = match i % 3 {
                0 => {
                    r##""dataInputSchema": {"schema": {"type": "object", "properties": {"n": {"$ref": "schemas/shared.json#/definitions/name"}}}},"##
                }
                1 => r#""dataInputSchema": "schemas/missing.json","#,
                _ => "",
            };
            write_workflow(&first, &id, schema);
        }
        write_workflow(&first, "flow-0", "");
        // A duplicate in a later source whose schema does not resolve: its warning stays.
        write_workflow(&second, "flow-2", r#""dataInputSchema": "nowhere.json","#);
        write_workflow(&second, "only-second", "");
        let config = Config {
            sources: vec![dir_source(&first), dir_source(&second)],
            ..Config::default()
        };

        let all = super::super::run(&config);
        let mut templates = Vec::new();
        let mut diagrams = BTreeMap::new();
        let mut batches = 0;
        let report = OneShot::read(&config)
            .run(|batch| {
                batches += 1;
                assert!(batch.templates.len() <= BATCH);
                templates.extend(batch.templates);
                diagrams.extend(batch.diagrams);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(batches, 3);
        assert_eq!(report.templates, all.templates.len());
        assert_eq!(to_yaml(&templates), to_yaml(&all.templates));
        assert_eq!(report.diagnostics, all.diagnostics);
        assert_eq!(report.summary(), all.summary());
        assert_eq!(
            diagrams.keys().collect::<Vec<_>>(),
            all.diagrams.keys().collect::<Vec<_>>()
        );
        assert!(
            report
                .diagnostics
                .iter()
                .any(|d| d.file.ends_with("second/flow-2.sw.json")
                    && d.message.contains("nowhere.json")),
            "{:#?}",
            report.diagnostics
        );
        assert!(
            templates
                .iter()
                .any(|t| t.spec.parameters != serde_json::json!([]))
        );
    }
}
