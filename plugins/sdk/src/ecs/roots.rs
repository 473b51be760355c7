//! [`Roots`]: the ECS roots a document already has.

use super::ROOTS;

/// Which ECS roots a document already has as top-level keys (a bit per
/// entry of [`ROOTS`]); [`Ecs::append_to`](super::Ecs::append_to) skips them.
/// One more bit tells whether it has a top-level `@timestamp`
/// ([`Roots::has_timestamp`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roots(u16);

/// The bit of a top-level `@timestamp` (after the roots' bits).
const TIMESTAMP: u16 = 1 << ROOTS.len();

impl Roots {
    /// No root present.
    pub const NONE: Roots = Roots(0);
    /// Every root present (nothing is appended), and `@timestamp`: for a
    /// document whose keys cannot be told.
    pub const ALL: Roots = Roots(((1 << ROOTS.len()) - 1) | TIMESTAMP);

    /// Whether the document has a top-level `@timestamp` key, or may have
    /// one (its keys cannot be told: [`Roots::ALL`]). Plugins that write
    /// `@timestamp` first take their full path then (no duplicate key).
    pub fn has_timestamp(self) -> bool {
        self.0 & TIMESTAMP != 0
    }

    /// Note a top-level key (anything but a root is ignored).
    pub fn mark(&mut self, key: &str) {
        self.mark_bytes(key.as_bytes());
    }

    /// [`Roots::mark`] of a key's UTF-8 bytes.
    pub fn mark_bytes(&mut self, key: &[u8]) {
        // Cheap first test: every root is 3..=11 bytes, lowercase ASCII.
        if !(3..=11).contains(&key.len()) || !key[0].is_ascii_lowercase() {
            if key.len() == 10 && key[0] == b'@' && key == b"@timestamp" {
                self.0 |= TIMESTAMP;
            }
            return;
        }
        if let Some(i) = ROOTS.iter().position(|r| r.as_bytes() == key) {
            self.0 |= 1 << i;
        }
    }

    /// The roots among `keys`.
    pub fn of_keys<K: AsRef<str>>(keys: impl IntoIterator<Item = K>) -> Roots {
        let mut roots = Roots::NONE;
        for key in keys {
            roots.mark(key.as_ref());
        }
        roots
    }

    /// The roots among the keys of a JSON object.
    pub fn of_map(map: &serde_json::Map<String, serde_json::Value>) -> Roots {
        Roots::of_keys(map.keys())
    }

    /// The roots among the top-level keys of the JSON object at the start
    /// of `text` (keys read with their escapes decoded, values skipped);
    /// [`Roots::ALL`] when it is not one.
    pub fn of_json(text: &str) -> Roots {
        let mut de = serde_json::Deserializer::from_str(text);
        serde::Deserializer::deserialize_map(&mut de, KeysVisitor).unwrap_or(Roots::ALL)
    }

    /// Whether `root` (an entry of [`ROOTS`]) is present.
    pub fn contains(self, root: &str) -> bool {
        ROOTS
            .iter()
            .position(|r| *r == root)
            .is_some_and(|i| self.has(i))
    }

    /// Whether root `ROOTS[i]` is present.
    pub(super) fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }
}

struct KeysVisitor;

impl<'de> serde::de::Visitor<'de> for KeysVisitor {
    type Value = Roots;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Roots, A::Error> {
        let mut roots = Roots::NONE;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            map.next_value::<serde::de::IgnoredAny>()?;
            roots.mark(&key);
        }
        Ok(roots)
    }
}
