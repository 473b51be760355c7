//! The [`Plugin`] trait: what a plugin is (its [`Info`] and its config
//! type) and what it does (one outcome per record), and [`Exported`], the
//! glue that [`export!`](crate::export) turns into the component's exports.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::bindings::exports::weir::plugin::{metadata, schema, transform};
use crate::{BatchContext, Outcome};

/// A Weir plugin. Implement it on a unit struct and export it with
/// [`export!`](crate::export): the export validates the route's config with
/// [`config::parse`](crate::config::parse) into [`Plugin::Config`], parses it
/// once per batch (a config that does not parse fails every record with
/// `invalid plugin config: …`), then calls [`Plugin::transform`].
pub trait Plugin {
    /// The plugin's configuration, parsed strictly from the route's
    /// `plugin_config` ([`config::NoOptions`](crate::config::NoOptions) for
    /// none). Derive `Deserialize` with `#[serde(deny_unknown_fields, default)]`.
    type Config: DeserializeOwned;

    /// What the plugin says about itself (the WIT `metadata` export); build
    /// it with [`info!`](crate::info).
    const INFO: Info;

    /// Transform one record. A bad record is an `Outcome::Failed` with the
    /// reason, never a panic (a panic fails the whole batch).
    fn transform_record(config: &Self::Config, record: &[u8]) -> Outcome;

    /// Transform a batch: one outcome per record, in order. By default
    /// [`Plugin::transform_record`] for each record.
    fn transform(config: &Self::Config, ctx: &BatchContext, records: &[Vec<u8>]) -> Vec<Outcome> {
        let _ = ctx;
        records
            .iter()
            .map(|r| Self::transform_record(config, r))
            .collect()
    }
}

/// What a plugin says about itself: the WIT `plugin-info`, as constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// Short name, for example `waf`.
    pub name: &'static str,
    /// The plugin's own version (semver): its crate's version with [`info!`](crate::info).
    pub version: &'static str,
    /// Fields of its documents that hold ISO-8601 dates, which the host maps
    /// as `date` unless the route names its own index template.
    pub date_fields: &'static [&'static str],
    /// The index pattern it suggests for a route (`cwl-%Y.%m.%d`).
    pub default_index: Option<&'static str>,
    /// A JSON Schema (JSON text) of its config; `None` when it takes none.
    pub config_schema: Option<&'static str>,
    /// OpenSearch mapping `properties` it suggests for its index (the WIT
    /// `schema` export): JSON objects, as text, merged in order (a later
    /// one's field wins); empty: nothing.
    pub index_properties: &'static [&'static str],
}

impl Info {
    /// An `Info` with only a name and a version; see [`info!`](crate::info).
    pub const fn new(name: &'static str, version: &'static str) -> Info {
        Info {
            name,
            version,
            date_fields: &[],
            default_index: None,
            config_schema: None,
            index_properties: &[],
        }
    }

    /// Set the date fields.
    pub const fn date_fields(mut self, fields: &'static [&'static str]) -> Info {
        self.date_fields = fields;
        self
    }

    /// Set the suggested index pattern.
    pub const fn default_index(mut self, index: &'static str) -> Info {
        self.default_index = Some(index);
        self
    }

    /// Set the config's JSON Schema.
    pub const fn config_schema(mut self, schema: &'static str) -> Info {
        self.config_schema = Some(schema);
        self
    }

    /// Set the index mapping `properties` it suggests: JSON object texts
    /// (often `include_str!` of a file beside the crate), merged in order.
    pub const fn index_properties(mut self, properties: &'static [&'static str]) -> Info {
        self.index_properties = properties;
        self
    }

    /// [`Info::index_properties`] merged into one JSON object (a later
    /// text's top-level field wins), or `None` when there are none. A text
    /// that is not a JSON object is skipped (`testing::checked_info` fails
    /// on it).
    pub fn merged_index_properties(&self) -> Option<String> {
        if self.index_properties.is_empty() {
            return None;
        }
        let mut merged = serde_json::Map::new();
        for text in self.index_properties {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(text) {
                merged.extend(map);
            }
        }
        Some(serde_json::Value::Object(merged).to_string())
    }

    /// The WIT record the `metadata` export returns.
    pub fn to_wit(&self) -> metadata::PluginInfo {
        metadata::PluginInfo {
            name: self.name.to_string(),
            version: self.version.to_string(),
            date_fields: self.date_fields.iter().map(|f| f.to_string()).collect(),
            default_index: self.default_index.map(str::to_string),
            config_schema: self.config_schema.map(str::to_string),
        }
    }
}

/// An [`Info`] named `$name` with the calling crate's version
/// (`CARGO_PKG_VERSION`); chain [`Info::date_fields`],
/// [`Info::default_index`], [`Info::config_schema`] and
/// [`Info::index_properties`] onto it.
#[macro_export]
macro_rules! info {
    ($name:expr) => {
        $crate::Info::new($name, env!("CARGO_PKG_VERSION"))
    };
}

/// The component's exports for a [`Plugin`] `P` (what
/// [`export!`](crate::export) exports). Natively, its `Guest` functions can
/// be called like the host would.
pub struct Exported<P>(PhantomData<P>);

impl<P: Plugin> transform::Guest for Exported<P> {
    fn validate_config(config: String) -> Result<(), String> {
        crate::config::parse::<P::Config>(&config).map(|_| ())
    }

    fn transform(ctx: BatchContext, records: Vec<Vec<u8>>) -> Vec<Outcome> {
        match crate::config::parse::<P::Config>(&ctx.config) {
            Ok(config) => P::transform(&config, &ctx, &records),
            Err(e) => crate::transform_each(Err::<(), _>(e), &records, |_, _| Outcome::Dropped),
        }
    }
}

impl<P: Plugin> metadata::Guest for Exported<P> {
    fn info() -> metadata::PluginInfo {
        P::INFO.to_wit()
    }
}

impl<P: Plugin> schema::Guest for Exported<P> {
    fn index_properties() -> Option<String> {
        P::INFO.merged_index_properties()
    }
}

#[cfg(test)]
mod tests;
