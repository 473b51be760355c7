//! Issue #13 finding 5 over real sockets against a running server: idle
//! and slow connections cannot exhaust descriptors (a connection cap,
//! TLS handshake, header and idle keep-alive timeouts), and `/metrics` is
//! not open on the Firehose listener when several tenants share it.
//!
//! Timeouts here are hundreds of milliseconds; the tests assert that a
//! close happens within a generous bound, and not before its timeout (a
//! lower bound no slow machine can break).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir::config::Config;
use weir::live::Live;
use weir::pipeline::Pipeline;
use weir_tests::*;

/// How long any expected close may take, on the slowest machine.
const BOUND: Duration = Duration::from_secs(10);

/// A running server over [`config_text`] (tenants `demo` and `other`)
/// with `server` as the `[server]` body: (address, live state, sink dir).
async fn serve(name: &str, server: &str) -> (SocketAddr, Arc<Live>, std::path::PathBuf) {
    let out = temp_dir(name);
    serve_text(&config_text(&out, server), out).await
}

async fn serve_text(
    text: &str,
    out: std::path::PathBuf,
) -> (SocketAddr, Arc<Live>, std::path::PathBuf) {
    let config = Config::parse(text).unwrap();
    let tls = config
        .server
        .tls
        .as_ref()
        .map(weir::server::tls_acceptor)
        .transpose()
        .unwrap();
    let live = Arc::new(Live::new(Arc::new(Pipeline::build(&config).unwrap())));
    let server = weir::server::Server::bind(config.server.listen, tls, live.clone())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        server.run(stopped).await;
        drop(stop);
    });
    (addr, live, out)
}

/// A metric's value in the live state's `/metrics` text (0 when absent).
fn metric(live: &Live, name: &str) -> u64 {
    live.current()
        .render_metrics()
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < BOUND, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Read (and discard) until the server closes the stream: the time it took.
/// Panics past [`BOUND`].
async fn time_to_close(stream: &mut (impl AsyncRead + Unpin)) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(BOUND, stream.read(&mut buf)).await {
            Err(_) => panic!("still open after {BOUND:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// The WAF sample request as Firehose sends it, with tenant `demo`'s key.
fn waf_request(addr: SocketAddr) -> http::Request<Full<Bytes>> {
    let body =
        std::fs::read(fixtures().join("firehose/derived_request_waf-direct-put.json")).unwrap();
    let mut req = firehose_request("/firehose/waf", Some(KEY), body);
    req.headers_mut()
        .insert("host", addr.to_string().parse().unwrap());
    req
}

/// A keep-alive HTTP/1 client connection: its sender, and its task (which
/// ends when the server closes the connection).
async fn client(
    addr: SocketAddr,
) -> hyper::Result<(
    hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    tokio::task::JoinHandle<hyper::Result<()>>,
)> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    Ok((sender, tokio::spawn(conn)))
}

/// Status and body of `req` on a new connection.
async fn send(addr: SocketAddr, req: http::Request<Full<Bytes>>) -> hyper::Result<(u16, String)> {
    let (mut sender, _conn) = client(addr).await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// `max_connections = 4` and idle connections holding all four: further
/// connections are closed at once and counted, a keyed request among them
/// too; once two idle ones go, a keyed WAF request is answered 200 and its
/// records stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_and_a_keyed_request_served_under_it() {
    let (addr, live, out) = serve(
        "conn-cap",
        "listen = \"127.0.0.1:0\"\nplain_http = true\nmax_connections = 4\n\
         header_read_timeout_ms = 60000",
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    wait_for("4 connections open", || {
        metric(&live, "weir_connections_open") == 4
    })
    .await;
    for _ in 0..6 {
        let mut extra = TcpStream::connect(addr).await.unwrap();
        time_to_close(&mut extra).await;
    }
    assert_eq!(metric(&live, "weir_connections_refused_total"), 6);
    assert!(
        send(addr, waf_request(addr)).await.is_err(),
        "at the cap a keyed request is refused too"
    );
    assert_eq!(metric(&live, "weir_connections_refused_total"), 7);
    assert!(bulk_entries(&out, "demo-waf").is_empty());

    idle.truncate(2);
    wait_for("2 connections open", || {
        metric(&live, "weir_connections_open") == 2
    })
    .await;
    let (status, body) = send(addr, waf_request(addr)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(bulk_entries(&out, "demo-waf").len(), 5);
    drop(idle);
    wait_for("every connection closed", || {
        metric(&live, "weir_connections_open") == 0
    })
    .await;
    assert_eq!(metric(&live, "weir_connections_refused_total"), 7);
}

/// `header_read_timeout_ms = 300`: a connection that sends half a request
/// head, and one that sends nothing, are closed after it (not before); a
/// whole request on a new connection is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let (addr, live, _) = serve(
        "conn-header",
        "listen = \"127.0.0.1:0\"\nplain_http = true\nheader_read_timeout_ms = 300\n\
         idle_timeout_ms = 60000",
    )
    .await;
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"POST /firehose/waf HTTP/1.1\r\nHost: weir\r\nx-amz-firehose-")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let (half_took, silent_took) =
        tokio::join!(time_to_close(&mut half), time_to_close(&mut silent));
    for took in [half_took, silent_took] {
        assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    }
    let (status, body) = send(addr, waf_request(addr)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("every connection closed", || {
        metric(&live, "weir_connections_open") == 0
    })
    .await;
}

/// `header_read_timeout_ms = 300`, `idle_timeout_ms = 3000`: a kept-alive
/// connection waits longer than the header timeout between two requests
/// and serves the second (the header timeout does not count idle time),
/// then, idle, is closed after the idle timeout (not before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (addr, _live, out) = serve(
        "conn-idle",
        "listen = \"127.0.0.1:0\"\nplain_http = true\nheader_read_timeout_ms = 300\n\
         idle_timeout_ms = 3000",
    )
    .await;
    let (mut sender, conn) = client(addr).await.unwrap();
    for _ in 0..2 {
        let resp = sender.send_request(waf_request(addr)).await.unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.into_body().collect().await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            !conn.is_finished(),
            "open past the header timeout while idle"
        );
    }
    assert_eq!(bulk_entries(&out, "demo-waf").len(), 10);
    let idle_since = Instant::now() - Duration::from_millis(700);
    tokio::time::timeout(BOUND, conn)
        .await
        .expect("closed within the bound")
        .unwrap()
        .unwrap();
    let took = idle_since.elapsed();
    assert!(took >= Duration::from_millis(2500), "closed after {took:?}");
    drop(sender);
}

