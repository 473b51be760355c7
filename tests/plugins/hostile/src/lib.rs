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
//! - `sleep`: `std::thread::sleep` for an hour, then echoes.
//! - `poll`: subscribes to an hour on the monotonic clock and blocks on the
//!   pollable, then echoes.
//! - `poll-list`: `wasi:io/poll.poll` on a timer that never fires
//!   (`subscribe-instant(u64::MAX)`) and one of an hour, then echoes.
//! - `stdin`: reads stdin to its end, then echoes.
//! - `nap-loop`: sleeps 10 ms at a time, for ever.
//! - `random`: asks `wasi:random` for 64 MiB at once, then echoes.
//! - `echo`: behaves: one document `{"n": <record length>}` per record.
//!
//! With `{"when": "<text>"}` as well, it misbehaves only in a call one of
//! whose records contains `<text>`; any other call passes every record
//! through as its one document (records must then be JSON objects). The
//! fault matrix uses it for a plugin that fails on some records only.

#![allow(clippy::panic)]
// `snoop` reads raw linear memory, as a hostile plugin would.
#![allow(unsafe_code)]

use std::io::Read;
use std::time::Duration;

use weir_plugin_sdk::{BatchContext, Document, Info, Level, Outcome, Plugin};

/// The exported plugin.
pub struct Hostile;

/// Its config: `{"mode": "…"}` (required), `index` for `other-index`, and
/// `when` to misbehave only in calls with a record containing it.
#[derive(Debug, serde::Deserialize)]
pub struct Config {
    mode: Mode,
    index: Option<String>,
    when: Option<String>,
}

/// The misbehaviours (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    Trap,
    Loop,
    Hog,
    Short,
    BadBody,
    Chatty,
    Huge,
    OtherIndex,
    Snoop,
    Sleep,
    Poll,
    PollList,
    Stdin,
    NapLoop,
    Random,
    Echo,
}

/// Direct bindings to the WASI calls that could wait (`wit/`).
#[allow(missing_docs, unsafe_code, clippy::all)]
mod wasi {
    wit_bindgen::generate!({
        path: "wit",
        world: "weir-test:hostile/blocking",
        generate_all,
    });
    pub(crate) use self::wasi::*;
}

/// An hour, in nanoseconds.
const HOUR_NS: u64 = 3600 * 1_000_000_000;

/// Try each way of waiting in turn (the blocking modes), then echo.
fn wait_then_echo(mode: Mode, records: &[Vec<u8>]) -> Vec<Outcome> {
    use wasi::clocks::monotonic_clock::{subscribe_duration, subscribe_instant};
    match mode {
        Mode::Sleep => std::thread::sleep(Duration::from_secs(3600)),
        Mode::Poll => subscribe_duration(HOUR_NS).block(),
        Mode::PollList => {
            let never = subscribe_instant(u64::MAX);
            let hour = subscribe_duration(HOUR_NS);
            std::hint::black_box(wasi::io::poll::poll(&[&never, &hour]));
        }
        Mode::Stdin => {
            let mut input = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut input);
        }
        Mode::NapLoop => loop {
            std::thread::sleep(Duration::from_millis(10));
        },
        Mode::Random => {
            std::hint::black_box(wasi::random::random::get_random_bytes(64 << 20));
        }
        _ => {}
    }
    echo(records)
}

/// Each record as its own one document (a record with `when` nowhere in
/// its call).
fn pass(records: &[Vec<u8>]) -> Vec<Outcome> {
    records
        .iter()
        .map(|r| Outcome::Ok(vec![Document::new(String::from_utf8_lossy(r).into_owned())]))
        .collect()
}

/// Whether `record` contains `needle`.
fn contains(record: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && record.windows(needle.len()).any(|w| w == needle)
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

impl Plugin for Hostile {
    type Config = Config;
    const INFO: Info = weir_plugin_sdk::info!("hostile");

    fn transform_record(_: &Config, record: &[u8]) -> Outcome {
        Outcome::Ok(vec![Document::new(format!("{{\"n\":{}}}", record.len()))])
    }

    fn transform(config: &Config, _ctx: &BatchContext, records: &[Vec<u8>]) -> Vec<Outcome> {
        if let Some(when) = &config.when
            && !records.iter().any(|r| contains(r, when.as_bytes()))
        {
            return pass(records);
        }
        match config.mode {
            Mode::Trap => panic!("hostile plugin: trap mode"),
            Mode::Loop => {
                let mut i = 0u64;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            Mode::Hog => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Short => echo(records).into_iter().skip(1).collect(),
            Mode::BadBody => records
                .iter()
                .map(|_| Outcome::Ok(vec![Document::new("not json".to_string())]))
                .collect(),
            Mode::Chatty => {
                let line = "x".repeat(1000);
                for _ in 0..1000 {
                    println!("{line}");
                    eprintln!("{line}");
                    weir_plugin_sdk::log(Level::Info, &line);
                }
                echo(records)
            }
            Mode::Huge => {
                let pad = "x".repeat(4 << 20);
                records
                    .iter()
                    .map(|_| Outcome::Ok(vec![Document::new(format!("{{\"pad\":\"{pad}\"}}"))]))
                    .collect()
            }
            Mode::OtherIndex => {
                let index = config.index.as_deref().unwrap_or("other-hostile");
                records
                    .iter()
                    .map(|r| {
                        Outcome::Ok(vec![
                            Document::new(format!("{{\"n\":{}}}", r.len())).with_index(index),
                        ])
                    })
                    .collect()
            }
            Mode::Snoop => records
                .iter()
                .map(|r| match r.as_slice() {
                    b"probe" => {
                        Outcome::Ok(vec![Document::new(format!("{{\"found\":{}}}", snoop()))])
                    }
                    _ => Outcome::Ok(vec![Document::new(format!("{{\"n\":{}}}", r.len()))]),
                })
                .collect(),
            Mode::Sleep
            | Mode::Poll
            | Mode::PollList
            | Mode::Stdin
            | Mode::NapLoop
            | Mode::Random => wait_then_echo(config.mode, records),
            Mode::Echo => echo(records),
        }
    }
}

weir_plugin_sdk::export!(Hostile);
