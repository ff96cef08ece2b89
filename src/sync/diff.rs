//! `orchestrator-provider diff`: what `run` would add, update and remove in the live catalog,
//! read once and changing nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Config;
use crate::pipeline;
use crate::plan::{DeleteGuard, Entities, Held, Item, plan};
use crate::sink::catalog::{CatalogClient, CatalogError, RetryPolicy};
use crate::sink::catalog_sync::CatalogSync;
use crate::workflow::Diagnostic;

/// What `run` would change in the live catalog, without changing anything.
#[derive(Debug, Default)]
pub struct Diff {
    pub add: Vec<String>,
    pub update: Vec<String>,
    pub remove: Vec<String>,
    pub held: Option<Held>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads the sources once and compares with what the catalog holds under our public URL.
pub async fn diff(config: &Config, catalog_token: Option<String>) -> Result<Diff, CatalogError> {
    let cfg = config.clone();
    let outcome = tokio::task::spawn_blocking(move || pipeline::run(&cfg))
        .await
        .expect("mapping panicked");
    let desired: Entities = outcome
        .templates
        .into_iter()
        .map(|t| (t.metadata.name.clone(), Arc::new(Item::new(t))))
        .collect();
    let mut catalog_hashes = BTreeMap::new();
    if let Some(url) = &config.catalog.base_url {
        let client = CatalogClient::new(url, catalog_token, RetryPolicy::default());
        let mut sync = CatalogSync::new(
            client,
            &config.server.base_url(),
            config.catalog.shards,
            config.catalog.concurrency,
        );
        for (name, value) in sync.adopt().await?.entities {
            let hash = match desired.get(&name) {
                Some(item) if item.json() == value => item.hash.clone(),
                _ => "differs".to_owned(),
            };
            catalog_hashes.insert(name, hash);
        }
    }
    let guard = DeleteGuard {
        max_fraction: config.sync.max_delete_fraction,
        minimum: config.sync.delete_guard_minimum,
    };
    let p = plan(&catalog_hashes, &desired, guard);
    let namespace = &config.templates.namespace;
    let refs = |names: Vec<String>| {
        names
            .into_iter()
            .map(|n| crate::plan::entity_ref(namespace, &n))
            .collect()
    };
    Ok(Diff {
        add: refs(p.add),
        update: refs(p.update),
        remove: refs(p.remove),
        held: p.held,
        diagnostics: outcome.diagnostics,
    })
}
