//! What makes the sync loop run early: `POST /sync`, `POST /events` (CloudEvents) and the push
//! webhooks; and the bearer tokens that guard them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::shared::{Shared, Trigger};

pub(super) async fn sync(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match &s.trigger_token {
        Some(token) if !bearer_matches(&headers, token) => {
            return (
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required\n",
            )
                .into_response();
        }
        Some(_) => {}
        // Open (no token): anyone who reaches the port could make the daemon re-read every
        // source in a loop; at most one forced re-read per `sync.triggerMinInterval`.
        None => {
            if let Err(wait) = s.forced_sync_allowed(std::time::Instant::now()) {
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, seconds.to_string())],
                    format!(
                        "a forced sync ran less than `sync.triggerMinInterval` ago; retry in {seconds} s (set `sync.triggerTokenEnv` to lift this limit for callers with the token)\n"
                    ),
                )
                    .into_response();
            }
        }
    }
    // A full channel already holds a pending sync: this request is coalesced into it.
    s.force_sync.store(true, Ordering::Release);
    let _ = s.trigger.try_send(Trigger::Manual);
    (StatusCode::ACCEPTED, "sync scheduled\n").into_response()
}

/// `POST /events`: CloudEvents from the SonataFlow runtime or operator (or a broker). A
/// `ProcessDefinitionEvent` makes the next cycle read the Data Index at once and fetch that
/// workflow's definition again; one that names no workflow (or more ids than a Data Index
/// source remembers) makes every definition be fetched again, at most once per
/// `sync.triggerMinInterval` while `/events` is open ([`Shared::full_reread`]). Instance events
/// (alone, batched or grouped) are counted into the instance metrics; other event types are
/// accepted and ignored. A malformed request (one malformed event in it is enough) is refused
/// with 400 and changes nothing.
pub(super) async fn events(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use crate::telemetry::EVENTS;
    if let Some(token) = &s.events_token
        && !bearer_matches(&headers, token)
    {
        metrics::counter!(EVENTS, "outcome" => "unauthorized").increment(1);
        return (
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required\n",
        )
            .into_response();
    }
    let malformed = |message: String| {
        metrics::counter!(EVENTS, "outcome" => "malformed").increment(1);
        (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
    };
    let events = match crate::cloudevent::parse(&headers, &body) {
        Ok(e) => e,
        Err(e) => return malformed(e.to_string()),
    };
    let (definitions, others): (Vec<_>, Vec<_>) =
        events.into_iter().partition(|e| e.is_process_definition());
    let instance_events = others
        .iter()
        .filter(|e| crate::instances::is_instance_event(&e.event_type))
        .count();
    let ignored = others.len() - instance_events;
    // Every instance event is read before anything is counted or scheduled.
    let decoded = match crate::instances::decode(others) {
        Ok(d) => d,
        Err(e) => return malformed(e.to_string()),
    };
    metrics::counter!(EVENTS, "outcome" => "instance").increment(instance_events as u64);
    metrics::counter!(EVENTS, "outcome" => "ignored").increment(ignored as u64);
    metrics::counter!(EVENTS, "outcome" => "accepted").increment(definitions.len() as u64);
    let mut answer = String::new();
    if instance_events + decoded.kogito_1x as usize > 0 {
        let summary = s.instances.apply(decoded, std::time::Instant::now());
        answer.push_str(&format!(
            "instance events: {} counted, {} already seen, {} that count nothing, {} Kogito 1.x ignored\n",
            summary.counted, summary.duplicates, summary.not_counted, summary.kogito_1x
        ));
    }
    if definitions.is_empty() {
        if answer.is_empty() {
            answer.push_str("ignored: not a ProcessDefinitionEvent\n");
        }
        return (StatusCode::ACCEPTED, answer).into_response();
    }
    // An event that names no workflow, or more ids than a Data Index source remembers, makes
    // every definition stale: a full re-read, limited like an open `POST /sync`. Events that
    // name workflows make only those be fetched again, at once.
    let mut everything = false;
    let mut ids = std::collections::BTreeSet::new();
    for e in &definitions {
        match e.workflow_id() {
            Some(id) => {
                ids.insert(id);
            }
            None => everything = true,
        }
    }
    let named = {
        let mut pending = s.pending.lock().expect("pending lock");
        let new = ids
            .iter()
            .filter(|id| !pending.event_ids.contains(**id))
            .count();
        if pending.event_ids.len() + new > crate::source::deployments::MAX_STALE_IDS {
            everything = true;
            false
        } else {
            pending
                .event_ids
                .extend(ids.iter().map(|id| (*id).to_owned()));
            !ids.is_empty()
        }
    };
    let deferred = if everything {
        s.full_reread(s.events_token.is_none())
    } else {
        None
    };
    if named || deferred.is_none() {
        let _ = s.trigger.try_send(Trigger::Event);
        answer.push_str("sync scheduled\n");
    }
    if let Some(wait) = deferred {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        answer.push_str(&format!(
            "a full re-read of the Data Index ran less than `sync.triggerMinInterval` ago: this one is coalesced into the next, in {seconds} s (set `events.tokenEnv` to lift this limit)\n"
        ));
    }
    (StatusCode::ACCEPTED, answer).into_response()
}

/// `POST /webhooks/github`: a delivery signed with `X-Hub-Signature-256`. A `push` makes the
/// next cycle fetch the repositories it concerns (202); `ping` answers 200; other events are
/// accepted and ignored (202). A missing or wrong signature is 401 and fetches nothing.
pub(super) async fn github_webhook(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use crate::webhook::{GITHUB_SIGNATURE_HEADER, parse_github_push, verify_github_signature};
    let Some(secret) = &s.webhooks.github else {
        return (StatusCode::NOT_FOUND, "webhooks.github is not configured\n").into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) =
        verify_github_signature(secret.as_bytes(), &body, header(GITHUB_SIGNATURE_HEADER))
    {
        return webhook_refused("github", &e);
    }
    match header("X-GitHub-Event") {
        Some("ping") => (StatusCode::OK, "pong\n").into_response(),
        Some("push") => webhook_push(&s, "github", parse_github_push(&body)),
        other => webhook_ignored("github", other.unwrap_or("(none)")),
    }
}

/// `POST /webhooks/gitlab`: a delivery carrying the secret in `X-Gitlab-Token`; `Push Hook` and
/// `Tag Push Hook` events as for GitHub.
pub(super) async fn gitlab_webhook(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use crate::webhook::{GITLAB_TOKEN_HEADER, parse_gitlab_push, verify_gitlab_token};
    let Some(secret) = &s.webhooks.gitlab else {
        return (StatusCode::NOT_FOUND, "webhooks.gitlab is not configured\n").into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = verify_gitlab_token(secret.as_bytes(), header(GITLAB_TOKEN_HEADER)) {
        return webhook_refused("gitlab", &e);
    }
    match header("X-Gitlab-Event") {
        Some("Push Hook" | "Tag Push Hook") => webhook_push(&s, "gitlab", parse_gitlab_push(&body)),
        other => webhook_ignored("gitlab", other.unwrap_or("(none)")),
    }
}

fn webhook_refused(forge: &'static str, e: &crate::webhook::WebhookError) -> Response {
    metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "outcome" => e.kind())
        .increment(1);
    tracing::warn!(forge, error = %e, "webhook delivery refused");
    (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response()
}

fn webhook_ignored(forge: &'static str, event: &str) -> Response {
    metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "outcome" => "ignored")
        .increment(1);
    (
        StatusCode::ACCEPTED,
        format!("ignored: {event} is not a push\n"),
    )
        .into_response()
}

fn webhook_push(
    s: &Shared,
    forge: &'static str,
    push: Result<crate::webhook::Push, crate::webhook::WebhookError>,
) -> Response {
    let push = match push {
        Ok(p) => p,
        Err(e) => {
            metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "outcome" => e.kind())
                .increment(1);
            return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response();
        }
    };
    metrics::counter!(crate::telemetry::WEBHOOKS, "forge" => forge, "outcome" => "push")
        .increment(1);
    s.pending.lock().expect("pending lock").pushes.push(push);
    // A full channel already holds a pending cycle, which takes every pending push.
    let _ = s.trigger.try_send(Trigger::Push);
    (StatusCode::ACCEPTED, "fetch scheduled\n").into_response()
}

