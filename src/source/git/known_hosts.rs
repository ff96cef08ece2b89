//! OpenSSH `known_hosts` files: is this the key the server should have?
//!
//! Plain host patterns (with `*`, `?` and `!` negation, `[host]:port` for other ports) and
//! hashed entries (`|1|salt|hash`, HMAC-SHA1 as `ssh-keygen -H` writes them) are understood.
//! `@revoked` keys are refused; `@cert-authority` lines are ignored (host certificates are not
//! checked), so a host known only through a CA reads as unknown.

use hmac::{Hmac, Mac};

/// What a known_hosts file says about a host's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// An entry for the host has this key.
    Trusted,
    /// The host has entries, none with this key: the key changed, or a machine in the middle.
    Mismatch,
    /// The key is listed as `@revoked`.
    Revoked,
    /// No entry names the host.
    Unknown,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct KnownHosts {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    revoked: bool,
    hosts: Hosts,
    key: Vec<u8>,
}

#[derive(Debug, Clone)]
enum Hosts {
    /// (negated, pattern)
    Patterns(Vec<(bool, String)>),
    Hashed {
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

impl KnownHosts {
    /// Lines that cannot be read (a truncated key, an unknown hash format) are skipped, as ssh
    /// does.
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let mut revoked = false;
            if first.starts_with('@') {
                match first {
                    "@revoked" => revoked = true,
                    _ => continue, // @cert-authority: not supported
                }
                first = match fields.next() {
                    Some(f) => f,
                    None => continue,
                };
            }
            let (Some(_key_type), Some(key)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some(key) = base64_decode(key) else {
                continue;
            };
            let hosts = if let Some(hashed) = first.strip_prefix("|1|") {
                let Some((salt, hash)) = hashed.split_once('|') else {
                    continue;
                };
                match (base64_decode(salt), base64_decode(hash)) {
                    (Some(salt), Some(hash)) => Hosts::Hashed { salt, hash },
                    _ => continue,
                }
            } else if first.starts_with('|') {
                continue;
            } else {
                Hosts::Patterns(
                    first
                        .split(',')
                        .map(|p| match p.strip_prefix('!') {
                            Some(p) => (true, p.to_ascii_lowercase()),
                            None => (false, p.to_ascii_lowercase()),
                        })
                        .collect(),
                )
            };
            entries.push(Entry {
                revoked,
                hosts,
                key,
            });
        }
        Self { entries }
    }

    /// Judges `key` (the SSH wire-format public key, as the server sent it) for `host:port`.
    pub fn check(&self, host: &str, port: u16, key: &[u8]) -> Verdict {
        let name = if port == 22 {
            host.to_ascii_lowercase()
        } else {
            format!("[{}]:{port}", host.to_ascii_lowercase())
        };
        let mut named = false;
        let mut trusted = false;
        for entry in self.entries.iter().filter(|e| e.hosts.matches(&name)) {
            if entry.revoked {
                if entry.key == key {
                    return Verdict::Revoked;
                }
                continue;
            }
            named = true;
            trusted |= entry.key == key;
        }
        match (trusted, named) {
            (true, _) => Verdict::Trusted,
            (false, true) => Verdict::Mismatch,
            (false, false) => Verdict::Unknown,
        }
    }
}

impl Hosts {
    fn matches(&self, name: &str) -> bool {
        match self {
            Hosts::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            Hosts::Patterns(patterns) => {
                let mut matched = false;
                for (negated, pattern) in patterns {
                    if wildcard(pattern.as_bytes(), name.as_bytes()) {
                        if *negated {
                            return false;
                        }
                        matched = true;
                    }
                }
                matched
            }
        }
    }
}

/// `*` and `?` as in ssh's host patterns.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| wildcard(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && wildcard(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && wildcard(rest, &text[1..]),
    }
}

/// Standard base64 with optional padding (what known_hosts holds).
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s.trim().trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real ed25519 host key (github.com's published one).
    const GH_KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const OTHER_KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK";

    #[test]
    fn base64_round_trips_known_values() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("not base64!").is_none());
    }

    #[test]
    fn plain_patterns_ports_and_negation() {
        let kh = KnownHosts::parse(&format!(
            "# comment\n\ngithub.com,140.82.121.4 ssh-ed25519 {GH_KEY}\n[git.example.com]:2222 ssh-ed25519 {GH_KEY} comment\n*.corp,!evil.corp ssh-ed25519 {GH_KEY}\n"
        ));
        let key = base64_decode(GH_KEY).unwrap();
        let other = base64_decode(OTHER_KEY).unwrap();
        assert_eq!(kh.check("GitHub.com", 22, &key), Verdict::Trusted);
        assert_eq!(kh.check("github.com", 22, &other), Verdict::Mismatch);
        assert_eq!(kh.check("github.com", 2222, &key), Verdict::Unknown);
        assert_eq!(kh.check("git.example.com", 2222, &key), Verdict::Trusted);
        assert_eq!(kh.check("git.example.com", 22, &key), Verdict::Unknown);
        assert_eq!(kh.check("a.corp", 22, &key), Verdict::Trusted);
        assert_eq!(kh.check("evil.corp", 22, &key), Verdict::Unknown);
    }

    #[test]
    fn hashed_entries_and_revoked_keys() {
        // `ssh-keygen -H` of "github.com" with this salt: HMAC-SHA1(salt, "github.com").
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"github.com");
        let hash = mac.finalize().into_bytes();
        let line = format!(
            "|1|{}|{} ssh-ed25519 {GH_KEY}\n@revoked * ssh-ed25519 {OTHER_KEY}\n",
            encode(salt),
            encode(&hash)
        );
        let kh = KnownHosts::parse(&line);
        let key = base64_decode(GH_KEY).unwrap();
        assert_eq!(kh.check("github.com", 22, &key), Verdict::Trusted);
        assert_eq!(kh.check("gitlab.com", 22, &key), Verdict::Unknown);
        let revoked = base64_decode(OTHER_KEY).unwrap();
        assert_eq!(kh.check("github.com", 22, &revoked), Verdict::Revoked);
    }

    fn encode(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
