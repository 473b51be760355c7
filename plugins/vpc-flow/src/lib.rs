//! Weir plugin for Amazon VPC Flow Logs (and Transit Gateway flow logs).
//!
//! A record is one of:
//! - a text flow log line, or several newline-separated lines;
//! - `{"message": "<line>"}` (the framing seen for direct Firehose delivery),
//!   or several such JSON objects; a `message` holding several lines gives one
//!   document per line;
//! - a CloudWatch Logs subscription payload (`DATA_MESSAGE`) whose log events
//!   are flow log lines (the document id is then the log event id); a
//!   `CONTROL_MESSAGE` is dropped.
//!
//! Any of these may be gzip (decompressed first, capped at
//! [`MAX_DECOMPRESSED_BYTES`]).
//!
//! Each line gives one document whose keys are the AWS field names, in the
//! order of the format (`version`, `account-id`, `pkt-srcaddr`, `tcp-flags`,
//! `flow-direction`, …). Numeric fields ([`FieldKind::Integer`]) become JSON
//! numbers, `start` and `end` (epoch seconds) become ISO-8601 UTC strings
//! (`2014-12-14T04:06:50Z`), everything else stays a string, and a `-` value
//! leaves its field out. NODATA and SKIPDATA lines are kept, with their
//! `log-status`. The document's `timestamp_ms` is `start` (or `end` when the
//! format has no `start`).
//!
//! `@timestamp`, the first member, is `start` too (the same ISO string; the
//! field itself stays): when the traffic began, the time a search for "what
//! talked to X at T" or a correlation with other sources' events needs. A
//! flow log record aggregates an interval that may last up to the aggregation
//! window (`end` is when the record was closed, not when anything happened).
//! A line without a `start` (`-`, as in some NODATA/SKIPDATA lines) has no
//! `@timestamp`.
//!
//! A line that does not match the format (wrong number of fields, or a
//! non-numeric value in a numeric field) fails its whole record with the
//! reason; the other records of the batch are unaffected. A line that is the
//! format's own header (`version account-id …`, as at the top of the text
//! files flow logs write to S3) is skipped; a record holding only header
//! lines is dropped (nothing to index, nothing wrong), not failed.
//!
//! ECS fields (see the `ecs` module, `src/ecs.rs`, for what comes from what) are
//! appended after the flow log's own fields, with GeoIP of `srcaddr` and
//! `dstaddr`.
//!
//! Config (all optional; unknown keys are refused):
//! - `ecs`: boolean (default `true`); `false` leaves the ECS fields out.
//! - `format`: the flow log's format string, as AWS shows it
//!   (`"${version} ${vpc-id} ${subnet-id} …"`; bare names separated by spaces
//!   are accepted too). Default: the version 2 default format,
//!   [`DEFAULT_FORMAT`]. Every name must be a known flow log field
//!   ([`FIELDS`]), at most once.

mod ecs;

use std::borrow::Cow;

use serde::Deserialize;
pub use weir_plugin_sdk::MAX_DECOMPRESSED_BYTES;
use weir_plugin_sdk::{Document, Outcome, trim_json_ws};

weir_plugin_sdk::export! {
    /// The plugin type exported to the host.
    pub struct VpcFlow;
    config: Config,
    info: weir_plugin_sdk::info!("vpc-flow")
        .date_fields(&["@timestamp", "start", "end"])
        .default_index("vpc-flow-%Y.%m.%d")
        .config_schema(CONFIG_SCHEMA)
        .index_properties(&[weir_plugin_sdk::ecs::INDEX_PROPERTIES]),
    transform_record: |config, record| transform_record(record, config),
}

/// The default flow log format (version 2), used when the config gives none.
pub const DEFAULT_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} \
     ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

/// How a field's value is written in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Kept as a JSON string (ids, addresses, names, `account-id`).
    Text,
    /// A non-negative integer, written as a JSON number.
    Integer,
    /// Unix seconds, written as an ISO-8601 UTC string (`start`, `end`).
    EpochSeconds,
}

