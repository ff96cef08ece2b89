//! One workflow file, as a source hands it to the parser: JSON, YAML (multi-document, custom
//! resources, ConfigMaps). The first byte picks the file name, the rest is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestrator_provider::workflow::{ParseLimits, parse_file};

const NAMES: [&str; 4] = ["w.sw.json", "w.sw.yaml", "cr.yaml", "w.sw.yml"];

fuzz_target!(|data: &[u8]| {
    let Some((first, bytes)) = data.split_first() else {
        return;
    };
    let path = NAMES[usize::from(*first) % NAMES.len()];
    if let Ok(parsed) = parse_file(path, bytes, &ParseLimits::default()) {
        for w in &parsed.workflows {
            assert!(!w.id.trim().is_empty(), "a workflow without an id");
        }
    }
});
