//! The plan: what must change to go from what is published to what is desired.
//!
//! Pure: entities are compared by the hash of their YAML, so a cycle in which nothing changed
//! plans nothing, and nothing is written to the catalog. A plan that would remove more than a
//! configured fraction of what is published holds its removals (a source that suddenly lost most
//! of its workflows is more likely broken than emptied on purpose).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::entity::{self, Template};

/// One entity as the daemon publishes it: its YAML document as served, and what identifies
/// it. The [`Template`] it was rendered from is not kept: the daemon may hold 100 000 of these,
/// and the document is what is served, hashed and compared; the entity as JSON (for validation
/// and adoption) is read back from the document when needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    name: Box<str>,
    namespace: Box<str>,
    /// `orchestrator.io/workflow-id`, when known (a state file of an older version lacks it).
    workflow_id: Option<Box<str>>,
    /// The entity's YAML document, as served (shared with the shard documents, never copied).
    pub yaml: Bytes,
    /// SHA-256 of `yaml`, hex: equal hashes mean nothing to do.
    pub hash: String,
    /// What its diagram is drawn from; `None` for a template read back from the catalog or
    /// the state folder and not mapped since.
    pub diagram: Option<Arc<crate::diagram::Source>>,
    /// A fingerprint of the [`Template`] the document was rendered from (zero when the item
    /// was read back rather than rendered): an equal template is not rendered again.
    pub fingerprint: [u8; 16],
}

impl Item {
    pub fn new(template: Template) -> Self {
        let fingerprint = fingerprint(&template);
        let mut yaml = entity::to_yaml_one(&template);
        yaml.shrink_to_fit();
        let workflow_id = template
            .metadata
            .annotations
            .get(entity::map::annotation::WORKFLOW_ID)
            .map(String::as_str);
        Self::with_yaml(
            &template.metadata.name,
            &template.metadata.namespace,
            workflow_id,
            yaml,
            fingerprint,
        )
    }

    /// An item whose document is already rendered (read back from the state file).
    pub fn with_yaml(
        name: &str,
        namespace: &str,
        workflow_id: Option<&str>,
        yaml: String,
        fingerprint: [u8; 16],
    ) -> Self {
        let hash = hex::encode(Sha256::digest(yaml.as_bytes()));
        Self {
            name: name.into(),
            namespace: namespace.into(),
            workflow_id: workflow_id.map(Into::into),
            yaml: Bytes::from(yaml),
            hash,
            diagram: None,
            fingerprint,
        }
    }

    pub fn with_diagram(self, diagram: Option<Arc<crate::diagram::Source>>) -> Self {
        Self { diagram, ..self }
    }

    /// An entity read back from the catalog (adopted at start), served as the catalog holds it.
    pub fn from_value(value: serde_json::Value) -> Option<Self> {
        serde_json::from_value::<Template>(value)
            .ok()
            .map(Self::new)
    }

    /// The document as text.
    pub fn yaml_text(&self) -> &str {
        std::str::from_utf8(&self.yaml).expect("rendered from a String")
    }