/// `handshake_timeout_ms = 300` on a TLS listener: a client that connects
/// and never starts the handshake is closed after it (not before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_is_closed_after_the_handshake_timeout() {
    let out = temp_dir("conn-tls");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (out.join("cert.pem"), out.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let server = format!(
        "listen = \"127.0.0.1:0\"\nhandshake_timeout_ms = 300\n\
         [server.tls]\ncert = {:?}\nkey = {:?}",
        cert.display().to_string(),
        key.display().to_string()
    );
    let sink = out.join("sink");
    let (addr, live, _) = serve_text(&config_text(&sink, &server), sink.clone()).await;
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let took = time_to_close(&mut stalled).await;
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    wait_for("the connection's slot freed", || {
        metric(&live, "weir_connections_open") == 0
    })
    .await;
}

/// `GET path` with an optional bearer token on a new connection.
async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut b = http::Request::get(path).header("host", addr.to_string());
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    send(addr, b.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap()
}

/// A one-tenant config (tenant `demo`, WAF route) with `server`.
fn single_tenant(out: &Path, server: &str) -> String {
    use weir_load::config_toml::{directory_sink, route, tenant};
    let entries = [
        directory_sink("local", out),
        tenant("demo", &[KEY]),
        route("/firehose/waf", "demo", "builtin:waf", "waf", "local"),
    ]
    .concat();
    format!("[server]\n{server}\n{entries}")
}

/// Two tenants and neither `metrics_token` nor `metrics_listen`: `GET
/// /metrics` on the Firehose listener gets what any unknown `GET` gets,
/// and no metric; with a token it wants the token; one tenant keeps the
/// open endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_the_firehose_listener_with_two_tenants() {
    let plain = "listen = \"127.0.0.1:0\"\nplain_http = true";
    let (addr, _, _) = serve("metrics-two", plain).await;
    // The answer, less its timestamp.
    let answer = |(status, body): (u16, String)| {
        let mut json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json.as_object_mut().unwrap().remove("timestamp");
        (status, json)
    };
    let metrics = answer(get(addr, "/metrics", None).await);
    assert_eq!(metrics, answer(get(addr, "/no-such-path", None).await));
    assert!(!metrics.1.to_string().contains("weir_"), "{metrics:?}");

    let token = "metrics-token-0123456789";
    let (addr, _, _) = serve(
        "metrics-two-token",
        &format!("{plain}\nmetrics_token = \"{token}\""),
    )
    .await;
    assert_eq!(get(addr, "/metrics", None).await.0, 401);
    let (status, body) = get(addr, "/metrics", Some(token)).await;
    assert_eq!(status, 200);
    assert!(body.contains("tenant=\"other\""), "{body}");

    let out = temp_dir("metrics-one");
    let (addr, _, _) = serve_text(&single_tenant(&out, plain), out).await;
    let (status, body) = get(addr, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE weir_connections_open gauge"),
        "{body}"
    );
}
