//! What the tests that run `weir serve` as a process share: starting it,
//! and plain HTTP/1.1 requests over a new connection each.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

/// A running process, killed when dropped.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start `weir serve --config <config> --listen <addr>`, its log in
/// `log`, and wait for `/readyz`.
pub(crate) fn serve(config: &Path, addr: &str, log: &Path) -> Killed {
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", addr])
        .env("WEIR_LOG", "info")
        .env("HOME", log.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let weir = Killed(child);
    wait_until(
        &format!("/readyz of {addr} (log {})", log.display()),
        || http(addr, "GET", "/readyz", &[], b"") == 200,
    );
    weir
}

/// One HTTP/1.1 request on a new connection: the status code (0 when the
/// connection failed).
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if s.write_all(head.as_bytes()).is_err() || s.write_all(body).is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// POST `records` WAF records as one Firehose request to `/firehose/waf`
/// with `key`: the status code.
pub(crate) fn post(addr: &str, key: &str, request_id: &str, records: usize) -> u16 {
    let b64 = base64::engine::general_purpose::STANDARD;
    let records: Vec<String> = (0..records)
        .map(|i| {
            let data = b64.encode(format!(
                r#"{{"timestamp":1576280412771,"id":"{request_id}-{i}"}}"#
            ));
            format!(r#"{{"data":"{data}"}}"#)
        })
        .collect();
    let body = format!(
        r#"{{"requestId":"{request_id}","timestamp":1576280412771,"records":[{}]}}"#,
        records.join(",")
    );
    http(
        addr,
        "POST",
        "/firehose/waf",
        &[
            ("content-type", "application/json"),
            ("x-amz-firehose-protocol-version", "1.0"),
            ("x-amz-firehose-request-id", request_id),
            ("x-amz-firehose-access-key", key),
        ],
        body.as_bytes(),
    )
}

/// Poll `done` every 50 ms for at most 60 s.
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The SHA-256 of `text`, in hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    weir::digest::sha256_hex(text.as_bytes())
}
