//! Logs and metrics: tracing set up as text or JSON, the Prometheus recorder, and the metric
//! names in one place so that dashboards and code agree.

use std::time::{SystemTime, UNIX_EPOCH};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
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
/// CloudEvents received on `POST /events`, by outcome (`accepted`, `ignored`, `malformed`).
pub const EVENTS: &str = "orchestrator_provider_cloudevents_total";
/// Reads of a Data Index (`source` = its name); a read is one request per page.
pub const DATA_INDEX_READS: &str = "orchestrator_provider_data_index_reads_total";
/// Calls to workflow services' management endpoint for input schemas.
pub const SCHEMA_CALLS: &str = "orchestrator_provider_workflow_service_calls_total";

/// Sets up logging on stderr. `RUST_LOG`, when set, wins over `logging.level`.
pub fn init_logging(config: &LoggingConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Installs the global metrics recorder; `None` when one is already installed (tests).
pub fn init_metrics() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ])
        .ok()?
        .install_recorder()
        .ok()?;
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
    fn rfc3339_formats_known_instants() {
        assert_eq!(super::rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_795_651_200.5), "2026-11-26T00:00:00.500Z");
        assert_eq!(super::rfc3339(951_782_400.0), "2000-02-29T00:00:00.000Z");
    }
}
