//! OpenSearch Dashboards index patterns for a config's routes: `weir
//! dashboards export` writes them as a saved-objects file, `weir dashboards
//! install` imports them ([`install`]).
//!
//! The format and the API, as OpenSearch Dashboards 2.x has them (its
//! `saved_objects/routes/import.ts` and `http/lifecycle_handlers.ts`, and
//! the Kibana 7.x "Import objects" API page it was forked from):
//!
//! - the file is NDJSON, one saved object per line: `type`, `id`,
//!   `attributes`, `references`, `migrationVersion`. An `index-pattern`'s
//!   attributes are its `title` (index names and wildcards; several,
//!   comma-separated, are one pattern) and its `timeFieldName`; its
//!   migration version in OpenSearch Dashboards 2.x is `7.6.0`. The
//!   `fields` list is optional: Dashboards reads the mapping when the
//!   pattern is opened;
//! - `POST /api/saved_objects/_import?overwrite=true` with a
//!   `multipart/form-data` body whose part `file` holds the file; a file
//!   name not ending in `.ndjson` is refused with 400;
//! - every request other than GET/HEAD/OPTIONS needs an `osd-xsrf` header
//!   (any value), else 400 "Request must contain a osd-xsrf header.";
//! - the answer is 200 `{"success","successCount","errors"}` even when
//!   objects were refused: each refused one is in `errors` with its `id`,
//!   `type` and `error.type` (`conflict`, `unsupported_type`, …);
//! - with the security plugin's multi-tenancy, the `securitytenant` header
//!   chooses the Dashboards tenant the objects are saved in.
//!
//! The ids are fixed (`weir-<tenant>-<route>`, `weir-all`), so importing
//! again overwrites what an earlier import wrote.

pub mod install;

use std::collections::HashSet;
use std::sync::Arc;

use crate::config::{Config, RouteConfig};
use crate::pipeline::RoutePlugins;
use crate::plugin::Runtime;
use crate::tenant::TenantId;

/// The field every built-in plugin puts first; the cross-source pattern's time field.
pub const CROSS_SOURCE_TIME_FIELD: &str = "@timestamp";
/// Id of the pattern over every route with `@timestamp`.
pub const CROSS_SOURCE_ID: &str = "weir-all";
/// `migrationVersion` of an index pattern written by OpenSearch Dashboards 2.x.
pub const INDEX_PATTERN_MIGRATION_VERSION: &str = "7.6.0";

/// Why the index patterns cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A route's plugin could not be loaded or refused its config.
    #[error("routes[{index}].{field}: {message}")]
    Plugin {
        /// The route's position in the config.
        index: usize,
        /// The route's field the error is about.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The plugin runtime could not start.
    #[error("plugin runtime: {0}")]
    Runtime(String),
    /// `--tenant` names no tenant that has routes.
    #[error("no route of the config belongs to tenant {0:?}")]
    UnknownTenant(String),
    /// Two routes would get the same saved-object id.
    #[error("routes {first} and {second} would both get the saved-object id {id}; rename one")]
    DuplicateId {
        /// The id.
        id: String,
        /// The first route (`tenant/name`).
        first: String,
        /// The second route.
        second: String,
    },
}

/// What a route contributes: where its documents go and their date fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteIndices {
    /// The route's tenant.
    pub tenant: TenantId,
    /// The route's name.
    pub route: String,
    /// Index patterns covering every index the route writes (its index
    /// template's, tenant prefix included: `acme-cwl-*`).
    pub patterns: Vec<String>,
    /// Its date fields: the route's own, else its plugin's; the first is
    /// the pattern's time field.
    pub date_fields: Vec<String>,
}

impl RouteIndices {
    /// A route's indices, its date fields given.
    pub fn new(route: &RouteConfig, date_fields: Vec<String>) -> RouteIndices {
        RouteIndices {
            tenant: route.tenant.clone(),
            route: route.name.clone(),
            patterns: route.index_patterns.clone(),
            date_fields,
        }
    }
}

/// Every route's indices and date fields, each route's plugin loaded and
/// checked as `weir validate` does (plugins in S3 must have been fetched:
/// [`crate::pipeline::fetch_plugins`]).
pub fn route_indices(config: &Config) -> Result<Vec<RouteIndices>, ExportError> {
    let runtime =
        Runtime::new(config.plugins.clone()).map_err(|e| ExportError::Runtime(e.to_string()))?;
    let mut plugins = RoutePlugins::new(Arc::new(runtime));
    for (index, route) in config.routes.iter().enumerate() {
        plugins
            .for_route(route, None)
            .map_err(|e| ExportError::Plugin {
                index,
                field: e.field(),
                message: e.to_string(),
            })?;
    }
    let loaded = plugins.into_loaded();
    Ok(config
        .routes
        .iter()
        .map(|r| RouteIndices::new(r, crate::pipeline::date_fields(r, &loaded)))
        .collect())
}

