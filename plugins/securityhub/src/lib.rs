//! Weir plugin for AWS Security Hub findings (ASFF).
//!
//! A record is an Amazon EventBridge event from Security Hub, most often
//! `"detail-type": "Security Hub Findings - Imported"` (also
//! `"Security Hub Findings - Custom Action"`): one document per finding of
//! `detail.findings`. A bare ASFF finding (an object with `Id` and
//! `SchemaVersion` or `ProductArn`) is accepted too. A record may hold several
//! JSON values one after the other (NDJSON), and may be gzip (decompressed
//! first, capped at [`MAX_DECOMPRESSED_BYTES`]). A
//! `"Security Hub Insight Results"` event carries no findings (only counts per
//! group) and is dropped.
//!
//! Each finding is kept as it came (every field, in order; `CreatedAt` and
//! `UpdatedAt` stay ISO-8601 strings). Its document:
//! - id: the finding `Id`, or `Id@UpdatedAt` with `keep_history` (one
//!   document per version of a finding instead of the latest only);
//! - index: chosen by the `product/<company>/<product>` end of `ProductArn`,
//!   whatever its partition, region or account (a malformed ARN such as
//!   `arn:aws::securityhub:us-east-1::product/aws/guardduty` works too):
//!   `aws-securityhub-findings-<product>`, the product lowercased and made a
//!   valid index name ([`product_index`]), unless `indices` overrides it. A
//!   finding without a usable `ProductArn` goes to `default_index`. The host
//!   honours the index only on a route with `allow_plugin_index = true`;
//! - `timestamp_ms`: `CreatedAt`, when it is an ISO-8601 timestamp;
//! - `@timestamp`, added as the body's first member: `UpdatedAt`, else
//!   `CreatedAt` (the first that is an ISO-8601 timestamp), as ISO-8601 UTC
//!   with milliseconds; left out when neither is. `UpdatedAt` because the
//!   document (id = finding `Id`) holds the finding's latest state, replaced
//!   at every update: its time is when that state was recorded, so a search
//!   by time finds a finding as it was last changed (with `keep_history`,
//!   each version at its own update).
//!
//! A finding without a string `Id` (or without `UpdatedAt` under
//! `keep_history`) fails its record, as does JSON that is neither an event
//! with `detail.findings` nor a finding.
//!
//! Trailing bytes: when a record's last JSON value is followed only by stray
//! closing brackets, braces or commas (`]`, `}`, `,` and whitespace, as in the
//! AWS Health example of the Security Hub guide, which ends in `]}` copied
//! from its envelope), those bytes are ignored and a warning is logged: they
//! carry no data, and the findings before them are complete. Any other
//! trailing text fails the record.
//!
//! Config (all optional; unknown keys are refused):
//! - `indices`: object, product → index, overriding the default index of a
//!   product. A key is a product name (`"guardduty"`) or `"company/product"`
//!   (`"aws/guardduty"`, which wins over the bare name); matched without
//!   regard to case.
//! - `default_index`: the index for findings whose product is unknown
//!   (default [`DEFAULT_INDEX`]).
//! - `keep_history`: boolean (default `false`), see above.
//! - `ecs`: boolean (default `true`): ECS fields (see the `ecs` module, `src/ecs.rs`,
//!   for what comes from what) appended after the finding's own fields;
//!   `false` leaves them out.

mod ecs;
mod fast;

use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::{Map, Value};
pub use weir_plugin_sdk::MAX_DECOMPRESSED_BYTES;
use weir_plugin_sdk::{Document, Level, Outcome};

weir_plugin_sdk::export! {
    /// The plugin type exported to the host.
    pub struct SecurityHub;
    config: Config,
    info: weir_plugin_sdk::info!("securityhub")
        .date_fields(&["@timestamp", "CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"])
        .default_index(DEFAULT_INDEX)
        .config_schema(CONFIG_SCHEMA)
        .index_properties(&[weir_plugin_sdk::ecs::INDEX_PROPERTIES]),
    transform_record: |config, record| transform_record(record, config),
}

/// The start of every product's default index name.
pub const INDEX_PREFIX: &str = "aws-securityhub-findings-";

/// The index for findings whose product is unknown, unless configured.
pub const DEFAULT_INDEX: &str = "aws-securityhub-findings-unknown";

