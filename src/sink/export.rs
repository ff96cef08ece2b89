//! Export: templates as YAML (or JSON) on stdout, or as one file per template in a folder.
//!
//! A folder export also writes `catalog-info.yaml`, a `kind: Location` listing every template
//! file, so the folder can be committed and registered once, and `<name>.svg`, the workflow
//! diagram, beside each template (any static host can serve them to the `diagrams.baseUrl`
//! links). It keeps a manifest of the files it
//! wrote (`.orchestrator-provider-export`) and removes those that are no longer produced; it
//! never touches a file it did not write. Unchanged files are not rewritten.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::config::Format;
use crate::diagram;
use crate::entity::{self, Template};

/// The manifest of files written by the last export into a folder.
pub const MANIFEST: &str = ".orchestrator-provider-export";
/// The Location entity file that lists the exported templates.
pub const LOCATION_FILE: &str = "catalog-info.yaml";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}; check that the folder exists and is writable")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot write to stdout: {0}")]
    Stdout(io::Error),
    #[error("cannot encode the entities: {0}")]
    Encode(String),
}

/// All templates as one text: a multi-document YAML stream, or a JSON array.
pub fn render(templates: &[Template], format: Format) -> Result<String, ExportError> {
    let mut out = Vec::new();
    write(&mut out, templates, format).map_err(|e| ExportError::Encode(e.to_string()))?;
    String::from_utf8(out).map_err(|e| ExportError::Encode(e.to_string()))
}

/// [`render`] into a writer (stdout), a batch of templates at a time: an export never holds
/// its whole output, which for large forms is the largest thing it makes.
pub fn write<W: io::Write>(out: W, templates: &[Template], format: Format) -> io::Result<()> {
    let mut stream = Stream::new(out, format)?;
    for batch in templates.chunks(256) {
        stream.write(batch)?;
    }
    stream.finish().map(drop)
}

/// Templates on a writer in the export format, written as they come, a batch at a time: the
/// same bytes as [`write`] of all the batches in order.
#[derive(Debug)]
pub enum Stream<W> {
    Yaml(entity::YamlStream<W>),
    Json(entity::JsonList<W>),
}

impl<W: io::Write> Stream<W> {
    pub fn new(out: W, format: Format) -> io::Result<Self> {
        Ok(match format {
            Format::Yaml => Self::Yaml(entity::YamlStream::new(out)),
            // A list of templates: one level more than a template alone.
            Format::Json => Self::Json(entity::JsonList::new(out)?),
        })
    }

    pub fn write(&mut self, templates: &[Template]) -> io::Result<()> {
        match self {
            Self::Yaml(s) => s.write(templates),
            Self::Json(s) => s.write(templates),
        }
    }

    /// Ends the output; the writer back (to flush).
    pub fn finish(self) -> io::Result<W> {
        match self {
            Self::Yaml(s) => s.finish(),
            Self::Json(s) => s.finish(),
        }
    }
}

fn render_one(template: &Template, format: Format) -> Result<String, ExportError> {
    match format {
        Format::Yaml => Ok(entity::to_yaml_one(template)),
        Format::Json => Ok(entity::to_json_pretty(template, 0)),
    }
}

/// What a folder export changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DirReport {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    api_version: &'a str,
    kind: &'a str,
    metadata: LocationMetadata<'a>,
    spec: LocationSpec,
}

#[derive(Serialize)]
struct LocationMetadata<'a> {
    name: &'a str,
    namespace: &'a str,
    description: &'a str,
}

#[derive(Serialize)]
struct LocationSpec {
    targets: Vec<String>,
}

/// Writes one file per template, its diagram (`<name>.svg`, for each template `diagrams` has)
/// and `catalog-info.yaml` into `dir`, and removes the files a previous export wrote that are no
/// longer produced.
pub fn write_dir(
    dir: &Path,
    templates: &[Template],
    diagrams: &BTreeMap<String, Arc<diagram::Source>>,
    format: Format,
) -> Result<DirReport, ExportError> {
    let mut export = DirExport::new(dir, format)?;
    export.write(templates, diagrams)?;
    export.finish()
}

/// [`write_dir`] a batch of templates at a time (in name order): each batch's files are
/// written as it comes; the Location and the manifest, and the removal of stale files, when it
/// is finished. Only names are kept between batches.
#[derive(Debug)]
pub struct DirExport {
    dir: PathBuf,
    format: Format,
    report: DirReport,
    /// Every file written or unchanged so far.
    files: BTreeSet<String>,
    /// The template files among them, for the Location.
    entity_files: BTreeSet<String>,
    /// The first template's namespace: the Location's.
    namespace: Option<String>,
}

