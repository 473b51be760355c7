//! [`Object`]: a value read from a JSON object only.

use serde::Deserialize;

/// A `T` read from a JSON object only. A derived `Deserialize` also takes
/// a struct's fields as an array (`["id", 1, []]`), which is no Firehose
/// body nor header: the fuzzer found `[{"k":"v"}]` accepted as common
/// attributes (issue #14).
pub(super) struct Object<T>(pub(super) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Object<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(m)).map(Object)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}
