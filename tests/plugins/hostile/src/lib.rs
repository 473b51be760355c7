//! A plugin that misbehaves on purpose, for the hostile-plugin tests.
//!
//! Its config `{"mode": "…"}` picks the misbehaviour:
//! - `trap`: panics (a trap in wasm).
//! - `loop`: never returns.
//! - `hog`: allocates until the memory cap stops it.
//! - `short`: returns fewer outcomes than records (contract violation).
//! - `bad-body`: returns a document whose body is not a JSON object.
//! - `chatty`: writes far more to stdout, stderr and the host log than the caps allow, then behaves.
//! - `huge`: returns 4 MiB of documents per record (for the output cap).
//! - `other-index`: asks for index `other-hostile` (tenant `other`'s space),
//!   or the config's `index`, for every document, to show the host keeps it
//!   in its own tenant's space.
//! - `snoop`: for a record `probe`, reads its whole linear memory and counts
//!   copies of `weir-secret-` (one document `{"found": <count>}`), to show a
//!   batch never sees what an earlier batch was given; any other record is
//!   echoed.
//! - `echo`: behaves: one document `{"n": <record length>}` per record.

#![allow(clippy::panic)]
// `snoop` reads raw linear memory, as a hostile plugin would.
#![allow(unsafe_code)]

use weir_plugin_sdk::{BatchContext, Document, Guest, Level, Outcome};

/// The exported plugin.
pub struct Hostile;

const MODES: &[&str] = &[
    "trap",
    "loop",
    "hog",
    "short",
    "bad-body",
    "chatty",
    "huge",
    "other-index",
    "snoop",
    "echo",
];

fn mode(config: &str) -> Result<String, String> {
    let cfg = weir_plugin_sdk::config_object(config)?;
    let m = cfg
        .get("mode")
        .and_then(|m| m.as_str())
        .ok_or_else(|| format!("`mode` must be one of {MODES:?}"))?;
    if MODES.contains(&m) {
        Ok(m.to_string())
    } else {
        Err(format!("unknown mode {m:?}; expected one of {MODES:?}"))
    }
}

fn echo(records: &[Vec<u8>]) -> Vec<Outcome> {
    records
        .iter()
        .map(|r| Outcome::Ok(vec![Document::new(format!("{{\"n\":{}}}", r.len()))]))
        .collect()
}

/// `weir-secret-`, XOR-ed with [`KEY`], so that the needle itself is never
/// in linear memory for the scan to find.
#[cfg(target_arch = "wasm32")]
const HIDDEN_NEEDLE: [u8; 12] = {
    let plain = *b"weir-secret-";
    let mut hidden = [0u8; 12];
    let mut i = 0;
    while i < 12 {
        hidden[i] = plain[i] ^ KEY;
        i += 1;
    }
    hidden
};
#[cfg(target_arch = "wasm32")]
const KEY: u8 = 0x5a;

/// Copies of the needle anywhere in this instance's linear memory.
fn snoop() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        let key = std::hint::black_box(KEY);
        let end = core::arch::wasm32::memory_size(0) * 65536;
        let mut found = 0;
        // From 1 KiB up: address 0 is null, and nothing lives that low.
        for addr in 1024..=end.saturating_sub(HIDDEN_NEEDLE.len()) {
            // SAFETY: every address below `memory.size` is linear memory.
            let at = |k: usize| unsafe { std::ptr::read_volatile((addr + k) as *const u8) };
            if (0..HIDDEN_NEEDLE.len()).all(|k| at(k) ^ key == HIDDEN_NEEDLE[k]) {
                found += 1;
            }
        }
        found
    }
    #[cfg(not(target_arch = "wasm32"))]
    0
}

impl Guest for Hostile {
    fn validate_config(config: String) -> Result<(), String> {
        mode(&config).map(|_| ())
    }

    fn transform(ctx: BatchContext, records: Vec<Vec<u8>>) -> Vec<Outcome> {
        let mode = match mode(&ctx.config) {
            Ok(m) => m,
            Err(e) => return records.iter().map(|_| Outcome::Failed(e.clone())).collect(),
        };
        match mode.as_str() {
            "trap" => panic!("hostile plugin: trap mode"),
            "loop" => {
                let mut i = 0u64;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "short" => echo(&records).into_iter().skip(1).collect(),
            "bad-body" => records
                .iter()
                .map(|_| Outcome::Ok(vec![Document::new("not json".to_string())]))
                .collect(),
            "chatty" => {
                let line = "x".repeat(1000);
                for _ in 0..1000 {
                    println!("{line}");
                    eprintln!("{line}");
                    weir_plugin_sdk::log(Level::Info, &line);
                }
                echo(&records)
            }
            "huge" => {
                let pad = "x".repeat(4 << 20);
                records
                    .iter()
                    .map(|_| Outcome::Ok(vec![Document::new(format!("{{\"pad\":\"{pad}\"}}"))]))
                    .collect()
            }
            "other-index" => {
                let index = weir_plugin_sdk::config_object(&ctx.config)
                    .ok()
                    .and_then(|c| c.get("index").and_then(|i| i.as_str()).map(str::to_string))
                    .unwrap_or_else(|| "other-hostile".to_string());
                records
                    .iter()
                    .map(|r| {
                        Outcome::Ok(vec![
                            Document::new(format!("{{\"n\":{}}}", r.len()))
                                .with_index(index.clone()),
                        ])
                    })
                    .collect()
            }
            "snoop" => records
                .iter()
                .map(|r| match r.as_slice() {
                    b"probe" => {
                        Outcome::Ok(vec![Document::new(format!("{{\"found\":{}}}", snoop()))])
                    }
                    _ => Outcome::Ok(vec![Document::new(format!("{{\"n\":{}}}", r.len()))]),
                })
                .collect(),
            _ => echo(&records),
        }
    }
}

weir_plugin_sdk::export!(Hostile);