/// Every flow log field this plugin knows, with AWS's names: VPC flow logs
/// versions 2–10, then the Transit Gateway flow log fields (version 6).
pub const FIELDS: &[(&str, FieldKind)] = {
    use FieldKind::{EpochSeconds as Time, Integer as Int, Text};
    &[
        // version 2 (the default format, in order)
        ("version", Int),
        ("account-id", Text),
        ("interface-id", Text),
        ("srcaddr", Text),
        ("dstaddr", Text),
        ("srcport", Int),
        ("dstport", Int),
        ("protocol", Int),
        ("packets", Int),
        ("bytes", Int),
        ("start", Time),
        ("end", Time),
        ("action", Text),
        ("log-status", Text),
        // version 3
        ("vpc-id", Text),
        ("subnet-id", Text),
        ("instance-id", Text),
        ("tcp-flags", Int),
        ("type", Text),
        ("pkt-srcaddr", Text),
        ("pkt-dstaddr", Text),
        // version 4
        ("region", Text),
        ("az-id", Text),
        ("sublocation-type", Text),
        ("sublocation-id", Text),
        // version 5
        ("pkt-src-aws-service", Text),
        ("pkt-dst-aws-service", Text),
        ("flow-direction", Text),
        ("traffic-path", Int),
        // version 7 (ECS)
        ("ecs-cluster-arn", Text),
        ("ecs-cluster-name", Text),
        ("ecs-container-instance-arn", Text),
        ("ecs-container-instance-id", Text),
        ("ecs-container-id", Text),
        ("ecs-second-container-id", Text),
        ("ecs-service-name", Text),
        ("ecs-task-definition-arn", Text),
        ("ecs-task-arn", Text),
        ("ecs-task-id", Text),
        // version 8
        ("reject-reason", Text),
        // version 9
        ("resource-id", Text),
        // version 10
        ("encryption-status", Int),
        // Transit Gateway flow logs (version 6)
        ("resource-type", Text),
        ("tgw-id", Text),
        ("tgw-attachment-id", Text),
        ("tgw-src-vpc-account-id", Text),
        ("tgw-dst-vpc-account-id", Text),
        ("tgw-src-vpc-id", Text),
        ("tgw-dst-vpc-id", Text),
        ("tgw-src-subnet-id", Text),
        ("tgw-dst-subnet-id", Text),
        ("tgw-src-eni", Text),
        ("tgw-dst-eni", Text),
        ("tgw-src-az-id", Text),
        ("tgw-dst-az-id", Text),
        ("tgw-pair-attachment-id", Text),
        ("packets-lost-no-route", Int),
        ("packets-lost-blackhole", Int),
        ("packets-lost-mtu-exceeded", Int),
        ("packets-lost-ttl-expired", Int),
    ]
};

/// A parsed flow log format: the fields of a line, in order. Read from a
/// config's `format` string with [`Format::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Format {
    fields: Vec<(&'static str, FieldKind)>,
}

impl Format {
    /// Parse a format string: `${name}` or bare `name` tokens separated by
    /// whitespace, each a known field ([`FIELDS`]) at most once.
    pub fn parse(format: &str) -> Result<Format, String> {
        let mut fields: Vec<(&'static str, FieldKind)> = Vec::new();
        for token in format.split_ascii_whitespace() {
            let name = match token.strip_prefix("${") {
                Some(rest) => rest.strip_suffix('}').ok_or_else(|| {
                    format!("`format`: `{token}` is not a `${{field}}` placeholder")
                })?,
                None => token,
            };
            let Some(&(known, kind)) = FIELDS.iter().find(|(n, _)| *n == name) else {
                return Err(format!(
                    "`format`: `{name}` is not a VPC or Transit Gateway flow log field \
                     (see https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html)"
                ));
            };
            if fields.iter().any(|(n, _)| *n == known) {
                return Err(format!("`format`: field `{name}` appears twice"));
            }
            fields.push((known, kind));
        }
        if fields.is_empty() {
            return Err("`format` has no fields".to_string());
        }
        Ok(Format { fields })
    }

    /// The field names, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|(n, _)| *n)
    }

    /// The number of fields a line must have.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Always false: a format has at least one field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl TryFrom<String> for Format {
    type Error = String;

    fn try_from(format: String) -> Result<Format, String> {
        Format::parse(&format)
    }
}

/// The plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The format of the flow log lines.
    pub format: Format,
    /// Whether documents get ECS fields beside their own.
    pub ecs: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            format: default_format(),
            ecs: true,
        }
    }
}

/// The fields of the version 2 default format ([`DEFAULT_FORMAT`]): the
/// first 14 of [`FIELDS`].
const DEFAULT_FIELDS: &[(&str, FieldKind)] = FIELDS.split_at(14).0;

/// The version 2 default format.
pub fn default_format() -> Format {
    Format {
        fields: DEFAULT_FIELDS.to_vec(),
    }
}

