//! Property tests for Backstage names: whatever the ids, the names are valid, stable, and never
//! collide under Backstage's case-insensitive comparison, whatever the input order.

use std::collections::{BTreeSet, HashMap, HashSet};

use orchestrator_provider::entity::{assign_names, is_valid_name, sanitize};
use proptest::prelude::*;

/// Ids of every kind, weighted towards ones that collide once sanitised or lowercased.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[aAbB ._/-]{0,8}",
        "[aA]{50,70}[bB. ]{0,3}",
        "[a-zA-Z0-9 ._éü日$\\{\\}-]{0,80}",
    ]
}

fn distinct_ids() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(id(), 0..24).prop_map(|s| s.into_iter().collect())
}

proptest! {
    #[test]
    fn any_id_sanitises_to_a_valid_name(id in id()) {
        let name = sanitize(&id);
        prop_assert!(is_valid_name(&name), "{id:?} -> {name:?}");
    }

    #[test]
    fn valid_ids_sanitise_to_themselves(id in "[a-zA-Z0-9]{1,10}([-_.][a-zA-Z0-9]{1,10}){0,4}") {
        prop_assert_eq!(sanitize(&id), id);
    }

    #[test]
    fn same_id_gives_same_name(id in id(), others in distinct_ids()) {
        let mut with = others.clone();
        with.push(id.clone());
        let alone = assign_names(&[id.as_str()]);
        prop_assert_eq!(&alone[0], &sanitize(&id));
        let twice = assign_names(&[id.as_str(), id.as_str()]);
        prop_assert_eq!(&twice[0], &twice[1]);
        let refs: Vec<&str> = with.iter().map(String::as_str).collect();
        prop_assert_eq!(assign_names(&refs), assign_names(&refs));
    }

    #[test]
    fn distinct_ids_get_valid_names_distinct_ignoring_case(ids in distinct_ids()) {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let names = assign_names(&refs);
        prop_assert_eq!(names.len(), ids.len());
        let mut seen = HashSet::new();
        for (id, name) in ids.iter().zip(&names) {
            prop_assert!(is_valid_name(name), "{id:?} -> {name:?}");
            prop_assert!(seen.insert(name.to_ascii_lowercase()), "{name:?} given twice in {names:?}");
        }
    }

    #[test]
    fn names_do_not_depend_on_input_order(
        (ids, shuffled) in distinct_ids().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        let map = |ids: &[String]| -> HashMap<String, String> {
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            ids.iter().cloned().zip(assign_names(&refs)).collect()
        };
        prop_assert_eq!(map(&ids), map(&shuffled));
    }

    #[test]
    fn valid_ids_distinct_ignoring_case_keep_their_names(
        ids in prop::collection::btree_set("[a-zA-Z0-9]{1,6}([-_.][a-zA-Z0-9]{1,6}){0,2}", 0..16)
    ) {
        let mut lower = BTreeSet::new();
        let ids: Vec<&str> = ids.iter().map(String::as_str)
            .filter(|id| lower.insert(id.to_ascii_lowercase()))
            .collect();
        let names = assign_names(&ids);
        for (id, name) in ids.iter().zip(&names) {
            prop_assert_eq!(id, name);
        }
    }
}
