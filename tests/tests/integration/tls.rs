//! End to end over a real TLS socket: a self-signed certificate made here,
//! `weir`'s server with rustls, and a hyper client that trusts only that
//! certificate, sending the WAF sample request the way Firehose does.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use weir::config::Config;
use weir::pipeline::Pipeline;
use weir_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waf_request_over_tls() {
    let out = temp_dir("tls");
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert_pem = out.join("cert.pem");
    let key_pem = out.join("key.pem");
    std::fs::write(&cert_pem, ck.cert.pem()).unwrap();
    std::fs::write(&key_pem, ck.signing_key.serialize_pem()).unwrap();
    let sink_dir = out.join("sink");
    let server_toml = format!(
        "listen = \"127.0.0.1:0\"\n[server.tls]\ncert = {:?}\nkey = {:?}",
        cert_pem.display().to_string(),
        key_pem.display().to_string()
    );
    let config = Config::parse(&config_text(&sink_dir, &server_toml)).unwrap();
    let tls = config
        .server
        .tls
        .as_ref()
        .map(weir::server::tls_acceptor)
        .transpose()
        .unwrap();
    assert!(tls.is_some());
    let pipeline = Arc::new(Pipeline::build(&config).unwrap());
    let server = weir::server::Server::bind(
        config.server.listen,
        tls,
        Arc::new(weir::live::Live::new(pipeline)),
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(server.run(rx));

    // Client: trusts only our certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ck.cert.der().to_vec()))
        .unwrap();
    let client_cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));

    let body =
        std::fs::read(fixtures().join("firehose/derived_request_waf-direct-put.json")).unwrap();
    let rid = body_request_id(&body);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls_stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(tls_stream))
            .await
            .unwrap();
    tokio::spawn(conn);

    let mut req = firehose_request("/firehose/waf", Some(KEY), body.clone());
    *req.uri_mut() = format!("https://localhost:{}/firehose/waf", addr.port())
        .parse()
        .unwrap();
    req.headers_mut().insert(
        "host",
        format!("localhost:{}", addr.port()).parse().unwrap(),
    );
    let resp = sender.send_request(req).await.unwrap();
    assert!(
        resp.headers().get("content-encoding").is_none(),
        "responses are never compressed"
    );
    let (status, ct, json) = read_response(resp).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(ct, "application/json");
    assert_eq!(json["requestId"], rid.as_str());

    // Keep-alive: a wrong key on the same connection gets 401.
    let mut req = firehose_request("/firehose/waf", Some("wrong-key-123"), body);
    req.headers_mut().insert(
        "host",
        format!("localhost:{}", addr.port()).parse().unwrap(),
    );
    // The connection task may not have seen the first response end yet.
    sender.ready().await.unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 401);
    let _ = resp.into_body().collect().await;

    let docs = bulk_entries(&sink_dir, "demo-waf");
    assert_eq!(docs.len(), 5);
    assert_eq!(docs[4].1["timestamp"], "2025-05-25T21:31:58.574Z");

    // A client that does not trust the certificate cannot connect.
    let untrusting = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let refused = tokio_rustls::TlsConnector::from(Arc::new(untrusting))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(refused.is_err());

    drop(sender);
    tx.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), served)
        .await
        .unwrap()
        .unwrap();
}
