//! Diagnostics: what went wrong with which file and which workflow, one line each.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem found while reading or mapping workflows. It never stops the run: the file or
/// workflow it names is skipped (an error) or published without what failed (a warning).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file concerned, relative to its source root (or a URL for remote sources).
    pub file: String,
    /// The workflow id, when it is known.
    pub workflow_id: Option<String>,
    /// What is wrong and, where it helps, what to do about it.
    pub message: String,
}

impl Diagnostic {
    pub fn error(
        file: impl Into<String>,
        workflow_id: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, file, workflow_id, message)
    }

    pub fn warning(
        file: impl Into<String>,
        workflow_id: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, file, workflow_id, message)
    }

    fn new(
        severity: Severity,
        file: impl Into<String>,
        workflow_id: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            file: file.into(),
            workflow_id: workflow_id.map(str::to_owned),
            message: one_line(&message.into()),
        }
    }
}

/// Diagnostics are printed one per line: fold any newline a library put into its message.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", self.file)?;
        if let Some(id) = &self.workflow_id {
            write!(f, ": workflow {id:?}")?;
        }
        write!(f, ": {}", self.message)
    }
}
