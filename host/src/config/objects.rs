//! Which S3 objects an `s3-notification` route may read: its
//! `allow_objects` list (`s3://bucket` or `s3://bucket/prefix`), default
//! deny, and never Weir's own objects (the dead letters and backups its s3
//! sinks write, the plugins it loads from S3), whatever the list says.
//!
//! A notification names any bucket and key it likes, and Weir fetches
//! with its own credentials; without this scope a tenant's key could read
//! another tenant's objects, or every tenant's dead letters, into its own
//! index (issue #13, finding 1).

use std::fmt;

use super::{PluginRef, RouteConfig, SinkConfig};

/// The longest S3 object key (S3's own limit, in bytes).
pub const MAX_OBJECT_KEY_BYTES: usize = 1024;

/// A bucket and a key prefix (`""`: the whole bucket), matched as S3
/// matches prefixes: byte for byte, so `AWSLogs/1` also covers
/// `AWSLogs/12/…`; end a folder with `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectPrefix {
    /// Bucket.
    pub bucket: String,
    /// Key prefix.
    pub prefix: String,
}

impl fmt::Display for ObjectPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

impl ObjectPrefix {
    /// Parse `s3://bucket`, `s3://bucket/` or `s3://bucket/prefix`.
    pub fn parse(s: &str) -> Result<ObjectPrefix, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{s:?} is not s3://<bucket>[/<key prefix>]"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_bucket_name(bucket) {
            return Err(format!("{s:?}: {bucket:?} is not an S3 bucket name"));
        }
        if !prefix.is_empty()
            && let Err(e) = check_object_key(prefix)
        {
            return Err(format!("{s:?}: the key prefix {e}"));
        }
        Ok(ObjectPrefix {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// Whether the object `bucket`/`key` is under this prefix.
    pub fn covers(&self, bucket: &str, key: &str) -> bool {
        self.bucket == bucket && key.starts_with(&self.prefix)
    }

    /// Whether some key could be under both prefixes.
    pub fn overlaps(&self, other: &ObjectPrefix) -> bool {
        self.bucket == other.bucket
            && (self.prefix.starts_with(&other.prefix) || other.prefix.starts_with(&self.prefix))
    }
}

/// S3's bucket naming rules: 3–63 of `a-z 0-9 . -`, starting and ending
/// with a letter or digit.
pub fn is_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'-'))
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Whether a (decoded) object key is in normal form: Weir fetches only
/// keys that mean the same to S3, to every proxy on the way and to a
/// file-backed S3 server. Refused: empty or over 1,024 bytes, a leading
/// `/`, an empty segment (`//`), a `.` or `..` segment, a backslash, and
/// control characters.
pub fn check_object_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("is empty");
    }
    if key.len() > MAX_OBJECT_KEY_BYTES {
        return Err("is over 1024 bytes");
    }
    if key.chars().any(char::is_control) {
        return Err("holds a control character");
    }
    if key.contains('\\') {
        return Err("holds a backslash");
    }
    if key.starts_with('/') {
        return Err("starts with `/`");
    }
    let segments: Vec<&str> = key.split('/').collect();
    let last = segments.len() - 1;
    for (i, s) in segments.iter().enumerate() {
        match *s {
            // A trailing `/` (a folder prefix) is the one empty segment allowed.
            "" if i == last => {}
            "" => return Err("holds an empty path segment (`//`)"),
            "." | ".." => return Err("holds a `.` or `..` path segment"),
            _ => {}
        }
    }
    Ok(())
}

/// What a route may read: its own allow list, minus Weir's own objects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectScope {
    /// The route's `allow_objects`.
    pub allow: Vec<ObjectPrefix>,
    /// Weir's own objects ([`own_objects`]), never readable.
    pub deny: Vec<ObjectPrefix>,
}

impl ObjectScope {
    /// Whether `bucket`/`key` may be fetched: a bucket name, a key in
    /// normal form ([`check_object_key`]), allowed, and not Weir's own.
    pub fn permits(&self, bucket: &str, key: &str) -> Result<(), String> {
        if !is_bucket_name(bucket) {
            return Err("the bucket name is not valid".into());
        }
        if key.ends_with('/') {
            return Err("the key names a folder".into());
        }
        check_object_key(key).map_err(|e| format!("the key {e}"))?;
        if let Some(own) = self.deny.iter().find(|d| d.covers(bucket, key)) {
            return Err(format!("under {own}, which Weir itself writes or loads"));
        }
        if !self.allow.iter().any(|a| a.covers(bucket, key)) {
            return Err("not under any of the route's allow_objects".into());
        }
        Ok(())
    }
}

