//! Keeping secrets out of what the daemon shows: one mechanism for all upstream text.
//!
//! Every secret the daemon reads (the catalog token, Data Index tokens, git tokens and URL
//! passwords, webhook secrets, the events and sync trigger tokens) is [`register`]ed when it is
//! read. [`text`] then takes out of any text, before it becomes part of an error:
//! - every registered secret, as written and in the forms an echo may carry it: base64 (a
//!   `Basic` header, with and without padding), percent-encoded, JSON-escaped, and the base64 of
//!   each `user:secret` pair the daemon sends as Basic credentials ([`register_basic`]);
//! - the `user:password@` of every URL in it.
//!
//! It is applied where upstream text enters the daemon's error types (a catalog, Data Index or
//! workflow service error body, a transport error, a git message), so whatever an error reaches
//! (`/status`, logs, metrics) is already clean.

use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

pub use crate::config::scrub_userinfo;
use crate::workflow::percent_encode_segment;

/// What replaces a secret.
pub const MASK: &str = "***";

/// The forms of every registered secret, longest first (a secret that contains another is
/// replaced whole).
static FORMS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a secret: from now on [`text`] takes it (and its encoded forms) out of any text.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut forms = vec![secret.to_owned()];
    forms.extend(encodings(secret.as_bytes()));
    let escaped = serde_json::to_string(secret).unwrap_or_default();
    forms.push(escaped[1..escaped.len().saturating_sub(1)].to_owned());
    forms.push(percent_encode_segment(secret));
    add(forms);
}

/// Registers the Basic credentials `user:secret` (the secret itself is registered too).
pub fn register_basic(user: &str, secret: &str) {
    register(secret);
    if secret.is_empty() {
        return;
    }
    add(encodings(format!("{user}:{secret}").as_bytes()));
}

fn encodings(bytes: &[u8]) -> Vec<String> {
    vec![
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
    ]
}

fn add(new: Vec<String>) {
    let mut forms = FORMS.write().unwrap_or_else(|e| e.into_inner());
    for form in new {
        if !form.is_empty() && !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
}

/// `text` without any registered secret (in any of its forms) and without the userinfo of the
/// URLs it quotes.
pub fn text(text: &str) -> String {
    let mut out = scrub_userinfo(text);
    let forms = FORMS.read().unwrap_or_else(|e| e.into_inner());
    for form in forms.iter() {
        if out.contains(form.as_str()) {
            out = out.replace(form.as_str(), MASK);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_secret_is_taken_out_in_every_form_an_echo_carries() {
        let secret = "redact-test-s3cr3t/+=\"x";
        register(secret);
        register_basic("x-access-token", secret);
        let echoes = [
            format!("Authorization: Bearer {secret}"),
            format!("authorization: Basic {}", STANDARD.encode(secret)),
            STANDARD_NO_PAD.encode(secret),
            format!(
                "Basic {}",
                STANDARD.encode(format!("x-access-token:{secret}"))
            ),
            format!(
                "{{\"authorization\":{}}}",
                serde_json::to_string(secret).unwrap()
            ),
            format!("GET /x?token={}", percent_encode_segment(secret)),
        ];
        for echo in echoes {
            let clean = text(&echo);
            assert!(!clean.contains("s3cr3t"), "{echo} -> {clean}");
            assert!(clean.contains(MASK), "{echo} -> {clean}");
        }
        assert_eq!(text("nothing secret here"), "nothing secret here");
    }

    #[test]
    fn userinfo_is_scrubbed_from_any_text() {
        assert_eq!(
            scrub_userinfo("failed to connect to https://u:tok@host/r.git: refused"),
            "failed to connect to https://***@host/r.git: refused"
        );
        assert_eq!(scrub_userinfo("no url here"), "no url here");
        assert_eq!(scrub_userinfo("http://host/x@y"), "http://host/x@y");
        assert_eq!(
            text("error sending request for url (http://admin:pw@backstage:7007/api)"),
            "error sending request for url (http://***@backstage:7007/api)"
        );
    }
}
