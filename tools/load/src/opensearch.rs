//! A small client of a real OpenSearch node: the fault matrix's checker
//! reads its index with it, and `sources --target URL` reads the node's
//! own CPU time and indexing count around a run.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The largest answer read from the node (a scroll page of 5,000 small
/// documents is a few MB).
const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;

/// The real OpenSearch node at one URL (plain HTTP, no credentials).
pub struct OpenSearch {
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What the node's own statistics say at one instant, summed over its
/// nodes (`GET /_nodes/stats/process,indices`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NodeStats {
    /// CPU time the node processes have used, in seconds
    /// (`process.cpu.total_in_millis`).
    pub cpu_s: f64,
    /// Documents indexed since the node started (`indices.indexing.index_total`).
    pub indexed: f64,
}

impl OpenSearch {
    /// The node at `url`.
    pub fn new(url: &str) -> OpenSearch {
        OpenSearch {
            url: url.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `method path` with a JSON `body`: the status and the JSON answer.
    pub async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))?;
        let resp = self
            .client
            .request(req)
            .await
            .with_context(|| format!("OpenSearch {path}"))?;
        let status = resp.status().as_u16();
        // Bounded: a search page or the node's stats, far below the limit.
        #[allow(clippy::disallowed_methods)]
        let bytes = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("OpenSearch {path}: {e}"))?
            .to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or_default()))
    }

    /// The node's CPU time and indexing count now.
    pub async fn node_stats(&self) -> anyhow::Result<NodeStats> {
        let (status, v) = self
            .call(http::Method::GET, "/_nodes/stats/process,indices", None)
            .await?;
        anyhow::ensure!(status == 200, "node stats: {status} {v}");
        Ok(NodeStats::from_answer(&v))
    }
}

impl NodeStats {
    /// Sum the figures of every node in a `_nodes/stats` answer.
    pub fn from_answer(v: &serde_json::Value) -> NodeStats {
        let nodes = v["nodes"].as_object().into_iter().flat_map(|m| m.values());
        nodes.fold(NodeStats::default(), |sum, n| NodeStats {
            cpu_s: sum.cpu_s
                + n["process"]["cpu"]["total_in_millis"]
                    .as_f64()
                    .unwrap_or(0.0)
                    / 1e3,
            indexed: sum.indexed
                + n["indices"]["indexing"]["index_total"]
                    .as_f64()
                    .unwrap_or(0.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::NodeStats;

    #[test]
    fn sums_every_node() {
        let v = serde_json::json!({"nodes": {
            "a": {"process": {"cpu": {"total_in_millis": 1500}}, "indices": {"indexing": {"index_total": 10}}},
            "b": {"process": {"cpu": {"total_in_millis": 500}}, "indices": {"indexing": {"index_total": 5}}},
        }});
        assert_eq!(
            NodeStats::from_answer(&v),
            NodeStats {
                cpu_s: 2.0,
                indexed: 15.0
            }
        );
        assert_eq!(
            NodeStats::from_answer(&serde_json::json!({})),
            NodeStats::default()
        );
    }
}
