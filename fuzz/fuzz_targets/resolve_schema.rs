//! Input schemas over an in-memory tree: an archive of files (see the crate's `unpack`), every
//! `.json`/`.yaml` file of which is resolved as the `dataInputSchema` of a workflow at the top,
//! and again inline. A resolved schema never nests deeper than the limit, nor is it larger than
//! the byte budget of the expansion.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestrator_provider::workflow::{
    InputSchemaRef, MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MemoryTree, SchemaResolver,
    nests_deeper_than,
};
use orchestrator_provider_fuzz::unpack;

fuzz_target!(|data: &[u8]| {
    let files = unpack(data);
    let mut tree = MemoryTree::new();
    for (path, content) in &files {
        tree.insert(path.clone(), content.clone());
    }
    let roots = vec!["src/main/resources".to_owned()];
    let mut resolver = SchemaResolver::new(&tree, &roots);
    for (path, content) in &files {
        let lower = path.to_ascii_lowercase();
        if !(lower.ends_with(".json") || lower.ends_with(".yaml") || lower.ends_with(".yml")) {
            continue;
        }
        for reference in [
            InputSchemaRef::Path(path.clone()),
            InputSchemaRef::Path(format!("classpath:/{path}")),
        ] {
            if let Ok(schema) = resolver.resolve("w.sw.yaml", &reference) {
                assert!(!nests_deeper_than(&schema, MAX_SCHEMA_DEPTH));
                assert!(schema.to_string().len() <= MAX_SCHEMA_BYTES);
            }
        }
        if let Ok(inline) = serde_json::from_slice(content) {
            if let Ok(schema) = resolver.resolve(path, &InputSchemaRef::Inline(inline)) {
                assert!(!nests_deeper_than(&schema, MAX_SCHEMA_DEPTH));
                assert!(schema.to_string().len() <= MAX_SCHEMA_BYTES);
            }
        }
    }
});
