//! Embeds `fixtures/workflows/` in the binary: with no configuration, `export` and `run` show
//! the bundled examples wherever the binary is started from.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new("fixtures/workflows");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(root, root, &mut files);
    files.sort();
    let mut code = String::from(
        "/// The bundled example workflows: (path relative to the folder, contents).\npub const BUNDLED: &[(&str, &[u8])] = &[\n",
    );
    for rel in files {
        // Relative to the manifest, not an absolute path: a target folder copied or moved to
        // another checkout must not keep embedding the first checkout's files.
        let from_manifest = format!("/{}/{rel}", root.display());
        writeln!(
            code,
            "    ({rel:?}, include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {from_manifest:?}))),"
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("bundled.rs");
    std::fs::write(out, code).unwrap();
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
