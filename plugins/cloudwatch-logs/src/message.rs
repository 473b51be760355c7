//! A log event's message as document fields: [`message_fields`].

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use weir_plugin_sdk::Loose;

use crate::RESERVED_FIELDS;
use crate::ecs::TrailFields;

/// The fields a log event's message contributes to its document, as JSON
/// object members without the braces (`"a":1,"b":[…]`), ready to follow the
/// `@` fields. The message's JSON object runs from its first `{` to its end
/// (whitespace after it allowed), as in AWS's LogsToElasticsearch function.
/// `None` when there is no such object, or it has no fields but reserved
/// ones. The members are the message's own text, unchanged, unless a key is
/// reserved ([`RESERVED_FIELDS`], left out) or repeated (the last value
/// kept): then the object is re-encoded without them, in order.
pub fn message_fields(message: &str) -> Option<Cow<'_, str>> {
    message_info(message).fields
}

fn has_duplicates(keys: &[Cow<'_, str>]) -> bool {
    if keys.len() <= 32 {
        return keys
            .iter()
            .enumerate()
            .any(|(i, k)| keys[i + 1..].contains(k));
    }
    let mut sorted: Vec<&str> = keys.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    sorted.windows(2).any(|w| w[0] == w[1])
}

/// What one parse of a log event's message finds, each part exactly as
/// its own parse gives it: the document's fields ([`message_fields`]), the
/// CloudTrail event's id and time
/// ([`cloudtrail_identity`](crate::cloudtrail::cloudtrail_identity)) and
/// the sources of its ECS fields ([`TrailFields::from_text`]). One pass
/// over the message instead of three (CloudTrail through CloudWatch Logs
/// spent about a fifth of its time in those passes); a test checks it
/// agrees with the three.
pub(crate) struct MessageInfo<'a> {
    /// [`message_fields`].
    pub(crate) fields: Option<Cow<'a, str>>,
    /// `cloudtrail_identity`.
    pub(crate) identity: Option<(String, i64)>,
    /// [`TrailFields::from_text`].
    pub(crate) trail: Option<TrailFields<'a>>,
}

