//! The common case without a `serde_json::Value` tree of the event: one
//! EventBridge event with `detail.findings`, on one line, each finding's document made
//! of its own text (`@timestamp` spliced in first, the ECS fields
//! appended), and only the fields the document needs parsed. Anything
//! unusual (several values, a finding with its own `@timestamp`, escaped
//! keys, an error) is left to the full parse ([`crate::text_documents`]),
//! which gives the same documents and words the errors; a test checks
//! both give the same documents.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use weir_plugin_sdk::Document;
use weir_plugin_sdk::json::Member;

use crate::Config;

/// An EventBridge event, its `detail` left as text.
#[derive(Deserialize)]
struct Event<'a> {
    /// Required, so that a bare finding takes the full parse.
    #[serde(rename = "detail-type", borrow)]
    _detail_type: Cow<'a, str>,
    #[serde(borrow)]
    detail: &'a RawValue,
}

/// An event's `detail`, its findings left as text.
#[derive(Deserialize)]
struct Detail<'a> {
    #[serde(borrow)]
    findings: Vec<&'a RawValue>,
}

/// The members of a finding its document needs (the id, the index, the
/// times and the ECS fields), parsed; the rest is only skipped.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Fields {
    id: Option<Value>,
    product_arn: Option<Value>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
    product_name: Option<Value>,
    aws_account_id: Option<Value>,
    region: Option<Value>,
    generator_id: Option<Value>,
    title: Option<Value>,
    types: Option<Value>,
    network: Option<Value>,
    product_fields: Option<Value>,
}

impl Fields {
    /// The fields as a (small) map, for the functions the full parse uses.
    fn into_map(self) -> Map<String, Value> {
        let mut map = Map::with_capacity(12);
        for (key, value) in [
            ("Id", self.id),
            ("ProductArn", self.product_arn),
            ("CreatedAt", self.created_at),
            ("UpdatedAt", self.updated_at),
            ("ProductName", self.product_name),
            ("AwsAccountId", self.aws_account_id),
            ("Region", self.region),
            ("GeneratorId", self.generator_id),
            ("Title", self.title),
            ("Types", self.types),
            ("Network", self.network),
            ("ProductFields", self.product_fields),
        ] {
            // `null` is left out: every use reads these as strings,
            // arrays or objects (and an error takes the full parse)
            if let Some(value) = value {
                map.insert(key.to_string(), value);
            }
        }
        map
    }
}

/// The documents of `text` when it is one EventBridge event with
/// `detail.findings` and every finding is usual; `None`: take the full
/// parse.
pub(crate) fn documents(text: &str, config: &Config) -> Option<Vec<Document>> {
    let text = text.trim_ascii();
    // A document body is its finding's text: one line, as EventBridge
    // writes events (a pretty-printed event takes the full parse, which
    // writes compact bodies).
    if !text.starts_with('{') || text.contains('\n') || text.contains('\r') {
        return None;
    }
    let event: Event<'_> = serde_json::from_str(text).ok()?;
    let detail = event.detail.get();
    if !detail.starts_with('{') {
        return None;
    }
    let detail: Detail<'_> = serde_json::from_str(detail).ok()?;
    detail
        .findings
        .iter()
        .map(|f| finding_document(f.get(), config))
        .collect()
}

/// The document of one finding's text, as [`crate::finding_document`]
/// makes it; `None` for anything it would do otherwise or refuse.
fn finding_document(raw: &str, config: &Config) -> Option<Document> {
    if !raw.starts_with('{') {
        return None;
    }
    // one pass: valid JSON, its top-level keys (ECS roots), no `@timestamp`
    let scanned = weir_plugin_sdk::json::scan(raw.as_bytes(), "@timestamp")?;
    let [only] = scanned.as_slice() else {
        return None;
    };
    if only.member != Member::Absent || only.roots.has_timestamp() {
        return None;
    }
    let roots = only.roots;
    let map = serde_json::from_str::<Fields>(raw).ok()?.into_map();
    let id = crate::finding_id(&map, config.keep_history).ok()?;
    let index = crate::index_for(map.get("ProductArn").and_then(Value::as_str), config);
    let (created, at_timestamp) = crate::finding_times(&map);
    let mut body = match at_timestamp {
        Some(iso) => {
            // `{"@timestamp":"<iso>",` + the finding after its `{` (it has
            // members: `Id` at least)
            let mut body = String::with_capacity(raw.len() + iso.len() + 256);
            body.push_str("{\"@timestamp\":");
            weir_plugin_sdk::push_json_string(&mut body, &iso);
            body.push(',');
            body.push_str(raw.get(1..)?);
            body
        }
        None => raw.to_string(),
    };
    if config.ecs {
        weir_plugin_sdk::ecs::append_members(&mut body, &crate::ecs::members_with(&map, roots));
    }
    let mut doc = Document::new(body).with_id(id).with_index(index);
    if let Some(ms) = created {
        doc = doc.with_timestamp_ms(ms);
    }
    Some(doc)
}
