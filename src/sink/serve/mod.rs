//! The daemon's HTTP server: the entity documents the catalog reads, and the endpoints people
//! and monitoring read.
//!
//! Templates are served as `shards`: `GET /catalog/shard-NN.yaml` is a multi-document YAML of
//! the templates whose name hashes to shard NN, each shard one registered location. That layout
//! was measured against the real catalog as the one with both the fastest cold start and the
//! fastest change (a refresh re-reads one small document). Every document answers 200 with a
//! strong ETag and 304 on `If-None-Match`; a shard that holds nothing (or no longer exists)
//! answers 200 with an empty document, never 404, because a 404 makes the catalog keep stale
//! entities. Before the first snapshot is published, shard URLs answer 503 (nothing is known
//! yet, and an empty answer would make the catalog delete what it holds). `GET /catalog/index.yaml` is a `kind: Location` listing the shards, for registering
//! by hand when no catalog is configured.
//!
//! Parts: `shared` (what the server and the sync loop share), `documents` (the documents and
//! the probes), `triggers` (`POST /sync`, `/events`, the webhooks, and their tokens),
//! `connections` (accepting connections: timeouts, the cap, the probes' reserve).

pub mod connections;
mod documents;
mod shared;
mod triggers;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use shared::{
    InFlight, Pending, ShardDoc, Shared, Trigger, build_shards, names_by_shard, shard_index,
    shard_of, shard_url,
};
pub use triggers::constant_time_eq;