/// [`MessageInfo`] of `message`.
pub(crate) fn message_info(message: &str) -> MessageInfo<'_> {
    let json = message
        .find('{')
        .and_then(|at| message.get(at..))
        .map(str::trim_end);
    let Some((json, top)) = json.and_then(|j| Some((j, serde_json::from_str::<Top<'_>>(j).ok()?)))
    else {
        return MessageInfo {
            fields: None,
            identity: None,
            trail: None,
        };
    };
    MessageInfo {
        fields: fields_of(json, &top.keys),
        identity: top.identity(),
        trail: top.trail(),
    }
}

/// [`message_fields`] of the object `json` with top-level `keys`.
fn fields_of<'a>(json: &'a str, keys: &[Cow<'_, str>]) -> Option<Cow<'a, str>> {
    if keys.is_empty() {
        return None;
    }
    let reserved = keys.iter().any(|k| RESERVED_FIELDS.contains(&k.as_ref()));
    if !reserved && !has_duplicates(keys) {
        return Some(Cow::Borrowed(json.get(1..json.len() - 1)?.trim_ascii()));
    }
    let mut map: Map<String, Value> = serde_json::from_str(json).ok()?;
    map.retain(|k, _| !RESERVED_FIELDS.contains(&k.as_str()));
    if map.is_empty() {
        return None;
    }
    let text = serde_json::to_string(&map).ok()?;
    Some(Cow::Owned(text.get(1..text.len() - 1)?.to_string()))
}

/// One pass over a message's JSON object: its keys, and the values the
/// three parts of [`MessageInfo`] read.
#[derive(Default)]
struct Top<'a> {
    keys: Vec<Cow<'a, str>>,
    /// The fields [`TrailFields`] reads, but its two objects.
    trail: TrailFields<'a>,
    /// `responseElements` and `userIdentity`, parsed as `TrailFields`
    /// parses them only when it is needed.
    response_elements: Option<&'a RawValue>,
    user_identity: Option<&'a RawValue>,
    event_time: Option<Loose<'a>>,
    /// A bit per key read ([`Top::member`]: the 24 `TrailFields` names,
    /// then `eventTime`).
    named: u32,
    /// Some key `TrailFields` names came twice: its parse refuses that.
    trail_repeated: bool,
    /// `eventID` or `eventTime` came twice: the identity's parse refuses that.
    identity_repeated: bool,
}

impl<'a> Top<'a> {
    /// `cloudtrail_identity`: a non-empty string `eventID`, and an
    /// `eventTime` string that is a time within 1970..=9999.
    fn identity(&self) -> Option<(String, i64)> {
        if self.identity_repeated {
            return None;
        }
        let id = match &self.trail.event_id {
            Some(Loose::Str(id)) if !id.is_empty() => id,
            _ => return None,
        };
        let Some(Loose::Str(time)) = &self.event_time else {
            return None;
        };
        let ms = weir_plugin_sdk::iso_to_epoch_ms(time)?;
        (0..=weir_plugin_sdk::MAX_EPOCH_MS)
            .contains(&ms)
            .then(|| (id.to_string(), ms))
    }

    /// [`TrailFields::from_text`]: `None` when a key it names came twice
    /// or one of its objects does not parse as it parses them.
    fn trail(self) -> Option<TrailFields<'a>> {
        if self.trail_repeated {
            return None;
        }
        let mut trail = self.trail;
        if let Some(raw) = self.response_elements {
            trail.response_elements = serde_json::from_str(raw.get()).ok()?;
        }
        if let Some(raw) = self.user_identity {
            trail.user_identity = serde_json::from_str(raw.get()).ok()?;
        }
        Some(trail)
    }

    /// Read the value of member `key`.
    fn member<'de: 'a, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let t = &mut self.trail;
        let loose = |map: &mut A| map.next_value::<Option<Loose<'a>>>();
        let ignored = |map: &mut A| map.next_value::<Option<IgnoredAny>>();
        // each key's bit in `named`
        let bit = match key {
            "eventID" => (t.event_id = loose(map)?, 0).1,
            "eventName" => (t.event_name = loose(map)?, 1).1,
            "eventSource" => (t.event_source = loose(map)?, 2).1,
            "eventType" => (t.event_type = loose(map)?, 3).1,
            "errorCode" => (t.error_code = loose(map)?, 4).1,
            "recipientAccountId" => (t.recipient_account_id = loose(map)?, 5).1,
            "awsRegion" => (t.aws_region = loose(map)?, 6).1,
            "sourceIPAddress" => (t.source_ip_address = loose(map)?, 7).1,
            "userAgent" => (t.user_agent = loose(map)?, 8).1,
            "responseElements" => (self.response_elements = map.next_value()?, 9).1,
            "userIdentity" => (self.user_identity = map.next_value()?, 10).1,
            "@timestamp" => (t.at_timestamp = ignored(map)?, 11).1,
            "event" => (t.event = ignored(map)?, 12).1,
            "cloud" => (t.cloud = ignored(map)?, 13).1,
            "source" => (t.source = ignored(map)?, 14).1,
            "destination" => (t.destination = ignored(map)?, 15).1,
            "network" => (t.network = ignored(map)?, 16).1,
            "user" => (t.user = ignored(map)?, 17).1,
            "user_agent" => (t.user_agent_ = ignored(map)?, 18).1,
            "http" => (t.http = ignored(map)?, 19).1,
            "url" => (t.url = ignored(map)?, 20).1,
            "dns" => (t.dns = ignored(map)?, 21).1,
            "rule" => (t.rule = ignored(map)?, 22).1,
            "related" => (t.related = ignored(map)?, 23).1,
            "eventTime" => (self.event_time = loose(map)?, EVENT_TIME_BIT).1,
            _ => {
                map.next_value::<IgnoredAny>()?;
                return Ok(());
            }
        };
        let again = self.named & (1 << bit) != 0;
        self.named |= 1 << bit;
        self.trail_repeated |= again && bit < EVENT_TIME_BIT;
        self.identity_repeated |= again && (bit == 0 || bit == EVENT_TIME_BIT);
        Ok(())
    }
}

