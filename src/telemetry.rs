//! Logs and metrics: tracing set up as text or JSON, the Prometheus recorder, and the metric
//! names in one place so that dashboards and code agree.

use std::time::{SystemTime, UNIX_EPOCH};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LoggingConfig};

pub const SYNC_DURATION: &str = "orchestrator_provider_sync_duration_seconds";
pub const SYNCS: &str = "orchestrator_provider_syncs_total";
pub const WORKFLOWS: &str = "orchestrator_provider_workflows";
pub const TEMPLATES_PUBLISHED: &str = "orchestrator_provider_templates_published";
pub const CATALOG_CALLS: &str = "orchestrator_provider_catalog_calls_total";
pub const ERRORS: &str = "orchestrator_provider_errors_total";
pub const LAST_SUCCESS: &str = "orchestrator_provider_last_success_timestamp_seconds";
pub const CATALOG_CHANGES: &str = "orchestrator_provider_catalog_changes_total";
/// Failed reads of a source, by source and kind (`unreachable`, `auth`, `timeout`...).
pub const SOURCE_FAILURES: &str = "orchestrator_provider_source_failures_total";
/// 1 for the commit a git source is at (0 for the commits it was at before).
pub const SOURCE_REVISION: &str = "orchestrator_provider_source_commit_info";
/// Webhook deliveries, by forge and outcome (`push`, `ignored`, `bad_signature`...).
pub const WEBHOOKS: &str = "orchestrator_provider_webhooks_total";
/// CloudEvents received on `POST /events`, by outcome (`accepted`: a definition event,
/// `instance`: an instance event or group, `ignored`, `malformed`, `unauthorized`).
pub const EVENTS: &str = "orchestrator_provider_cloudevents_total";
/// Workflow instances started, by `workflow` (a published workflow id, or `other`).
pub const INSTANCES_STARTED: &str = "orchestrator_provider_workflow_instances_started_total";
/// Workflow instances completed (state event `eventType` 2, state 2), by `workflow`.
pub const INSTANCES_COMPLETED: &str = "orchestrator_provider_workflow_instances_completed_total";
/// Workflow instances aborted (state event `eventType` 2, state 3), by `workflow`.
pub const INSTANCES_ABORTED: &str = "orchestrator_provider_workflow_instances_aborted_total";
/// Workflow instance failures (`ProcessInstanceErrorDataEvent`s), by `workflow`.
pub const INSTANCES_FAILED: &str = "orchestrator_provider_workflow_instances_failed_total";
/// Instances whose start this daemon saw and whose end it has not, by `workflow`.
pub const INSTANCES_ACTIVE: &str = "orchestrator_provider_workflow_instances_active";
/// Start to end of the instances whose start and end this daemon saw, by `workflow`.
pub const INSTANCE_DURATION: &str = "orchestrator_provider_workflow_instance_duration_seconds";
/// Instance events by outcome (`counted`, `duplicate`, `not_counted`, `kogito_1x`).
pub const INSTANCE_EVENTS: &str = "orchestrator_provider_workflow_instance_events_total";
/// Started instances no longer tracked because `events.maxTrackedInstances` were.
pub const INSTANCES_EVICTED: &str = "orchestrator_provider_workflow_instances_evicted_total";

/// Buckets of [`INSTANCE_DURATION`], in seconds: workflows run from a fraction of a second to days.
pub const INSTANCE_DURATION_BUCKETS: [f64; 11] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0,
];
/// Reads of a Data Index (`source` = its name); a read is one request per page.
pub const DATA_INDEX_READS: &str = "orchestrator_provider_data_index_reads_total";
/// Calls to workflow services' management endpoint for input schemas.
pub const SCHEMA_CALLS: &str = "orchestrator_provider_workflow_service_calls_total";
/// Seconds the sync cycle in flight has been running; 0 between cycles. Set when scraped.
pub const CYCLE_IN_FLIGHT: &str = "orchestrator_provider_cycle_in_flight_seconds";
/// Removals the delete guard (or the wait for sources not read yet) holds.
pub const DELETIONS_HELD: &str = "orchestrator_provider_deletions_held";
/// Unix time since which `what` (`catalog`, `source:<name>`) has failed without a success in
/// between; 0 while it is not failing (or has not been tried yet).
pub const FAILING_SINCE: &str = "orchestrator_provider_failing_since_timestamp_seconds";

