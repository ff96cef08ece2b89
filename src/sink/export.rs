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
    match format {
        Format::Yaml => entity::write_yaml(out, templates),
        // A list of templates: one level more than a template alone.
        Format::Json => entity::write_json_pretty(out, templates, 1),
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
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| ExportError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let ext = match format {
        Format::Yaml => "yaml",
        Format::Json => "json",
    };
    let mut report = DirReport::default();
    let mut files = BTreeSet::new();
    for t in templates {
        let name = format!("{}.{ext}", t.metadata.name);
        write_if_changed(
            &dir.join(&name),
            &render_one(t, format)?,
            &mut report,
            &name,
        )?;
        files.insert(name);
    }
    // Rendering is CPU work: on every core, then written in name order.
    let svgs: Vec<(String, String)> = templates
        .par_iter()
        .filter_map(|t| {
            let source = diagrams.get(&t.metadata.name)?;
            Some((format!("{}.svg", t.metadata.name), source.render().text))
        })
        .collect();
    let entity_files = files.clone();
    for (name, svg) in svgs {
        write_if_changed(&dir.join(&name), &svg, &mut report, &name)?;
        files.insert(name);
    }
    let namespace = templates
        .first()
        .map_or("default", |t| t.metadata.namespace.as_str());
    let location = Location {
        api_version: "backstage.io/v1alpha1",
        kind: "Location",
        metadata: LocationMetadata {
            name: "orchestrator-workflows",
            namespace,
            description: "SonataFlow workflow templates exported by orchestrator-provider",
        },
        spec: LocationSpec {
            targets: entity_files.iter().map(|f| format!("./{f}")).collect(),
        },
    };
    let location_text =
        serde_saphyr::to_string(&location).map_err(|e| ExportError::Encode(e.to_string()))?;
    write_if_changed(
        &dir.join(LOCATION_FILE),
        &location_text,
        &mut report,
        LOCATION_FILE,
    )?;
    files.insert(LOCATION_FILE.to_owned());

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
    atomic_write(&manifest_path, &manifest).map_err(err(&manifest_path))?;
    Ok(report)
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