/// `eventTime`'s bit in [`Top::named`] (after the 24 keys `TrailFields` names).
const EVENT_TIME_BIT: u32 = 24;

impl<'de: 'a, 'a> Deserialize<'de> for Top<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopVisitor(PhantomData))
    }
}

struct TopVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TopVisitor<'a> {
    type Value = Top<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut top = Top {
            keys: Vec::with_capacity(map.size_hint().unwrap_or(24)),
            ..Top::default()
        };
        while let Some(key) = map.next_key::<Loose<'a>>()? {
            match key {
                Loose::Str(key) => {
                    top.member(&key, &mut map)?;
                    top.keys.push(key);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(top)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::Value;

    use super::message_info;
    use crate::ecs::TrailFields;

    /// The identity's own parse, which [`message_info`] replaced: the
    /// reference it must agree with.
    fn cloudtrail_identity(message: &str) -> Option<(String, i64)> {
        #[derive(Deserialize)]
        struct Identity<'a> {
            #[serde(rename = "eventID", borrow)]
            event_id: Option<Cow<'a, str>>,
            #[serde(rename = "eventTime", borrow)]
            event_time: Option<Cow<'a, str>>,
        }
        let json = message.get(message.find('{')?..)?.trim_end();
        let ids: Identity<'_> = serde_json::from_str(json).ok()?;
        let event_id = ids.event_id.filter(|s| !s.is_empty())?;
        let ms = weir_plugin_sdk::iso_to_epoch_ms(&ids.event_time?)?;
        (0..=weir_plugin_sdk::MAX_EPOCH_MS)
            .contains(&ms)
            .then(|| (event_id.into_owned(), ms))
    }

    /// Every CloudTrail event in the fixtures' `Records`.
    fn fixture_events() -> Vec<String> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/plugins/cloudwatch-logs"
        );
        let mut events = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(Value::Object(file)) = serde_json::from_slice(&std::fs::read(&path).unwrap())
            else {
                continue;
            };
            if let Some(Value::Array(records)) = file.get("Records") {
                events.extend(records.iter().map(Value::to_string));
            }
        }
        assert!(events.len() >= 10, "{} events", events.len());
        events
    }

    #[test]
    fn one_parse_agrees_with_the_three_it_replaced() {
        let mut checked = 0;
        for event in fixture_events() {
            let inner = &event[1..];
            let with = |extra: &str| format!("{{{extra},{inner}");
            let mut messages = vec![
                event.clone(),
                format!("2024-01-01T00:00:00Z INFO {event}  \n"),
                format!("{event} trailing"),
            ];
            for extra in [
                r#""eventID":null"#,
                r#""eventID":5"#,
                r#""eventID":"""#,
                r#""eventTime":"2024-01-01T00:00:00Z""#,
                r#""eventTime":17"#,
                r#""eventName":"Again""#,
                r#""responseElements":"a string""#,
                r#""responseElements":{"ConsoleLogin":"Failure"}"#,
                r#""userIdentity":["an","array"]"#,
                r#""userIdentity":{"sessionContext":"a string"}"#,
                r#""userIdentity":{"userName":"u","userName":"v"}"#,
                r#""event":null"#,
                r#""event":{}"#,
                r#""@timestamp":"x""#,
                r#""\u0065ventName":"Escaped""#,
                r#""zz":1,"zz":2"#,
                r#""source":1"#,
            ] {
                messages.push(with(extra));
            }
            for message in &messages {
                let info = message_info(message);
                assert_eq!(info.identity, cloudtrail_identity(message), "{message}");
                let json = message.find('{').map(|at| message[at..].trim_end());
                let reference = json
                    .and_then(TrailFields::from_text)
                    .map(|t| t.to_members());
                assert_eq!(info.trail.map(|t| t.to_members()), reference, "{message}");
                checked += 1;
            }
        }
        assert!(checked > 100);
    }
}