/// One `index-pattern` saved object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPatternObject {
    /// Fixed id: importing again overwrites.
    pub id: String,
    /// Index names and wildcards, comma-separated.
    pub title: String,
    /// The time field (none: the pattern has no time filter).
    pub time_field: Option<String>,
}

impl IndexPatternObject {
    /// The saved object, as one line of a saved-objects file holds it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut attributes = serde_json::json!({ "title": self.title });
        if let Some(t) = &self.time_field {
            attributes["timeFieldName"] = t.clone().into();
        }
        serde_json::json!({
            "type": "index-pattern",
            "id": self.id,
            "attributes": attributes,
            "references": [],
            "migrationVersion": { "index-pattern": INDEX_PATTERN_MIGRATION_VERSION },
        })
    }
}

/// Saved objects for one Dashboards tenant (`None`: the caller's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    /// The Dashboards tenant (`securitytenant`), named after the Weir tenant.
    pub tenant: Option<TenantId>,
    /// Its index patterns.
    pub objects: Vec<IndexPatternObject>,
}

/// The index patterns of `routes`: one per route (`weir-<tenant>-<route>`,
/// timed by its first date field), then `weir-all` over every route that
/// has `@timestamp` among its date fields (none: no `weir-all`).
pub fn index_patterns(routes: &[&RouteIndices]) -> Result<Vec<IndexPatternObject>, ExportError> {
    let mut objects: Vec<IndexPatternObject> = Vec::new();
    let mut owners: Vec<String> = Vec::new();
    let (mut cross, mut seen) = (Vec::new(), HashSet::new());
    for r in routes {
        let id = format!("weir-{}-{}", r.tenant, r.route);
        let owner = format!("{}/{}", r.tenant, r.route);
        if let Some(i) = objects.iter().position(|o| o.id == id) {
            return Err(ExportError::DuplicateId {
                id,
                first: owners[i].clone(),
                second: owner,
            });
        }
        objects.push(IndexPatternObject {
            id,
            title: r.patterns.join(","),
            time_field: r.date_fields.first().cloned(),
        });
        owners.push(owner);
        if r.date_fields.iter().any(|f| f == CROSS_SOURCE_TIME_FIELD) {
            cross.extend(r.patterns.iter().filter(|p| seen.insert(p.as_str())));
        }
    }
    if !cross.is_empty() {
        let titles: Vec<&str> = cross.iter().map(|p| p.as_str()).collect();
        objects.push(IndexPatternObject {
            id: CROSS_SOURCE_ID.to_string(),
            title: titles.join(","),
            time_field: Some(CROSS_SOURCE_TIME_FIELD.to_string()),
        });
    }
    Ok(objects)
}

/// The spaces to import: one with the routes of `tenant` (all tenants when
/// `None`), or with `per_tenant` one per Weir tenant, each holding only its
/// own routes' patterns (and its own `weir-all`).
pub fn spaces(
    routes: &[RouteIndices],
    tenant: Option<&str>,
    per_tenant: bool,
) -> Result<Vec<Space>, ExportError> {
    let mut tenants: Vec<&TenantId> = Vec::new();
    for r in routes {
        if !tenants.contains(&&r.tenant) {
            tenants.push(&r.tenant);
        }
    }
    if let Some(t) = tenant {
        if !tenants.iter().any(|x| x.as_str() == t) {
            return Err(ExportError::UnknownTenant(t.to_string()));
        }
        tenants.retain(|x| x.as_str() == t);
    }
    let of = |t: &[&TenantId]| -> Vec<&RouteIndices> {
        routes.iter().filter(|r| t.contains(&&r.tenant)).collect()
    };
    if !per_tenant {
        let objects = index_patterns(&of(&tenants))?;
        return Ok(vec![Space {
            tenant: None,
            objects,
        }]);
    }
    tenants
        .iter()
        .map(|t| {
            Ok(Space {
                tenant: Some((*t).clone()),
                objects: index_patterns(&of(&[*t]))?,
            })
        })
        .collect()
}

/// The saved-objects file: one object per line, each line ending in `\n`.
pub fn ndjson(objects: &[IndexPatternObject]) -> String {
    let mut out = String::new();
    for o in objects {
        out.push_str(&o.to_json().to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
