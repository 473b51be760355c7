//! The built-in plugins: components compiled by `host/build.rs` and
//! embedded in the `weir` binary, named by `builtin:<name>` in routes.

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The component bytes of a built-in plugin.
pub fn bytes(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Whether `name` is a built-in plugin.
pub fn exists(name: &str) -> bool {
    bytes(name).is_some()
}

/// Names of the built-in plugins.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_bytes() {
        assert!(names().contains(&"waf"));
        for name in names() {
            assert!(exists(name), "{name}");
        }
        assert!(bytes("nope").is_none());
    }
}
