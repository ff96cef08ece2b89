//! Reading an upstream answer with a bound on its size. A Data Index or workflow service (or
//! whoever sits on the network to it) could otherwise make the daemon hold whatever it sends
//! within the source's timeout: on loopback speeds that is gigabytes, more than a pod's memory.

/// Why an answer's body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// The body is longer than the limit (said by `Content-Length`, or found while reading).
    TooLarge,
    /// The connection failed or timed out while reading.
    Transport(reqwest::Error),
}

/// Reads `response`'s body, refusing it as soon as it passes `limit` bytes: a `Content-Length`
/// over the limit is refused before anything is read, a chunked body once it has passed it.
pub async fn read(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
