//! Pieces of the load generator that benches and tests share: the null
//! `_bulk` endpoint, fixture lines, the TOML entries of a Weir config, and
//! the fault matrix ([`faults`]), which `weir-load --scenario faults` runs
//! and an integration test of the `weir` package runs small.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

pub mod faults;
pub mod haproxy;
pub mod opensearch;

/// The largest `_bulk` body the null endpoint reads (far above any
/// `bulk_max_bytes` a benchmark sets).
const MAX_BULK_BODY_BYTES: usize = 256 * 1024 * 1024;

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
                        // Bounded: a `_bulk` body is at most the sink's `bulk_max_bytes`.
                        #[allow(clippy::disallowed_methods)]
                        let body = match http_body_util::Limited::new(
                            req.into_body(),
                            MAX_BULK_BODY_BYTES,
                        )
                        .collect()
                        .await
                        {
                            Ok(b) => b.to_bytes(),
                            Err(e) => return Err(std::io::Error::other(e.to_string())),
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

/// The non-blank lines of a `*.lines.in` fixture, one record each.
pub fn non_blank_lines(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(<[u8]>::to_vec)
}

/// The TOML entries of a Weir config, each starting with a blank line, so
/// that a config is one text they are pushed onto. Strings are quoted with
/// Rust's `{:?}`, which TOML reads back for the paths, keys and names used.
pub mod config_toml {
    use std::path::Path;

    /// A `[[tenants]]` entry: `id` with its `access_keys`. Further keys of
    /// the tenant (a quota, an index prefix) may follow on the next lines.
    pub fn tenant(id: &str, access_keys: &[&str]) -> String {
        format!("\n[[tenants]]\nid = {id:?}\naccess_keys = {access_keys:?}\n")
    }

    /// A `[[routes]]` entry: requests to `path`, for `tenant`, run `plugin`
    /// (`builtin:<name>` or a component's path) and go to `index` in
    /// `sink`. Further keys of the route may follow on the next lines.
    pub fn route(path: &str, tenant: &str, plugin: &str, index: &str, sink: &str) -> String {
        format!(
            "\n[[routes]]\npath = {path:?}\ntenant = {tenant:?}\nplugin = {plugin:?}\nindex = {index:?}\nsink = {sink:?}\n"
        )
    }

    /// A `[sinks.<name>]` entry of type `directory`, writing below `path`.
    pub fn directory_sink(name: &str, path: &Path) -> String {
        let path = path.display().to_string();
        format!("\n[sinks.{name}]\ntype = \"directory\"\npath = {path:?}\n")
    }

    /// A `[sinks.<name>]` entry of type `opensearch` at `url`, its dead
    /// letters to the sink `dead_letter_sink`, flushing a `_bulk` after
    /// `bulk_max_age_ms` (0: one per request).
    pub fn opensearch_sink(
        name: &str,
        url: &str,
        dead_letter_sink: &str,
        bulk_max_age_ms: u64,
    ) -> String {
        format!(
            "\n[sinks.{name}]\ntype = \"opensearch\"\nurls = [{url:?}]\ndead_letter_sink = {dead_letter_sink:?}\nbulk_max_age_ms = {bulk_max_age_ms}\n"
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_item_per_action() {
        let a = super::bulk_answer(b"{\"index\":{}}\n{}\n{\"index\":{}}\n{}\n");
        let v: serde_json::Value = serde_json::from_str(&a).unwrap_or_default();
        assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn blank_lines_are_not_records() {
        let lines: Vec<Vec<u8>> = super::non_blank_lines(b"a\n  \n\nb\n").collect();
        assert_eq!(lines, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn config_entries() {
        use super::config_toml::*;
        // Checked line by line: a TOML literal here would repeat the
        // tests' configs.
        let tenant = tenant("load", &["k1", "k2"]);
        assert!(tenant.starts_with("\n[[tenants]]\nid = \"load\"\n"));
        assert!(tenant.ends_with("access_keys = [\"k1\", \"k2\"]\n"));
        let route = route("/a", "load", "builtin:waf", "waf", "search");
        let lines = ["", "[[routes]]", "path = \"/a\"", "tenant = \"load\""];
        assert!(route.starts_with(&(lines.join("\n") + "\n")));
        assert!(route.ends_with("plugin = \"builtin:waf\"\nindex = \"waf\"\nsink = \"search\"\n"));
        let dir = directory_sink("dead", std::path::Path::new("/tmp/d"));
        assert_eq!(
            dir,
            "\n[sinks.dead]\ntype = \"directory\"\npath = \"/tmp/d\"\n"
        );
        let os = opensearch_sink("search", "http://h:9200", "dead", 5);
        assert!(os.contains("urls = [\"http://h:9200\"]\ndead_letter_sink = \"dead\"\n"));
        assert!(os.ends_with("bulk_max_age_ms = 5\n"));
    }
}
