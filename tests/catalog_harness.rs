//! Proves the real Backstage catalog harness (tests/support/catalog.rs):
//! start a catalog, serve a Template from a local HTTP server, register it as a
//! url location (dry run, then for real), see it in the catalog, delete it, stop.

#[path = "support/catalog.rs"]
mod catalog;

use std::time::{Duration, Instant};

use axum::{Router, http::header::CONTENT_TYPE, routing::get};
use catalog::Catalog;
use reqwest::StatusCode;

const NAME: &str = "harness-hello";

const TEMPLATE: &str = r#"apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: harness-hello
  title: Harness hello
  annotations:
    orchestrator.test/source: catalog-harness
spec:
  owner: group:default/platform
  type: service
  parameters:
    - title: Basics
      required: [name]
      properties:
        name: { type: string, title: Name }
  steps:
    - id: log
      name: Log
      action: debug:log
      input:
        message: "Hello ${{ parameters.name }}"
"#;

#[tokio::test]
async fn real_catalog_registers_a_served_template() {
    let t_test = Instant::now();
    let Some(cat) = Catalog::start_async().await else {
        return;
    };
    let t_ready = t_test.elapsed();

    // The "daemon": serves the template over HTTP on 127.0.0.1.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route(
        "/templates/harness-hello.yaml",
        get(|| async { ([(CONTENT_TYPE, "application/yaml")], TEMPLATE) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let target = format!("http://127.0.0.1:{port}/templates/harness-hello.yaml");

    // The static token is enforced.
    let res = cat
        .http()
        .get(cat.url("/api/catalog/entities"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Dry run: synchronous, returns the processed entities, stores nothing.
    let (status, body) = cat.register_location(&target, true).await;
    assert_eq!(status, StatusCode::CREATED, "dry run: {body}");
    let entities = body["entities"].as_array().expect("entities[]");
    assert!(
        entities
            .iter()
            .any(|e| e["kind"] == "Template" && e["metadata"]["name"] == NAME),
        "dry run did not return the template: {body}"
    );
    assert!(cat.get_entity("template", "default", NAME).await.is_none());

    // Real registration: asynchronous processing.
    let t_reg = Instant::now();
    let (status, body) = cat.register_location(&target, false).await;
    assert_eq!(status, StatusCode::CREATED, "register: {body}");
    let location_id = body["location"]["id"]
        .as_str()
        .expect("location.id")
        .to_owned();
    let (entity, _) = cat
        .wait_for_entity("template", "default", NAME, Duration::from_secs(20))
        .await;
    let visible = t_reg.elapsed();

    let annotations = &entity["metadata"]["annotations"];
    assert_eq!(annotations["orchestrator.test/source"], "catalog-harness");
    assert_eq!(
        annotations["backstage.io/managed-by-origin-location"],
        format!("url:{target}")
    );
    assert_eq!(entity["spec"]["type"], "service");

    let templates = cat.list_entities("kind=template").await;
    assert!(
        templates.iter().any(|e| e["metadata"]["name"] == NAME),
        "by-query: {templates:?}"
    );
    let locations = cat.locations().await;
    assert!(
        locations
            .iter()
            .any(|l| l["id"] == location_id.as_str() && l["target"] == target.as_str()),
        "locations: {locations:?}"
    );

    // Deleting the location removes its template synchronously.
    assert_eq!(
        cat.delete_location(&location_id).await,
        StatusCode::NO_CONTENT
    );
    let gone = cat
        .wait_for_no_entity("template", "default", NAME, Duration::from_secs(10))
        .await;

    let startup = cat.startup;
    let t_stop = Instant::now();
    drop(cat);
    println!(
        "catalog harness: ready after {:.2} s (start.sh {:.2} s), template visible {:.2} s after register, \
         gone {:.2} s after delete, stop {:.2} s, test total {:.2} s",
        t_ready.as_secs_f64(),
        startup.as_secs_f64(),
        visible.as_secs_f64(),
        gone.as_secs_f64(),
        t_stop.elapsed().as_secs_f64(),
        t_test.elapsed().as_secs_f64()
    );
}