    /// The entity as JSON, for validation and comparison with the catalog's copy: read back
    /// from the document (our own output, so without the budgets meant for hostile input).
    /// `null` (logged) if it does not read back: the catalog then rejects it, with a message,
    /// rather than the daemon stopping.
    pub fn json(&self) -> serde_json::Value {
        let options = serde_saphyr::options! { budget: None };
        serde_saphyr::from_str_with_options(self.yaml_text(), options).unwrap_or_else(|e| {
            tracing::error!(template = %self.name, error = %e, "a rendered template does not read back as JSON; please report this");
            serde_json::Value::Null
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The id of the workflow it was mapped from, when known.
    pub fn workflow_id(&self) -> Option<&str> {
        self.workflow_id.as_deref()
    }

    /// `template:<namespace>/<name>`.
    pub fn entity_ref(&self) -> String {
        entity_ref(&self.namespace, &self.name)
    }
}

/// A fingerprint of a template's content: the SHA-256 of its JSON form (written into the hash,
/// never into memory), cut to 128 bits. Cheaper than rendering the YAML it stands for.
pub fn fingerprint(template: &Template) -> [u8; 16] {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(Sha256::new());
    serde_json::to_writer(&mut hashing, template).expect("a Template is plain data");
    let digest = hashing.0.finalize();
    digest[..16].try_into().expect("16 bytes")
}

pub fn entity_ref(namespace: &str, name: &str) -> String {
    format!("template:{namespace}/{name}")
}

/// Entities keyed by name; shared, since the desired and the served state hold the same ones.
pub type Entities = BTreeMap<String, Arc<Item>>;

/// When removals are held back.
#[derive(Debug, Clone, Copy)]
pub struct DeleteGuard {
    /// Hold removals when they exceed this fraction of what is published...
    pub max_fraction: f64,
    /// ...and are more than this many.
    pub minimum: usize,
}

/// What changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub add: Vec<String>,
    pub update: Vec<String>,
    pub remove: Vec<String>,
    /// Removals held back by the guard, and why.
    pub held: Option<Held>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub names: Vec<String>,
    pub reason: String,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.update.is_empty() && self.remove.is_empty()
    }
}

/// Compares by name and content hash; `published` maps a name to the hash last published.
pub fn plan(published: &BTreeMap<String, String>, desired: &Entities, guard: DeleteGuard) -> Plan {
    let mut p = Plan::default();
    for (name, item) in desired {
        match published.get(name) {
            None => p.add.push(name.clone()),
            Some(hash) if *hash != item.hash => p.update.push(name.clone()),
            Some(_) => {}
        }
    }
    let remove: Vec<String> = published
        .keys()
        .filter(|name| !desired.contains_key(*name))
        .cloned()
        .collect();
    let limit = guard.max_fraction * published.len() as f64;
    if remove.len() > guard.minimum && remove.len() as f64 > limit {
        p.held = Some(Held {
            reason: format!(
                "{} of {} published templates would be removed, more than sync.maxDeleteFraction ({}); removals are held until the sources recover or the fraction is raised",
                remove.len(),
                published.len(),
                guard.max_fraction
            ),
            names: remove,
        });
    } else {
        p.remove = remove;
    }
    p
}

/// Test fixture: the entities of bare workflows, one per `(id, name)`, all at `version`, mapped
/// with the default options.
#[cfg(test)]
pub(crate) fn test_entities(
    workflows: impl IntoIterator<Item = (String, Option<String>)>,
    version: &str,
) -> Entities {
    use crate::entity::{MapOptions, map_all};
    use crate::workflow::Workflow;
    let workflows: Vec<Workflow> = workflows
        .into_iter()
        .map(|(id, name)| Workflow {
            id,
            name,
            version: Some(version.into()),
            ..Workflow::default()
        })
        .collect();
    map_all(&workflows, &MapOptions::default())
        .into_iter()
        .map(|t| (t.metadata.name.clone(), Arc::new(Item::new(t))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{MapOptions, map_all};
    use crate::workflow::Workflow;

    fn items(ids: &[&str], version: &str) -> Entities {
        test_entities(ids.iter().map(|id| (id.to_string(), None)), version)
    }

    fn hashes(e: &Entities) -> BTreeMap<String, String> {
        e.iter().map(|(k, v)| (k.clone(), v.hash.clone())).collect()
    }

    const GUARD: DeleteGuard = DeleteGuard {
        max_fraction: 0.5,
        minimum: 3,
    };

    #[test]
    fn an_item_reads_back_as_the_json_it_was_rendered_from() {
        let schema = serde_json::json!({"type": "object", "properties": {
            "replicas": {"type": "integer", "default": 2, "maximum": 1.5e3},
            "ratio": {"type": "number", "default": 0.25},
            "answer": {"type": "string", "enum": ["yes", "no", "1.0", "010", "null", "~"]},
            "on": {"type": "boolean", "default": true}
        }});
        let workflow = Workflow {
            id: "typed".into(),
            name: Some("yes".into()),
            description: Some("a: b # not a comment".into()),
            version: Some("1.10".into()),
            input_schema: Some(schema),
            ..Workflow::default()
        };
        for t in map_all(&[workflow], &MapOptions::default()) {
            let expected = serde_json::to_value(&t).unwrap();
            let item = Item::new(t);
            assert_eq!(item.json(), expected);
            assert_eq!(item.entity_ref(), "template:default/typed");
        }
    }

    #[test]
    fn nothing_changed_plans_nothing() {
        let e = items(&["a", "b"], "1");
        assert!(plan(&hashes(&e), &e, GUARD).is_empty());
    }

    #[test]
    fn adds_updates_and_removes_by_name_and_hash() {
        let before = items(&["a", "b", "c", "d", "e"], "1");
        let mut after = items(&["a", "b", "c", "d", "f"], "1");
        after.insert("b".into(), items(&["b"], "2").remove("b").unwrap());
        let p = plan(&hashes(&before), &after, GUARD);
        assert_eq!(p.add, ["f"]);
        assert_eq!(p.update, ["b"]);
        assert_eq!(p.remove, ["e"]);
        assert!(p.held.is_none());
    }

    #[test]
    fn mass_removal_is_held_but_a_few_are_not() {
        let before = items(&["a", "b", "c", "d", "e", "f", "g", "h"], "1");
        let after = items(&["a", "b", "c"], "1");
        let p = plan(&hashes(&before), &after, GUARD);
        assert!(p.remove.is_empty());
        assert_eq!(p.held.unwrap().names.len(), 5);
        // Three of four is over half, but not more than the minimum: allowed.
        let before = items(&["a", "b", "c", "d"], "1");
        let after = items(&["a"], "1");
        assert_eq!(plan(&hashes(&before), &after, GUARD).remove.len(), 3);
    }
}
