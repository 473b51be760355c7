//! Tenants and their access keys.
//!
//! Keys are kept only as SHA-256 digests and compared in constant time, so
//! neither the comparison time nor a debug print reveals them.

use std::fmt;

use sha2::{Digest, Sha256};

/// A tenant id: 1–64 bytes of `[a-z0-9_-]`, starting with a letter or digit.
/// It is used in file paths, template names and index prefixes, hence the strict set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Validate a tenant id.
    pub fn new(id: &str) -> Result<TenantId, String> {
        let ok_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if id.is_empty() || id.len() > 64 {
            return Err(format!("tenant id {id:?} must be 1 to 64 bytes"));
        }
        if !id.chars().all(ok_char) || id.starts_with(['-', '_']) {
            return Err(format!(
                "tenant id {id:?} may only hold a-z, 0-9, `-` and `_`, and start with a letter or digit"
            ));
        }
        Ok(TenantId(id.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shortest access key accepted. Firehose allows any string; a short
/// key is guessable, so the host refuses it in config.
pub const MIN_ACCESS_KEY_LEN: usize = 8;

/// An access key, held as its SHA-256 digest. Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey([u8; 32]);

impl AccessKey {
    /// From the plain key as written in the config.
    pub fn new(key: &str) -> Result<AccessKey, String> {
        if key.len() < MIN_ACCESS_KEY_LEN {
            return Err(format!(
                "access key is shorter than {MIN_ACCESS_KEY_LEN} characters"
            ));
        }
        Ok(AccessKey(Sha256::digest(key.as_bytes()).into()))
    }

    /// From the key's SHA-256 as 64 hex digits (`access_key_sha256` in the
    /// config), so the config file need not hold the key itself.
    pub fn from_sha256_hex(hex: &str) -> Result<AccessKey, String> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("not a SHA-256 in hex (64 characters; `printf %s KEY | sha256sum`)".into());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|e| format!("not hex: {e}"))?;
        }
        Ok(AccessKey(out))
    }

    /// Whether `presented` (the header value) is this key, in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        constant_time_eq(&self.0, &digest)
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(***)")
    }
}

/// Whether `presented` matches any of `keys`. Every key is compared (no early
/// exit), so timing does not tell which key, or whether any, matched.
pub fn any_key_matches(keys: &[AccessKey], presented: &[u8]) -> bool {
    let digest: [u8; 32] = Sha256::digest(presented).into();
    keys.iter()
        .fold(false, |acc, k| acc | constant_time_eq(&k.0, &digest))
}

/// Compare two digests without data-dependent branches.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        assert!(TenantId::new("demo").is_ok());
        assert!(TenantId::new("acme-42_x").is_ok());
        assert!(TenantId::new("").is_err());
        assert!(TenantId::new("Demo").is_err());
        assert!(TenantId::new("../x").is_err());
        assert!(TenantId::new("-x").is_err());
    }

    #[test]
    fn keys_match_and_hide() {
        let k = AccessKey::new("demo-access-key").unwrap();
        assert!(k.matches(b"demo-access-key"));
        assert!(!k.matches(b"demo-access-kez"));
        assert!(!k.matches(b""));
        assert_eq!(format!("{k:?}"), "AccessKey(***)");
        let keys = vec![AccessKey::new("old-key-123").unwrap(), k];
        assert!(any_key_matches(&keys, b"old-key-123"));
        assert!(any_key_matches(&keys, b"demo-access-key"));
        assert!(!any_key_matches(&keys, b"nope-nope-nope"));
        assert!(AccessKey::new("short").is_err());
    }
}
