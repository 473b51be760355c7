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
//! - `timestamp_ms`: `CreatedAt`, when it is an ISO-8601 timestamp.
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

use serde_json::{Map, Value};
pub use weir_plugin_sdk::MAX_DECOMPRESSED_BYTES;
use weir_plugin_sdk::{BatchContext, Document, Guest, Level, Outcome};

/// The start of every product's default index name.
pub const INDEX_PREFIX: &str = "aws-securityhub-findings-";

/// The index for findings whose product is unknown, unless configured.
pub const DEFAULT_INDEX: &str = "aws-securityhub-findings-unknown";

/// The EventBridge `detail-type` of insight results (no findings; dropped).
pub const INSIGHT_RESULTS: &str = "Security Hub Insight Results";

/// The plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Index overrides: (lowercased key, index); a key is `product` or `company/product`.
    pub indices: Vec<(String, String)>,
    /// The index of findings with an unknown product.
    pub default_index: String,
    /// Whether the document id includes `UpdatedAt`.
    pub keep_history: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            indices: Vec::new(),
            default_index: DEFAULT_INDEX.to_string(),
            keep_history: false,
        }
    }
}

/// Parse the plugin config.
pub fn parse_config(config: &str) -> Result<Config, String> {
    let map = weir_plugin_sdk::config_object(config)?;
    let mut out = Config::default();
    for (key, value) in map {
        match (key.as_str(), value) {
            ("indices", Value::Object(indices)) => {
                for (product, index) in indices {
                    let Value::String(index) = index else {
                        return Err(format!(
                            "`indices.{product}` must be a string (an index name), got {}",
                            weir_plugin_sdk::json_kind(&index)
                        ));
                    };
                    let product_key = product.to_lowercase();
                    let parts: Vec<&str> = product_key.split('/').collect();
                    if parts.len() > 2 || parts.iter().any(|p| p.trim().is_empty()) {
                        return Err(format!(
                            "`indices`: key {product:?} must be a product (`guardduty`) or `company/product`"
                        ));
                    }
                    weir_plugin_sdk::check_index_name(&index)
                        .map_err(|e| format!("`indices.{product}`: {e}"))?;
                    if out.indices.iter().any(|(k, _)| *k == product_key) {
                        return Err(format!(
                            "`indices`: key {product:?} is given twice (keys ignore case)"
                        ));
                    }
                    out.indices.push((product_key, index));
                }
            }
            ("default_index", Value::String(index)) => {
                weir_plugin_sdk::check_index_name(&index)
                    .map_err(|e| format!("`default_index`: {e}"))?;
                out.default_index = index;
            }
            ("keep_history", Value::Bool(b)) => out.keep_history = b,
            (key @ ("indices" | "default_index" | "keep_history"), other) => {
                let want = match key {
                    "indices" => "an object",
                    "default_index" => "a string",
                    _ => "a boolean",
                };
                return Err(format!(
                    "`{key}` must be {want}, got {}",
                    weir_plugin_sdk::json_kind(&other)
                ));
            }
            (key, _) => {
                return Err(format!(
                    "unknown option `{key}`: the securityhub plugin takes `indices`, `default_index` and `keep_history`"
                ));
            }
        }
    }
    Ok(out)
}

/// Check the plugin config.
pub fn validate_config(config: &str) -> Result<(), String> {
    parse_config(config).map(|_| ())
}

/// The plugin type exported to the host.
pub struct SecurityHub;

impl Guest for SecurityHub {
    fn validate_config(config: String) -> Result<(), String> {
        validate_config(&config)
    }

    fn transform(ctx: BatchContext, records: Vec<Vec<u8>>) -> Vec<Outcome> {
        weir_plugin_sdk::transform_each(parse_config(&ctx.config), &records, transform_record)
    }
}

weir_plugin_sdk::export!(SecurityHub);

