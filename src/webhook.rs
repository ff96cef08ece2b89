//! Push webhooks from git forges: checking that a delivery is genuine and reading which
//! repository and ref it concerns.
//!
//! Pure functions over the header values and the body; the HTTP routes, the secrets'
//! configuration and deciding which source to fetch (see
//! [`crate::source::git::GitSource::matches_push`]) live elsewhere. Secrets are compared in
//! constant time, and no error message quotes a secret, a signature or the body.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the delivery has no {header} header; configure the webhook's secret in the forge")]
    MissingSignature { header: &'static str },
    #[error("the {header} header is malformed (expected {expected})")]
    MalformedSignature {
        header: &'static str,
        expected: &'static str,
    },
    #[error(
        "the {header} header does not match the configured secret; the delivery is not from the forge, or the secrets differ"
    )]
    BadSignature { header: &'static str },
    #[error("not a push event payload: {reason}")]
    InvalidPayload { reason: String },
}

impl WebhookError {
    /// A short label, for a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::MissingSignature { .. } => "missing_signature",
            WebhookError::MalformedSignature { .. } => "malformed_signature",
            WebhookError::BadSignature { .. } => "bad_signature",
            WebhookError::InvalidPayload { .. } => "invalid_payload",
        }
    }
}

/// What a push changed, as far as following a repository goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The pushed ref, `refs/heads/main` or `refs/tags/v1`.
    pub git_ref: String,
    /// Every URL the forge gives for the repository (clone, ssh, web), for matching sources.
    pub repository_urls: Vec<String>,
    /// The commit the ref points to after the push (all zeros when the push deleted it).
    pub after: Option<String>,
}

pub const GITHUB_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
pub const GITLAB_TOKEN_HEADER: &str = "X-Gitlab-Token";

/// Checks GitHub's `X-Hub-Signature-256: sha256=<hex>`: the HMAC-SHA256 of the raw body under
/// the webhook's secret, compared in constant time.
pub fn verify_github_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), WebhookError> {
    let header_value = header.ok_or(WebhookError::MissingSignature {
        header: GITHUB_SIGNATURE_HEADER,
    })?;
    let malformed = WebhookError::MalformedSignature {
        header: GITHUB_SIGNATURE_HEADER,
        expected: "sha256=<64 hex digits>",
    };
    let hex_digest = header_value
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| malformed.clone())?;
    let signature = hex::decode(hex_digest).map_err(|_| malformed.clone())?;
    if signature.len() != 32 {
        return Err(malformed);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| WebhookError::BadSignature {
            header: GITHUB_SIGNATURE_HEADER,
        })
}

/// Checks GitLab's `X-Gitlab-Token`, which is the secret itself. Both sides are hashed first so
/// that the comparison takes the same time whatever the lengths.
pub fn verify_gitlab_token(secret: &[u8], header: Option<&str>) -> Result<(), WebhookError> {
    let token = header.ok_or(WebhookError::MissingSignature {
        header: GITLAB_TOKEN_HEADER,
    })?;
    let expected = Sha256::digest(secret);
    let given = Sha256::digest(token.as_bytes());
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature {
            header: GITLAB_TOKEN_HEADER,
        })
    }
}

/// Reads a GitHub `push` event: `ref`, `after`, and `repository.{clone_url, ssh_url, html_url,
/// git_url}`.
pub fn parse_github_push(body: &[u8]) -> Result<Push, WebhookError> {
    let value = parse_object(body)?;
    push_from(
        &value,
        &[(
            "repository",
            &["clone_url", "ssh_url", "html_url", "git_url", "url"],
        )],
        "after",
    )
}

/// Reads a GitLab `Push Hook` or `Tag Push Hook`: `ref`, `checkout_sha` (else `after`), and
/// `project.{git_http_url, git_ssh_url, web_url}` / `repository.{git_http_url, git_ssh_url,
/// homepage}`.
pub fn parse_gitlab_push(body: &[u8]) -> Result<Push, WebhookError> {
    let value = parse_object(body)?;
    let mut push = push_from(
        &value,
        &[
            ("project", &["git_http_url", "git_ssh_url", "web_url"]),
            ("repository", &["git_http_url", "git_ssh_url", "homepage"]),
        ],
        "checkout_sha",
    )?;
    if push.after.is_none() {
        push.after = value["after"].as_str().map(str::to_owned);
    }
    Ok(push)
}

fn parse_object(body: &[u8]) -> Result<Value, WebhookError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| WebhookError::InvalidPayload {
        reason: format!("not JSON ({e})"),
    })?;
    if !value.is_object() {
        return Err(WebhookError::InvalidPayload {
            reason: "not a JSON object".into(),
        });
    }
    Ok(value)
}

