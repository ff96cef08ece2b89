//! Backstage-safe names and tags.
//!
//! A workflow id is free text (`Valid DataInputSchema`, `${{ values.workflowId }}`, 70 characters,
//! non-ASCII); a Backstage `metadata.name` is not. This module turns ids into names that the catalog
//! accepts, and chooses names for a whole set at once so that no two workflows claim the same
//! entity (Backstage compares names case-insensitively, and a second entity with a taken name is
//! silently ignored by the catalog). It also says which strings are valid Backstage tags.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longest `metadata.name` (and tag) Backstage accepts.
pub const MAX_NAME_LEN: usize = 63;

/// Length kept from the sanitised id before `-<8 hex>`: 54 + 1 + 8 = 63.
const STEM_LEN_WITH_HASH: usize = MAX_NAME_LEN - 9;

/// Stem used when nothing usable is left of an id (`日本語`, `---`, empty).
const EMPTY_STEM: &str = "workflow";

/// Whether `s` is a valid Backstage `metadata.name`: `^[a-zA-Z0-9]+([-_.][a-zA-Z0-9]+)*$`,
/// 1 to 63 characters.
pub fn is_valid_name(s: &str) -> bool {
    is_valid_sequence(
        s,
        |b| b.is_ascii_alphanumeric(),
        |b| matches!(b, b'-' | b'_' | b'.'),
    )
}

/// Whether `s` is a valid Backstage tag: `^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$`, 1 to 63 characters.
pub fn is_valid_tag(s: &str) -> bool {
    is_valid_sequence(s, is_tag_char, |b| b == b'-')
}

fn is_tag_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b':' | b'+' | b'#')
}

/// Runs of `word` bytes separated by single `sep` bytes, not starting or ending with a separator.
fn is_valid_sequence(s: &str, word: impl Fn(u8) -> bool, sep: impl Fn(u8) -> bool) -> bool {
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return false;
    }
    let mut after_word = false;
    for b in s.bytes() {
        if word(b) {
            after_word = true;
        } else if sep(b) && after_word {
            after_word = false;
        } else {
            return false;
        }
    }
    after_word
}

/// Turns any string into a tag, or `None` when nothing usable is left.
///
/// Lowercases ASCII, replaces every run of other characters with one `-`, trims `-` at both ends
/// and shortens to 63 characters. Used for the `workflow-type/<category>` annotation.
pub fn sanitize_tag(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut pending_sep = false;
    for b in lower.bytes() {
        if is_tag_char(b) {
            if pending_sep && !out.is_empty() {
                out.push('-');
            }
            pending_sep = false;
            out.push(char::from(b));
        } else {
            pending_sep = true;
        }
    }
    out.truncate(MAX_NAME_LEN);
    let out = out.trim_end_matches('-');
    (!out.is_empty()).then(|| out.to_owned())
}

/// The id with every run of characters that may not appear in a name replaced by `-`, separators
/// collapsed and trimmed; no length limit. Empty when nothing usable is left.
///
/// A run that is exactly one of `-`, `_`, `.` is kept as written (`custom.greeting`,
/// `token_propagation` stay as they are); any other run becomes a single `-`.
fn stem(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    let mut run: Option<(char, usize)> = None; // (first char, length) of the pending separator run
    for c in id.chars() {
        if c.is_ascii_alphanumeric() {
            if let Some((first, len)) = run.take()
                && !out.is_empty()
            {
                out.push(if len == 1 && matches!(first, '-' | '_' | '.') {
                    first
                } else {
                    '-'
                });
            }
            out.push(c);
        } else {
            run = Some(match run {
                None => (c, 1),
                Some((first, len)) => (first, len + 1),
            });
        }
    }
    out
}

/// The first 8 hex characters of the SHA-256 of `id` (with `round > 0`: of `id`, a newline and
/// `round`, used only to step around a clash).
fn short_hash(id: &str, round: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(id.as_bytes());
    if round > 0 {
        hasher.update(format!("\n{round}").as_bytes());
    }
    hex::encode(&hasher.finalize()[..4])
}

/// `<stem shortened to 54>-<8 hex>`, or `workflow-<8 hex>` for an empty stem.
fn hashed(stem: &str, id: &str, round: u32) -> String {
    let head = if stem.is_empty() {
        EMPTY_STEM
    } else {
        // The stem is ASCII, so byte slicing is on a char boundary.
        stem[..stem.len().min(STEM_LEN_WITH_HASH)].trim_end_matches(['-', '_', '.'])
    };
    format!("{head}-{}", short_hash(id, round))
}

