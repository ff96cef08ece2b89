//! Which row wins among rows with one id: versions as written in the Data Index, compared
//! naturally, then a total order on the rest of what a row says.

use std::cmp::Ordering;

use super::row::Deployment;
use crate::workflow::Availability;

/// Orders two versions as written in the Data Index (`1.0`, `v1.0`, `1_0`, `1.0.0-SNAPSHOT`,
/// `999-SNAPSHOT`, `1.10`...), lowest first:
///
/// 1. a missing or blank version is lowest;
/// 2. a leading `v`/`V` before a digit is ignored (`v1.0` == `1.0`);
/// 3. the text up to the first `-` is the release, the rest a pre-release tag;
/// 4. releases compare part by part, parts split at `.`, `_`, `+` and between digits and
///    letters: numbers numerically (`1.10` > `1.9`), a missing part counts as `0`
///    (`1.0` == `1.0.0`), letters compare as text and rank below any number (`1.0v` < `1.0.0`);
/// 5. for equal releases, one without a pre-release tag is higher (`1.0.0` > `1.0.0-SNAPSHOT`),
///    two tags compare like releases.
pub fn compare_versions(a: Option<&str>, b: Option<&str>) -> Ordering {
    let a = a.map(str::trim).filter(|s| !s.is_empty());
    let b = b.map(str::trim).filter(|s| !s.is_empty());
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            let (ra, pa) = split_release(a);
            let (rb, pb) = split_release(b);
            compare_parts(&parts(ra), &parts(rb)).then_with(|| match (pa, pb) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => compare_parts(&parts(x), &parts(y)),
            })
        }
    }
}

fn split_release(v: &str) -> (&str, Option<&str>) {
    let v = match v.strip_prefix(['v', 'V']) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => v,
    };
    match v.split_once('-') {
        Some((release, tag)) => (release, Some(tag)),
        None => (v, None),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    /// Digits without leading zeros (`"0"` stays `"0"`).
    Number(&'a str),
    Text(&'a str),
}

fn parts(s: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    for piece in s.split(['.', '_', '+']) {
        let mut start = 0;
        let bytes = piece.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                let token = &piece[start..i];
                if bytes[start].is_ascii_digit() {
                    let trimmed = token.trim_start_matches('0');
                    out.push(Part::Number(if trimmed.is_empty() { "0" } else { trimmed }));
                } else {
                    out.push(Part::Text(token));
                }
                start = i;
            }
        }
    }
    out
}

fn compare_parts(a: &[Part<'_>], b: &[Part<'_>]) -> Ordering {
    let zero = Part::Number("0");
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).unwrap_or(&zero);
        let y = b.get(i).unwrap_or(&zero);
        let o = match (x, y) {
            (Part::Number(x), Part::Number(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
            (Part::Number(_), Part::Text(_)) => Ordering::Greater,
            (Part::Text(_), Part::Number(_)) => Ordering::Less,
            (Part::Text(x), Part::Text(y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// The row [`select`] keeps among rows with one id: the greatest by, in order,
/// [`compare_versions`]; then available over unavailable; then a row with `source` over one
/// without, and the greater SHA-256 of `source`; then the version text, the service URL and the
/// endpoint as plain strings. It is a total order on what the rows say, so the choice does not
/// depend on the order the Data Index returned them in.
pub fn compare_rows(a: &Deployment, b: &Deployment) -> Ordering {
    compare_versions(a.version.as_deref(), b.version.as_deref())
        .then_with(|| {
            let rank = |d: &Deployment| d.availability() == Availability::Available;
            rank(a).cmp(&rank(b))
        })
        .then_with(|| a.source_sha256().cmp(&b.source_sha256()))
        .then_with(|| a.version.cmp(&b.version))
        .then_with(|| a.service_url.cmp(&b.service_url))
        .then_with(|| a.endpoint.cmp(&b.endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare_versions(Some(a), Some(b))
    }

    #[test]
    fn versions_compare_naturally() {
        assert_eq!(cmp("1.10", "1.9"), Ordering::Greater);
        assert_eq!(cmp("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(cmp("v1.0", "1.0"), Ordering::Equal);
        assert_eq!(cmp("1_1", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0.0-SNAPSHOT", "1.0.0"), Ordering::Less);
        assert_eq!(cmp("999-SNAPSHOT", "1.0"), Ordering::Greater);
        assert_eq!(cmp("1.0v", "1.0"), Ordering::Less);
        assert_eq!(cmp("0.0.1", "0.1"), Ordering::Less);
        assert_eq!(cmp("01.2", "1.2"), Ordering::Equal);
        assert_eq!(
            cmp("123456789012345678901234567890", "99"),
            Ordering::Greater
        );
        assert_eq!(compare_versions(None, Some("0")), Ordering::Less);
        assert_eq!(compare_versions(Some(" "), None), Ordering::Equal);
    }
}
