//! A folder read while it is still changing: the cycle a file change starts at once (the
//! leading edge) may catch an editor's save half-written. Such a read is provisional: it may
//! add and change templates, but it never removes one, moves one to another file's definition,
//! or takes a form away. What it would have done there waits for the read after the folder has
//! been quiet for `sync.debounce` (the trailing edge), which decides.

use std::collections::{BTreeMap, BTreeSet};

use crate::source::Snapshot;
use crate::workflow::Workflow;

/// Keeps, for every workflow of `previous` the provisional `read` lost, now takes from another
/// file, or reads without the form it had, its previous version, with the previous diagnostics
/// of its file instead of the new ones (a half-written file's parse error is not news). Returns
/// the snapshot to accept and how many workflows were held back.
pub(super) fn hold_back(previous: &Snapshot, read: Snapshot) -> (Snapshot, usize) {
    let Snapshot {
        workflows,
        mut diagnostics,
        deployments,
    } = read;
    let mut by_id: BTreeMap<String, Workflow> =
        workflows.into_iter().map(|w| (w.id.clone(), w)).collect();
    let mut held_files: BTreeSet<&str> = BTreeSet::new();
    let mut held = 0;
    for old in &previous.workflows {
        let keep = match by_id.get(&old.id) {
            None => true,
            Some(new) => {
                new.origin.path != old.origin.path
                    || (old.input_schema.is_some() && new.input_schema.is_none())
            }
        };
        if keep {
            held += 1;
            held_files.insert(&old.origin.path);
            by_id.insert(old.id.clone(), old.clone());
        }
    }
    if !held_files.is_empty() {
        diagnostics.retain(|d| !held_files.contains(d.file.as_str()));
        diagnostics.extend(
            previous
                .diagnostics
                .iter()
                .filter(|d| held_files.contains(d.file.as_str()))
                .cloned(),
        );
        diagnostics.sort();
    }
    let snapshot = Snapshot {
        workflows: by_id.into_values().collect(),
        diagnostics,
        deployments,
    };
    (snapshot, held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{Diagnostic, Origin};
    use serde_json::json;

    fn workflow(id: &str, path: &str, title: &str, form: bool) -> Workflow {
        Workflow {
            id: id.into(),
            name: Some(title.into()),
            input_schema: form.then(|| json!({"type": "object"})),
            origin: Origin {
                path: path.into(),
                ..Origin::default()
            },
            ..Workflow::default()
        }
    }

    fn snapshot(workflows: Vec<Workflow>, diagnostics: Vec<Diagnostic>) -> Snapshot {
        Snapshot {
            workflows,
            diagnostics,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_file_that_fails_to_parse_keeps_its_workflow_and_its_old_diagnostics() {
        let before = snapshot(
            vec![
                workflow("a", "a.sw.yaml", "A", true),
                workflow("b", "b.sw.yaml", "B", true),
            ],
            vec![Diagnostic::warning("a.sw.yaml", Some("a"), "old warning")],
        );
        let read = snapshot(
            vec![workflow("b", "b.sw.yaml", "B2", true)],
            vec![Diagnostic::error(
                "a.sw.yaml",
                None,
                "invalid YAML at line 3",
            )],
        );
        let (kept, held) = hold_back(&before, read);
        assert_eq!(held, 1);
        assert_eq!(
            kept.workflows,
            [
                workflow("a", "a.sw.yaml", "A", true),
                workflow("b", "b.sw.yaml", "B2", true)
            ]
        );
        assert_eq!(kept.diagnostics, before.diagnostics);
    }

    #[test]
    fn a_workflow_is_not_replaced_by_another_files_definition_nor_loses_its_form() {
        let before = snapshot(
            vec![
                workflow("a", "1-a.sw.yaml", "New", true),
                workflow("c", "c.sw.yaml", "C", true),
            ],
            Vec::new(),
        );
        // 1-a failed to parse, so the older duplicate in 2-a wins; c's schema failed.
        let read = snapshot(
            vec![
                workflow("a", "2-a.sw.yaml", "Old", true),
                workflow("c", "c.sw.yaml", "C", false),
            ],
            vec![
                Diagnostic::error("1-a.sw.yaml", None, "truncated"),
                Diagnostic::warning("c.sw.yaml", Some("c"), "input schema: invalid JSON"),
            ],
        );
        let (kept, held) = hold_back(&before, read);
        assert_eq!(held, 2);
        assert_eq!(kept.workflows, before.workflows);
        assert!(kept.diagnostics.is_empty(), "{:?}", kept.diagnostics);
    }

    #[test]
    fn additions_and_changes_that_parsed_go_through() {
        let before = snapshot(vec![workflow("a", "a.sw.yaml", "A", false)], Vec::new());
        let read = snapshot(
            vec![
                workflow("a", "a.sw.yaml", "A2", true),
                workflow("n", "n.sw.yaml", "N", true),
            ],
            vec![Diagnostic::error(
                "broken-new.sw.yaml",
                None,
                "invalid YAML",
            )],
        );
        let (kept, held) = hold_back(&before, read.clone());
        assert_eq!(held, 0);
        assert_eq!(kept, read);
    }
}
