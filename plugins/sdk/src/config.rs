//! A plugin's configuration: the route's `plugin_config`, as JSON text,
//! parsed strictly into the plugin's own type with [`parse`].
//!
//! A config type derives `serde::Deserialize` with
//! `#[serde(deny_unknown_fields, default)]` (and `Default`), so that `{}` or
//! an empty text is its default and an unknown key is refused. Checks beyond
//! types go into the deserialization too (`#[serde(deserialize_with = …)]`,
//! `#[serde(try_from = …)]`), so that a config that parses is a valid one.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The config of a plugin that takes no options: only `{}` (or an empty
/// text) is accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// The config of a source plugin whose only option is the ECS switch:
/// `{}` or `{"ecs": true}` (the default) writes the [`ecs`](crate::ecs)
/// fields, `{"ecs": false}` leaves them out; any other key is refused. A
/// plugin with options of its own adds an `ecs: bool` field (default
/// `true`) and [`ecs_schema_property!`](crate::ecs_schema_property) to its
/// schema instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EcsOption {
    /// Whether documents get ECS fields beside their own.
    pub ecs: bool,
}

impl Default for EcsOption {
    fn default() -> Self {
        EcsOption { ecs: true }
    }
}

/// The JSON Schema of [`EcsOption`], for [`Info::config_schema`](crate::Info::config_schema).
pub const ECS_OPTION_SCHEMA: &str = concat!(
    r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"#,
    crate::ecs_schema_property!(),
    r#"},"additionalProperties":false}"#
);

/// The JSON Schema property of the `ecs` switch, as a string literal
/// (`"ecs":{"type":"boolean",…}`) for `concat!` into a plugin's own config
/// schema.
#[macro_export]
macro_rules! ecs_schema_property {
    () => {
        r#""ecs":{"type":"boolean","default":true,"description":"Add ECS fields (event, cloud, source, destination, network, …, with GeoIP) beside the source's own; false leaves them out."}"#
    };
}

/// Parse a plugin's config (JSON text, `{}` when the route gives none) into
/// `T`. An empty (all-whitespace) text reads as `{}`.
///
/// The `Err` names what is wrong: `plugin config is not valid JSON: …`,
/// `plugin config must be a JSON object, got …`, ``unknown option `key`…``,
/// ``missing field `key` ``, or ``` `key`: ``` and the reason its value was
/// refused.
///
/// ```
/// #[derive(Debug, Default, serde::Deserialize)]
/// #[serde(deny_unknown_fields, default)]
/// struct Config {
///     keep_history: bool,
/// }
///
/// use weir_plugin_sdk::config::parse;
/// assert!(!parse::<Config>("").unwrap().keep_history);
/// assert!(parse::<Config>(r#"{"keep_history": true}"#).unwrap().keep_history);
/// let e = parse::<Config>(r#"{"keep_history": 1}"#).unwrap_err();
/// assert!(e.starts_with("`keep_history`: invalid type"), "{e}");
/// let e = parse::<Config>(r#"{"keep": true}"#).unwrap_err();
/// assert!(e.starts_with("unknown option `keep`"), "{e}");
/// ```
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    // serde also reads a struct from an array: only an object is a config.
    if !crate::json::trim_json_ws(text).starts_with('{') {
        return Err(explain::<T>(text, None));
    }
    serde_json::from_str(text).map_err(|e| explain::<T>(text, Some(&e)))
}

/// Why `text` did not parse into `T`, naming the key at fault where one is.
/// Only on the error path: the config is parsed again, key by key.
fn explain<T: DeserializeOwned>(text: &str, error: Option<&serde_json::Error>) -> String {
    let map = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            return format!(
                "plugin config must be a JSON object, got {}",
                crate::json::json_kind(&other)
            );
        }
        Err(e) => return format!("plugin config is not valid JSON: {e}"),
    };
    // Find the first key that is refused on its own (a missing required
    // field is not the fault of the key tried).
    for (key, value) in map {
        let mut one = Map::new();
        one.insert(key.clone(), value);
        let Err(e) = try_one::<T>(one) else {
            continue;
        };
        let reason = e.to_string();
        if reason.starts_with("missing field") {
            continue;
        }
        return name_key(&key, &reason);
    }
    match error {
        Some(e) => strip_position(&e.to_string()).to_string(),
        None => "plugin config must be a JSON object".to_string(),
    }
}

/// Deserialize `T` from a one-key object.
fn try_one<T: DeserializeOwned>(one: Map<String, Value>) -> Result<T, serde_json::Error> {
    serde_json::from_value(Value::Object(one))
}

/// A reason about `key`, worded to name it (unless it already does, as
/// `` `key` `` or `` `key.sub` ``).
fn name_key(key: &str, reason: &str) -> String {
    let quoted = format!("`{key}`");
    if let Some(rest) = reason.strip_prefix(&format!("unknown field {quoted}")) {
        return match rest.strip_prefix(", there are no fields") {
            Some(_) => format!("unknown option {quoted}: the plugin takes none"),
            None => format!("unknown option {quoted}{rest}"),
        };
    }
    if reason.contains(&quoted) || reason.contains(&format!("`{key}.")) {
        reason.to_string()
    } else {
        format!("{quoted}: {reason}")
    }
}

/// A `serde_json` message without its ` at line L column C` suffix.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message,
    }
}

#[cfg(test)]
mod tests;
