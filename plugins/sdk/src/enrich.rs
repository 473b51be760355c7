//! Lookups the host answers (WIT 0.1.2 `enrich`): [`geoip`].
//!
//! In the wasm build the host answers from the MaxMind databases it is
//! configured with (none: every lookup is `None`). Natively (unit tests)
//! the answers come from a per-thread table a test fills with
//! `testing::set_geoip` (the `testing` feature); empty by default.

pub use crate::bindings::weir::plugin::enrich::{Geo, Location};

/// Where `ip` (IPv4 or IPv6 text) is and who routes it, or `None` when the
/// host has no GeoIP database, `ip` is not a public address, or nothing is
/// known of it. Call it only for addresses a document carries; the host
/// counts lookups.
pub fn geoip(ip: &str) -> Option<Geo> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::weir::plugin::enrich::geoip(ip)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        native::lookup(ip)
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::Geo;

    thread_local! {
        pub(crate) static TABLE: RefCell<HashMap<String, Geo>> = RefCell::new(HashMap::new());
    }

    pub(super) fn lookup(ip: &str) -> Option<Geo> {
        TABLE.with(|t| t.borrow().get(ip).cloned())
    }
}
