//! `orchestrator-provider run`: the HTTP server and the sync loop, started together and stopped
//! together on SIGTERM or SIGINT (new work stops, a sync in flight gets a bounded grace period,
//! the server drains, the process exits 0).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::instances::InstanceMetrics;
use crate::secrets;
use crate::sink::serve::connections::{self, Limits};
use crate::sink::serve::{Shared, router};
use crate::sync::Daemon;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address} (`server.listen`): {reason}")]
    Listen { address: String, reason: String },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

pub async fn run(
    config: Config,
    catalog_token: Option<String>,
    trigger_token: Option<String>,
) -> Result<(), StartError> {
    let metrics = crate::telemetry::init_metrics();
    let base = config.server.base_url();
    // One slot: triggers arriving while one is pending coalesce into it.
    let (trigger_tx, trigger_rx) = mpsc::channel(1);
    let mut shared = Shared::new(
        base.clone(),
        config.catalog.shards,
        trigger_tx,
        trigger_token,
        metrics,
    );
    shared.webhooks = secrets::webhook_secrets(&config)?;
    shared.events_token = secrets::events_token(&config)?;
    shared.diagram_cache = std::sync::Mutex::new(crate::sink::diagrams::Cache::new(
        config.diagrams.cache_bytes,
    ));
    shared.instances = InstanceMetrics::new(crate::instances::Limits {
        dedup_window: config.events.dedup_window.duration(),
        dedup_max_events: config.events.dedup_max_events,
        max_tracked_instances: config.events.max_tracked_instances,
    });
    shared.forced_sync_min_interval = config.sync.trigger_min_interval.duration();
    let shared = Arc::new(shared);
    let daemon = Daemon::new(config.clone(), shared.clone(), catalog_token)?;
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .map_err(|e| StartError::Listen {
            address: config.server.listen.clone(),
            reason: e.to_string(),
        })?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let app = router(shared.clone());
    let limits = Limits {
        max_connections: config.server.max_connections,
        header_read_timeout: config.server.header_read_timeout.duration(),
        idle_timeout: config.server.idle_timeout.duration(),
        body_read_timeout: config.server.body_read_timeout.duration(),
    };
    let server = tokio::spawn(connections::serve(
        listener,
        app,
        limits,
        shutdown_rx.clone(),
    ));
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received, shutting down");
        let _ = shutdown_tx.send(true);
    });

    // With sources configured, state is written (git clones; without a catalog, what is
    // published): say where, since it defaults to a folder outside the working directory.
    let state = (!config.sources.is_empty()).then(|| config.state_dir.display().to_string());
    match &config.catalog.base_url {
        Some(url) => {
            let state = state.as_deref().unwrap_or("-");
            tracing::info!(catalog = %url, base = %base, state_dir = %state, "keeping the catalog in step")
        }
        None => {
            eprintln!(
                "Serving templates at {base}/catalog/index.yaml\nNo catalog is configured (`catalog.baseUrl`): register that URL once in Backstage as a url location\n  (Backstage's `backend.reading.allow` must list this host and port, and `catalog.rules` must allow Template and Location)."
            );
            if let Some(state) = &state {
                eprintln!(
                    "What is published is remembered across restarts in {state}/published.jsonl (`stateDir`)"
                );
            }
        }
    }
    daemon.run(trigger_rx, shutdown_rx).await;
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(_) => {}
        Err(_) => tracing::warn!("HTTP server did not drain within 5 s"),
    }
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
