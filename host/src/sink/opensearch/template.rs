//! Index templates: each route's date fields mapped as `date`, installed
//! once before the first `_bulk`.

use bytes::Bytes;
use http::Method;

use super::batcher::Shared;

/// An index template mapping a route's time fields as `date`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    /// Template name.
    pub name: String,
    /// `index_patterns`.
    pub patterns: Vec<String>,
    /// Fields mapped as `date`.
    pub date_fields: Vec<String>,
    /// Priority (distinct per template so overlapping patterns are allowed).
    pub priority: u32,
}

impl TemplateSpec {
    /// The `PUT _index_template/<name>` body.
    pub fn body(&self) -> serde_json::Value {
        let props: serde_json::Map<String, serde_json::Value> = self
            .date_fields
            .iter()
            .map(|f| {
                (
                    f.clone(),
                    serde_json::json!({"type": "date", "format": "strict_date_optional_time||epoch_millis"}),
                )
            })
            .collect();
        serde_json::json!({
            "index_patterns": self.patterns,
            "priority": self.priority,
            "template": { "mappings": { "properties": props } },
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
            priority: 100,
        };
        assert_eq!(
            t.body(),
            serde_json::json!({
                "index_patterns": ["waf"],
                "priority": 100,
                "template": {"mappings": {"properties": {"timestamp": {"type": "date", "format": "strict_date_optional_time||epoch_millis"}}}},
                "_meta": {"managed_by": "weir"},
            })
        );
    }
}
