//! The `orchestrator-provider` command: argument parsing and wiring only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orchestrator_provider::config::{Config, ConfigError, Format, Layers};
use orchestrator_provider::pipeline::oneshot::{OneShot, Report};
use orchestrator_provider::{daemon, memory, secrets, sink::export};

/// Publish SonataFlow workflows to Backstage as software Templates.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Map workflows to Templates and print them (or write them to a folder).
    Export {
        /// Workflow folders or files to read instead of the configured sources.
        paths: Vec<PathBuf>,
        /// Configuration file (YAML).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Write one file per template and a catalog-info.yaml Location into this folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the daemon: serve the templates and keep the Backstage catalog in step.
    Run {
        /// Configuration file (YAML); without one, the bundled examples are served on 127.0.0.1.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print what `run` would add, update and remove in the live catalog; change nothing.
    Diff {
        /// Configuration file (YAML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Read and map workflows like `export`, print only the diagnostics (for a workflow repo's CI).
    /// With GITHUB_ACTIONS=true they are printed as GitHub annotations on stdout.
    Check {
        /// Workflow folders or files to read instead of the configured sources (files are read
        /// at the root of their git repository, so their schemas resolve as in the repository).
        paths: Vec<PathBuf>,
        /// Configuration file (YAML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Yaml,
    Json,
}

const EXIT_FAILED_WORKFLOWS: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // In a GitHub Actions job, `check` writes its diagnostics as annotations on the files.
    let annotate = matches!(cli.command, Command::Check { .. })
        && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
    let (paths, config, format, out) = match cli.command {
        Command::Export {
            paths,
            config,
            format,
            out,
        } => (paths, config, format, Some(out)),
        Command::Check { paths, config } => (paths, config, None, None),
        Command::Run { config } => return daemon(config),
        Command::Diff { config } => return diff(config),
    };
    let config = match load_config(config, &paths, format) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Read and merged at once, then mapped and written a batch at a time.
    let run = OneShot::read(&config);
    let format = config.export.format;
    // Writing a folder would remove the exported files of what a failed source defines.
    let refused = match &out {
        Some(Some(dir)) if !run.failed_sources().is_empty() => Some(dir.clone()),
        _ => None,
    };
    let done = match out {
        Some(None) => to_stdout(run, format).map(|r| (r, None)),
        Some(Some(dir)) if refused.is_none() => {
            to_dir(run, &dir, format).map(|(r, written)| (r, Some((dir, written))))
        }
        _ => run.run(|_| Ok(())).map(|r| (r, None)),
    };
    let (report, dir_report) = match done {
        Ok(done) => done,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    for d in &report.diagnostics {
        if annotate {
            println!("{}", d.github_annotation());
        } else {
            eprintln!("{d}");
        }
    }
    if let Some(dir) = refused {
        eprintln!(
            "error: not writing {}: could not read {}; its templates would be removed from the folder",
            dir.display(),
            report.failed_sources.join(", ")
        );
        return ExitCode::from(EXIT_FAILED_WORKFLOWS);
    }
    if let Some((dir, r)) = dir_report {
        eprintln!(
            "{}: {} written, {} unchanged, {} removed",
            dir.display(),
            r.written.len(),
            r.unchanged.len(),
            r.removed.len()
        );
    }
    eprintln!("{}", report.summary());
    if report.errors() > 0 {
        ExitCode::from(EXIT_FAILED_WORKFLOWS)
    } else {
        ExitCode::SUCCESS
    }
}

/// Every batch on stdout as it is mapped.
fn to_stdout(run: OneShot, format: Format) -> Result<Report, export::ExportError> {
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut stream = export::Stream::new(stdout, format).map_err(export::ExportError::Stdout)?;
    let report = run.run(|batch| {
        stream
            .write(&batch.templates)
            .map_err(export::ExportError::Stdout)
    })?;
    let mut stdout = stream.finish().map_err(export::ExportError::Stdout)?;
    std::io::Write::flush(&mut stdout).map_err(export::ExportError::Stdout)?;
    Ok(report)
}

/// Every batch into the folder as it is mapped.
fn to_dir(
    run: OneShot,
    dir: &std::path::Path,
    format: Format,
) -> Result<(Report, export::DirReport), export::ExportError> {
    let mut folder = export::DirExport::new(dir, format)?;
    let report = run.run(|batch| folder.write(&batch.templates, &batch.diagrams))?;
    Ok((report, folder.finish()?))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The configuration and the catalog token, or the usage exit after saying what is wrong.
fn config_and_token(file: Option<PathBuf>) -> Result<(Config, Option<String>), ExitCode> {
    let loaded = load_config(file, &[], None).and_then(|c| {
        let token = secrets::catalog_token(&c)?;
        Ok((c, token))
    });
    loaded.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_USAGE)
    })
}

fn daemon(file: Option<PathBuf>) -> ExitCode {
    let (config, catalog_token) = match config_and_token(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    orchestrator_provider::telemetry::init_logging(&config.logging);
    let trigger_token = match secrets::trigger_token(&config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    memory::limit_malloc_arenas();
    let rt = runtime();
    let result = rt.block_on(daemon::run(config, catalog_token, trigger_token));
    // A git fetch still running on the blocking pool must not hold the exit past its grace.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn diff(file: Option<PathBuf>) -> ExitCode {
    let (config, token) = match config_and_token(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.catalog.base_url.is_none() {
        eprintln!("error: `catalog.baseUrl` is not set: there is no catalog to compare with");
        return ExitCode::from(EXIT_USAGE);
    }
    match runtime().block_on(orchestrator_provider::sync::diff(&config, token)) {
        Ok(d) => {
            for diagnostic in &d.diagnostics {
                eprintln!("{diagnostic}");
            }
            for (sign, refs) in [("+", &d.add), ("~", &d.update), ("-", &d.remove)] {
                for r in refs {
                    println!("{sign} {r}");
                }
            }
            if let Some(held) = &d.held {
                for name in &held.names {
                    println!("! {name} (removal held: {})", held.reason);
                }
            }
            eprintln!(
                "{} to add, {} to update, {} to remove{}",
                d.add.len(),
                d.update.len(),
                d.remove.len(),
                d.held.as_ref().map_or(String::new(), |h| format!(
                    ", {} removals held",
                    h.names.len()
                ))
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_FAILED_WORKFLOWS)
        }
    }
}

fn load_config(
    file: Option<PathBuf>,
    paths: &[PathBuf],
    format: Option<FormatArg>,
) -> Result<Config, ConfigError> {
    let mut layers = Layers::new();
    if let Some(file) = &file {
        layers.file(file)?;
    }
    layers.env(std::env::vars())?;
    if !paths.is_empty() {
        let cwd = std::env::current_dir().unwrap_or_default();
        let sources = orchestrator_provider::source::paths::sources_for_paths(paths, &cwd);
        layers.flag("sources", "PATH", serde_json::Value::Array(sources));
    }
    if let Some(f) = format {
        let name = match f {
            FormatArg::Yaml => Format::Yaml,
            FormatArg::Json => Format::Json,
        };
        let text = if name == Format::Json { "json" } else { "yaml" };
        layers.flag("export.format", "--format", serde_json::json!(text));
    }
    layers.build()
}
