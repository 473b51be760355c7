//! The `_bulk` wire format: NDJSON encoding and per-item response parsing. Pure.

use serde::Deserialize;

/// One document to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkDoc {
    /// Target index.
    pub index: String,
    /// Document id.
    pub id: String,
    /// One-line JSON object.
    pub body: String,
}

impl BulkDoc {
    /// Bytes this document adds to a `_bulk` body (action line + body +
    /// newlines): exact unless the index or id needs escapes. (It was two
    /// bytes short, so every `_bulk` body was reallocated and copied once
    /// near its end.)
    pub fn encoded_len(&self) -> usize {
        ACTION_OVERHEAD + self.index.len() + self.id.len() + self.body.len()
    }
}

/// `{"index":{"_index":"","_id":""}}\n` and the body's `\n`.
const ACTION_OVERHEAD: usize = r#"{"index":{"_index":"","_id":""}}"#.len() + 2;

/// Append `{"index":{"_index":…,"_id":…}}\n<body>\n` for each document.
/// `index` (not `create`) so that a retried request overwrites by id.
pub fn encode<'a>(docs: impl IntoIterator<Item = &'a BulkDoc>, out: &mut Vec<u8>) {
    for d in docs {
        encode_one(&d.index, &d.id, &d.body, out);
    }
}

/// Append one document in `_bulk` form: the `index` action line, then the
/// body (already one line). The only `_bulk` encoder: the directory sink
/// writes its files with it too.
pub fn encode_one(index: &str, id: &str, body: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"index\":{\"_index\":");
    write_json_string(index, out);
    out.extend_from_slice(b",\"_id\":");
    write_json_string(id, out);
    out.extend_from_slice(b"}}\n");
    out.extend_from_slice(body.as_bytes());
    out.push(b'\n');
}

fn write_json_string(s: &str, out: &mut Vec<u8>) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        // Nothing to escape: index names and ids almost always.
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Serializing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// What OpenSearch said about one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemStatus {
    /// Indexed (2xx).
    Ok,
    /// May succeed later: 429 (`es_rejected_execution_exception`,
    /// `rejected_execution_exception`) or 5xx.
    Retry(ItemError),
    /// Will not succeed as sent (mapping conflict, bad document, …).
    Rejected(ItemError),
}

/// An item's error, as OpenSearch gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// HTTP status of the item.
    pub status: u16,
    /// `error.type`, e.g. `mapper_parsing_exception`.
    pub error_type: String,
    /// `error.reason`, with the first `caused_by` reason appended.
    pub reason: String,
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error_type, self.status, self.reason)
    }
}

/// Whether an item status is worth retrying.
pub fn is_retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, Item>>,
}

#[derive(Deserialize)]
struct Item {
    status: u16,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type", default)]
    error_type: String,
    #[serde(default)]
    reason: Option<String>,
    caused_by: Option<Box<ErrorBody>>,
}

/// Parse a 2xx `_bulk` response into one status per item sent, in order.
pub fn parse_response(body: &[u8], expected: usize) -> Result<Vec<ItemStatus>, String> {
    let resp: Response =
        serde_json::from_slice(body).map_err(|e| format!("unparseable _bulk response: {e}"))?;
    if resp.items.len() != expected {
        return Err(format!(
            "_bulk response has {} items for {expected} documents",
            resp.items.len()
        ));
    }
    Ok(resp
        .items
        .into_iter()
        .map(|mut m| {
            let item = m.drain().next().map(|(_, v)| v);
            match item {
                None => ItemStatus::Retry(ItemError {
                    status: 500,
                    error_type: "weir_empty_item".into(),
                    reason: "empty item in _bulk response".into(),
                }),
                Some(item) if (200..300).contains(&item.status) => ItemStatus::Ok,
                Some(item) => {
                    let (error_type, reason) = match item.error {
                        Some(e) => {
                            let mut reason = e.reason.unwrap_or_default();
                            if let Some(c) = e.caused_by
                                && let Some(cr) = c.reason
                            {
                                reason = format!("{reason}; caused by {}: {cr}", c.error_type);
                            }
                            (e.error_type, reason)
                        }
                        None => ("unknown".to_string(), String::new()),
                    };
                    let err = ItemError {
                        status: item.status,
                        error_type,
                        reason,
                    };
                    if is_retryable(item.status) {
                        ItemStatus::Retry(err)
                    } else {
                        ItemStatus::Rejected(err)
                    }
                }
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_action_and_document_lines() {
        let docs = vec![
            BulkDoc {
                index: "waf".into(),
                id: "a\"b".into(),
                body: r#"{"x":1}"#.into(),
            },
            BulkDoc {
                index: "cwl-2024.01.02".into(),
                id: "2".into(),
                body: "{}".into(),
            },
        ];
        let mut out = Vec::new();
        encode(&docs, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"index\":{\"_index\":\"waf\",\"_id\":\"a\\\"b\"}}\n{\"x\":1}\n\
             {\"index\":{\"_index\":\"cwl-2024.01.02\",\"_id\":\"2\"}}\n{}\n"
        );
        let mut one = Vec::new();
        encode(&docs[1..], &mut one);
        assert_eq!(one.len(), docs[1].encoded_len(), "exact without escapes");
        let mut escaped = Vec::new();
        let doc = BulkDoc {
            index: "i".into(),
            id: "t\u{1}\\".into(),
            body: "{}".into(),
        };
        encode([&doc], &mut escaped);
        let text = String::from_utf8(escaped).unwrap();
        assert!(text.contains(r#""_id":"t\u0001\\"}"#), "{text}");
    }

    /// A response shaped as OpenSearch 2.19 returns it, with one of each outcome.
    #[test]
    fn parses_every_item() {
        let body = br#"{"took":30,"errors":true,"items":[
          {"index":{"_index":"waf","_id":"1","_version":1,"result":"created","status":201}},
          {"index":{"_index":"waf","_id":"2","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [timestamp] of type [date] in document with id '2'. Preview of field's value: 'yesterday'","caused_by":{"type":"illegal_argument_exception","reason":"failed to parse date field [yesterday]"}}}},
          {"index":{"_index":"waf","_id":"3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}},
          {"index":{"_index":"waf","_id":"4","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
          {"index":{"_index":"waf","_id":"5","_version":2,"result":"updated","status":200}}
        ]}"#;
        let items = parse_response(body, 5).unwrap();
        assert_eq!(items[0], ItemStatus::Ok);
        match &items[1] {
            ItemStatus::Rejected(e) => {
                assert_eq!(e.status, 400);
                assert_eq!(e.error_type, "mapper_parsing_exception");
                assert!(e.reason.contains("failed to parse field [timestamp]"));
                assert!(e.reason.contains("caused by illegal_argument_exception"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&items[2], ItemStatus::Retry(e) if e.status == 429));
        assert!(matches!(&items[3], ItemStatus::Retry(e) if e.status == 503));
        assert_eq!(items[4], ItemStatus::Ok);
        assert!(parse_response(body, 4).is_err());
        assert!(parse_response(b"<html>", 1).is_err());
    }
}