/// The label values each labelled series can take, so that every series exists from the start
/// (a counter born at its first increment loses that increment to `increase()`, and a series that
/// does not exist yet cannot be alerted on). Each producer's unit tests check its values are here.
pub mod labels {
    /// `catalog_calls_total{op}`.
    pub const CATALOG_OPS: &[&str] = &[
        "validate-entity",
        "register-dry-run",
        "register",
        "list-locations",
        "delete-location",
        "refresh",
        "get-entity",
        "delete-entity",
        "query-entities",
    ];
    /// `catalog_calls_total{outcome}`: `ok` or a catalog error's label.
    pub const CATALOG_OUTCOMES: &[&str] = &[
        "ok",
        "unreachable",
        "unauthorized",
        "server_error",
        "rejected",
        "decode",
        "cycle_timeout",
    ];
    /// `catalog_changes_total{action}`.
    pub const CATALOG_ACTIONS: &[&str] = &["added", "updated", "removed", "conflict"];
    /// `errors_total{kind}` besides `catalog_<outcome>` for every failing catalog outcome.
    pub const ERROR_KINDS: &[&str] = &["workflow", "source_read", "source_empty", "deletes_held"];
    /// `syncs_total{reason}`.
    pub const SYNC_REASONS: &[&str] = &[
        "start",
        "schedule",
        "manual",
        "cloudevent",
        "webhook",
        "file change",
    ];
    /// `cloudevents_total{outcome}`.
    pub const EVENT_OUTCOMES: &[&str] = &[
        "accepted",
        "instance",
        "ignored",
        "malformed",
        "unauthorized",
    ];
    /// `webhooks_total{outcome}`: a delivery's outcome or a webhook error's kind.
    pub const WEBHOOK_OUTCOMES: &[&str] = &[
        "push",
        "ignored",
        "missing_signature",
        "malformed_signature",
        "bad_signature",
        "invalid_payload",
    ];
    /// `source_failures_total{kind}` of a folder (and of a reader that panicked).
    pub const DIR_FAILURES: &[&str] = &["source_read", "panic"];
    /// `source_failures_total{kind}` of a git repository.
    pub const GIT_FAILURES: &[&str] = &[
        "unreachable",
        "auth",
        "ref_not_found",
        "timeout",
        "corrupt_cache",
        "tree",
        "other",
        "panic",
    ];
    /// `source_failures_total{kind}` of a Data Index.
    pub const DATA_INDEX_FAILURES: &[&str] = &[
        "unreachable",
        "timeout",
        "http",
        "graphql",
        "no_data",
        "invalid_response",
        "unsupported",
        "request",
    ];
}

/// What the daemon runs with, for [`register_series`].
#[derive(Debug, Default)]
pub struct Series {
    /// Each source's name, its failure kinds (from [`labels`]) and whether it is a Data Index.
    pub sources: Vec<(String, &'static [&'static str], bool)>,
    /// A catalog is kept in step.
    pub catalog: bool,
    /// The forges whose webhook route is configured (`github`, `gitlab`).
    pub forges: Vec<&'static str>,
}