/// The JSON Schema of [`Config`].
pub const CONFIG_SCHEMA: &str = concat!(
    r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"format":{"type":"string","description":"The flow log format as AWS shows it (`${version} ${account-id} …`) or bare field names separated by spaces; default: the version 2 default format."},"#,
    weir_plugin_sdk::ecs_schema_property!(),
    r#"},"additionalProperties":false}"#
);

/// Parse the plugin config (`{}` or `{"format": "…"}`).
pub fn parse_config(config: &str) -> Result<Config, String> {
    weir_plugin_sdk::config::parse(config)
}

/// Transform one record (see the crate docs for the forms it may take).
pub fn transform_record(record: &[u8], config: &Config) -> Outcome {
    weir_plugin_sdk::text_outcome(record, |text| {
        let payload = weir_plugin_sdk::cwl::documents(text, |line| {
            Ok(flow_line(line.trim_ascii(), config, None)?
                .into_iter()
                .collect())
        });
        let docs = if let Some(docs) = payload {
            docs?
        } else if trim_json_ws(text).starts_with('{') {
            json_record(text, config)?
        } else {
            let mut docs = Vec::new();
            match text_lines(text, config, &mut docs)? {
                // only the header line: nothing to index, nothing wrong
                Lines::OnlyHeaders => None,
                Lines::Some | Lines::None => Some(docs),
            }
        };
        match docs {
            Some(docs) if docs.is_empty() => Err("empty record: no flow log line".to_string()),
            docs => Ok(docs),
        }
    })
}

/// What [`text_lines`] found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// No line at all (empty or blank text).
    None,
    /// Only the format's header line(s): the record is dropped, not failed.
    OnlyHeaders,
    /// At least one flow log line.
    Some,
}

/// One document per flow log line of `text` (blank lines and a header line
/// are skipped), appended to `docs`.
pub fn text_lines(text: &str, config: &Config, docs: &mut Vec<Document>) -> Result<Lines, String> {
    let lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim_ascii().is_empty());
    let mut found = Lines::None;
    for (i, line) in lines.enumerate() {
        match flow_line(line, config, None) {
            Ok(Some(doc)) => {
                docs.push(doc);
                found = Lines::Some;
            }
            Ok(None) if found == Lines::None => found = Lines::OnlyHeaders,
            Ok(None) => {}
            Err(e) if i == 0 => return Err(e),
            Err(e) => return Err(format!("line {} of the record: {e}", i + 1)),
        }
    }
    Ok(found)
}

/// The fields of a JSON record this plugin reads.
#[derive(Deserialize)]
struct JsonRecord<'a> {
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(rename = "messageType", borrow)]
    message_type: Option<Cow<'a, str>>,
}