/// Weir's own objects: the area of every s3 sink that stores dead letters
/// or backups (`<bucket>/<prefix>/`, the whole bucket without a prefix),
/// and every plugin loaded from S3. They hold every tenant's records and
/// the code Weir runs, so no notification may name them.
pub fn own_objects(
    sinks: &std::collections::BTreeMap<String, SinkConfig>,
    routes: &[RouteConfig],
) -> Vec<ObjectPrefix> {
    let mut stores: Vec<&str> = sinks
        .values()
        .filter_map(|s| match s {
            SinkConfig::OpenSearch(os) => Some(os.dead_letter_sink.as_str()),
            _ => None,
        })
        .collect();
    stores.extend(routes.iter().filter_map(|r| r.backup.as_deref()));
    let mut own: Vec<ObjectPrefix> = stores
        .iter()
        .filter_map(|name| match sinks.get(*name) {
            Some(SinkConfig::S3(s3)) => Some(ObjectPrefix {
                bucket: s3.bucket.clone(),
                prefix: if s3.prefix.is_empty() {
                    String::new()
                } else {
                    format!("{}/", s3.prefix)
                },
            }),
            _ => None,
        })
        .collect();
    own.extend(routes.iter().filter_map(|r| match &r.plugin {
        PluginRef::S3 { bucket, key } => Some(ObjectPrefix {
            bucket: bucket.clone(),
            prefix: key.clone(),
        }),
        _ => None,
    }));
    own.sort_by(|a, b| (&a.bucket, &a.prefix).cmp(&(&b.bucket, &b.prefix)));
    own.dedup();
    own
}

/// Every route's `allow_objects` entry that overlaps Weir's own objects is
/// an error: listing them cannot make them readable.
pub(super) fn check_allow_lists(
    sinks: &std::collections::BTreeMap<String, SinkConfig>,
    routes: &[RouteConfig],
    problems: &mut Vec<String>,
) {
    let own = own_objects(sinks, routes);
    for (i, r) in routes.iter().enumerate() {
        for (k, a) in r.allow_objects.iter().enumerate() {
            if let Some(o) = own.iter().find(|o| o.overlaps(a)) {
                problems.push(format!(
                    "routes[{i}].allow_objects[{k}]: {a} overlaps {o}, where Weir keeps dead letters, \
                     backups or plugins; those are never readable through a notification \
                     (use a key prefix outside them)"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let p = ObjectPrefix::parse("s3://trail-bucket/AWSLogs/1/").unwrap();
        assert!(p.covers("trail-bucket", "AWSLogs/1/x.json.gz"));
        assert!(!p.covers("trail-bucket", "AWSLogs/2/x.json.gz"));
        assert!(!p.covers("other-bucket", "AWSLogs/1/x.json.gz"));
        let whole = ObjectPrefix::parse("s3://trail-bucket").unwrap();
        assert_eq!(whole.prefix, "");
        assert!(whole.covers("trail-bucket", "anything"));
        assert!(whole.overlaps(&p) && p.overlaps(&whole));
        let dl = ObjectPrefix::parse("s3://trail-bucket/weir/").unwrap();
        assert!(!dl.overlaps(&p));
        assert!(
            ObjectPrefix::parse("s3://trail-bucket/we")
                .unwrap()
                .overlaps(&dl)
        );
        for bad in [
            "trail-bucket",
            "s3://",
            "s3://Upper",
            "s3://ab",
            "s3://b_x/",
            "s3://bucket/../x",
            "s3://bucket//x",
        ] {
            assert!(ObjectPrefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_in_normal_form_only() {
        for good in [
            "a",
            "AWSLogs/1/x.json.gz",
            "a b/c=.gz",
            "dir/",
            "x..y/.hidden",
        ] {
            assert_eq!(check_object_key(good), Ok(()), "{good}");
        }
        for bad in [
            "", "/abs", "a//b", "../x", "a/../b", "a/./b", "a/..", ".", "a\\..\\b", "a\nb",
            "a\u{7f}",
        ] {
            assert!(check_object_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_object_key(&"k".repeat(1025)).is_err());
    }

    #[test]
    fn scope_is_default_deny_and_never_weirs_own() {
        let mut scope = ObjectScope::default();
        assert!(scope.permits("trail-bucket", "AWSLogs/x").is_err());
        scope.allow = vec![ObjectPrefix::parse("s3://trail-bucket").unwrap()];
        assert_eq!(scope.permits("trail-bucket", "AWSLogs/x"), Ok(()));
        assert!(scope.permits("trail-bucket", "AWSLogs/../x").is_err());
        assert!(scope.permits("trail-bucket", "AWSLogs/").is_err());
        assert!(scope.permits("beta-bucket", "AWSLogs/x").is_err());
        scope.deny = vec![ObjectPrefix::parse("s3://trail-bucket/weir/").unwrap()];
        let e = scope
            .permits("trail-bucket", "weir/beta/waf/x")
            .unwrap_err();
        assert!(e.contains("which Weir itself"), "{e}");
    }
}
