//! Diagnostics: what went wrong with which file and which workflow, one line each, with any
//! control character escaped.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem found while reading or mapping workflows. It never stops the run: the file or
/// workflow it names is skipped (an error) or published without what failed (a warning).
/// `file` and `message` hold no control character (they are escaped when the diagnostic is
/// made, and again when it is printed), so every channel (stderr, logs, `/status`) can show them
/// as they are; `workflow_id` is the id as written, printed with Rust's escapes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file concerned, relative to its source root (or a URL for remote sources).
    pub file: String,
    /// The 1-based line in `file`, when the diagnostic knows it (a syntax error).
    pub line: Option<u64>,
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
            file: Escaped(&file.into()).to_string(),
            line: None,
            workflow_id: workflow_id.map(str::to_owned),
            message: Escaped(&one_line(&message.into())).to_string(),
        }
    }
}

impl Diagnostic {
    /// The same diagnostic, at `line` of its file.
    pub fn at_line(mut self, line: Option<u64>) -> Self {
        self.line = line;
        self
    }

    /// A GitHub Actions workflow command (`::error file=…,line=…::…`), which GitHub shows as an
    /// annotation on the file. `file` must be relative to the repository root.
    pub fn github_annotation(&self) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut properties = format!("file={}", escape_property(&self.file));
        if let Some(line) = self.line {
            properties.push_str(&format!(",line={line}"));
        }
        properties.push_str(",title=orchestrator-provider check");
        let message = match &self.workflow_id {
            Some(id) => format!("workflow {id:?}: {}", self.message),
            None => self.message.clone(),
        };
        format!("::{level} {properties}::{}", escape_data(&message))
    }
}

/// GitHub's escaping of a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of a workflow command's property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Diagnostics are printed one per line: fold any newline a library put into its message.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text as a terminal may show it: control characters (a file name or a reference may hold ESC
/// or BEL) are written as `\u{1b}`, so no escape sequence from a workflow repository reaches a
/// terminal or a CI log raw.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", Escaped(&self.file))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(id) = &self.workflow_id {
            write!(f, ": workflow {id:?}")?;
        }
        write!(f, ": {}", Escaped(&self.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_when_printed() {
        let d = Diagnostic::warning(
            "flows/\u{1b}[2Jw.sw.yaml",
            Some("a\u{7}"),
            "input schema `s\u{1b}[31m.json`: not found",
        );
        assert!(!d.file.chars().any(char::is_control) && !d.message.chars().any(char::is_control));
        let shown = d.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(
            shown,
            r#"warning: flows/\u{1b}[2Jw.sw.yaml: workflow "a\u{7}": input schema `s\u{1b}[31m.json`: not found"#
        );
    }

    #[test]
    fn a_github_annotation_names_the_file_and_line_and_escapes_what_github_reads() {
        let d = Diagnostic::error("flows/a,b.sw.yaml", Some("order"), "100% wrong: fix it")
            .at_line(Some(3));
        assert_eq!(
            d.github_annotation(),
            "::error file=flows/a%2Cb.sw.yaml,line=3,title=orchestrator-provider check::workflow \"order\": 100%25 wrong: fix it"
        );
        let w = Diagnostic::warning("x.sw.json", None, "no form");
        assert_eq!(
            w.github_annotation(),
            "::warning file=x.sw.json,title=orchestrator-provider check::no form"
        );
        assert_eq!(
            d.to_string(),
            "error: flows/a,b.sw.yaml:3: workflow \"order\": 100% wrong: fix it"
        );
    }
}