/// The EventBridge `detail-type` of insight results (no findings; dropped).
pub const INSIGHT_RESULTS: &str = "Security Hub Insight Results";

/// The plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Index overrides: (lowercased key, index); a key is `product` or `company/product`.
    #[serde(deserialize_with = "indices")]
    pub indices: Vec<(String, String)>,
    /// The index of findings with an unknown product.
    #[serde(deserialize_with = "default_index")]
    pub default_index: String,
    /// Whether the document id includes `UpdatedAt`.
    pub keep_history: bool,
    /// Whether documents get ECS fields beside their own.
    pub ecs: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            indices: Vec::new(),
            default_index: DEFAULT_INDEX.to_string(),
            keep_history: false,
            ecs: true,
        }
    }
}

/// Parse the plugin config.
pub fn parse_config(config: &str) -> Result<Config, String> {
    weir_plugin_sdk::config::parse(config)
}

/// The JSON Schema of [`Config`].
pub const CONFIG_SCHEMA: &str = concat!(
    r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"indices":{"type":"object","description":"Product (`guardduty`) or `company/product` (case-insensitive) to index name, overriding the product's default index.","additionalProperties":{"type":"string"}},"default_index":{"type":"string","default":"aws-securityhub-findings-unknown","description":"The index of findings whose product is unknown."},"keep_history":{"type":"boolean","default":false,"description":"Document id `Id@UpdatedAt`: one document per version of a finding."},"#,
    weir_plugin_sdk::ecs_schema_property!(),
    r#"},"additionalProperties":false}"#
);

/// `indices`: product → index, checked, keys lowercased, in order.
fn indices<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let map = Map::<String, Value>::deserialize(d)?;
    let mut out: Vec<(String, String)> = Vec::with_capacity(map.len());
    for (product, index) in map {
        let Value::String(index) = index else {
            return Err(D::Error::custom(format!(
                "`indices.{product}` must be a string (an index name), got {}",
                weir_plugin_sdk::json_kind(&index)
            )));
        };
        let product_key = product.to_lowercase();
        let parts: Vec<&str> = product_key.split('/').collect();
        if parts.len() > 2 || parts.iter().any(|p| p.trim().is_empty()) {
            return Err(D::Error::custom(format!(
                "`indices`: key {product:?} must be a product (`guardduty`) or `company/product`"
            )));
        }
        weir_plugin_sdk::check_index_name(&index)
            .map_err(|e| D::Error::custom(format!("`indices.{product}`: {e}")))?;
        if out.iter().any(|(k, _)| *k == product_key) {
            return Err(D::Error::custom(format!(
                "`indices`: key {product:?} is given twice (keys ignore case)"
            )));
        }
        out.push((product_key, index));
    }
    Ok(out)
}

/// `default_index`: a valid index name.
fn default_index<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let index = String::deserialize(d)?;
    weir_plugin_sdk::check_index_name(&index)
        .map_err(|e| D::Error::custom(format!("`default_index`: {e}")))?;
    Ok(index)
}

/// The documents of a record's text: EventBridge events and/or bare
/// findings. `Ok(None)` when every value is deliberately dropped.
pub fn text_documents(text: &str, config: &Config) -> Result<Option<Vec<Document>>, String> {
    match fast::documents(text, config) {
        Some(docs) => Ok(Some(docs)),
        None => full_documents(text, config),
    }
}

