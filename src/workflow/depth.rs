//! How deep a JSON value nests, found without recursion.
//!
//! Values from outside (a schema file, a workflow service's answer) are walked recursively by
//! serde, by the form builder and by the YAML writer; each of those is safe only because the
//! value was first checked here against a limit. The check itself must not recurse: it runs on
//! whatever it is given.

use serde_json::Value;

/// Whether objects and lists nest more than `limit` levels in `value` (a scalar is 0 levels,
/// `{}` and `[]` are 1, `{"a": []}` is 2).
pub fn nests_deeper_than(value: &Value, limit: usize) -> bool {
    let mut pending: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((value, above)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        let level = above + 1;
        if level > limit {
            return true;
        }
        pending.extend(children.map(|child| (child, level)));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_count_objects_and_lists() {
        assert!(!nests_deeper_than(&json!("s"), 0));
        assert!(nests_deeper_than(&json!({}), 0));
        assert!(!nests_deeper_than(&json!({"a": [1]}), 2));
        assert!(nests_deeper_than(&json!({"a": [1], "b": [[1]]}), 2));
    }
}
