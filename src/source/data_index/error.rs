//! Why a Data Index could not be read: each error names the Data Index (without credentials)
//! and says what to do.

use std::time::Duration;

/// Why a Data Index read failed. Every message names the Data Index and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataIndexError {
    #[error(
        "Data Index {url}: cannot connect ({reason}); check the source's `url` and that the Data Index service is running and reachable from here"
    )]
    Connect { url: String, reason: String },
    #[error(
        "Data Index {url}: no answer within {timeout:?}; the service may be overloaded or slow to fetch `source` from workflow services: raise the source's timeout or lower `pageSize`"
    )]
    Timeout { url: String, timeout: Duration },
    #[error("Data Index {url}: HTTP {status}: {body}; {hint}")]
    Http {
        url: String,
        status: u16,
        body: String,
        hint: &'static str,
    },
    #[error("Data Index {url}: GraphQL error: {}; {}", messages.join("; "), if *validation {
        "the query does not match this Data Index's schema even after introspecting it again: report this with the Data Index version"
    } else {
        "check the Data Index logs"
    })]
    Graphql {
        url: String,
        messages: Vec<String>,
        /// A validation error (the query names something the schema does not have).
        validation: bool,
    },
    #[error(
        "Data Index {url}: answered without data (`{what}` is null) and without an error; check the Data Index logs and its storage"
    )]
    NoData { url: String, what: String },
    #[error(
        "Data Index {url}: the answer is not a GraphQL response ({reason}); check that `url` is the Data Index itself (`/graphql` is appended) and not a proxy or login page; it began with: {snippet}"
    )]
    InvalidResponse {
        url: String,
        reason: String,
        snippet: String,
    },
    #[error(
        "Data Index {url}: an answer is over {limit} bytes, more than a Data Index page should be; lower the source's `pageSize` (each page of rows, and each page of their `source` fields, is one answer)"
    )]
    TooLarge { url: String, limit: usize },
    #[error(
        "Data Index {url}: has no `ProcessDefinitions` query, so it is older than Kogito Data Index 1.44.0; orchestrator-provider needs Data Index 1.44.0 or later (SonataFlow / Apache KIE 10.x recommended): upgrade the Data Index"
    )]
    Unsupported { url: String },
    #[error("Data Index {url}: request failed: {reason}")]
    Request { url: String, reason: String },
}

impl DataIndexError {
    /// A short label, for a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            DataIndexError::Connect { .. } => "unreachable",
            DataIndexError::Timeout { .. } => "timeout",
            DataIndexError::Http { .. } => "http",
            DataIndexError::Graphql { .. } => "graphql",
            DataIndexError::NoData { .. } => "no_data",
            DataIndexError::InvalidResponse { .. } | DataIndexError::TooLarge { .. } => {
                "invalid_response"
            }
            DataIndexError::Unsupported { .. } => "unsupported",
            DataIndexError::Request { .. } => "request",
        }
    }

    /// A GraphQL validation error: the query named a field or argument the server lacks.
    pub fn is_validation(&self) -> bool {
        matches!(
            self,
            DataIndexError::Graphql {
                validation: true,
                ..
            }
        )
    }
}

/// The innermost cause of a transport error, without any secret or URL credentials.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    crate::redact::text(&cause.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_a_series_registered_at_start() {
        let s = String::new;
        let errors = [
            DataIndexError::Connect {
                url: s(),
                reason: s(),
            },
            DataIndexError::Timeout {
                url: s(),
                timeout: Duration::from_secs(1),
            },
            DataIndexError::Http {
                url: s(),
                status: 500,
                body: s(),
                hint: "",
            },
            DataIndexError::Graphql {
                url: s(),
                messages: Vec::new(),
                validation: false,
            },
            DataIndexError::NoData {
                url: s(),
                what: s(),
            },
            DataIndexError::InvalidResponse {
                url: s(),
                reason: s(),
                snippet: s(),
            },
            DataIndexError::Unsupported { url: s() },
            DataIndexError::Request {
                url: s(),
                reason: s(),
            },
        ];
        for e in errors {
            assert!(
                crate::telemetry::labels::DATA_INDEX_FAILURES.contains(&e.kind()),
                "{e}"
            );
        }
    }
}