impl DirExport {
    /// Creates the folder if need be.
    pub fn new(dir: &Path, format: Format) -> Result<Self, ExportError> {
        std::fs::create_dir_all(dir).map_err(|source| ExportError::Write {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            format,
            report: DirReport::default(),
            files: BTreeSet::new(),
            entity_files: BTreeSet::new(),
            namespace: None,
        })
    }

    /// Writes the batch's template files, then their diagrams.
    pub fn write(
        &mut self,
        templates: &[Template],
        diagrams: &BTreeMap<String, Arc<diagram::Source>>,
    ) -> Result<(), ExportError> {
        let ext = match self.format {
            Format::Yaml => "yaml",
            Format::Json => "json",
        };
        if self.namespace.is_none() {
            self.namespace = templates.first().map(|t| t.metadata.namespace.clone());
        }
        for t in templates {
            let name = format!("{}.{ext}", t.metadata.name);
            write_if_changed(
                &self.dir.join(&name),
                &render_one(t, self.format)?,
                &mut self.report,
                &name,
            )?;
            self.entity_files.insert(name.clone());
            self.files.insert(name);
        }
        // Rendering is CPU work: on every core, then written in name order.
        let svgs: Vec<(String, String)> = templates
            .par_iter()
            .filter_map(|t| {
                let source = diagrams.get(&t.metadata.name)?;
                Some((format!("{}.svg", t.metadata.name), source.render().text))
            })
            .collect();
        for (name, svg) in svgs {
            write_if_changed(&self.dir.join(&name), &svg, &mut self.report, &name)?;
            self.files.insert(name);
        }
        Ok(())
    }

    /// Writes `catalog-info.yaml` and the manifest, and removes what the previous export wrote
    /// and this one did not.
    pub fn finish(mut self) -> Result<DirReport, ExportError> {
        let dir = self.dir.as_path();
        let location = Location {
            api_version: "backstage.io/v1alpha1",
            kind: "Location",
            metadata: LocationMetadata {
                name: "orchestrator-workflows",
                namespace: self.namespace.as_deref().unwrap_or("default"),
                description: "SonataFlow workflow templates exported by orchestrator-provider",
            },
            spec: LocationSpec {
                targets: self.entity_files.iter().map(|f| format!("./{f}")).collect(),
            },
        };
        let location_text =
            serde_saphyr::to_string(&location).map_err(|e| ExportError::Encode(e.to_string()))?;
        write_if_changed(
            &dir.join(LOCATION_FILE),
            &location_text,
            &mut self.report,
            LOCATION_FILE,
        )?;
        self.files.insert(LOCATION_FILE.to_owned());
        let (files, mut report) = (self.files, self.report);

        // Remove only what we wrote last time and do not write now.
        let manifest_path = dir.join(MANIFEST);
        let previous = std::fs::read_to_string(&manifest_path).unwrap_or_default();
        for old in previous
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            // The manifest is ours, but never follow it out of the folder.
            if old.contains('/') || old.contains('\\') || old == ".." || files.contains(old) {
                continue;
            }
            match std::fs::remove_file(dir.join(old)) {
                Ok(()) => report.removed.push(old.to_owned()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(ExportError::Write {
                        path: dir.join(old),
                        source: e,
                    });
                }
            }
        }
        let mut manifest = String::from(
            "# Files written by orchestrator-provider export; stale ones are removed on the next export.\n",
        );
        for f in &files {
            manifest.push_str(f);
            manifest.push('\n');
        }
        atomic_write(&manifest_path, &manifest).map_err(|source| ExportError::Write {
            path: manifest_path.clone(),
            source,
        })?;
        Ok(report)
    }
}

fn write_if_changed(
    path: &Path,
    content: &str,
    report: &mut DirReport,
    name: &str,
) -> Result<(), ExportError> {
    if std::fs::read(path).is_ok_and(|old| old == content.as_bytes()) {
        report.unchanged.push(name.to_owned());
        return Ok(());
    }
    atomic_write(path, content).map_err(|source| ExportError::Write {
        path: path.to_owned(),
        source,
    })?;
    report.written.push(name.to_owned());
    Ok(())
}

/// Write to a temporary file and rename, so a reader never sees half a file.
fn atomic_write(path: &Path, content: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)
}
