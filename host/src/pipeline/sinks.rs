//! The sinks of a config: opened once (dead-letter stores first, then the
//! sinks that send them dead letters), and kept across a reload when their
//! settings did not change.

use std::collections::HashMap;
use std::sync::Arc;

use super::{BuildError, Pipeline};
use crate::config::{Config, PluginRef, RouteConfig};
use crate::plugin::Plugin;
use crate::sink::{self, Sink, opensearch::TemplateSpec};

/// The plugins of a config, by reference.
pub(super) type Plugins = HashMap<PluginRef, Arc<Plugin>>;

/// Open every sink, reusing `previous`'s where the config kept them.
pub(super) fn open_sinks(
    config: &Config,
    plugins: &Plugins,
    previous: Option<&Pipeline>,
) -> Result<HashMap<String, Arc<dyn Sink>>, BuildError> {
    let mut sinks: HashMap<String, Arc<dyn Sink>> = HashMap::new();
    // Sinks that depend on none first, so the others find their dead-letter sink.
    let (first, then): (Vec<_>, Vec<_>) = config
        .sinks
        .iter()
        .partition(|(_, s)| sink::depends_on(s).is_none());
    for (name, settings) in first.into_iter().chain(then) {
        let opened =
            match reusable_sink(config, plugins, previous, name, &sinks) {
                Some(old) => old,
                None => sink::open(settings, &sinks, templates_for(config, plugins, name))
                    .map_err(|e| match e {
                        sink::OpenError::NoDeadLetterSink(_) => {
                            BuildError::at(format!("sinks.{name}.dead_letter_sink"), e)
                        }
                        sink::OpenError::Setup(_) => BuildError::at(format!("sinks.{name}"), e),
                    })?,
            };
        sinks.insert(name.clone(), opened);
    }
    Ok(sinks)
}

/// The previous pipeline's sink `name`, when a reload may keep it: same
/// settings, the same index templates, and the same (kept) dead-letter sink.
fn reusable_sink(
    config: &Config,
    plugins: &Plugins,
    previous: Option<&Pipeline>,
    name: &str,
    opened: &HashMap<String, Arc<dyn Sink>>,
) -> Option<Arc<dyn Sink>> {
    let p = previous?;
    let new = config.sinks.get(name)?;
    if p.config.sinks.get(name)? != new {
        return None;
    }
    // Only a sink with a dead-letter sink (OpenSearch) installs templates.
    if let Some(dl) = sink::depends_on(new) {
        let (old_dl, new_dl) = (p.sinks.get(dl)?, opened.get(dl)?);
        if !Arc::ptr_eq(old_dl, new_dl)
            || templates_for(&p.config, &p.plugins, name) != templates_for(config, plugins, name)
        {
            return None;
        }
    }
    p.sinks.get(name).cloned()
}

/// A route's date fields: its own, else its plugin's (`metadata`).
pub fn date_fields(route: &RouteConfig, plugins: &Plugins) -> Vec<String> {
    match &route.date_fields {
        Some(own) => own.clone(),
        None => plugins
            .get(&route.plugin)
            .map(|p| p.info().date_fields.clone())
            .unwrap_or_default(),
    }
}

/// One index template per route on `sink` that has date fields or
/// plugin-suggested mapping properties.
pub fn templates_for(config: &Config, plugins: &Plugins, sink: &str) -> Vec<TemplateSpec> {
    config
        .routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.sink == sink)
        .map(|(i, r)| TemplateSpec {
            name: format!("weir-{}-{}", r.tenant, r.name.to_ascii_lowercase()),
            patterns: r.index_patterns.clone(),
            date_fields: date_fields(r, plugins),
            properties: plugins
                .get(&r.plugin)
                .and_then(|p| p.info().index_properties.clone())
                .unwrap_or_default(),
            priority: 100 + i as u32,
        })
        .filter(|t| !t.date_fields.is_empty() || !t.properties.is_empty())
        .collect()
}
