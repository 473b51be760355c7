//! Pieces of the load generator that benches share: the null `_bulk`
//! endpoint.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// Serve a `_bulk` endpoint on loopback that stores nothing and answers
/// every item 201 (and any other request, such as an index template,
/// `{"acknowledged":true}`). Returns its base URL. It isolates Weir's own
/// cost from OpenSearch's.
pub async fn null_bulk_server() -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let bulk = req.uri().path().ends_with("/_bulk");
                        let body = match req.into_body().collect().await {
                            Ok(b) => b.to_bytes(),
                            Err(e) => return Err(e),
                        };
                        if !bulk {
                            return Ok(http::Response::new(Full::new(Bytes::from_static(
                                b"{\"acknowledged\":true}",
                            ))));
                        }
                        Ok(http::Response::new(Full::new(Bytes::from(bulk_answer(
                            &body,
                        )))))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}

/// The answer to an (uncompressed) `_bulk` body: one 201 item per action line.
pub fn bulk_answer(body: &[u8]) -> String {
    let items = body.iter().filter(|&&b| b == b'\n').count() / 2;
    let mut out = String::with_capacity(items * 26 + 40);
    out.push_str("{\"took\":1,\"errors\":false,\"items\":[");
    for i in 0..items {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"index\":{\"status\":201}}");
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_item_per_action() {
        let a = super::bulk_answer(b"{\"index\":{}}\n{}\n{\"index\":{}}\n{}\n");
        let v: serde_json::Value = serde_json::from_str(&a).unwrap_or_default();
        assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
    }
}