/// The credentials of `Authorization: Bearer <token>`. The scheme is case-insensitive
/// (RFC 7235 section 2.1: `bearer`, `BEARER` are the same scheme); spaces around the token are
/// not part of it.
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim_matches(' '))
}

/// Whether `Authorization: Bearer <token>` carries `token` (compared in constant time).
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    bearer_token(headers).is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes()))
}

/// Compares secrets without leaking their common prefix through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::http::{HeaderMap, HeaderValue, header};

    use super::{Shared, Trigger, bearer_token};

    #[tokio::test]
    async fn full_rereads_beyond_the_limit_are_coalesced_into_one_when_the_interval_has_passed() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let mut shared = Shared::new("http://x".into(), 1, tx, None, None);
        shared.forced_sync_min_interval = Duration::from_millis(300);
        let shared = Arc::new(shared);
        let event_all = |s: &Shared| std::mem::take(&mut s.pending.lock().unwrap().event_all);

        assert_eq!(shared.full_reread(true), None, "the first is at once");
        assert!(event_all(&shared));
        assert_eq!(rx.try_recv().ok(), Some(Trigger::Event));
        for _ in 0..10 {
            assert!(shared.full_reread(true).is_some(), "deferred");
        }
        assert!(
            !event_all(&shared),
            "nothing more until the interval has passed"
        );
        assert!(rx.try_recv().is_err());
        // One re-read for the ten, once the interval has passed.
        let woken = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
        assert_eq!(woken.ok().flatten(), Some(Trigger::Event));
        assert!(event_all(&shared));
        assert!(rx.try_recv().is_err());
        // Unlimited (`/events` has a token): at once.
        assert_eq!(shared.full_reread(false), None);
        assert!(event_all(&shared));
    }

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR  t0k"] {
            assert_eq!(bearer_token(&with(value)), Some("t0k"), "{value}");
        }
        assert_eq!(bearer_token(&with("Basic dTpw")), None);
        assert_eq!(bearer_token(&with("Bearert0k")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
