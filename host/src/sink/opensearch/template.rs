//! Index templates: each route's date fields mapped as `date` and its
//! plugin's suggested mapping properties (`schema.index-properties`: ECS
//! addresses as `ip`, CloudTrail's free-form objects as `flat_object`, …),
//! with a bounded field count, installed once before the first `_bulk`.

use bytes::Bytes;
use http::Method;

use super::batcher::Shared;

/// `index.mapping.total_fields.limit` of every template Weir installs.
/// OpenSearch's default is 1000; with free-form objects mapped as
/// `flat_object`, a CloudTrail index holds a few hundred fields, so 2000
/// leaves room for fields new API versions bring while still stopping a
/// runaway mapping before it slows the cluster.
pub const TOTAL_FIELDS_LIMIT: u32 = 2000;

/// An index template for a route: its plugin's mapping properties, its
/// time fields as `date`, and [`TOTAL_FIELDS_LIMIT`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    /// Template name.
    pub name: String,
    /// `index_patterns`.
    pub patterns: Vec<String>,
    /// Fields mapped as `date` (over any property of the same name).
    pub date_fields: Vec<String>,
    /// Mapping `properties` the route's plugin suggests.
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Priority (distinct per template so overlapping patterns are allowed).
    pub priority: u32,
}

impl TemplateSpec {
    /// The `PUT _index_template/<name>` body.
    pub fn body(&self) -> serde_json::Value {
        let mut props = self.properties.clone();
        for f in &self.date_fields {
            props.insert(
                f.clone(),
                serde_json::json!({"type": "date", "format": "strict_date_optional_time||epoch_millis"}),
            );
        }
        serde_json::json!({
            "index_patterns": self.patterns,
            "priority": self.priority,
            "template": {
                "settings": { "index.mapping.total_fields.limit": TOTAL_FIELDS_LIMIT },
                "mappings": { "properties": props },
            },
            "_meta": { "managed_by": "weir" },
        })
    }
}

/// Install every template (idempotent `PUT`). Called before the first bulk.
pub(super) async fn ensure_templates(shared: &Shared) -> Result<(), String> {
    if shared
        .templates_installed
        .load(std::sync::atomic::Ordering::Acquire)
    {
        return Ok(());
    }
    let _guard = shared.template_lock.lock().await;
    if shared
        .templates_installed
        .load(std::sync::atomic::Ordering::Acquire)
    {
        return Ok(());
    }
    for t in &shared.templates {
        let (status, body) = shared
            .client
            .send(
                Method::PUT,
                &format!("/_index_template/{}", t.name),
                "application/json",
                Bytes::from(t.body().to_string()),
            )
            .await
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!(
                "installing index template {}: {status} {}",
                t.name,
                String::from_utf8_lossy(&body)
            ));
        }
        tracing::info!(template = t.name, patterns = ?t.patterns, date_fields = ?t.date_fields, "index template installed");
    }
    shared
        .templates_installed
        .store(true, std::sync::atomic::Ordering::Release);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_body() {
        let t = TemplateSpec {
            name: "weir-demo-waf".into(),
            patterns: vec!["waf".into()],
            date_fields: vec!["timestamp".into()],
            properties: serde_json::json!({
                "source": {"properties": {"ip": {"type": "ip"}}},
                "timestamp": {"type": "keyword"},
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            priority: 100,
        };
        assert_eq!(
            t.body(),
            serde_json::json!({
                "index_patterns": ["waf"],
                "priority": 100,
                "template": {
                    "settings": {"index.mapping.total_fields.limit": 2000},
                    "mappings": {"properties": {
                        "source": {"properties": {"ip": {"type": "ip"}}},
                        "timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
                    }},
                },
                "_meta": {"managed_by": "weir"},
            })
        );
    }
}
