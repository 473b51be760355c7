//! The fuzz targets: one plain function per parser, `fn(&[u8]) -> u64`,
//! that feeds the bytes to Weir's real entry point and asserts what must
//! hold for every input (a violated invariant panics, like a crash). The
//! `u64` names what happened (an outcome class, see [`class`]): the runner
//! keeps inputs that produce a class it has not seen.
//!
//! The functions take any bytes, so the same bodies could serve
//! `cargo fuzz` (libFuzzer) targets unchanged.

pub mod codec;
pub mod config;
pub mod dead_letter;
pub mod plugins;
pub mod scanner;

/// One fuzz target: its body and how its corpus is seeded.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name on the command line and in `corpus/<name>/`.
    pub name: &'static str,
    /// What it fuzzes, for `--list` and the report.
    pub about: &'static str,
    /// The body: runs one input, panics when an invariant is violated,
    /// returns the outcome class.
    pub run: fn(&[u8]) -> u64,
    /// Fixture files seeding the corpus: `(directory, file name suffix)`,
    /// relative to the repository root, besides `tools/fuzz/corpus/<name>/`.
    pub fixtures: &'static [(&'static str, &'static str)],
    /// Turns a fixture file into inputs (adds the selector bytes the body
    /// reads first).
    pub seed: fn(&[u8]) -> Vec<Vec<u8>>,
    /// Tokens for the mutator, besides those found in the seeds.
    pub dictionary: &'static [&'static [u8]],
    /// Largest input the mutator makes.
    pub max_len: usize,
}

/// Every target, in the order `all` runs them.
pub const TARGETS: &[Target] = &[
    codec::ENVELOPE,
    codec::GUNZIP,
    scanner::SCANNER,
    plugins::CLOUDWATCH_LOGS,
    plugins::WAF,
    plugins::VPC_FLOW,
    plugins::ROUTE53_RESOLVER,
    plugins::SECURITYHUB,
    config::CONFIG,
    dead_letter::DEAD_LETTER,
];

/// The target named `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// An outcome class: `tag` and a message with what varies from input to
/// input taken out (digits, text quoted with `"` or backticks, and all but
/// the last line, where TOML errors quote the input), so "expected `,` at
/// line 3 column 9" and "… line 1 column 2" are one class.
pub fn class(tag: u64, message: &str) -> u64 {
    if std::env::var_os("WEIR_FUZZ_CLASSES").is_some() {
        eprintln!("class {tag}: {message:?}");
    }
    let last = message.trim_end().rsplit('\n').next().unwrap_or_default();
    let mut h = Fnv::new(tag);
    let (mut quoted, mut escaped) = (None, false);
    for &b in last.as_bytes().iter().take(160) {
        match quoted {
            Some(_) if escaped => escaped = false,
            Some(_) if b == b'\\' => escaped = true,
            Some(q) if b == q => quoted = None,
            Some(_) => {}
            None if b == b'"' || b == b'`' => quoted = Some(b),
            None if b.is_ascii_digit() => {}
            None => h.write(b),
        }
    }
    h.finish()
}

/// FNV-1a, for outcome classes.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    /// A hash started from `tag`.
    pub fn new(tag: u64) -> Fnv {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        for b in tag.to_le_bytes() {
            h.write(b);
        }
        h
    }

    /// Mix in one byte.
    pub fn write(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }

    /// Mix in a number.
    pub fn write_u64(&mut self, n: u64) {
        for b in n.to_le_bytes() {
            self.write(b);
        }
    }

    /// The hash.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// A small bucket for a count (0, 1, 2, 3–4, 5–8, …), so a class does not
/// change with every count.
pub fn bucket(n: usize) -> u64 {
    u64::from(usize::BITS - n.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_ignore_positions_and_quoted_text() {
        assert_eq!(
            class(1, "expected `,` at line 3 column 9"),
            class(1, "expected `:` at line 1 column 20")
        );
        assert_ne!(class(1, "missing field"), class(1, "unknown field"));
        assert_ne!(class(1, "x"), class(2, "x"));
        assert_eq!(
            class(1, r#"invalid type: string "a\"b", expected x"#),
            class(1, r#"invalid type: string "c", expected x"#)
        );
        assert_eq!(
            class(1, "TOML at 1\n1 | [x\nunclosed"),
            class(1, "TOML at 2\n2 | [yy\nunclosed")
        );
    }

    #[test]
    fn names_are_unique() {
        for (i, t) in TARGETS.iter().enumerate() {
            assert!(TARGETS[i + 1..].iter().all(|u| u.name != t.name));
            assert!(find(t.name).is_some());
        }
    }
}
