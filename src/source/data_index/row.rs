//! One `ProcessDefinition` row, as the Data Index lists it.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::workflow::Availability;

/// One `ProcessDefinition` row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deployment {
    pub id: String,
    pub version: Option<String>,
    pub name: Option<String>,
    /// `type`: `SW` for a Serverless Workflow.
    pub kind: Option<String>,
    pub endpoint: Option<String>,
    pub service_url: Option<String>,
    /// 10.0.0+.
    pub description: Option<String>,
    /// 10.0.0+; a set on the server: order is not meaningful.
    pub annotations: Vec<String>,
    /// 10.0.0+: the runtime's process metadata, plus `status` from the operator.
    pub metadata: Option<Value>,
    /// The definition text, only for rows the caller did not already know (`None` otherwise,
    /// or when the Data Index could not get it: see `source_error`).
    pub source: Option<String>,
    /// Why `source` is missing although it was asked for.
    pub source_error: Option<String>,
}

impl Deployment {
    /// `Unavailable` when `metadata.status` is `"unavailable"`, else `Available` (releases and
    /// operators that do not set a status report what is deployed).
    pub fn availability(&self) -> Availability {
        let status = self
            .metadata
            .as_ref()
            .and_then(|m| m.get("status"))
            .and_then(Value::as_str);
        match status {
            Some(s) if s.trim().eq_ignore_ascii_case("unavailable") => Availability::Unavailable,
            _ => Availability::Available,
        }
    }

    /// Lowercase hex SHA-256 of `source`, when the row carries it.
    pub fn source_sha256(&self) -> Option<String> {
        self.source
            .as_ref()
            .map(|s| hex::encode(Sha256::digest(s.as_bytes())))
    }

    pub(super) fn key(&self) -> (String, Option<String>) {
        (self.id.clone(), self.version.clone())
    }
}