/// A record of `{"message": …}` objects (CloudWatch Logs payloads are
/// [`weir_plugin_sdk::cwl`]'s, before this). `Ok(None)` when every object
/// holds only header lines.
pub fn json_record(text: &str, config: &Config) -> Result<Option<Vec<Document>>, String> {
    let mut docs = Vec::new();
    let mut all_dropped = true;
    let mut rest = trim_json_ws(text);
    let mut n = 0;
    while !rest.is_empty() {
        n += 1;
        let at = |e: String| {
            if n == 1 {
                e
            } else {
                format!("JSON object {n} of the record: {e}")
            }
        };
        if !rest.starts_with('{') {
            return Err(at(
                "expected a JSON object (`{\"message\": …}` or a CloudWatch Logs payload)"
                    .to_string(),
            ));
        }
        let (value, used): (JsonRecord<'_>, usize) =
            weir_plugin_sdk::json_value_at(rest, "unexpected JSON shape").map_err(at)?;
        match (value.message_type.as_deref(), value.message) {
            (Some(_), _) => {
                return Err(at(
                    "a CloudWatch Logs payload among other JSON objects: send payloads alone"
                        .to_string(),
                ));
            }
            (None, Some(message)) => {
                if text_lines(&message, config, &mut docs).map_err(at)? != Lines::OnlyHeaders {
                    all_dropped = false;
                }
            }
            (None, None) => {
                return Err(at(
                    "a JSON record needs a string `message` (a flow log line) or a CloudWatch Logs `messageType`"
                        .to_string(),
                ));
            }
        }
        rest = trim_json_ws(rest.get(used..).unwrap_or(""));
    }
    Ok(if all_dropped && n > 0 {
        None
    } else {
        Some(docs)
    })
}

/// Parse one flow log line into a document (`Ok(None)` for the format's
/// header line). `id` becomes the document id.
pub fn flow_line(
    line: &str,
    config: &Config,
    id: Option<&str>,
) -> Result<Option<Document>, String> {
    let format = &config.format;
    flow_line_fields(line, format, config.ecs, id).map_err(|e| {
        // A line of the wrong length is reported as such, even when a value
        // error was met first.
        let got = line.split_ascii_whitespace().count();
        if got == format.len() {
            e
        } else {
            field_count_error(got, format)
        }
    })
}

fn flow_line_fields(
    line: &str,
    format: &Format,
    with_ecs: bool,
    id: Option<&str>,
) -> Result<Option<Document>, String> {
    let mut tokens = line.split_ascii_whitespace();
    if line.starts_with(format.fields.first().map_or("", |(n, _)| *n))
        && line.split_ascii_whitespace().eq(format.names())
    {
        return Ok(None);
    }
    let reserve = if with_ecs { ecs::RESERVE } else { 0 };
    let mut body = String::with_capacity(line.len() + 16 * format.len() + 16 + reserve);
    body.push('{');
    let mut ecs = ecs::FlowFields::default();
    let (mut start, mut end) = (None, None);
    let mut start_iso: Option<String> = None;
    for (i, &(name, kind)) in format.fields.iter().enumerate() {
        let Some(value) = tokens.next() else {
            return Err(field_count_error(i, format));
        };
        if value == "-" {
            continue;
        }
        if with_ecs {
            ecs.note(name, value);
        }
        if body.len() > 1 {
            body.push(',');
        }
        body.push('"');
        body.push_str(name);
        body.push_str("\":");
        match kind {
            FieldKind::Text => weir_plugin_sdk::push_json_string(&mut body, value),
            FieldKind::Integer => {
                push_integer(&mut body, name, value)?;
            }
            FieldKind::EpochSeconds => {
                let iso = parse_integer(value)
                    .and_then(|s| i64::try_from(s).ok())
                    .and_then(|s| weir_plugin_sdk::epoch_seconds_to_iso(s).map(|iso| (s, iso)));
                let Some((secs, iso)) = iso else {
                    return Err(format!(
                        "`{name}` must be Unix seconds (1970..=9999) or `-`, got {value:?}"
                    ));
                };
                body.push('"');
                body.push_str(&iso);
                body.push('"');
                if name == "start" {
                    start = Some(secs);
                    start_iso = Some(iso);
                } else {
                    end = Some(secs);
                }
            }
        }
    }
    let extra = tokens.count();
    if extra > 0 {
        return Err(field_count_error(format.len() + extra, format));
    }
    body.push('}');
    if let Some(iso) = start_iso {
        // `@timestamp` first: the flow's start (a member follows: `start`).
        insert_at_timestamp(&mut body, &iso);
    }
    if with_ecs {
        ecs.append_to(&mut body);
    }
    let mut doc = Document::new(body);
    if let Some(secs) = start.or(end) {
        // in range: epoch_seconds_to_iso accepted it
        doc = doc.with_timestamp_ms(secs * 1000);
    }
    if let Some(id) = id {
        doc = doc.with_id(id);
    }
    Ok(Some(doc))
}

/// Append integer field `name`'s `value` to `body`: the digits as
/// written, without leading zeros (what the number prints as, without
/// formatting it); an error when it is not a `u64`.
fn push_integer(body: &mut String, name: &str, value: &str) -> Result<(), String> {
    if parse_integer(value).is_none() {
        return Err(format!("`{name}` must be a number or `-`, got {value:?}"));
    }
    let digits = value.trim_start_matches('0');
    body.push_str(if digits.is_empty() { "0" } else { digits });
    Ok(())
}

/// Make `"@timestamp":"<iso>",` the first member of the object in `body`.
fn insert_at_timestamp(body: &mut String, iso: &str) {
    let mut first = String::with_capacity(iso.len() + 17);
    first.push_str("\"@timestamp\":\"");
    first.push_str(iso);
    first.push_str("\",");
    body.insert_str(1, &first);
}

fn field_count_error(got: usize, format: &Format) -> String {
    format!(
        "the line has {got} fields but the format has {}{}",
        format.len(),
        if format.fields == DEFAULT_FIELDS {
            " (the default version 2 format; set `format` in the plugin config for a custom format)"
        } else {
            ""
        }
    )
}

/// A non-negative decimal integer (ASCII digits only, no sign).
fn parse_integer(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests;