/// Creates every series the daemon can report, at 0, before the first scrape can happen.
/// `last_success_timestamp_seconds` is left out on purpose: 0 would read as a success in 1970.
pub fn register_series(series: &Series) {
    use labels::*;
    for reason in SYNC_REASONS {
        metrics::counter!(SYNCS, "reason" => *reason).increment(0);
    }
    for kind in ERROR_KINDS {
        metrics::counter!(ERRORS, "kind" => *kind).increment(0);
    }
    metrics::gauge!(TEMPLATES_PUBLISHED).set(0.0);
    metrics::gauge!(CYCLE_IN_FLIGHT).set(0.0);
    metrics::gauge!(DELETIONS_HELD).set(0.0);
    let _ = metrics::histogram!(SYNC_DURATION);
    for outcome in EVENT_OUTCOMES {
        metrics::counter!(EVENTS, "outcome" => *outcome).increment(0);
    }
    for forge in &series.forges {
        for outcome in WEBHOOK_OUTCOMES {
            metrics::counter!(WEBHOOKS, "forge" => *forge, "outcome" => *outcome).increment(0);
        }
    }
    for (name, kinds, data_index) in &series.sources {
        metrics::gauge!(WORKFLOWS, "source" => name.clone()).set(0.0);
        metrics::gauge!(FAILING_SINCE, "what" => format!("source:{name}")).set(0.0);
        for kind in *kinds {
            metrics::counter!(SOURCE_FAILURES, "source" => name.clone(), "kind" => *kind)
                .increment(0);
        }
        if *data_index {
            metrics::counter!(DATA_INDEX_READS, "source" => name.clone()).increment(0);
        }
    }
    if series.sources.iter().any(|(_, _, data_index)| *data_index) {
        metrics::counter!(SCHEMA_CALLS).increment(0);
    }
    if series.catalog {
        metrics::gauge!(FAILING_SINCE, "what" => "catalog").set(0.0);
        for op in CATALOG_OPS {
            for outcome in CATALOG_OUTCOMES {
                metrics::counter!(CATALOG_CALLS, "op" => *op, "outcome" => *outcome).increment(0);
            }
        }
        for outcome in &CATALOG_OUTCOMES[1..] {
            metrics::counter!(ERRORS, "kind" => format!("catalog_{outcome}")).increment(0);
        }
        for action in CATALOG_ACTIONS {
            metrics::counter!(CATALOG_CHANGES, "action" => *action).increment(0);
        }
    }
}

/// Sets up logging on stderr. `RUST_LOG`, when set, wins over `logging.level`. Text is coloured
/// only when stderr is a terminal and `NO_COLOR` is not set (<https://no-color.org>): a file,
/// journald or a container log gets plain text.
pub fn init_logging(config: &LoggingConfig) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Whether log text gets colour escapes: on a terminal, unless `NO_COLOR` is set to anything
/// but the empty string.
pub fn use_colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The Prometheus recorder's settings: histogram buckets (the daemon's own durations, and
/// workflow instance durations). Tests build local recorders from it.
pub fn prometheus_builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ])
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(INSTANCE_DURATION.into()),
                &INSTANCE_DURATION_BUCKETS,
            )
        })
        .expect("bucket lists are not empty")
}

