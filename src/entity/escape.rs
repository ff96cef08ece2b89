//! Keeping workflow text literal where the Backstage scaffolder evaluates templates.
//!
//! The scaffolder renders nunjucks (with `${{` and `}}` as variable delimiters; `{%` blocks and
//! `{#` comments keep their defaults) in every string of `spec.steps[*].input`, in
//! `spec.steps[*].if` and `each`, and in `spec.output`. Workflow text is full of look-alikes: jq
//! (`${ .x }`), jsonpath (`{{ $.x }}`), unrendered skeletons (`${{ values.workflowId }}`). Copied
//! as is, they would be evaluated (to nothing, or to a template error) when the template runs.
//!
//! The scaffolder does not render `spec.parameters` on the server: the form is a JSON Schema that
//! the frontend shows as written. Parameter strings therefore go through [`in_parameters`], which
//! leaves them as they are; flip [`PARAMETERS_ARE_TEMPLATED`] if that turns out to be wrong.

/// Whether the scaffolder evaluates `${{ }}` in `spec.parameters`. As far as we know it does not
/// (the frontend shows the schema as written, the backend only validates values against it).
pub const PARAMETERS_ARE_TEMPLATED: bool = false;

/// Markers that start template syntax in nunjucks as the scaffolder configures it. `{{` is not
/// one there (the variable start is `${{`), but it is escaped too: it costs nothing and stays
/// right if a renderer with default delimiters ever sees the text.
const MARKERS: [&str; 4] = ["${{", "{{", "{%", "{#"];

/// `s` made safe to place in a string the scaffolder renders: `s` itself when it contains no
/// template marker, otherwise one nunjucks expression whose value is exactly `s`:
/// `${{ "<s with \ and " escaped, newline, CR, tab as \n, \r, \t>" }}`.
///
/// A nunjucks string literal may contain `}}`, `{%` and `${{`: the lexer reads a string to its
/// closing quote. The scaffolder sees a single expression, rewrites it to
/// `${{ ( "..." ) | dump }}` and parses the JSON back, so the result is the string `s`. This was
/// checked against nunjucks 3.2.4 with the scaffolder's rendering code. Newlines are escaped
/// because that rewrite matches `${{(.+)}}` with a `.` that does not cross lines.
pub fn literal(s: &str) -> String {
    if !MARKERS.iter().any(|m| s.contains(m)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 10);
    out.push_str("${{ \"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push_str("\" }}");
    out
}

/// A workflow-derived string placed in `spec.parameters`: the one place that decides whether such
/// strings are escaped (see [`PARAMETERS_ARE_TEMPLATED`]).
pub fn in_parameters(s: &str) -> String {
    if PARAMETERS_ARE_TEMPLATED {
        literal(s)
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_markers_is_unchanged() {
        for s in ["greeting", "${ .name }", "a } b", "100%", "}}", "{ {"] {
            assert_eq!(literal(s), s);
        }
    }

    #[test]
    fn every_marker_triggers_a_string_literal() {
        for s in ["${{ x }}", "{{ $.x }}", "{% if %}", "{# c #}"] {
            let out = literal(s);
            assert!(out.starts_with("${{ \"") && out.ends_with("\" }}"), "{out}");
        }
    }

    #[test]
    fn unrendered_skeleton_id_becomes_an_expression_of_itself() {
        assert_eq!(
            literal("${{ values.workflowId }}"),
            r#"${{ "${{ values.workflowId }}" }}"#
        );
    }

    #[test]
    fn quotes_backslashes_and_line_breaks_are_escaped() {
        assert_eq!(
            literal("{{ \"a\\b\"\n\r\t }}"),
            r#"${{ "{{ \"a\\b\"\n\r\t }}" }}"#
        );
    }

    #[test]
    fn escaped_text_has_no_raw_line_break() {
        assert!(!literal("{% a\nb %}").contains('\n'));
    }

    #[test]
    fn parameters_are_left_as_written() {
        assert_eq!(in_parameters("${{ x }}"), "${{ x }}");
    }
}
