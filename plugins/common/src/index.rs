//! What an OpenSearch index name may be: the rules of a route's `index` in
//! the host and of the indices plugins ask for.

/// The longest index name OpenSearch accepts, in bytes.
pub const MAX_INDEX_NAME_BYTES: usize = 255;

/// Why a name is not an index name OpenSearch accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexNameError {
    /// The name is empty.
    #[error("index name is empty")]
    Empty,
    /// Over [`MAX_INDEX_NAME_BYTES`].
    #[error("index name is longer than {MAX_INDEX_NAME_BYTES} bytes: {0:?}")]
    TooLong(String),
    /// `.` or `..`.
    #[error("index name cannot be {0:?}")]
    Dots(String),
    /// Starts with `-`, `_` or `+`.
    #[error("index name {0:?} cannot start with `-`, `_` or `+`")]
    BadStart(String),
    /// Holds a character OpenSearch refuses.
    #[error("index name {name:?} has a character OpenSearch refuses: {found:?}")]
    BadChar {
        /// The name.
        name: String,
        /// The first refused character.
        found: char,
    },
}

/// Check that `name` is an index name OpenSearch accepts: not empty, at most
/// [`MAX_INDEX_NAME_BYTES`] bytes, not `.` or `..`, not starting with `-`,
/// `_` or `+`, and no character refused by [`is_index_name_char`]
/// (uppercase, whitespace, control characters and `\ / * ? " < > | , # :`).
/// The host's `IndexName` and every plugin use this one function.
pub fn check_index_name(name: &str) -> Result<(), IndexNameError> {
    if name.is_empty() {
        return Err(IndexNameError::Empty);
    }
    if name.len() > MAX_INDEX_NAME_BYTES {
        return Err(IndexNameError::TooLong(name.to_string()));
    }
    if name == "." || name == ".." {
        return Err(IndexNameError::Dots(name.to_string()));
    }
    if name.starts_with(['-', '_', '+']) {
        return Err(IndexNameError::BadStart(name.to_string()));
    }
    if let Some(found) = name.chars().find(|&c| !is_index_name_char(c)) {
        return Err(IndexNameError::BadChar {
            name: name.to_string(),
            found,
        });
    }
    Ok(())
}

/// Whether `c` may appear in an index name (see [`check_index_name`]): not
/// uppercase, whitespace or a control character, and none of
/// `\ / * ? " < > | , # :`.
pub fn is_index_name_char(c: char) -> bool {
    !(c.is_uppercase()
        || c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':'
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases of the host's `IndexName::new` tests and of the SDK's: both
    /// applied the same rules, which are now this one function.
    #[test]
    fn index_names_follow_the_host_and_sdk_rules() {
        for good in [
            "cwl-2024.01.02",
            "cwl-2024.01.31",
            "aws-securityhub-findings-guardduty",
            "a.b",
            "é-ü",
            &"a".repeat(255),
        ] {
            assert!(check_index_name(good).is_ok(), "{good}");
        }
        assert!(
            check_index_name("")
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(
            check_index_name(&"a".repeat(256))
                .unwrap_err()
                .to_string()
                .contains("255")
        );
        for bad in [
            ".", "..", "-a", "_a", "_x", "+a", "Abc", "Upper", "É", "a b", "a\tb", "a\u{a0}b",
            "a\u{1}b", "a/b", "a\\b", "a*b", "a?b", "a\"b", "a<b", "a>b", "a|b", "a,b", "a#b",
            "a:b",
        ] {
            assert!(check_index_name(bad).is_err(), "{bad:?}");
        }
        assert!(is_index_name_char('-') && !is_index_name_char('\n'));
    }
}
