//! The mutator: a seeded PRNG and libFuzzer-like byte mutations (bit
//! flips, interesting bytes and numbers, insertions and deletions, copies
//! within the input, splices with another corpus entry, and tokens of a
//! dictionary taken from the seeds). Deterministic: the same seed gives the
//! same sequence of inputs.

/// A small, fast, seeded PRNG (SplitMix64): reproducible runs, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Bytes that often change how a parser goes: JSON and TOML punctuation,
/// escapes, whitespace, control bytes, gzip magic, UTF-8 lead bytes.
const INTERESTING_BYTES: &[u8] =
    b"\x00\x01\x1f\x7f\x80\xbf\xc0\xe0\xf0\xff\x8b\"\\{}[],:=.-+0159eE \t\r\nntf#'/$";

/// Numbers that sit on limits (as text, for JSON and TOML inputs).
const INTERESTING_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "255",
    "65536",
    "2147483647",
    "-2147483648",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "253402300799999",
    "253402300800000",
    "1e308",
    "1e999",
    "-1e-999",
    "0.5",
    "1.0e+2",
    "00",
];

/// How inputs are mutated: the dictionary and the size bound.
#[derive(Debug, Clone)]
pub struct Mutator {
    /// Tokens inserted or written over the input (from the target and its seeds).
    pub dictionary: Vec<Vec<u8>>,
    /// Inputs never grow past this many bytes.
    pub max_len: usize,
}

impl Mutator {
    /// A mutator with `dictionary` (deduplicated) and a size bound.
    pub fn new(mut dictionary: Vec<Vec<u8>>, max_len: usize) -> Mutator {
        dictionary.retain(|t| !t.is_empty());
        dictionary.sort();
        dictionary.dedup();
        Mutator {
            dictionary,
            max_len,
        }
    }

    /// Mutate `data` in place 1 to 8 times; `other` is another corpus
    /// entry to splice from.
    pub fn mutate(&self, rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
        let rounds = 1 + rng.below(8);
        for _ in 0..rounds {
            self.mutate_once(rng, data, other);
        }
        data.truncate(self.max_len);
    }

    fn mutate_once(&self, rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
        let len = data.len();
        match rng.below(12) {
            // flip a bit
            0 if len > 0 => {
                let at = rng.below(len);
                data[at] ^= 1 << rng.below(8);
            }
            // set an interesting byte
            1 if len > 0 => {
                let at = rng.below(len);
                data[at] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            // insert an interesting byte
            2 => {
                let at = rng.below(len + 1);
                data.insert(at, INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())]);
            }
            // delete a range
            3 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below((len - at).min(64));
                data.drain(at..at + n);
            }
            // copy a range of the input elsewhere in it (inserted)
            4 if len > 0 => {
                let from = rng.below(len);
                let n = 1 + rng.below((len - from).min(256));
                let chunk = data[from..from + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            // a dictionary token, inserted or written over
            5 | 6 if !self.dictionary.is_empty() => {
                let token = &self.dictionary[rng.below(self.dictionary.len())];
                let at = rng.below(len + 1);
                if rng.one_in(2) {
                    data.splice(at..at, token.iter().copied());
                } else {
                    let end = (at + token.len()).min(len);
                    data.splice(at..end, token.iter().copied());
                }
            }
            // a run of digits replaced by a number on a limit
            7 => self.replace_number(rng, data),
            // splice: our head, the other's tail
            8 if !other.is_empty() => {
                let at = rng.below(len + 1);
                let from = rng.below(other.len());
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            // insert a repeated byte (deep nesting, long strings)
            9 => {
                let at = rng.below(len + 1);
                let byte = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
                let most = if rng.one_in(8) { 512 } else { 16 };
                let n = 1 + rng.below(most);
                data.splice(at..at, std::iter::repeat_n(byte, n));
            }
            // truncate
            10 if len > 0 => data.truncate(rng.below(len)),
            // a random byte somewhere
            _ if len > 0 => {
                let at = rng.below(len);
                data[at] = rng.next_u64() as u8;
            }
            _ => data.push(rng.next_u64() as u8),
        }
    }

    fn replace_number(&self, rng: &mut Rng, data: &mut Vec<u8>) {
        let number = INTERESTING_NUMBERS[rng.below(INTERESTING_NUMBERS.len())].as_bytes();
        let len = data.len();
        let start = rng.below(len + 1);
        match data[start..].iter().position(u8::is_ascii_digit) {
            Some(i) => {
                let from = start + i;
                let n = data[from..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                data.splice(from..from + n, number.iter().copied());
            }
            None => {
                data.splice(start..start, number.iter().copied());
            }
        }
    }
}

/// Tokens worth inserting, taken from `seeds`: JSON strings (with their
/// quotes: keys, values), TOML table headers and `key =` prefixes, capped
/// at `max` tokens.
pub fn tokens_of(seeds: &[Vec<u8>], max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for seed in seeds {
        let mut i = 0;
        while i < seed.len() && out.len() < max {
            match seed[i] {
                b'"' => {
                    let end = seed[i + 1..]
                        .iter()
                        .take(64)
                        .position(|&b| b == b'"')
                        .map(|p| i + 1 + p);
                    if let Some(end) = end {
                        out.push(seed[i..=end].to_vec());
                        i = end;
                    }
                }
                b'[' if i == 0 || seed[i - 1] == b'\n' => {
                    if let Some(p) = seed[i..].iter().take(64).position(|&b| b == b'\n') {
                        out.push(seed[i..i + p].to_vec());
                    }
                }
                b'\n' => {
                    if let Some(p) = seed[i + 1..].iter().take(48).position(|&b| b == b'=') {
                        out.push(seed[i + 1..i + 2 + p].to_vec());
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let m = Mutator::new(tokens_of(&[br#"{"a":"b"}"#.to_vec()], 10), 64);
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut data = b"{\"a\": 12}".to_vec();
            for _ in 0..100 {
                m.mutate(&mut rng, &mut data, b"[1,2]");
            }
            data
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn inputs_stay_under_the_bound() {
        let m = Mutator::new(vec![vec![b'x'; 100]], 32);
        let mut rng = Rng::new(1);
        let mut data = Vec::new();
        for _ in 0..1000 {
            m.mutate(&mut rng, &mut data, &[b'y'; 50]);
            assert!(data.len() <= 32);
        }
    }

    #[test]
    fn tokens_are_json_strings_and_toml_keys() {
        let t = tokens_of(
            &[
                b"[server]\nlisten = \"x\"\n".to_vec(),
                br#"{"key":1}"#.to_vec(),
            ],
            10,
        );
        assert!(t.contains(&b"[server]".to_vec()), "{t:?}");
        assert!(t.contains(&b"listen =".to_vec()), "{t:?}");
        assert!(t.contains(&b"\"key\"".to_vec()), "{t:?}");
    }
}
