//! A webhook delivery: the signature header (before the first `0xFF`) and the body (after it),
//! through GitHub's and GitLab's verification and push parsing. A body signed with the secret
//! always verifies; a header that is not that signature never does.
#![no_main]

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use orchestrator_provider::webhook::{
    parse_github_push, parse_gitlab_push, verify_github_signature, verify_gitlab_token,
};
use orchestrator_provider_fuzz::split;
use sha2::Sha256;

const SECRET: &[u8] = b"fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let (header, body) = split(data);
    let header = String::from_utf8_lossy(header);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(body);
    let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert!(verify_github_signature(SECRET, body, Some(&good)).is_ok());
    let claimed = verify_github_signature(SECRET, body, Some(&header)).is_ok();
    if claimed {
        assert_eq!(
            header.trim().to_ascii_lowercase(),
            good,
            "a wrong signature verified"
        );
    }
    assert_eq!(
        verify_gitlab_token(SECRET, Some(&header)).is_ok(),
        header.as_bytes() == SECRET
    );
    if let Ok(push) = parse_github_push(body) {
        let _ = format!("{push:?}");
    }
    if let Ok(push) = parse_gitlab_push(body) {
        let _ = format!("{push:?}");
    }
});
