//! Control characters in entity text.
//!
//! Workflow files may hold any Unicode, including NUL, ESC and BEL. None of them belongs in a
//! catalog entity: Backstage in production keeps entities in PostgreSQL, which refuses NUL in
//! text, and ESC sequences act on the terminal of whoever prints the entity. Entity text keeps
//! tabs and line breaks and has every other control character (`Cc`: U+0000–U+001F, U+007F,
//! U+0080–U+009F) replaced by U+FFFD, which the mapper reports as a warning.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// What control characters are replaced by.
pub const REPLACEMENT: char = '\u{fffd}';

/// A control character that entity text may not hold (tab, LF and CR are text).
pub fn is_forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// `s` with every forbidden control character replaced by [`REPLACEMENT`]; the ones replaced
/// are added to `found`.
pub fn clean<'s>(s: &'s str, found: &mut BTreeSet<char>) -> Cow<'s, str> {
    if !s.chars().any(is_forbidden) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if is_forbidden(c) {
                    found.insert(c);
                    REPLACEMENT
                } else {
                    c
                }
            })
            .collect(),
    )
}

/// Cleans a string in place; whether it changed.
pub fn clean_in_place(s: &mut String, found: &mut BTreeSet<char>) -> bool {
    match clean(s, found) {
        Cow::Borrowed(_) => false,
        Cow::Owned(cleaned) => {
            *s = cleaned;
            true
        }
    }
}

/// Cleans every string and every object key of a JSON value, without recursion (the value may
/// be as deep as its source allowed); whether anything changed.
pub fn clean_value(value: &mut Value, found: &mut BTreeSet<char>) -> bool {
    let mut changed = false;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(s) => changed |= clean_in_place(s, found),
            Value::Array(items) => pending.extend(items.iter_mut()),
            Value::Object(map) => {
                if map.keys().any(|k| k.chars().any(is_forbidden)) {
                    let old = std::mem::take(map);
                    *map = old
                        .into_iter()
                        .map(|(k, v)| (clean(&k, found).into_owned(), v))
                        .collect::<Map<String, Value>>();
                    changed = true;
                }
                pending.extend(map.values_mut());
            }
            _ => {}
        }
    }
    changed
}

/// `U+0000, U+001B` for a warning.
pub fn describe(found: &BTreeSet<char>) -> String {
    found
        .iter()
        .map(|c| format!("U+{:04X}", *c as u32))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_forbidden_controls_are_replaced() {
        let mut found = BTreeSet::new();
        assert_eq!(clean("a\tb\nc\r", &mut found), "a\tb\nc\r");
        assert!(found.is_empty());
        assert_eq!(
            clean("n\0e\u{1b}[31mb\u{7}d\u{7f}c\u{85}", &mut found),
            "n\u{fffd}e\u{fffd}[31mb\u{fffd}d\u{fffd}c\u{fffd}"
        );
        assert_eq!(describe(&found), "U+0000, U+0007, U+001B, U+007F, U+0085");
    }

    #[test]
    fn values_are_cleaned_in_keys_and_strings() {
        let mut v = json!({"a\u{1b}": ["x\0", {"k": "ok"}], "n": 1});
        let mut found = BTreeSet::new();
        assert!(clean_value(&mut v, &mut found));
        assert_eq!(v, json!({"a\u{fffd}": ["x\u{fffd}", {"k": "ok"}], "n": 1}));
        assert!(!clean_value(&mut v, &mut found));
    }
}
