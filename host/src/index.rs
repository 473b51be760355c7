//! OpenSearch index names, date-patterned index names, and the tenant
//! prefix that keeps each tenant inside its own index space.

use std::fmt;

pub use weir_common::index::{IndexNameError, MAX_INDEX_NAME_BYTES, check_index_name};

/// Latest event time used for index names: 9999-12-31T23:59:59.999Z.
/// Later times are clamped, so a rendered name always has a 4-digit year.
pub const MAX_INDEX_TIME_MS: i64 = 253_402_300_799_999;

/// Why an index name or pattern is refused. The messages are part of the
/// `weir validate` output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Not an index name OpenSearch accepts (the rules all of Weir shares,
    /// `weir_common::index`).
    #[error(transparent)]
    Name(#[from] IndexNameError),
    /// A `%` token other than `%Y %m %d %H %%`.
    #[error("index pattern {pattern:?}: unknown token %{token}; use %Y %m %d %H or %%")]
    UnknownToken {
        /// The pattern.
        pattern: String,
        /// What followed the `%` (empty at the end of the pattern).
        token: String,
    },
}

/// A valid OpenSearch index name (lowercase, no `\ / * ? " < > | , #` or
/// space, not starting with `-`, `_` or `+`, not `.`/`..`, ≤ 255 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexName(String);

impl IndexName {
    /// Validate an index name.
    pub fn new(name: &str) -> Result<IndexName, IndexError> {
        check_index_name(name)?;
        Ok(IndexName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An index name that may hold UTC date tokens taken from the document's
/// event time: `%Y` (year), `%m` (month), `%d` (day), `%H` (hour), `%%`.
/// Example: `cwl-%Y.%m.%d` → `cwl-2019.12.13`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPattern(String);

impl IndexPattern {
    /// Validate a pattern: known tokens only, and every rendering a valid index name.
    pub fn new(pattern: &str) -> Result<IndexPattern, IndexError> {
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c == '%' {
                match chars.next() {
                    Some('Y' | 'm' | 'd' | 'H' | '%') => {}
                    other => {
                        return Err(IndexError::UnknownToken {
                            pattern: pattern.to_string(),
                            token: other.map(String::from).unwrap_or_default(),
                        });
                    }
                }
            }
        }
        let p = IndexPattern(pattern.to_string());
        p.render(0)?;
        p.render(MAX_INDEX_TIME_MS)?;
        Ok(p)
    }

    /// Whether the pattern has date tokens.
    pub fn is_dated(&self) -> bool {
        self.0.replace("%%", "").contains('%')
    }

    /// The name for an event at `ms` since the epoch (clamped to 1970..=9999).
    pub fn render(&self, ms: i64) -> Result<IndexName, IndexError> {
        if !self.0.contains('%') {
            return IndexName::new(&self.0);
        }
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(ms.clamp(0, MAX_INDEX_TIME_MS) as u64);
        // "YYYY-MM-DDTHH:MM:SSZ"
        let iso = humantime::format_rfc3339_seconds(t).to_string();
        let (y, mo, d, h) = (&iso[0..4], &iso[5..7], &iso[8..10], &iso[11..13]);
        let mut out = String::with_capacity(self.0.len() + 8);
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('Y') => out.push_str(y),
                Some('m') => out.push_str(mo),
                Some('d') => out.push_str(d),
                Some('H') => out.push_str(h),
                _ => out.push('%'),
            }
        }
        IndexName::new(&out)
    }

    /// The index template pattern covering every rendering: the text before
    /// the first token plus `*`, or the name itself when undated.
    pub fn template_pattern(&self) -> String {
        match self.0.find('%') {
            None => self.0.clone(),
            Some(i) => format!("{}*", &self.0[..i]),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IndexPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `name` inside the tenant's index space: unchanged when it already starts
/// with `prefix`, else `prefix` + `name`. Idempotent, and the result always
/// starts with `prefix`, so nothing a plugin or route asks for can leave it.
pub fn namespaced(prefix: &str, name: &str) -> String {
    if name.starts_with(prefix) {
        name.to_string()
    } else {
        format!("{prefix}{name}")
    }
}

/// Check a tenant's index prefix: empty, or the start of a valid index name.
pub fn check_index_prefix(prefix: &str) -> Result<(), IndexError> {
    if prefix.is_empty() {
        return Ok(());
    }
    IndexName::new(prefix).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_patterns_render_dates() {
        let p = IndexPattern::new("cwl-%Y.%m.%d").unwrap();
        assert!(p.is_dated());
        assert_eq!(
            p.render(1_576_280_412_771).unwrap().as_str(),
            "cwl-2019.12.13"
        );
        assert_eq!(p.render(-5).unwrap().as_str(), "cwl-1970.01.01");
        assert_eq!(p.template_pattern(), "cwl-*");
        let h = IndexPattern::new("x-%Y%m%d%H").unwrap();
        assert_eq!(
            h.render(1_576_280_412_771).unwrap().as_str(),
            "x-2019121323"
        );
        let plain = IndexPattern::new("waf").unwrap();
        assert!(!plain.is_dated());
        assert_eq!(plain.template_pattern(), "waf");
        assert!(IndexPattern::new("a-%q").is_err());
        assert!(IndexPattern::new("A-%Y").is_err());
    }

    #[test]
    fn index_names() {
        assert!(IndexName::new("cwl-2024.01.02").is_ok());
        assert!(IndexName::new("Upper").is_err());
        assert!(IndexName::new("_x").is_err());
        assert!(IndexName::new("a/b").is_err());
        assert!(IndexName::new("..").is_err());
        assert!(IndexName::new(&"a".repeat(256)).is_err());
    }

    #[test]
    fn error_messages_are_stable() {
        assert_eq!(
            IndexName::new("A").unwrap_err().to_string(),
            "index name \"A\" has a character OpenSearch refuses: 'A'"
        );
        assert_eq!(
            IndexPattern::new("a-%").unwrap_err().to_string(),
            "index pattern \"a-%\": unknown token %; use %Y %m %d %H or %%"
        );
        assert!(check_index_prefix("").is_ok());
        assert_eq!(
            check_index_prefix("-x"),
            Err(IndexError::Name(IndexNameError::BadStart("-x".into())))
        );
    }

    #[test]
    fn every_index_is_inside_the_tenant_prefix() {
        assert_eq!(namespaced("acme-", "waf"), "acme-waf");
        assert_eq!(namespaced("acme-", "acme-waf"), "acme-waf", "idempotent");
        assert_eq!(namespaced("beta-", "acme-waf"), "beta-acme-waf");
    }
}
