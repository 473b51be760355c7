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
//! A line that does not match the format (wrong number of fields, or a
//! non-numeric value in a numeric field) fails its whole record with the
//! reason; the other records of the batch are unaffected. A line that is the
//! format's own header (`version account-id …`, as at the top of the text
//! files flow logs write to S3) is skipped.
//!
//! Config (all optional; unknown keys are refused):
//! - `format`: the flow log's format string, as AWS shows it
//!   (`"${version} ${vpc-id} ${subnet-id} …"`; bare names separated by spaces
//!   are accepted too). Default: the version 2 default format,
//!   [`DEFAULT_FORMAT`]. Every name must be a known flow log field
//!   ([`FIELDS`]), at most once.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Deserialize;
pub use weir_plugin_sdk::MAX_DECOMPRESSED_BYTES;
use weir_plugin_sdk::{BatchContext, Document, Guest, Outcome, trim_json_ws};

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

/// A parsed flow log format: the fields of a line, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The format of the flow log lines.
    pub format: Format,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            format: default_format(),
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

/// Parse the plugin config (`{}` or `{"format": "…"}`).
pub fn parse_config(config: &str) -> Result<Config, String> {
    let map = weir_plugin_sdk::config_object(config)?;
    let mut out = Config::default();
    for (key, value) in &map {
        match key.as_str() {
            "format" => match value {
                serde_json::Value::String(s) => out.format = Format::parse(s)?,
                other => {
                    return Err(format!(
                        "`format` must be a string, got {}",
                        weir_plugin_sdk::json_kind(other)
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "unknown option `{key}`: the vpc-flow plugin takes only `format`"
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
pub struct VpcFlow;

impl Guest for VpcFlow {
    fn validate_config(config: String) -> Result<(), String> {
        validate_config(&config)
    }

    fn transform(ctx: BatchContext, records: Vec<Vec<u8>>) -> Vec<Outcome> {
        weir_plugin_sdk::transform_each(parse_config(&ctx.config), &records, transform_record)
    }
}

weir_plugin_sdk::export!(VpcFlow);

/// Transform one record (see the crate docs for the forms it may take).
pub fn transform_record(record: &[u8], config: &Config) -> Outcome {
    let text = match weir_plugin_sdk::record_text(record, MAX_DECOMPRESSED_BYTES) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(e),
    };
    let result = if trim_json_ws(&text).starts_with('{') {
        json_record(&text, &config.format)
    } else {
        let mut docs = Vec::new();
        text_lines(&text, &config.format, &mut docs).map(|()| Some(docs))
    };
    match result {
        Ok(Some(docs)) if docs.is_empty() => {
            Outcome::Failed("empty record: no flow log line".to_string())
        }
        Ok(Some(docs)) => Outcome::Ok(docs),
        Ok(None) => Outcome::Dropped,
        Err(e) => Outcome::Failed(e),
    }
}

/// One document per flow log line of `text` (blank lines and a header line
/// are skipped), appended to `docs`.
pub fn text_lines(text: &str, format: &Format, docs: &mut Vec<Document>) -> Result<(), String> {
    let lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim_ascii().is_empty());
    for (i, line) in lines.enumerate() {
        match flow_line(line, format, None) {
            Ok(Some(doc)) => docs.push(doc),
            Ok(None) => {}
            Err(e) if i == 0 => return Err(e),
            Err(e) => return Err(format!("line {} of the record: {e}", i + 1)),
        }
    }
    Ok(())
}

/// The fields of a JSON record this plugin reads.
#[derive(Deserialize)]
struct JsonRecord<'a> {
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(rename = "messageType", borrow)]
    message_type: Option<Cow<'a, str>>,
    #[serde(rename = "logEvents", borrow)]
    log_events: Option<Vec<LogEvent<'a>>>,
}

/// A CloudWatch Logs log event.
#[derive(Deserialize)]
struct LogEvent<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

/// A record of JSON objects: `{"message": …}` lines or CloudWatch Logs
/// payloads. `Ok(None)` when every object is a `CONTROL_MESSAGE`.
pub fn json_record(text: &str, format: &Format) -> Result<Option<Vec<Document>>, String> {
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
            (Some("CONTROL_MESSAGE"), _) => {}
            (Some("DATA_MESSAGE"), _) => {
                all_dropped = false;
                let events = value.log_events.unwrap_or_default();
                for (i, event) in events.iter().enumerate() {
                    let Some(line) = event.message.as_deref() else {
                        return Err(at(format!("logEvents[{i}] has no `message`")));
                    };
                    let id = event.id.as_deref().filter(|id| !id.is_empty());
                    match flow_line(line.trim_ascii(), format, id) {
                        Ok(Some(doc)) => docs.push(doc),
                        Ok(None) => {}
                        Err(e) => return Err(at(format!("logEvents[{i}]: {e}"))),
                    }
                }
            }
            (Some(other), _) => {
                return Err(at(format!(
                    "unknown CloudWatch Logs messageType {other:?} (expected DATA_MESSAGE or CONTROL_MESSAGE)"
                )));
            }
            (None, Some(message)) => {
                all_dropped = false;
                text_lines(&message, format, &mut docs).map_err(at)?;
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
    format: &Format,
    id: Option<&str>,
) -> Result<Option<Document>, String> {
    flow_line_fields(line, format, id).map_err(|e| {
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
    id: Option<&str>,
) -> Result<Option<Document>, String> {
    let mut tokens = line.split_ascii_whitespace();
    if line.starts_with(format.fields.first().map_or("", |(n, _)| *n))
        && line.split_ascii_whitespace().eq(format.names())
    {
        return Ok(None);
    }
    let mut body = String::with_capacity(line.len() + 16 * format.len() + 16);
    body.push('{');
    let (mut start, mut end) = (None, None);
    for (i, &(name, kind)) in format.fields.iter().enumerate() {
        let Some(value) = tokens.next() else {
            return Err(field_count_error(i, format));
        };
        if value == "-" {
            continue;
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
                let n = parse_integer(value)
                    .ok_or_else(|| format!("`{name}` must be a number or `-`, got {value:?}"))?;
                let _ = write!(body, "{n}");
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
mod tests {
    use super::*;
    use serde_json::json;
    use weir_plugin_sdk::testing::{batch_context, body, failed, gzip, ok_docs};

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/plugins/vpc-flow/", $name))
        };
    }

    fn config(json: &str) -> Config {
        parse_config(json).unwrap()
    }

    /// Each non-empty line of a `.lines.in` fixture as its own record.
    fn each_line(text: &str, config: &Config) -> Vec<Outcome> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| transform_record(l.as_bytes(), config))
            .collect()
    }

    #[test]
    fn default_format_line() {
        let d = ok_docs(transform_record(
            b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
            &Config::default(),
        ));
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].body,
            r#"{"version":2,"account-id":"123456789010","interface-id":"eni-1235b8ca123456789","srcaddr":"172.31.16.139","dstaddr":"172.31.16.21","srcport":20641,"dstport":22,"protocol":6,"packets":20,"bytes":4249,"start":"2014-12-14T04:06:50Z","end":"2014-12-14T04:07:50Z","action":"ACCEPT","log-status":"OK"}"#
        );
        assert_eq!(d[0].timestamp_ms, Some(1_418_530_010_000));
        assert_eq!((d[0].id.as_deref(), d[0].index.as_deref()), (None, None));
    }

    #[test]
    fn default_format_string_matches_the_default() {
        assert_eq!(Format::parse(DEFAULT_FORMAT).unwrap(), default_format());
        assert_eq!(config("{}"), Config::default());
        assert_eq!(config(""), Config::default());
    }

    #[test]
    fn nodata_and_skipdata_keep_their_status() {
        for (text, status, eni) in [
            (
                fixture!("awsdocs_v2-nodata.in"),
                "NODATA",
                "eni-1235b8ca123456789",
            ),
            (
                fixture!("awsdocs_v2-skipdata.in"),
                "SKIPDATA",
                "eni-11111111aaaaaaaaa",
            ),
        ] {
            let d = ok_docs(transform_record(text.as_bytes(), &Config::default()));
            assert_eq!(d.len(), 1);
            assert_eq!(
                body(&d[0]),
                json!({"version": 2, "account-id": "123456789010", "interface-id": eni,
                       "start": "2015-05-10T18:01:16Z", "end": "2015-05-10T18:02:14Z",
                       "log-status": status})
            );
            assert_eq!(d[0].timestamp_ms, Some(1_431_280_876_000));
        }
    }

    #[test]
    fn v2_fixtures_all_parse() {
        for text in [
            fixture!("awsdocs_v2-default-format.lines.in"),
            fixture!("elastic_test-extra-samples.lines.in"),
        ] {
            for o in each_line(text, &Config::default()) {
                let d = ok_docs(o);
                assert_eq!(d.len(), 1);
                assert_eq!(body(&d[0])["version"], 2);
            }
        }
        // the IPv6 line
        let d = ok_docs(transform_record(
            fixture!("awsdocs_v2-default-format.lines.in").as_bytes(),
            &Config::default(),
        ));
        assert_eq!(d.len(), 5);
        assert_eq!(
            body(&d[4])["srcaddr"],
            "2001:db8:1234:a100:8d6e:3477:df66:f105"
        );
        assert_eq!(body(&d[2])["srcport"], 0);
    }

    #[test]
    fn custom_formats_from_the_format_files() {
        for (format_txt, config_json, text, lines) in [
            (
                fixture!("awsdocs_v3-tcp-flags.format.txt"),
                fixture!("awsdocs_v3-tcp-flags.config.json"),
                fixture!("awsdocs_v3-tcp-flags.in"),
                8,
            ),
            (
                fixture!("awsdocs_v3-transit-gateway.format.txt"),
                fixture!("awsdocs_v3-transit-gateway.config.json"),
                fixture!("awsdocs_v3-transit-gateway.lines.in"),
                4,
            ),
            (
                fixture!("awsdocs_custom-nat-gateway.format.txt"),
                fixture!("awsdocs_custom-nat-gateway.config.json"),
                fixture!("awsdocs_custom-nat-gateway.lines.in"),
                4,
            ),
            (
                fixture!("awsdocs_v5-traffic-path.format.txt"),
                fixture!("awsdocs_v5-traffic-path.config.json"),
                fixture!("awsdocs_v5-traffic-path.lines.in"),
                2,
            ),
        ] {
            // the bare names of the .format.txt and the ${…} form of the config agree
            let cfg = config(config_json);
            assert_eq!(Format::parse(format_txt).unwrap(), cfg.format);
            // the whole file as one record, and line by line
            assert_eq!(
                ok_docs(transform_record(text.as_bytes(), &cfg)).len(),
                lines
            );
            for o in each_line(text, &cfg) {
                let d = ok_docs(o);
                let b = body(&d[0]);
                let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
                let names: Vec<&str> = cfg.format.names().collect();
                // keys follow the format order, minus `-` fields
                assert!(keys.iter().all(|k| names.contains(k)));
                let mut pos = keys
                    .iter()
                    .map(|k| names.iter().position(|n| n == k).unwrap());
                let first = pos.next().unwrap();
                pos.try_fold(first, |a, b| (b > a).then_some(b)).unwrap();
            }
        }
    }

    #[test]
    fn tcp_flags_sample_with_its_double_space() {
        let cfg = config(fixture!("awsdocs_v3-tcp-flags.config.json"));
        let d = ok_docs(transform_record(
            fixture!("awsdocs_v3-tcp-flags.in").as_bytes(),
            &cfg,
        ));
        let last = body(&d[7]);
        assert_eq!(last["dstport"], 43638);
        assert_eq!(last["pkt-srcaddr"], "10.0.0.62");
        assert_eq!(last["tcp-flags"], 19);
        assert_eq!(last["type"], "IPv4");
        assert_eq!(last["start"], "2019-08-27T19:12:13Z");
        assert_eq!(d[7].timestamp_ms, Some(1_566_933_133_000));
    }

    #[test]
    fn nat_gateway_format_without_version_or_time() {
        let cfg = config(fixture!("awsdocs_custom-nat-gateway.config.json"));
        let d = ok_docs(transform_record(
            b"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5",
            &cfg,
        ));
        assert_eq!(
            d[0].body,
            r#"{"interface-id":"eni-1235b8ca123456789","srcaddr":"10.0.1.5","dstaddr":"10.0.0.220","pkt-srcaddr":"10.0.1.5","pkt-dstaddr":"203.0.113.5"}"#
        );
        assert_eq!(d[0].timestamp_ms, None);
    }

    #[test]
    fn traffic_path_and_flow_direction() {
        let cfg = config(fixture!("awsdocs_v5-traffic-path.config.json"));
        let d = ok_docs(transform_record(
            fixture!("awsdocs_v5-traffic-path.lines.in").as_bytes(),
            &cfg,
        ));
        let (a, b) = (body(&d[0]), body(&d[1]));
        assert_eq!(a["pkt-src-aws-service"], "S3");
        assert_eq!(a.get("traffic-path"), None);
        assert_eq!(a["flow-direction"], "ingress");
        assert_eq!(b["traffic-path"], 8);
        assert_eq!(b["flow-direction"], "egress");
        assert_eq!(b["region"], "ap-southeast-2");
        assert_eq!(b.get("sublocation-type"), None);
    }

    #[test]
    fn elastic_all_fields_samples() {
        let cfg = config(fixture!("elastic_test-v5-all-fields.config.json"));
        let d = ok_docs(transform_record(
            fixture!("elastic_test-v5-all-fields.in").as_bytes(),
            &cfg,
        ));
        let b = body(&d[0]);
        assert_eq!(b["start"], "1975-03-14T03:34:26Z"); // a 9-digit start
        assert_eq!(b["pkt-dst-aws-service"], "CLOUDFRONT");
        assert_eq!(b["traffic-path"], 1);

        let cfg = config(fixture!("elastic_test-v8-samples.config.json"));
        let d = ok_docs(transform_record(
            fixture!("elastic_test-v8-samples.in").as_bytes(),
            &cfg,
        ));
        let b = body(&d[0]);
        assert_eq!(b["version"], 3);
        assert_eq!(b["account-id"], "000000000000"); // stays a string
        assert_eq!(b["action"], "REJECT");
        assert_eq!(b["log-status"], "NODATA");
        assert_eq!(b["reject-reason"], "BPA");
        assert_eq!(b["ecs-task-id"], "e504f037-35c");
        assert_eq!(b["flow-direction"], "ingress");
        assert_eq!(b.get("interface-id"), None);
        assert_eq!(b.as_object().unwrap().len(), 25);
    }

    #[test]
    fn message_field_json_lines() {
        let d = ok_docs(transform_record(
            fixture!("elastic_test-with-message-field.in").as_bytes(),
            &Config::default(),
        ));
        assert_eq!(d.len(), 1);
        assert_eq!(body(&d[0])["log-status"], "NODATA");
        assert_eq!(body(&d[0])["account-id"], "428961148399");

        // several JSON lines in one record, and a message with a trailing newline
        let two = "{\"message\":\"2 1 eni-a - - - - - - - 1 2 - NODATA\\n\"}\n{\"message\":\"2 1 eni-b - - - - - - - 1 2 - SKIPDATA\"}\n";
        let d = ok_docs(transform_record(two.as_bytes(), &Config::default()));
        assert_eq!(d.len(), 2);
        assert_eq!(body(&d[1])["interface-id"], "eni-b");
    }

    #[test]
    fn firehose_payloads_default_format_keeps_v2_and_fails_the_rest() {
        let outcomes = each_line(
            fixture!("elastic-awsfirehose_firehose-record-payloads.lines.in"),
            &Config::default(),
        );
        assert_eq!(outcomes.len(), 15);
        let ok = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Ok(_)))
            .count();
        assert_eq!(ok, 5);
        for o in outcomes.into_iter().skip(5) {
            let reason = failed(o);
            assert!(reason.contains("fields but the format has 14"), "{reason}");
            assert!(reason.contains("set `format`"), "{reason}");
        }
    }

    #[test]
    fn firehose_payloads_with_their_own_formats() {
        // line `n` of the payloads fixture, read with `format`
        let line_body = |format: &str, n: usize| {
            let cfg = Config {
                format: Format::parse(format).unwrap(),
            };
            let line = fixture!("elastic-awsfirehose_firehose-record-payloads.lines.in")
                .lines()
                .nth(n)
                .unwrap();
            body(&ok_docs(transform_record(line.as_bytes(), &cfg))[0])
        };
        // the v7 line is the "all fields up to version 7" layout
        let v7 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id";
        let b = line_body(v7, 10);
        assert_eq!(b["version"], 7);
        assert_eq!(b["ecs-service-name"], "payments-service");
        assert_eq!(b["traffic-path"], 1);

        // a Transit Gateway (version 6) line with the TGW field list
        let tgw = "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service";
        let b = line_body(tgw, 8);
        assert_eq!(b["resource-type"], "TransitGateway");
        assert_eq!(b["log-status"], "SKIPDATA");
        assert_eq!(b["packets-lost-no-route"], 0);
        assert_eq!(b["dstaddr"], "2a02:cf40::");
    }

    #[test]
    fn cloudwatch_logs_payloads() {
        let raw = fixture!("otel_valid_vpc_flow_cw.in");
        for record in [raw.as_bytes().to_vec(), gzip(raw.as_bytes())] {
            let d = ok_docs(transform_record(&record, &Config::default()));
            assert_eq!(d.len(), 2);
            assert_eq!(d[0].id.as_deref(), Some("eventId1"));
            assert_eq!(d[1].id.as_deref(), Some("eventId2"));
            assert_eq!(body(&d[1])["action"], "REJECT");
            assert_eq!(d[1].timestamp_ms, Some(1_418_530_010_000));
        }
        let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1600110003794,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
        assert!(matches!(
            transform_record(control.as_bytes(), &Config::default()),
            Outcome::Dropped
        ));
        let bad = r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"2 x"}]}"#;
        assert!(
            failed(transform_record(bad.as_bytes(), &Config::default()))
                .starts_with("logEvents[0]: the line has 2 fields")
        );
        let odd = r#"{"messageType":"OTHER"}"#;
        assert!(
            failed(transform_record(odd.as_bytes(), &Config::default()))
                .contains("unknown CloudWatch Logs messageType")
        );
    }

    #[test]
    fn header_lines_are_skipped() {
        let text = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 1 eni-a - - - - - - - 1 2 - NODATA\n";
        let d = ok_docs(transform_record(text.as_bytes(), &Config::default()));
        assert_eq!(d.len(), 1);
        // a header alone is an empty record
        let header = text.lines().next().unwrap();
        assert!(
            failed(transform_record(header.as_bytes(), &Config::default()))
                .contains("empty record")
        );
    }

    #[test]
    fn bad_lines_fail_with_a_reason() {
        let cfg = Config::default();
        let ok = "2 1 eni-a - - - - - - - 1 2 - NODATA";
        assert!(failed(transform_record(b"", &cfg)).contains("empty record"));
        assert!(failed(transform_record(b"\n \r\n", &cfg)).contains("empty record"));
        assert!(failed(transform_record(b"\xff", &cfg)).contains("not UTF-8"));
        assert!(
            failed(transform_record(b"2 1 eni-a", &cfg))
                .contains("has 3 fields but the format has 14")
        );
        let long = format!("{ok} extra");
        assert!(failed(transform_record(long.as_bytes(), &cfg)).contains("has 15 fields"));
        assert!(
            failed(transform_record(
                b"2 1 eni-a - - http - - - - 1 2 - NODATA",
                &cfg
            ))
            .contains("`srcport` must be a number or `-`, got \"http\"")
        );
        assert!(
            failed(transform_record(
                b"2 1 eni-a - - -1 - - - - 1 2 - NODATA",
                &cfg
            ))
            .contains("`srcport`")
        );
        assert!(
            failed(transform_record(
                b"2 1 eni-a - - 99999999999999999999999 - - - - 1 2 - NODATA",
                &cfg
            ))
            .contains("`srcport`")
        );
        assert!(
            failed(transform_record(
                b"2 1 eni-a - - - - - - - 1.5 2 - NODATA",
                &cfg
            ))
            .contains("`start` must be Unix seconds")
        );
        assert!(
            failed(transform_record(
                b"2 1 eni-a - - - - - - - 1 999999999999 - NODATA",
                &cfg
            ))
            .contains("`end` must be Unix seconds")
        );
        let second = format!("{ok}\n2 1\n");
        assert!(
            failed(transform_record(second.as_bytes(), &cfg)).starts_with("line 2 of the record")
        );
        assert!(failed(transform_record(b"{\"message\":", &cfg)).contains("invalid JSON"));
        assert!(
            failed(transform_record(b"{\"message\":5}", &cfg)).contains("unexpected JSON shape")
        );
        assert!(failed(transform_record(b"{\"other\":\"x\"}", &cfg)).contains("string `message`"));
        let two = format!("{{\"message\":\"{ok}\"}} [1]");
        assert!(
            failed(transform_record(two.as_bytes(), &cfg))
                .starts_with("JSON object 2 of the record")
        );
        // a gzip bomb hits the cap
        let bomb = gzip(&vec![b' '; MAX_DECOMPRESSED_BYTES + 1]);
        assert!(failed(transform_record(&bomb, &cfg)).contains("cap"));
    }

    #[test]
    fn values_are_json_escaped() {
        let cfg = Config {
            format: Format::parse("account-id action").unwrap(),
        };
        let d = ok_docs(transform_record(br#"a"b c\d"#, &cfg));
        assert_eq!(d[0].body, r#"{"account-id":"a\"b","action":"c\\d"}"#);
        // leading zeros of numbers are dropped (JSON forbids them)
        let cfg = Config {
            format: Format::parse("version srcport").unwrap(),
        };
        let d = ok_docs(transform_record(b"02 0080", &cfg));
        assert_eq!(d[0].body, r#"{"version":2,"srcport":80}"#);
    }

    #[test]
    fn config_is_checked() {
        assert!(validate_config(r#"{"format":"${version} ${srcaddr}"}"#).is_ok());
        assert!(validate_config(r#"{"format":"version srcaddr"}"#).is_ok());
        for (config, want) in [
            (r#"{"format":""}"#, "no fields"),
            (r#"{"format":"${version} ${srcadr}"}"#, "`srcadr` is not"),
            (r#"{"format":"${version} ${version}"}"#, "twice"),
            (r#"{"format":"${version"}"#, "placeholder"),
            (r#"{"format":5}"#, "must be a string"),
            (r#"{"fmt":"x"}"#, "unknown option `fmt`"),
            ("[]", "must be a JSON object"),
        ] {
            let reason = validate_config(config).unwrap_err();
            assert!(reason.contains(want), "{config}: {reason}");
        }
        // every known field parses, and the list has no duplicates
        let all: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
        let f = Format::parse(&all.join(" ")).unwrap();
        assert_eq!(f.len(), FIELDS.len());
        assert!(!f.is_empty());
    }

    #[test]
    fn a_bad_config_fails_every_record_of_the_batch() {
        let ctx = batch_context("vpc", r#"{"format":"nope"}"#);
        let out = <VpcFlow as Guest>::transform(ctx, vec![b"x".to_vec(), b"y".to_vec()]);
        assert_eq!(out.len(), 2);
        for o in out {
            assert!(failed(o).starts_with("invalid plugin config"));
        }
    }
}
