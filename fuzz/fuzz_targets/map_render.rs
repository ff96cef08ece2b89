//! The one-shot pipeline on an archive of files (see the crate's `unpack`): read every
//! workflow file of the tree with its schemas, map, render. Every Template has a valid name,
//! its YAML and JSON read back as the entity, and its YAML stays linear in its JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestrator_provider::entity::{
    self, MAX_FORM_BYTES, MapOptions, is_valid_name, map_all, map_all_with_diagnostics,
    to_json_pretty, to_yaml_one,
};
use orchestrator_provider::source::dir::read_tree;
use orchestrator_provider::workflow::{MemoryTree, ParseLimits};
use orchestrator_provider_fuzz::unpack;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let mut tree = MemoryTree::new();
    let mut listed = Vec::new();
    for (path, content) in unpack(data) {
        let lower = path.to_ascii_lowercase();
        if [".sw.json", ".sw.yaml", ".sw.yml"]
            .iter()
            .any(|ext| lower.ends_with(ext))
        {
            listed.push(path.clone());
        }
        tree.insert(path, content);
    }
    listed.sort();
    listed.dedup();
    let roots = vec!["src/main/resources".to_owned()];
    let snapshot = read_tree(&tree, &listed, &ParseLimits::default(), &roots, None);
    let (templates, mapping) =
        map_all_with_diagnostics(&snapshot.workflows, &MapOptions::default());
    for d in snapshot.diagnostics.iter().chain(&mapping) {
        let shown = d.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }
    for template in &templates {
        assert!(
            is_valid_name(&template.metadata.name),
            "{:?}",
            template.metadata.name
        );
        let value = serde_json::to_value(template).unwrap();
        let compact = serde_json::to_string(&value).unwrap();
        assert!(
            serde_json::to_string(&template.spec.parameters)
                .unwrap()
                .len()
                <= MAX_FORM_BYTES
        );
        assert!(
            !compact.contains('\0') && !compact.contains('\u{1b}'),
            "a control character in {compact}"
        );

        let yaml = to_yaml_one(template);
        assert!(
            yaml.len() <= 4 * compact.len() + 4096,
            "{} bytes of YAML for {} of JSON",
            yaml.len(),
            compact.len()
        );
        let mut opts = serde_saphyr::Options::default();
        let mut budget = serde_saphyr::Budget::default();
        budget.max_depth = 1000;
        budget.max_nodes = usize::MAX;
        budget.max_total_scalar_bytes = usize::MAX;
        opts.budget = Some(budget);
        let back: Value = serde_saphyr::from_str_with_options(&yaml, opts)
            .unwrap_or_else(|e| panic!("the YAML does not read back: {e}\n{yaml}"));
        assert_eq!(back, value, "YAML read back differs\n{yaml}");

        let json = to_json_pretty(template, 0);
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back, value);
    }
    // Deterministic: the same input maps and renders to the same bytes.
    let again = map_all(&snapshot.workflows, &MapOptions::default());
    assert_eq!(entity::to_yaml(&again), entity::to_yaml(&templates));
});
