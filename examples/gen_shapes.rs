//! Writes one of the export benchmark's generated inputs to a folder, to look at one shape
//! alone (under a heap profiler, or `/usr/bin/time -v`) without the whole benchmark:
//!
//! ```sh
//! cargo run --release --example gen_shapes -- /tmp/wide 10000 wide   # flat | deep | wide
//! /usr/bin/time -v target/release/orchestrator-provider export /tmp/wide > /dev/null
//! ```

#[path = "../benches/support/generate.rs"]
mod generate;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        eprintln!(
            "usage: gen_shapes DIR N SHAPE   (SHAPE: {})",
            generate::SHAPES.join(", ")
        );
        ExitCode::from(2)
    };
    let [dir, n, shape] = args.as_slice() else {
        return usage();
    };
    let Ok(n) = n.parse() else { return usage() };
    if !generate::SHAPES.contains(&shape.as_str()) {
        return usage();
    }
    generate::generate_shape(std::path::Path::new(dir), n, shape);
    ExitCode::SUCCESS
}
