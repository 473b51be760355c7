//! What an OpenSearch index name may be: the rules of a route's `index` in
//! the host and of the indices plugins ask for.

/// The longest index name OpenSearch accepts, in bytes.
pub const MAX_INDEX_NAME_BYTES: usize = 255;

/// Check that `name` is an index name OpenSearch accepts: not empty, at most
/// [`MAX_INDEX_NAME_BYTES`] bytes, not `.` or `..`, not starting with `-`,
/// `_` or `+`, and no character refused by [`is_index_name_char`]
/// (uppercase, whitespace, control characters and `\ / * ? " < > | , # :`).
///
/// The `Err` is the reason, naming the rule and quoting the name.
pub fn check_index_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("index name is empty".to_string());
    }
    if name.len() > MAX_INDEX_NAME_BYTES {
        return Err(format!(
            "index name is longer than {MAX_INDEX_NAME_BYTES} bytes: {name:?}"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("index name cannot be {name:?}"));
    }
    if name.starts_with(['-', '_', '+']) {
        return Err(format!(
            "index name {name:?} cannot start with `-`, `_` or `+`"
        ));
    }
    if let Some(c) = name.chars().find(|&c| !is_index_name_char(c)) {
        return Err(format!(
            "index name {name:?} has a character OpenSearch refuses: {c:?}"
        ));
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
        assert!(check_index_name("").unwrap_err().contains("empty"));
        assert!(
            check_index_name(&"a".repeat(256))
                .unwrap_err()
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
