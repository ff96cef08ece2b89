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
/// Seconds the sync cycle in flight has been running; 0 when idle. Alerts on a cycle stuck in
/// a hung catalog or source read this.
pub const CYCLE_IN_FLIGHT: &str = "orchestrator_provider_cycle_in_flight_seconds";
/// Removals the delete guard holds (or the grace for unread sources); 0 when none.
pub const DELETIONS_HELD: &str = "orchestrator_provider_deletions_held";

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
        "Seconds the sync cycle in flight has been running (0 when idle)"
    );
    metrics::describe_gauge!(
        DELETIONS_HELD,
        "Template removals held by the delete guard (0 when none)"
    );
    metrics::gauge!(CYCLE_IN_FLIGHT).set(0.0);
    metrics::gauge!(DELETIONS_HELD).set(0.0);
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
