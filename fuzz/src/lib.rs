//! What the fuzz targets share: the archive format multi-file targets read their input in.
//!
//! An archive is `path 0xFE content 0xFF path 0xFE content ...`: neither byte occurs in UTF-8
//! text, so a real file never contains them, and a mutation that adds or removes one still
//! gives an archive.

/// Splits an archive into (path, content) pairs; a part without `0xFE` is skipped.
pub fn unpack(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    data.split(|b| *b == 0xFF)
        .filter_map(|part| {
            let at = part.iter().position(|b| *b == 0xFE)?;
            let path = String::from_utf8_lossy(&part[..at]).trim().to_owned();
            (!path.is_empty()).then(|| (path, part[at + 1..].to_vec()))
        })
        .collect()
}

/// The inverse of [`unpack`].
pub fn pack(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (path, content)) in files.iter().enumerate() {
        if i > 0 {
            out.push(0xFF);
        }
        out.extend(path.as_bytes());
        out.push(0xFE);
        out.extend(content);
    }
    out
}

/// Splits `data` at the first `0xFF`: (before, after); all of it before when there is none.
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// An HTTP request as the CloudEvent targets read it: `name: value` header lines up to the first
/// `0xFF` (lines that are not a valid header are skipped), then the body.
pub fn http_request(data: &[u8]) -> (axum::http::HeaderMap, Vec<u8>) {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};
    let (head, body) = split(data);
    let mut headers = HeaderMap::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    (headers, body.to_vec())
}