fn push_from(
    value: &Value,
    url_fields: &[(&str, &[&str])],
    after_field: &str,
) -> Result<Push, WebhookError> {
    let git_ref = value["ref"]
        .as_str()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| WebhookError::InvalidPayload {
            reason: "it has no `ref` (a ping or another event?)".into(),
        })?
        .to_owned();
    let mut repository_urls: Vec<String> = Vec::new();
    for (object, fields) in url_fields {
        for field in *fields {
            if let Some(url) = value[*object][*field].as_str().filter(|u| !u.is_empty())
                && !repository_urls.iter().any(|u| u == url)
            {
                repository_urls.push(url.to_owned());
            }
        }
    }
    if repository_urls.is_empty() {
        return Err(WebhookError::InvalidPayload {
            reason: "it names no repository URL".into(),
        });
    }
    Ok(Push {
        git_ref,
        repository_urls,
        after: value[after_field].as_str().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_is_a_series_registered_at_start() {
        let errors = [
            WebhookError::MissingSignature { header: "h" },
            WebhookError::MalformedSignature {
                header: "h",
                expected: "e",
            },
            WebhookError::BadSignature { header: "h" },
            WebhookError::InvalidPayload {
                reason: String::new(),
            },
        ];
        for e in errors {
            assert!(
                crate::telemetry::labels::WEBHOOK_OUTCOMES.contains(&e.kind()),
                "{e}"
            );
        }
    }

    use super::*;

    #[test]
    fn githubs_documented_example_signature_verifies() {
        // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
        let secret = b"It's a Secret to Everybody";
        let body = b"Hello, World!";
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(verify_github_signature(secret, body, Some(header)), Ok(()));
        // Upper-case hex is the same signature.
        assert_eq!(
            verify_github_signature(
                secret,
                body,
                Some(&header.to_uppercase().replace("SHA256", "sha256"))
            ),
            Ok(())
        );
    }

    #[test]
    fn a_wrong_missing_or_malformed_github_signature_is_refused() {
        let secret = b"It's a Secret to Everybody";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let err = verify_github_signature(secret, b"Hello, World?", Some(good)).unwrap_err();
        assert_eq!(err.kind(), "bad_signature");
        assert_eq!(
            verify_github_signature(b"other", b"Hello, World!", Some(good))
                .unwrap_err()
                .kind(),
            "bad_signature"
        );
        assert_eq!(
            verify_github_signature(secret, b"x", None)
                .unwrap_err()
                .kind(),
            "missing_signature"
        );
        for bad in ["sha1=abc", "sha256=zz", "sha256=abcd", ""] {
            assert_eq!(
                verify_github_signature(secret, b"x", Some(bad))
                    .unwrap_err()
                    .kind(),
                "malformed_signature",
                "{bad}"
            );
        }
        // The message never quotes what was sent.
        let shown = verify_github_signature(secret, b"x", Some(good))
            .unwrap_err()
            .to_string();
        assert!(
            !shown.contains("757107") && !shown.contains("Secret"),
            "{shown}"
        );
    }

    #[test]
    fn gitlab_tokens_compare_whole() {
        assert_eq!(verify_gitlab_token(b"s3cret", Some("s3cret")), Ok(()));
        for bad in ["s3cre", "s3cret ", "", "S3CRET"] {
            assert_eq!(
                verify_gitlab_token(b"s3cret", Some(bad))
                    .unwrap_err()
                    .kind(),
                "bad_signature"
            );
        }
        assert_eq!(
            verify_gitlab_token(b"s3cret", None).unwrap_err().kind(),
            "missing_signature"
        );
    }

    #[test]
    fn github_push_payloads_are_read() {
        let body = br#"{
          "ref": "refs/heads/main",
          "before": "0000000000000000000000000000000000000000",
          "after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
          "repository": {
            "full_name": "octo/flows",
            "html_url": "https://github.com/octo/flows",
            "git_url": "git://github.com/octo/flows.git",
            "ssh_url": "git@github.com:octo/flows.git",
            "clone_url": "https://github.com/octo/flows.git"
          }
        }"#;
        let push = parse_github_push(body).unwrap();
        assert_eq!(push.git_ref, "refs/heads/main");
        assert_eq!(
            push.after.as_deref(),
            Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246")
        );
        assert_eq!(
            push.repository_urls,
            [
                "https://github.com/octo/flows.git",
                "git@github.com:octo/flows.git",
                "https://github.com/octo/flows",
                "git://github.com/octo/flows.git"
            ]
        );
        let ping = br#"{"zen": "Keep it simple.", "hook_id": 1, "repository": {"clone_url": "x"}}"#;
        assert_eq!(
            parse_github_push(ping).unwrap_err().kind(),
            "invalid_payload"
        );
        assert_eq!(
            parse_github_push(b"not json").unwrap_err().kind(),
            "invalid_payload"
        );
        assert_eq!(
            parse_github_push(b"[1]").unwrap_err().kind(),
            "invalid_payload"
        );
    }

    #[test]
    fn gitlab_push_payloads_are_read() {
        let body = br#"{
          "object_kind": "push",
          "ref": "refs/heads/main",
          "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
          "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
          "project": {
            "web_url": "https://gitlab.example.com/mike/diaspora",
            "git_ssh_url": "git@gitlab.example.com:mike/diaspora.git",
            "git_http_url": "https://gitlab.example.com/mike/diaspora.git"
          },
          "repository": {
            "homepage": "https://gitlab.example.com/mike/diaspora",
            "git_http_url": "https://gitlab.example.com/mike/diaspora.git",
            "git_ssh_url": "git@gitlab.example.com:mike/diaspora.git"
          }
        }"#;
        let push = parse_gitlab_push(body).unwrap();
        assert_eq!(push.git_ref, "refs/heads/main");
        assert_eq!(
            push.after.as_deref(),
            Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7")
        );
        assert_eq!(
            push.repository_urls,
            [
                "https://gitlab.example.com/mike/diaspora.git",
                "git@gitlab.example.com:mike/diaspora.git",
                "https://gitlab.example.com/mike/diaspora"
            ]
        );
        // A deleted branch: no checkout_sha, `after` is zeros.
        let deleted = br#"{"ref": "refs/heads/gone", "after": "0000000000000000000000000000000000000000", "checkout_sha": null,
            "project": {"git_http_url": "https://gitlab.example.com/g/p.git"}}"#;
        let push = parse_gitlab_push(deleted).unwrap();
        assert_eq!(
            push.after.as_deref(),
            Some("0000000000000000000000000000000000000000")
        );
    }
}
