//! A log event's message as document fields: [`message_fields`].

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use weir_plugin_sdk::Loose;

use crate::RESERVED_FIELDS;

/// The fields a log event's message contributes to its document, as JSON
/// object members without the braces (`"a":1,"b":[…]`), ready to follow the
/// `@` fields. The message's JSON object runs from its first `{` to its end
/// (whitespace after it allowed), as in AWS's LogsToElasticsearch function.
/// `None` when there is no such object, or it has no fields but reserved
/// ones. The members are the message's own text, unchanged, unless a key is
/// reserved ([`RESERVED_FIELDS`], left out) or repeated (the last value
/// kept): then the object is re-encoded without them, in order.
pub fn message_fields(message: &str) -> Option<Cow<'_, str>> {
    let json = message.get(message.find('{')?..)?.trim_end();
    let keys: TopKeys<'_> = serde_json::from_str(json).ok()?;
    if keys.0.is_empty() {
        return None;
    }
    let reserved = keys.0.iter().any(|k| RESERVED_FIELDS.contains(&k.as_ref()));
    if !reserved && !has_duplicates(&keys.0) {
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

/// The top-level keys of a JSON object, in order (values skipped).
struct TopKeys<'a>(Vec<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for TopKeys<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopKeysVisitor(PhantomData))
    }
}

struct TopKeysVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TopKeysVisitor<'a> {
    type Value = TopKeys<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(key) = map.next_key::<Loose<'a>>()? {
            map.next_value::<IgnoredAny>()?;
            if let Loose::Str(key) = key {
                keys.push(key);
            }
        }
        Ok(TopKeys(keys))
    }
}
