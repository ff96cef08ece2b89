//! Mapping: a [`Workflow`](crate::workflow::Workflow) becomes a Backstage `Template` entity.
//!
//! Pure and deterministic: no I/O, no clock, no randomness; the same workflows and options give
//! byte-identical YAML. Names are chosen for the whole set at once (Backstage compares names
//! case-insensitively, so two ids can collide), everything else per workflow.
//!
//! - [`name`]: valid Backstage names and tags, and the collision rule ([`assign_names`]).
//! - [`form`]: the input JSON Schema as scaffolder form pages (`spec.parameters`).
//! - [`stock_form`]: the pages fitted to the stock Create page (the widget policy).
//! - [`links`]: `metadata.links`, in one fixed order.
//! - [`escape`]: keeps workflow text literal where the scaffolder evaluates `${{ }}`.
//! - [`map`]: the [`Template`] entity and [`map_all`].
//! - [`render`]: entities as YAML and JSON text, linear in size whatever the form's depth.
//! - [`options`]: [`MapOptions`], what the mapper takes from the configuration.
//! - [`text`]: control characters, which no entity text may hold.

pub mod escape;
pub mod form;
pub mod links;
pub mod map;
pub mod name;
pub mod options;
pub mod render;
pub mod stock_form;
pub mod text;

pub use escape::literal;
pub use links::{EntityLink, LinkKind};
pub use map::{
    MAX_FORM_BYTES, Template, map_all, map_all_into, map_all_with_diagnostics, map_one, name_all,
};
pub use name::{assign_names, is_valid_name, is_valid_tag, sanitize};
pub use options::{MapOptions, OwnerRule};
pub use render::{
    JsonList, YamlStream, to_json_pretty, to_yaml, to_yaml_one, write_json_pretty, write_yaml,
};
pub use stock_form::WidgetPolicy;