/// A valid Backstage name for one id, on its own (not checked against other ids: see
/// [`assign_names`]).
///
/// Runs of characters a name may not contain (anything but ASCII letters and digits, including
/// whitespace and non-ASCII) become `-`; separators are collapsed and trimmed. When the result is
/// longer than 63 characters, or nothing usable is left, `-` and 8 hex characters of the id's
/// SHA-256 are appended to the first 54 characters (or to `workflow`), so that the name still
/// tells ids apart. A valid name is returned unchanged. A non-ASCII id has its accents folded
/// (`přivítání` -> `privitani`) and always gets the hash.
pub fn sanitize(id: &str) -> String {
    if id.is_ascii() {
        let stem = stem(id);
        return if stem.is_empty() || stem.len() > MAX_NAME_LEN {
            hashed(&stem, id, 0)
        } else {
            stem
        };
    }
    // Accents are folded (`přivítání` -> `privitani`) so the name stays recognisable; other
    // scripts drop out. Either way distinct ids could fold alike, so the hash is always added.
    let folded: String = id.nfd().filter(|c| !is_combining_mark(*c)).collect();
    hashed(&stem(&folded), id, 0)
}

/// Names for a whole set of ids, in input order; distinct ids always get names that differ even
/// when compared case-insensitively, as Backstage compares them.
///
/// The rule, which depends only on the set of ids and never on their order:
///
/// 1. Each id gets [`sanitize`]`(id)`. Ids whose sanitised names are equal after ASCII lowercasing
///    form a colliding group.
/// 2. In a group of one, the id keeps its sanitised name. In a larger group, the id that is itself
///    a valid name and is the smallest by byte order (`Greeting` before `greeting`) keeps its name;
///    every other id (all of them when none is a valid name) gets `<sanitised, first 54>-<8 hex of
///    sha256(id)>`.
/// 3. A hash-suffixed name from step 2 can still clash with a name kept in step 1 or 2 (an id may
///    be spelled exactly like another id's suffixed name). Such ids, taken in byte order, hash
///    again with a round number (`sha256(id + "\n" + n)`, n = 1, 2, ...) until the name is free.
///
/// Equal ids in the input get equal names.
pub fn assign_names(ids: &[&str]) -> Vec<String> {
    let distinct: BTreeSet<&str> = ids.iter().copied().collect();

    // Step 1: group by lowercased sanitised name.
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for &id in &distinct {
        groups
            .entry(sanitize(id).to_ascii_lowercase())
            .or_default()
            .push(id);
    }

    // Step 2: one keeper per group; the others need a suffix. `distinct` is sorted, so each group
    // is too, and its first valid id is the smallest.
    let mut names: BTreeMap<&str, String> = BTreeMap::new();
    let mut suffixed: Vec<&str> = Vec::new();
    for members in groups.values() {
        let keeper = match members.as_slice() {
            [only] => Some(*only),
            _ => members.iter().copied().find(|id| is_valid_name(id)),
        };
        for &id in members {
            if Some(id) == keeper {
                names.insert(id, sanitize(id));
            } else {
                suffixed.push(id);
            }
        }
    }

    // Step 3: suffixed names, in byte order of their ids, avoiding every name already taken.
    let mut taken: HashSet<String> = names.values().map(|n| n.to_ascii_lowercase()).collect();
    suffixed.sort_unstable();
    for id in suffixed {
        let stem = stem(id);
        let name = (0..)
            .map(|round| hashed(&stem, id, round))
            .find(|name| !taken.contains(&name.to_ascii_lowercase()))
            .expect("an unbounded search finds a free name");
        taken.insert(name.to_ascii_lowercase());
        names.insert(id, name);
    }

    ids.iter().map(|id| names[id].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // The configuration checks `templates.namespace` with its own copy of the rule (it
        // imports nothing of the crate); both must accept the same strings.
        #[test]
        fn the_configurations_namespace_rule_is_the_name_rule(s in "[a-zA-Z0-9._\\-]{0,66}|\\PC{0,8}") {
            proptest::prop_assert_eq!(crate::config::is_valid_namespace(&s), is_valid_name(&s));
        }
    }

    #[test]
    fn valid_names_are_accepted() {
        for s in [
            "a",
            "greeting",
            "custom.greeting",
            "a-b_c.d",
            "A1",
            &"x".repeat(63),
        ] {
            assert!(is_valid_name(s), "{s:?}");
        }
    }

    #[test]
    fn invalid_names_are_rejected() {
        for s in [
            "",
            "-a",
            "a-",
            "a--b",
            "a b",
            "é",
            "a/b",
            "a.-b",
            &"x".repeat(64),
        ] {
            assert!(!is_valid_name(s), "{s:?}");
        }
    }

    #[test]
    fn tags_follow_backstage_rules() {
        for s in ["orchestrator", "c++", "a:b", "#x", "a-b"] {
            assert!(is_valid_tag(s), "{s:?}");
        }
        for s in [
            "",
            "Upper",
            "a_b",
            "a.b",
            "a--b",
            "-a",
            "a/b",
            &"x".repeat(64),
        ] {
            assert!(!is_valid_tag(s), "{s:?}");
        }
    }

    #[test]
    fn sanitize_tag_lowercases_and_replaces_runs() {
        assert_eq!(
            sanitize_tag("Infrastructure").as_deref(),
            Some("infrastructure")
        );
        assert_eq!(
            sanitize_tag(" Self Service!").as_deref(),
            Some("self-service")
        );
        assert_eq!(sanitize_tag("日本"), None);
        assert_eq!(sanitize_tag(&"y".repeat(80)).unwrap().len(), 63);
    }

    #[test]
    fn valid_ids_are_kept_as_written() {
        for id in [
            "greeting",
            "Greeting",
            "custom.greeting",
            "token_propagation",
        ] {
            assert_eq!(sanitize(id), id);
        }
    }

    #[test]
    fn runs_of_invalid_characters_become_one_dash() {
        assert_eq!(sanitize("Valid DataInputSchema"), "Valid-DataInputSchema");
        assert_eq!(sanitize("${{ values.workflowId }}"), "values.workflowId");
        assert_eq!(sanitize("a  /  b"), "a-b");
        assert_eq!(sanitize("a__b"), "a-b");
        assert_eq!(sanitize("a._b"), "a-b");
        assert_eq!(sanitize("--a--"), "a");
    }

    #[test]
    fn non_ascii_ids_are_folded_and_always_hashed() {
        let name = sanitize("café-order");
        assert!(
            name.starts_with("cafe-order-") && name.len() == "cafe-order-".len() + 8,
            "{name}"
        );
        assert_ne!(sanitize("café-order"), sanitize("cafe\u{301}-order-x"));
        assert!(sanitize("přivítání-流程").starts_with("privitani-"));
        assert!(sanitize("流程").starts_with("workflow-"));
    }

    #[test]
    fn nothing_usable_left_gives_workflow_and_hash() {
        let name = sanitize("日本語");
        assert_eq!(name, format!("workflow-{}", short_hash("日本語", 0)));
        assert!(is_valid_name(&name));
        assert_ne!(sanitize(""), sanitize("---"));
    }

    #[test]
    fn long_ids_are_shortened_with_hash() {
        let id = "a".repeat(70);
        let name = sanitize(&id);
        assert_eq!(name.len(), 63);
        assert!(name.starts_with(&"a".repeat(54)));
        assert!(name.ends_with(&short_hash(&id, 0)));
        assert!(is_valid_name(&name));
        assert_eq!(sanitize(&"a".repeat(63)), "a".repeat(63));
    }

    #[test]
    fn shortened_stem_does_not_end_with_separator() {
        let id = format!("{}.{}", "a".repeat(53), "b".repeat(20));
        let name = sanitize(&id);
        assert!(is_valid_name(&name), "{name}");
        assert!(name.starts_with(&format!("{}-", "a".repeat(53))));
    }

    #[test]
    fn case_collision_keeps_smallest_valid_id_plain() {
        let names = assign_names(&["greeting", "Greeting"]);
        assert_eq!(names[1], "Greeting");
        assert_eq!(names[0], format!("greeting-{}", short_hash("greeting", 0)));
    }

    #[test]
    fn valid_id_wins_over_id_that_sanitises_to_it() {
        let names = assign_names(&["Valid DataInputSchema", "Valid-DataInputSchema"]);
        assert_eq!(names[1], "Valid-DataInputSchema");
        assert!(names[0].starts_with("Valid-DataInputSchema-"));
    }

    #[test]
    fn group_without_valid_id_suffixes_everyone() {
        let names = assign_names(&["a b", "a  b"]);
        assert!(names.iter().all(|n| n.starts_with("a-b-") && n.len() == 12));
        assert_ne!(names[0], names[1]);
    }

    #[test]
    fn suffixed_name_that_is_another_ids_plain_name_hashes_again() {
        let squatter = format!("greeting-{}", short_hash("greeting", 0));
        let names = assign_names(&["Greeting", "greeting", &squatter]);
        assert_eq!(names[0], "Greeting");
        assert_eq!(names[2], squatter);
        assert_eq!(names[1], format!("greeting-{}", short_hash("greeting", 1)));
    }

    #[test]
    fn long_id_colliding_with_its_own_shortened_name_hashes_again() {
        let long = "b".repeat(70);
        let plain = sanitize(&long);
        let names = assign_names(&[&long, &plain]);
        assert_eq!(names[1], plain);
        assert_ne!(names[0].to_ascii_lowercase(), plain.to_ascii_lowercase());
        assert!(is_valid_name(&names[0]));
    }

    #[test]
    fn equal_ids_get_equal_names() {
        let names = assign_names(&["x", "x", "X"]);
        assert_eq!(names[0], names[1]);
        assert_ne!(names[0], names[2]);
    }
}
