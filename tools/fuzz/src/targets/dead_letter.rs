//! The dead-letter parser: `weir::replay::parse_dead_letters` (gzip or
//! plain NDJSON, one `DeadLetterLine` per non-blank line).

use weir::codec;
use weir::replay::parse_dead_letters;
use weir::sink::DeadLetterLine;

use super::{Fnv, Target, bucket, class};

/// The dead-letter parser.
pub const DEAD_LETTER: Target = Target {
    name: "dead-letter",
    about: "dead-letter parser: parse_dead_letters (gzip or plain NDJSON); every line read writes back and reads the same",
    run: dead_letter,
    fixtures: &[],
    seed: dead_letter_seeds,
    dictionary: &[
        b"\"processing-failed\"",
        b"\"opensearch-rejected\"",
        b"\"document\":{\"index\":\"i\",\"id\":\"d\"}",
        b"\"source_arn\":null",
        b"\"attempt\":4294967295",
        b"\"data\":\"=\"",
        b"\n",
    ],
    max_len: 16 * 1024,
};

/// A dead-letter file as inputs: plain and gzipped.
fn dead_letter_seeds(file: &[u8]) -> Vec<Vec<u8>> {
    vec![[&[0u8][..], file].concat(), [&[1u8][..], file].concat()]
}

/// Input: a flags byte (bit 0: gzip the rest first), then the NDJSON.
pub fn dead_letter(data: &[u8]) -> u64 {
    let Some((&flags, rest)) = data.split_first() else {
        return 0;
    };
    let bytes = if flags & 1 != 0 {
        codec::gzip(rest)
    } else {
        rest.to_vec()
    };
    match parse_dead_letters(&bytes, "fuzz") {
        Ok(lines) => {
            if flags & 1 != 0 || !codec::is_gzip(rest) {
                let blank = |l: &&[u8]| l.iter().all(u8::is_ascii_whitespace);
                let expected = rest.split(|&b| b == b'\n').filter(|l| !blank(l)).count();
                assert_eq!(lines.len(), expected, "one dead letter per non-blank line");
            }
            for line in &lines {
                let written = match serde_json::to_vec(line) {
                    Ok(w) => w,
                    Err(e) => panic!("a dead letter read does not write: {e}"),
                };
                let back = DeadLetterLine::parse_all(&written).ok();
                assert_eq!(
                    back.as_deref(),
                    Some(std::slice::from_ref(line)),
                    "write, read back"
                );
            }
            let mut h = Fnv::new(u64::from(flags & 1));
            h.write_u64(bucket(lines.len()));
            h.finish()
        }
        Err(e) => {
            assert!(e.starts_with("fuzz: "), "the error names its origin: {e}");
            class(6, &e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_read_plain_and_gzipped() {
        let seed = include_bytes!("../../corpus/dead-letter/two-kinds.ndjson");
        for flags in [0u8, 1] {
            let ok = dead_letter(&[&[flags][..], seed].concat());
            assert_ne!(ok, dead_letter(&[flags, b'{']));
        }
    }
}