pub fn router(shared: Arc<Shared>) -> Router {
    let webhooks = Router::new()
        .route("/webhooks/github", post(triggers::github_webhook))
        .route("/webhooks/gitlab", post(triggers::gitlab_webhook))
        .layer(axum::extract::DefaultBodyLimit::max(
            shared.webhooks.max_body_bytes,
        ));
    Router::new()
        .merge(webhooks)
        .route("/catalog/index.yaml", get(documents::index))
        .route("/catalog/{file}", get(documents::shard))
        .route("/diagrams/{file}", get(documents::diagram))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(documents::readyz))
        .route("/status", get(documents::status))
        .route("/metrics", get(documents::metrics))
        .route("/sync", post(triggers::sync))
        .route("/events", post(triggers::events))
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use sha2::Sha256;
    use tokio::sync::mpsc;

    use super::*;
    use crate::secrets::WebhookSecrets;

    /// Serves `shared` on a free loopback port; returns the base URL.
    async fn serve(shared: Arc<Shared>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(shared)).await });
        base
    }

    /// `request` with `Authorization: Bearer <token>` when there is a token.
    fn with_token(
        request: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        }
    }

    #[test]
    fn shards_are_stable_and_case_insensitive() {
        assert_eq!(shard_of("Greeting", 32), shard_of("greeting", 32));
        assert!(shard_of("x", 32) < 32);
        assert_eq!(
            shard_index("http://h:1", &shard_url("http://h:1", 7)),
            Some(7)
        );
        assert_eq!(
            shard_index("http://h:1", "http://other/catalog/shard-07.yaml"),
            None
        );
    }

    #[test]
    fn etags_change_with_content_only() {
        assert_eq!(
            ShardDoc::new("a".into()).etag,
            ShardDoc::new("a".into()).etag
        );
        assert_ne!(
            ShardDoc::new("a".into()).etag,
            ShardDoc::new("b".into()).etag
        );
    }

    #[tokio::test]
    async fn documents_answer_503_until_published_then_200_with_etag_and_304() {
        let (tx, mut rx) = mpsc::channel(1);
        let shared = Arc::new(Shared::new(
            "http://x".into(),
            4,
            tx,
            Some("s3cret".into()),
            None,
        ));
        let base = serve(shared.clone()).await;
        let http = reqwest::Client::new();
        let get = |path: &str| http.get(format!("{base}{path}")).send();

        assert_eq!(get("/catalog/shard-01.yaml").await.unwrap().status(), 503);
        assert_eq!(get("/catalog/index.yaml").await.unwrap().status(), 503);
        assert_eq!(get("/readyz").await.unwrap().status(), 503);
        assert_eq!(get("/healthz").await.unwrap().status(), 200);

        let mut shards = build_shards(std::iter::empty(), 4);
        shards[1] = ShardDoc::new("kind: Template\n".into());
        shared.publish(shards, 1).await;
        // As soon as /readyz says ready, /status does too, with the templates it serves.
        assert_eq!(get("/readyz").await.unwrap().status(), 200);
        let status: serde_json::Value = get("/status").await.unwrap().json().await.unwrap();
        assert_eq!(status["ready"], true, "{status}");
        assert_eq!(status["templates"], 1, "{status}");
        let r = get("/catalog/shard-01.yaml").await.unwrap();
        assert_eq!(r.status(), 200);
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(r.text().await.unwrap(), "kind: Template\n");
        let r = http
            .get(format!("{base}/catalog/shard-01.yaml"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304);
        // A shard that holds nothing, or does not exist (any more): empty, never 404.
        for path in ["/catalog/shard-02.yaml", "/catalog/shard-99.yaml"] {
            let r = get(path).await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(r.text().await.unwrap(), "");
        }
        let index = get("/catalog/index.yaml")
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(index.contains("http://x/catalog/shard-01.yaml") && !index.contains("shard-02"));

        // POST /sync wants the token, and coalesces.
        let sync =
            |token: Option<&str>| with_token(http.post(format!("{base}/sync")), token).send();
        assert_eq!(sync(None).await.unwrap().status(), 401);
        assert_eq!(sync(Some("wrong")).await.unwrap().status(), 401);
        assert!(rx.try_recv().is_err());
        assert_eq!(sync(Some("s3cret")).await.unwrap().status(), 202);
        assert_eq!(sync(Some("s3cret")).await.unwrap().status(), 202);
        assert_eq!(rx.try_recv().unwrap(), Trigger::Manual);
        assert!(rx.try_recv().is_err(), "two requests, one pending sync");
        assert!(shared.force_sync.load(Ordering::Acquire));

        // The scheme is case-insensitive (RFC 7235); the token is not.
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            let r = http
                .post(format!("{base}/sync"))
                .header("authorization", format!("{scheme} s3cret"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202, "{scheme}");
        }
        let r = http
            .post(format!("{base}/sync"))
            .header("authorization", "bearer S3CRET")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        // With a token, forced syncs are not rate-limited.
        for _ in 0..5 {
            assert_eq!(sync(Some("s3cret")).await.unwrap().status(), 202);
        }
    }

    #[tokio::test]
    async fn an_open_sync_forces_at_most_one_full_read_per_interval() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut shared = Shared::new("http://x".into(), 4, tx, None, None);
        shared.forced_sync_min_interval = std::time::Duration::from_secs(600);
        let shared = Arc::new(shared);
        let base = serve(shared).await;
        let http = reqwest::Client::new();
        let first = http.post(format!("{base}/sync")).send().await.unwrap();
        assert_eq!(first.status(), 202);
        assert_eq!(rx.try_recv().unwrap(), Trigger::Manual);
        for _ in 0..20 {
            let r = http.post(format!("{base}/sync")).send().await.unwrap();
            assert_eq!(r.status(), 429);
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=600).contains(&retry), "{retry}");
        }
        assert!(rx.try_recv().is_err(), "refused requests trigger nothing");
    }

    #[tokio::test]
    async fn events_accept_the_bearer_scheme_in_any_case() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut shared = Shared::new("http://x".into(), 4, tx, None, None);
        shared.events_token = Some("ev-token".into());
        let base = serve(Arc::new(shared)).await;
        let r = reqwest::Client::new()
            .post(format!("{base}/events"))
            .header("content-type", "application/cloudevents+json")
            .header("authorization", "bearer ev-token")
            .body(r#"{"specversion": "1.0", "id": "1", "source": "s", "type": "ProcessDefinitionEvent"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        assert_eq!(rx.try_recv().unwrap(), Trigger::Event);
    }

    #[test]
    fn constant_time_eq_compares_whole_secrets() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    /// A server with webhook secrets; returns its base URL and the trigger receiver.
    async fn webhook_server(
        max_body_bytes: usize,
    ) -> (String, Arc<Shared>, mpsc::Receiver<Trigger>) {
        let (tx, rx) = mpsc::channel(1);
        let mut shared = Shared::new("http://x".into(), 4, tx, None, None);
        shared.webhooks = WebhookSecrets {
            github: Some("gh-secret".into()),
            gitlab: Some("gl-secret".into()),
            max_body_bytes,
        };
        let shared = Arc::new(shared);
        let base = serve(shared.clone()).await;
        (base, shared, rx)
    }

    fn github_signature(body: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(b"gh-secret").unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[tokio::test]
    async fn webhooks_verify_then_record_pushes() {
        let (base, shared, mut rx) = webhook_server(4096).await;
        let http = reqwest::Client::new();
        let github = |event: &str, body: &str, signature: Option<String>| {
            let mut r = http
                .post(format!("{base}/webhooks/github"))
                .header("X-GitHub-Event", event)
                .body(body.to_owned());
            if let Some(s) = signature {
                r = r.header("X-Hub-Signature-256", s);
            }
            r.send()
        };
        let push = r#"{"ref": "refs/heads/main", "after": "abc", "repository": {"clone_url": "https://github.com/o/r.git"}}"#;
        // Unsigned or wrongly signed: 401, nothing recorded, no trigger.
        assert_eq!(github("push", push, None).await.unwrap().status(), 401);
        let wrong = github_signature("another body");
        assert_eq!(
            github("push", push, Some(wrong)).await.unwrap().status(),
            401
        );
        assert!(rx.try_recv().is_err());
        assert!(shared.pending.lock().unwrap().pushes.is_empty());
        // ping: 200; another event: 202 and ignored; a push: 202, recorded, triggered.
        assert_eq!(
            github("ping", "{}", Some(github_signature("{}")))
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            github("issues", "{}", Some(github_signature("{}")))
                .await
                .unwrap()
                .status(),
            202
        );
        assert!(rx.try_recv().is_err());
        assert_eq!(
            github("push", push, Some(github_signature(push)))
                .await
                .unwrap()
                .status(),
            202
        );
        assert_eq!(rx.try_recv().unwrap(), Trigger::Push);
        let pushes = std::mem::take(&mut shared.pending.lock().unwrap().pushes);
        assert_eq!(pushes.len(), 1);
        assert_eq!(pushes[0].git_ref, "refs/heads/main");
        // A body over the limit: 413.
        let big = "x".repeat(5000);
        let r = github("push", &big, Some(github_signature(&big)))
            .await
            .unwrap();
        assert_eq!(r.status(), 413);

        // GitLab: the token header.
        let gitlab = |token: &str| {
            http.post(format!("{base}/webhooks/gitlab"))
                .header("X-Gitlab-Event", "Push Hook")
                .header("X-Gitlab-Token", token)
                .body(r#"{"ref": "refs/heads/main", "checkout_sha": "abc", "project": {"git_http_url": "https://gitlab.com/o/r.git"}}"#)
                .send()
        };
        assert_eq!(gitlab("wrong").await.unwrap().status(), 401);
        assert_eq!(gitlab("gl-secret").await.unwrap().status(), 202);
        assert_eq!(shared.pending.lock().unwrap().pushes.len(), 1);
    }

    #[tokio::test]
    async fn an_unconfigured_forge_is_not_served() {
        let (tx, _rx) = mpsc::channel(1);
        let shared = Arc::new(Shared::new("http://x".into(), 4, tx, None, None));
        let base = serve(shared).await;
        let r = reqwest::Client::new()
            .post(format!("{base}/webhooks/github"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }

    #[tokio::test]
    async fn events_are_accepted_ignored_or_refused() {
        let (base, shared, mut rx) = webhook_server(4096).await;
        let http = reqwest::Client::new();
        let post = |body: &str| {
            http.post(format!("{base}/events"))
                .header("content-type", "application/cloudevents+json")
                .body(body.to_owned())
                .send()
        };
        assert_eq!(post("{").await.unwrap().status(), 400);
        let other = r#"{"specversion": "1.0", "id": "1", "source": "s", "type": "UserTaskInstanceStateDataEvent"}"#;
        assert_eq!(post(other).await.unwrap().status(), 202);
        assert!(rx.try_recv().is_err(), "nothing to do for other types");
        // An instance event is read (tests/instance_events.rs): one without its body is refused.
        let instance = r#"{"specversion": "1.0", "id": "1", "source": "s", "type": "ProcessInstanceStateDataEvent"}"#;
        assert_eq!(post(instance).await.unwrap().status(), 400);
        let event = r#"{"specversion": "1.0", "id": "1", "source": "s", "type": "ProcessDefinitionEvent", "data": {"id": "greeting"}}"#;
        assert_eq!(post(event).await.unwrap().status(), 202);
        assert_eq!(rx.try_recv().unwrap(), Trigger::Event);
        assert!(
            shared
                .pending
                .lock()
                .unwrap()
                .event_ids
                .contains("greeting")
        );
    }

    #[tokio::test]
    async fn events_can_require_a_token() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut shared = Shared::new("http://x".into(), 4, tx, None, None);
        shared.events_token = Some("ev-token".into());
        let base = serve(Arc::new(shared)).await;
        let event =
            r#"{"specversion": "1.0", "id": "1", "source": "s", "type": "ProcessDefinitionEvent"}"#;
        let post = |token: Option<&str>| {
            let r = reqwest::Client::new()
                .post(format!("{base}/events"))
                .header("content-type", "application/cloudevents+json")
                .body(event);
            with_token(r, token).send()
        };
        assert_eq!(post(None).await.unwrap().status(), 401);
        assert_eq!(post(Some("nope")).await.unwrap().status(), 401);
        assert!(rx.try_recv().is_err());
        assert_eq!(post(Some("ev-token")).await.unwrap().status(), 202);
        assert_eq!(rx.try_recv().unwrap(), Trigger::Event);
    }
}
