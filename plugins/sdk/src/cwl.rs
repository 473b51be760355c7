//! CloudWatch Logs subscription payloads holding another source's logs
//! (`{"messageType":"DATA_MESSAGE","logEvents":[{"id","timestamp","message"}, …], …}`),
//! for plugins whose logs may arrive that way (WAF, Route 53 Resolver): each
//! log event's `message` is one log, transformed as a plain record would be.
//!
//! [`documents`] recognises a payload (a JSON object with a string
//! `messageType`; several may follow one another in a record) and calls the
//! plugin once per log event. Anything else is left to the plugin: a record
//! that is not a payload gives `None`, so a plugin's own path for plain logs
//! runs untouched.

use std::borrow::Cow;

use serde::Deserialize;

use crate::{Document, trim_json_ws};

/// The fields of a payload read here; the rest (`owner`, `logGroup`, …) are skipped.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "messageType", borrow)]
    message_type: Option<Cow<'a, str>>,
    #[serde(rename = "logEvents", default, borrow)]
    log_events: Vec<LogEvent<'a>>,
}

/// One log event.
#[derive(Deserialize)]
struct LogEvent<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

/// Whether `text` may be a payload: a JSON object naming `messageType`.
/// Cheap, to keep plain logs off the payload parse.
pub fn may_be_payload(text: &str) -> bool {
    trim_json_ws(text).starts_with('{') && text.contains("\"messageType\"")
}

/// The documents of the payload(s) in `text`, `log` giving the documents of
/// one log event's `message`; a document without an id gets the log event's
/// `id` (so a payload delivered twice gives the same documents).
///
/// - `None`: `text` is not a payload (no `messageType`, or not JSON objects
///   alone): handle it as a plain record.
/// - `Some(Ok(None))`: every payload is a `CONTROL_MESSAGE`: drop the record.
/// - `Some(Ok(Some(docs)))`: the documents of every log event, in order.
/// - `Some(Err(reason))`: an unknown `messageType`, a log event without a
///   string `message`, or `log`'s error, prefixed with `logEvents[i]: `.
pub fn documents(
    text: &str,
    mut log: impl FnMut(&str) -> Result<Vec<Document>, String>,
) -> Option<Result<Option<Vec<Document>>, String>> {
    if !may_be_payload(text) {
        return None;
    }
    let payloads: Vec<Payload<'_>> = serde_json::Deserializer::from_str(text)
        .into_iter::<Payload<'_>>()
        .collect::<Result<_, _>>()
        .ok()?;
    if payloads.is_empty() || payloads.iter().any(|p| p.message_type.is_none()) {
        return None;
    }
    let mut docs = Vec::new();
    let mut all_control = true;
    for payload in payloads {
        match payload.message_type.as_deref() {
            Some("CONTROL_MESSAGE") => continue,
            Some("DATA_MESSAGE") => all_control = false,
            other => {
                return Some(Err(format!(
                    "unknown CloudWatch Logs messageType {:?} (expected DATA_MESSAGE or CONTROL_MESSAGE)",
                    other.unwrap_or_default()
                )));
            }
        }
        for (i, event) in payload.log_events.iter().enumerate() {
            let Some(message) = event.message.as_deref() else {
                return Some(Err(format!("logEvents[{i}] has no string `message`")));
            };
            let got = match log(message) {
                Ok(got) => got,
                Err(e) => return Some(Err(format!("logEvents[{i}]: {e}"))),
            };
            let id = event.id.as_deref().filter(|id| !id.is_empty());
            docs.extend(got.into_iter().map(|doc| match (&doc.id, id) {
                (None, Some(id)) => doc.with_id(id),
                _ => doc,
            }));
        }
    }
    Some(Ok(if all_control { None } else { Some(docs) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(message: &str) -> Result<Vec<Document>, String> {
        match message {
            "bad" => Err("bad log".to_string()),
            m => Ok(vec![Document::new(m.to_string())]),
        }
    }

    #[test]
    fn plain_records_are_not_payloads() {
        assert!(documents(r#"{"timestamp":1}"#, one).is_none());
        assert!(documents("[1]", one).is_none());
        assert!(documents(r#"{"messageType":"DATA_MESSAGE"} x"#, one).is_none());
        assert!(documents(r#"{"a":"\"messageType\""}"#, one).is_none());
    }

    #[test]
    fn data_control_and_errors() {
        let data = r#"{"messageType":"DATA_MESSAGE","owner":"1","logEvents":[{"id":"e1","timestamp":1,"message":"{\"a\":1}"},{"id":"","timestamp":2,"message":"m2"}]}"#;
        let Some(Ok(Some(docs))) = documents(data, one) else {
            panic!("not documents")
        };
        let got: Vec<_> = docs
            .iter()
            .map(|d| (d.body.as_str(), d.id.as_deref()))
            .collect();
        assert_eq!(got, [(r#"{"a":1}"#, Some("e1")), ("m2", None)]);
        let control = r#"{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE"}]}"#;
        assert!(matches!(documents(control, one), Some(Ok(None))));
        let both = format!("{control}\n{data}");
        assert!(matches!(documents(&both, one), Some(Ok(Some(d))) if d.len() == 2));
        let bad =
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"x"},{"message":"bad"}]}"#;
        assert_eq!(
            documents(bad, one).unwrap().unwrap_err(),
            "logEvents[1]: bad log"
        );
        let odd = r#"{"messageType":"OTHER","logEvents":[]}"#;
        assert!(documents(odd, one).unwrap().unwrap_err().contains("OTHER"));
        let no_message = r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1"}]}"#;
        assert!(
            documents(no_message, one)
                .unwrap()
                .unwrap_err()
                .contains("`message`")
        );
    }
}
