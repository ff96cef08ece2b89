//! URLs as they may be shown (in errors, logs, `/status`, metrics): without `user:password@`.
//! Here, not in `crate::redact`, because configuration errors quote values too and this module
//! imports nothing of the crate.

/// A URL without `user:password@`, for names shown in logs, `/status` and metrics.
pub fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// Removes what looks like credentials from text that may quote a URL (a library's error
/// message): the userinfo of every `scheme://user:secret@` becomes `***@`.
pub fn scrub_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            out.push_str("***@");
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_scrubbed_from_a_message_that_quotes_a_url() {
        assert_eq!(
            scrub_userinfo(
                "invalid type: string \"http://admin:pw@host:7007\", expected struct CatalogConfig"
            ),
            "invalid type: string \"http://***@host:7007\", expected struct CatalogConfig"
        );
        assert_eq!(without_userinfo("https://u:p@h/x"), "https://h/x");
    }
}