/// Transform one record: EventBridge events and/or bare findings.
pub fn transform_record(record: &[u8], config: &Config) -> Outcome {
    let text = match weir_plugin_sdk::record_text(record, MAX_DECOMPRESSED_BYTES) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(e),
    };
    let (values, ignored) = match json_values_lenient(&text) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed(e),
    };
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
                return Outcome::Failed(format!("JSON value {} of the record: {e}", i + 1));
            }
            Err(e) => return Outcome::Failed(e),
        }
    }
    if all_dropped {
        Outcome::Dropped
    } else {
        Outcome::Ok(docs)
    }
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
    let created = map
        .get("CreatedAt")
        .and_then(Value::as_str)
        .and_then(weir_plugin_sdk::iso_to_epoch_ms);
    let body = serde_json::to_string(&finding).map_err(|e| format!("cannot encode: {e}"))?;
    let mut doc = Document::new(body).with_id(id).with_index(index);
    if let Some(ms) = created {
        doc = doc.with_timestamp_ms(ms);
    }
    Ok(doc)
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
mod tests {
    use super::*;
    use serde_json::json;
    use weir_plugin_sdk::testing::{failed, gzip, ok_docs};

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                "../../../tests/fixtures/plugins/securityhub/",
                $name
            ))
        };
    }

    fn ids_and_indices(d: &[Document]) -> Vec<(&str, &str)> {
        d.iter()
            .map(|d| (d.id.as_deref().unwrap(), d.index.as_deref().unwrap()))
            .collect()
    }

    #[test]
    fn imported_event_gives_its_finding_unchanged() {
        let raw = fixture!("asr_CIS-1.3.in");
        let d = ok_docs(transform_record(raw, &Config::default()));
        assert_eq!(d.len(), 1);
        let event: Value = serde_json::from_slice(raw).unwrap();
        let finding = &event["detail"]["findings"][0];
        // body is the finding, every field in order
        assert_eq!(d[0].body, serde_json::to_string(finding).unwrap());
        assert_eq!(d[0].id.as_deref(), finding["Id"].as_str());
        assert_eq!(
            d[0].index.as_deref(),
            Some("aws-securityhub-findings-securityhub")
        );
        assert_eq!(
            weir_plugin_sdk::epoch_ms_to_iso(d[0].timestamp_ms.unwrap()).unwrap(),
            "2020-05-08T03:41:48.614Z"
        );
    }

    #[test]
    fn custom_action_event_with_two_findings() {
        let raw = fixture!("asr_CIS_1-6-multi-select.in");
        let d = ok_docs(transform_record(raw, &Config::default()));
        assert_eq!(d.len(), 2);
        assert!(
            d[0].id
                .as_deref()
                .unwrap()
                .ends_with("/finding/3fe13eb6-b093-48b2-ba3b-b975347c3183")
        );
        // keep_history: the golden config of this sample
        let cfg = parse_config(
            std::str::from_utf8(fixture!("asr_CIS_1-6-multi-select.config.json")).unwrap(),
        )
        .unwrap();
        assert!(cfg.keep_history);
        let d = ok_docs(transform_record(raw, &cfg));
        assert!(
            d[0].id
                .as_deref()
                .unwrap()
                .ends_with("3fe13eb6-b093-48b2-ba3b-b975347c3183@2020-06-02T16:00:52.989Z")
        );
        assert!(
            d[1].id
                .as_deref()
                .unwrap()
                .ends_with("@2020-06-02T15:36:24.745Z")
        );
    }

    #[test]
    fn bare_findings_route_by_product() {
        let cases: [(&[u8], &str); 3] = [
            (
                fixture!("awsdocs-securityhub_config-typical-asff-finding.in"),
                "aws-securityhub-findings-config",
            ),
            (
                fixture!("awsdocs-guardduty_typical-asff-finding.in"),
                "aws-securityhub-findings-guardduty",
            ),
            (
                fixture!("asr_afsbp-ec2.7.in"),
                "aws-securityhub-findings-securityhub",
            ),
        ];
        for (raw, index) in cases {
            let d = ok_docs(transform_record(raw, &Config::default()));
            assert_eq!(d.len(), 1);
            assert_eq!(d[0].index.as_deref(), Some(index));
            assert!(d[0].timestamp_ms.is_some());
        }
    }

    #[test]
    fn health_sample_with_trailing_brackets_is_accepted() {
        let raw = fixture!(
            "awsdocs-securityhub_health-typical-asff-finding.as-published-trailing-garbage.in"
        );
        let d = ok_docs(transform_record(raw, &Config::default()));
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].index.as_deref(),
            Some("aws-securityhub-findings-health")
        );
        assert_eq!(
            weir_plugin_sdk::epoch_ms_to_iso(d[0].timestamp_ms.unwrap()).unwrap(),
            "2022-01-07T16:34:04.000Z"
        );
        let (values, ignored) = json_values_lenient(std::str::from_utf8(raw).unwrap()).unwrap();
        assert_eq!((values.len(), ignored), (1, 3)); // "]\n}"
    }

    #[test]
    fn placeholder_templates_fail() {
        for raw in [
            &fixture!(
                "awsdocs-securityhub_eventbridge-custom-action-template.as-published-placeholder.in"
            )[..],
            &fixture!(
                "awsdocs-securityhub_eventbridge-findings-imported-template.as-published-placeholder.in"
            )[..],
        ] {
            assert!(failed(transform_record(raw, &Config::default())).starts_with("invalid JSON"));
        }
    }

    #[test]
    fn composite_event_routes_each_finding() {
        let raw = fixture!("derived_composite-multi-product-findings-imported.in");
        let d = ok_docs(transform_record(raw, &Config::default()));
        let indices: Vec<&str> = ids_and_indices(&d).into_iter().map(|(_, i)| i).collect();
        assert_eq!(
            indices,
            [
                "aws-securityhub-findings-securityhub",
                "aws-securityhub-findings-config",
                "aws-securityhub-findings-health",
                "aws-securityhub-findings-guardduty",
            ]
        );
        let cfg = parse_config(
            std::str::from_utf8(fixture!(
                "derived_composite-multi-product-findings-imported.config.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let d = ok_docs(transform_record(raw, &cfg));
        assert_eq!(d[3].index.as_deref(), Some("security-guardduty"));
        assert_eq!(
            d[1].index.as_deref(),
            Some("aws-securityhub-findings-config")
        );
        // the same event gzipped
        assert_eq!(ok_docs(transform_record(&gzip(raw), &cfg)).len(), 4);
    }

    #[test]
    fn product_arns() {
        assert_eq!(
            product_of_arn("arn:aws:securityhub:us-east-1::product/aws/guardduty"),
            Some(("aws", "guardduty"))
        );
        assert_eq!(
            product_of_arn("arn:aws::securityhub:us-east-1::product/aws/guardduty"),
            Some(("aws", "guardduty"))
        );
        assert_eq!(
            product_of_arn("arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/inspector"),
            Some(("aws", "inspector"))
        );
        assert_eq!(
            product_of_arn(
                "arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default"
            ),
            Some(("123456789012", "default"))
        );
        assert_eq!(
            product_of_arn("product/crowdstrike/crowdstrike-falcon"),
            Some(("crowdstrike", "crowdstrike-falcon"))
        );
        for bad in [
            "",
            "arn:aws:securityhub:us-east-1::product/aws",
            "arn:aws:securityhub:us-east-1::product//x",
            "arn:aws:securityhub:us-east-1::hub/default",
            "guardduty",
        ] {
            assert_eq!(product_of_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn index_names_are_sanitized_and_overridable() {
        let cfg = Config::default();
        assert_eq!(index_for(None, &cfg), DEFAULT_INDEX);
        assert_eq!(index_for(Some("nonsense"), &cfg), DEFAULT_INDEX);
        assert_eq!(
            index_for(
                Some("arn:aws:securityhub:us-east-1::product/Prowler/Prowler Pro#1"),
                &cfg
            ),
            "aws-securityhub-findings-prowler-pro-1"
        );
        assert_eq!(
            index_for(
                Some("arn:aws:securityhub:us-east-1::product/x/Ünïcode"),
                &cfg
            ),
            "aws-securityhub-findings--n-code"
        );
        let long = format!(
            "arn:aws:securityhub:us-east-1::product/x/{}",
            "p".repeat(400)
        );
        let name = index_for(Some(&long), &cfg);
        assert_eq!(name.len(), 255);
        assert!(weir_plugin_sdk::check_index_name(&name).is_ok());
        assert_eq!(product_index(""), None);

        let cfg = parse_config(
            r#"{"indices":{"GuardDuty":"gd","aws/inspector":"insp","inspector":"other"},"default_index":"sh-misc"}"#,
        )
        .unwrap();
        assert_eq!(
            index_for(
                Some("arn:aws:securityhub:eu-west-1::product/aws/guardduty"),
                &cfg
            ),
            "gd"
        );
        assert_eq!(
            index_for(
                Some("arn:aws:securityhub:eu-west-1::product/aws/inspector"),
                &cfg
            ),
            "insp"
        );
        assert_eq!(
            index_for(
                Some("arn:aws:securityhub:eu-west-1::product/acme/inspector"),
                &cfg
            ),
            "other"
        );
        assert_eq!(
            index_for(
                Some("arn:aws:securityhub:eu-west-1::product/aws/macie"),
                &cfg
            ),
            "aws-securityhub-findings-macie"
        );
        assert_eq!(index_for(None, &cfg), "sh-misc");
    }

    #[test]
    fn findings_without_product_arn_go_to_the_default_index() {
        let f = json!({"SchemaVersion": "2018-10-08", "Id": "f-1", "CreatedAt": "not a date"});
        let d = ok_docs(transform_record(
            f.to_string().as_bytes(),
            &Config::default(),
        ));
        assert_eq!(ids_and_indices(&d), [("f-1", DEFAULT_INDEX)]);
        assert_eq!(d[0].timestamp_ms, None);
    }

    #[test]
    fn insight_results_are_dropped() {
        let ev = json!({"version": "0", "detail-type": INSIGHT_RESULTS, "source": "aws.securityhub",
                        "detail": {"actionName": "a", "insightName": "i", "resultType": "ResourceAwsIamAccessKeyUserName",
                                   "insightResults": [{"Admin": 4}]}});
        assert!(matches!(
            transform_record(ev.to_string().as_bytes(), &Config::default()),
            Outcome::Dropped
        ));
    }

    #[test]
    fn several_values_in_one_record() {
        let a = json!({"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
                       "detail": {"findings": [{"Id": "a", "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/macie"}]}});
        let b = json!({"SchemaVersion": "2018-10-08", "Id": "b"});
        let text = format!("{a}\n{b}\n");
        let d = ok_docs(transform_record(text.as_bytes(), &Config::default()));
        assert_eq!(
            ids_and_indices(&d),
            [
                ("a", "aws-securityhub-findings-macie"),
                ("b", DEFAULT_INDEX)
            ]
        );
        let empty =
            json!({"detail-type": "Security Hub Findings - Imported", "detail": {"findings": []}});
        assert!(
            ok_docs(transform_record(
                empty.to_string().as_bytes(),
                &Config::default()
            ))
            .is_empty()
        );
    }

    #[test]
    fn bad_records_fail_with_a_reason() {
        let cfg = Config::default();
        let f = |s: &str| failed(transform_record(s.as_bytes(), &cfg));
        assert!(f("").contains("empty record"));
        assert!(failed(transform_record(b"\xff", &cfg)).contains("not UTF-8"));
        assert!(f("{").contains("invalid JSON"));
        assert!(f("[1]").contains("got an array"));
        assert!(f(r#"{"a":1}"#).contains("neither a Security Hub EventBridge event"));
        assert!(
            f(r#"{"detail-type":"Security Hub Findings - Imported","detail":{}}"#)
                .contains("has no `detail.findings`")
        );
        assert!(f(r#"{"detail-type":"x","detail":5}"#).contains("`detail` must be an object"));
        assert!(f(r#"{"detail-type":"x","detail":{"findings":{}}}"#).contains("must be an array"));
        assert!(
            f(r#"{"detail-type":"x","detail":{"findings":[1]}}"#)
                .contains("detail.findings[0]: a finding must be a JSON object")
        );
        assert!(
            f(r#"{"detail-type":"x","detail":{"findings":[{"Id":"a"},{"SchemaVersion":"1"}]}}"#)
                .contains("detail.findings[1]: missing `Id`")
        );
        assert!(
            f(r#"{"SchemaVersion":"1","Id":5}"#).contains("`Id` must be a string, got a number")
        );
        assert!(f(r#"{"SchemaVersion":"1","Id":""}"#).contains("empty `Id`"));
        assert!(
            f(r#"{"SchemaVersion":"1","Id":"a"} {"x":"#).contains("invalid JSON after value 1")
        );
        assert!(f(r#"{"SchemaVersion":"1","Id":"a"} junk"#).contains("invalid JSON after value 1"));
        assert!(f(r#"{"SchemaVersion":"1","Id":"a"} 7"#).starts_with("JSON value 2 of the record"));
        let hist = parse_config(r#"{"keep_history":true}"#).unwrap();
        assert!(
            failed(transform_record(
                br#"{"SchemaVersion":"1","Id":"a"}"#,
                &hist
            ))
            .contains("`UpdatedAt`")
        );
        let bomb = gzip(&vec![b' '; MAX_DECOMPRESSED_BYTES + 1]);
        assert!(failed(transform_record(&bomb, &cfg)).contains("cap"));
    }

    #[test]
    fn stray_closers_only_after_a_value() {
        assert_eq!(json_values_lenient("{} ]}, \n").unwrap().1, 3);
        assert_eq!(json_values_lenient("{}\n").unwrap().1, 0);
        assert!(json_values_lenient("]}").is_err());
        assert!(json_values_lenient("   ").is_err());
    }

    #[test]
    fn config_is_checked() {
        assert_eq!(parse_config("{}").unwrap(), Config::default());
        assert!(
            validate_config(
                r#"{"indices":{"guardduty":"gd"},"default_index":"x","keep_history":false}"#
            )
            .is_ok()
        );
        for (config, want) in [
            (r#"{"index":"x"}"#, "unknown option `index`"),
            (r#"{"indices":[]}"#, "`indices` must be an object"),
            (r#"{"indices":{"gd":1}}"#, "must be a string"),
            (r#"{"indices":{"gd":"GD"}}"#, "`indices.gd`"),
            (r#"{"indices":{"a/b/c":"x"}}"#, "company/product"),
            (r#"{"indices":{"":"x"}}"#, "company/product"),
            (r#"{"indices":{"GD":"x","gd":"y"}}"#, "twice"),
            (r#"{"default_index":"_x"}"#, "`default_index`"),
            (r#"{"default_index":1}"#, "must be a string"),
            (r#"{"keep_history":"yes"}"#, "must be a boolean"),
        ] {
            let reason = validate_config(config).unwrap_err();
            assert!(reason.contains(want), "{config}: {reason}");
        }
    }
}