/// [`text_documents`] through a full parse of every value.
pub fn full_documents(text: &str, config: &Config) -> Result<Option<Vec<Document>>, String> {
    let (values, ignored) = json_values_lenient(text)?;
    if ignored > 0 {
        weir_plugin_sdk::log(
            Level::Warn,
            &format!(
                "ignored {ignored} trailing bytes of stray `]`, `}}` or `,` after the record's last JSON value"
            ),
        );
    }
    let several = values.len() > 1;
    let mut docs = Vec::new();
    let mut all_dropped = true;
    for (i, value) in values.into_iter().enumerate() {
        match value_documents(value, config, &mut docs) {
            Ok(dropped) => all_dropped &= dropped,
            Err(e) if several => {
                return Err(format!("JSON value {} of the record: {e}", i + 1));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(if all_dropped { None } else { Some(docs) })
}

/// Transform one record: EventBridge events and/or bare findings.
pub fn transform_record(record: &[u8], config: &Config) -> Outcome {
    weir_plugin_sdk::text_outcome(record, |text| text_documents(text, config))
}

/// Parse every JSON value of `text` (one, or several one after the other).
/// Bytes after the last value that are only `]`, `}`, `,` and whitespace are
/// ignored; their count is returned. Anything else that is not JSON is an
/// error, and so is a text with no value.
pub fn json_values_lenient(text: &str) -> Result<(Vec<Value>, usize), String> {
    let mut values = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut end = 0;
    loop {
        match stream.next() {
            None => break,
            Some(Ok(v)) => {
                values.push(v);
                end = stream.byte_offset();
            }
            Some(Err(e)) => {
                let rest = text.get(end..).unwrap_or("");
                let stray = rest
                    .bytes()
                    .all(|b| matches!(b, b']' | b'}' | b',' | b' ' | b'\t' | b'\n' | b'\r'));
                if !values.is_empty() && stray {
                    return Ok((values, rest.trim_ascii().len()));
                }
                return Err(if values.is_empty() {
                    format!("invalid JSON: {e}")
                } else {
                    format!("invalid JSON after value {}: {e}", values.len())
                });
            }
        }
    }
    if values.is_empty() {
        return Err("empty record: no JSON value".to_string());
    }
    Ok((values, 0))
}

/// Append the documents of one JSON value (an EventBridge event or a bare
/// finding). `Ok(true)` when the value is deliberately dropped.
pub fn value_documents(
    value: Value,
    config: &Config,
    docs: &mut Vec<Document>,
) -> Result<bool, String> {
    let Value::Object(mut map) = value else {
        return Err(format!(
            "expected a Security Hub EventBridge event or an ASFF finding (a JSON object), got {}",
            weir_plugin_sdk::json_kind(&value)
        ));
    };
    if map.contains_key("detail-type") || (map.contains_key("detail") && map.contains_key("source"))
    {
        let detail_type = match map.get("detail-type") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let findings = match map.remove("detail") {
            Some(Value::Object(mut detail)) => detail.remove("findings"),
            Some(other) => {
                return Err(format!(
                    "`detail` must be an object, got {}",
                    weir_plugin_sdk::json_kind(&other)
                ));
            }
            None => None,
        };
        return match findings {
            Some(Value::Array(findings)) => {
                docs.reserve(findings.len());
                for (i, finding) in findings.into_iter().enumerate() {
                    let doc = finding_document(finding, config)
                        .map_err(|e| format!("detail.findings[{i}]: {e}"))?;
                    docs.push(doc);
                }
                Ok(false)
            }
            Some(other) => Err(format!(
                "`detail.findings` must be an array, got {}",
                weir_plugin_sdk::json_kind(&other)
            )),
            None if detail_type == INSIGHT_RESULTS => Ok(true),
            None => Err(format!(
                "EventBridge event {detail_type:?} has no `detail.findings`"
            )),
        };
    }
    if map.contains_key("Id")
        && (map.contains_key("SchemaVersion") || map.contains_key("ProductArn"))
    {
        docs.push(finding_document(Value::Object(map), config)?);
        return Ok(false);
    }
    Err(
        "neither a Security Hub EventBridge event (`detail-type`, `detail.findings`) nor an \
         ASFF finding (`Id` with `SchemaVersion` or `ProductArn`)"
            .to_string(),
    )
}

/// The document of one ASFF finding: id, index and time, body unchanged.
pub fn finding_document(finding: Value, config: &Config) -> Result<Document, String> {
    let Value::Object(map) = &finding else {
        return Err(format!(
            "a finding must be a JSON object, got {}",
            weir_plugin_sdk::json_kind(&finding)
        ));
    };
    let id = finding_id(map, config.keep_history)?;
    let index = index_for(map.get("ProductArn").and_then(Value::as_str), config);
    let (created, at_timestamp) = finding_times(map);
    let ecs_members = if config.ecs {
        ecs::members(map)
    } else {
        String::new()
    };
    let mut body = match (at_timestamp, finding) {
        (Some(iso), Value::Object(map)) => {
            let mut out = Map::with_capacity(map.len() + 1);
            out.insert("@timestamp".to_string(), Value::String(iso));
            out.extend(map.into_iter().filter(|(k, _)| k != "@timestamp"));
            serde_json::to_string(&out)
        }
        (_, finding) => serde_json::to_string(&finding),
    }
    .map_err(|e| format!("cannot encode: {e}"))?;
    weir_plugin_sdk::ecs::append_members(&mut body, &ecs_members);
    let mut doc = Document::new(body).with_id(id).with_index(index);
    if let Some(ms) = created {
        doc = doc.with_timestamp_ms(ms);
    }
    Ok(doc)
}

/// A finding's `CreatedAt` (epoch ms: the document's time, and its index
/// day) and its `@timestamp`: `UpdatedAt`, else `CreatedAt` (ISO-8601).
fn finding_times(map: &Map<String, Value>) -> (Option<i64>, Option<String>) {
    let created = map
        .get("CreatedAt")
        .and_then(Value::as_str)
        .and_then(weir_plugin_sdk::iso_to_epoch_ms);
    let at_timestamp = ["UpdatedAt", "CreatedAt"]
        .iter()
        .filter_map(|field| map.get(*field).and_then(Value::as_str))
        .find_map(weir_plugin_sdk::iso_to_epoch_ms)
        .and_then(weir_plugin_sdk::epoch_ms_to_iso);
    (created, at_timestamp)
}

/// The document id of a finding: `Id`, or `Id@UpdatedAt` when keeping history.
pub fn finding_id(finding: &Map<String, Value>, keep_history: bool) -> Result<String, String> {
    let id = match finding.get("Id") {
        Some(Value::String(id)) if !id.is_empty() => id,
        Some(Value::String(_)) => return Err("empty `Id`".to_string()),
        Some(other) => {
            return Err(format!(
                "`Id` must be a string, got {}",
                weir_plugin_sdk::json_kind(other)
            ));
        }
        None => return Err("missing `Id`".to_string()),
    };
    if !keep_history {
        return Ok(id.clone());
    }
    match finding.get("UpdatedAt") {
        Some(Value::String(updated)) if !updated.is_empty() => Ok(format!("{id}@{updated}")),
        _ => Err("`keep_history` needs a string `UpdatedAt` in every finding".to_string()),
    }
}

/// The `(company, product)` of a product ARN: the two segments after
/// `product/` in the ARN's resource (its last `:`-separated part). Partition,
/// region and account are ignored, so malformed ARNs with an empty field
/// still work. `None` when there is no `product/<company>/<product>`.
pub fn product_of_arn(arn: &str) -> Option<(&str, &str)> {
    let resource = arn.rsplit(':').next()?;
    let mut parts = resource.strip_prefix("product/")?.split('/');
    let company = parts.next().filter(|s| !s.is_empty())?;
    let product = parts.next().filter(|s| !s.is_empty())?;
    Some((company, product))
}

/// The index of a finding by its `ProductArn` (see the crate docs).
pub fn index_for(product_arn: Option<&str>, config: &Config) -> String {
    let Some((company, product)) = product_arn.and_then(product_of_arn) else {
        return config.default_index.clone();
    };
    let product = product.to_lowercase();
    if !config.indices.is_empty() {
        let qualified = format!("{}/{product}", company.to_lowercase());
        for key in [&qualified, &product] {
            if let Some((_, index)) = config.indices.iter().find(|(k, _)| k == key) {
                return index.clone();
            }
        }
    }
    product_index(&product).unwrap_or_else(|| config.default_index.clone())
}

/// The default index of a product: `aws-securityhub-findings-<product>`,
/// lowercased, with every character other than `a-z`, `0-9`, `-`, `_` and `.`
/// replaced by `-`, cut to OpenSearch's 255 bytes. `None` for an empty product.
pub fn product_index(product: &str) -> Option<String> {
    if product.is_empty() {
        return None;
    }
    let mut name = String::with_capacity(INDEX_PREFIX.len() + product.len());
    name.push_str(INDEX_PREFIX);
    for c in product.chars() {
        if name.len() >= 255 {
            break;
        }
        let c = c.to_ascii_lowercase();
        name.push(match c {
            'a'..='z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '-',
        });
    }
    weir_plugin_sdk::check_index_name(&name).ok()?;
    Some(name)
}

#[cfg(test)]
mod tests;