/// Installs the global metrics recorder; `None` when one is already installed (tests).
pub fn init_metrics() -> Option<PrometheusHandle> {
    let handle = prometheus_builder().install_recorder().ok()?;
    metrics::describe_histogram!(SYNC_DURATION, "Duration of one sync cycle");
    metrics::describe_counter!(SYNCS, "Sync cycles, by reason");
    metrics::describe_gauge!(WORKFLOWS, "Workflows read per source (last good state)");
    metrics::describe_gauge!(TEMPLATES_PUBLISHED, "Templates currently published");
    metrics::describe_counter!(CATALOG_CALLS, "Catalog API calls by operation and outcome");
    metrics::describe_counter!(ERRORS, "Errors by kind");
    metrics::describe_gauge!(
        LAST_SUCCESS,
        "Unix time of the last success, by what succeeded"
    );
    metrics::describe_counter!(CATALOG_CHANGES, "Catalog changes made, by action");
    metrics::describe_counter!(
        INSTANCES_STARTED,
        "Workflow instances started (state event eventType 1), by published workflow id"
    );
    metrics::describe_counter!(
        INSTANCES_COMPLETED,
        "Workflow instances completed (eventType 2, state 2), by published workflow id"
    );
    metrics::describe_counter!(
        INSTANCES_ABORTED,
        "Workflow instances aborted (eventType 2, state 3), by published workflow id"
    );
    metrics::describe_counter!(
        INSTANCES_FAILED,
        "Workflow instance errors (ProcessInstanceErrorDataEvent), by published workflow id"
    );
    metrics::describe_gauge!(
        INSTANCES_ACTIVE,
        "Instances whose start this daemon saw and whose end it has not"
    );
    metrics::describe_histogram!(
        INSTANCE_DURATION,
        "Start to end of instances whose start and end this daemon saw"
    );
    metrics::describe_counter!(INSTANCE_EVENTS, "Workflow instance events, by outcome");
    metrics::describe_counter!(
        INSTANCES_EVICTED,
        "Started instances no longer tracked because events.maxTrackedInstances were"
    );
    metrics::describe_gauge!(
        CYCLE_IN_FLIGHT,
        "Seconds the sync cycle in flight has been running; 0 between cycles"
    );
    metrics::describe_gauge!(DELETIONS_HELD, "Removals the delete guard holds");
    metrics::describe_gauge!(
        FAILING_SINCE,
        "Unix time since which `what` has failed without a success; 0 when it is not failing"
    );
    Some(handle)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// RFC 3339 UTC timestamp of a Unix time, for `/status`.
pub fn rfc3339(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let millis = ((unix - secs as f64) * 1000.0) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    /// The string literals that follow `label => ` in a source file.
    fn literals<'a>(source: &'a str, label: &str) -> Vec<&'a str> {
        source
            .split(&format!("\"{label}\" => \""))
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[test]
    fn every_label_value_written_in_the_crate_is_registered_at_start() {
        use super::labels::*;
        let files = [
            include_str!("sync/mod.rs"),
            include_str!("sync/sources.rs"),
            include_str!("sync/desired.rs"),
            include_str!("sync/publisher.rs"),
            include_str!("sink/serve/mod.rs"),
            include_str!("sink/serve/documents.rs"),
            include_str!("sink/serve/triggers.rs"),
            include_str!("sink/serve/shared.rs"),
            include_str!("sink/serve/connections.rs"),
            include_str!("sink/catalog_sync.rs"),
        ];
        // `errors_total{kind}` also counts `catalog_<outcome>` for each failing catalog outcome.
        let catalog_kinds: Vec<String> = CATALOG_OUTCOMES[1..]
            .iter()
            .map(|o| format!("catalog_{o}"))
            .collect();
        let kinds: Vec<&str> = ERROR_KINDS
            .iter()
            .copied()
            .chain(catalog_kinds.iter().map(String::as_str))
            .collect();
        let mut seen = 0;
        for file in files {
            for (label, allowed) in [
                ("kind", &kinds[..]),
                ("outcome", &[EVENT_OUTCOMES, WEBHOOK_OUTCOMES].concat()[..]),
                ("action", CATALOG_ACTIONS),
            ] {
                for value in literals(file, label) {
                    seen += 1;
                    assert!(allowed.contains(&value), "{label}={value} is not in labels");
                }
            }
        }
        assert!(seen >= 10, "the scan found only {seen} label values");
        // The reasons a cycle runs for: the schedule's and the triggers'.
        let schedule = include_str!("sync/schedule.rs");
        for reason in schedule
            .split("(\"")
            .skip(1)
            .filter_map(|r| r.split('"').next())
        {
            assert!(
                SYNC_REASONS.contains(&reason),
                "reason {reason} is not in labels"
            );
        }
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(super::use_colour(true, None));
        assert!(super::use_colour(true, Some(OsStr::new(""))));
        assert!(!super::use_colour(true, Some(OsStr::new("1"))));
        assert!(!super::use_colour(false, None));
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(super::rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_795_651_200.5), "2026-11-26T00:00:00.500Z");
        assert_eq!(super::rfc3339(951_782_400.0), "2000-02-29T00:00:00.000Z");
    }
}
