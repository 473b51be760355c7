//! GeoIP of an endpoint: looked up once per address for the instance
//! ([`GEOIP_CACHE_ENTRIES`]), only for public addresses ([`is_public`]),
//! and rendered once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::rc::Rc;

use super::Endpoint;
use super::write::{Obj, k};
use crate::Geo;
use crate::json::same_str;

/// An endpoint's address checked, and its GeoIP.
pub(super) struct Resolved<'a> {
    pub(super) ip: Option<(&'a str, IpAddr)>,
    /// A public address's GeoIP (cached, found or not).
    geo: Option<Rc<GeoEntry>>,
}

/// A public address: its IP, the GeoIP answer, and its `geo` and `as`
/// members as written.
struct GeoEntry {
    ip: IpAddr,
    geo: Option<Geo>,
    members: String,
    /// The members written with a country the log names
    /// ([`Endpoint::country`]), when the answer has none: (country,
    /// members) of the last such.
    fallback: RefCell<Option<(String, String)>>,
}

impl GeoEntry {
    fn has_country(&self) -> bool {
        self.geo
            .as_ref()
            .is_some_and(|g| g.country_iso_code.is_some())
    }
}

impl<'a> Resolved<'a> {
    pub(super) fn of(endpoint: &Endpoint<'a>) -> Resolved<'a> {
        let Some(text) = endpoint.address else {
            return Resolved {
                ip: None,
                geo: None,
            };
        };
        // a public address seen before: neither parsed nor looked up again
        if let Some(entry) = cached(text) {
            return Resolved {
                ip: Some((text, entry.ip)),
                geo: Some(entry),
            };
        }
        let ip = text.parse::<IpAddr>().ok();
        let geo = ip.filter(is_public).map(|ip| look_up(text, ip));
        Resolved {
            ip: ip.map(|ip| (text, ip)),
            geo,
        }
    }

    pub(super) fn write(&self, o: &mut Obj<'_>, endpoint: &Endpoint<'_>) {
        match self.ip {
            Some((ip, _)) => o.ip(k!("ip"), ip),
            None => o.str(k!("address"), endpoint.address),
        }
        o.num(k!("port"), endpoint.port.map(u64::from));
        match (&self.geo, endpoint.country) {
            // rendered once per address …
            (Some(entry), None) => o.members(&entry.members),
            (Some(entry), Some(_)) if entry.has_country() => o.members(&entry.members),
            // … or per address and the log's own country, when needed
            (Some(entry), Some(country)) => {
                let mut fallback = entry.fallback.borrow_mut();
                if fallback
                    .as_ref()
                    .is_none_or(|(c, _)| !same_str(Some(c), Some(country)))
                {
                    let members = rendered(entry.geo.as_ref(), Some(country));
                    *fallback = Some((country.to_string(), members));
                }
                if let Some((_, members)) = fallback.as_ref() {
                    o.members(members);
                }
            }
            (None, country) => write_geo(o, None, country),
        }
    }
}

/// The members [`write_geo`] writes, alone (kept per address).
fn rendered(geo: Option<&Geo>, fallback: Option<&str>) -> String {
    let mut members = String::new();
    write_geo(
        &mut Obj {
            out: &mut members,
            empty: true,
            verbatim: false,
        },
        geo,
        fallback,
    );
    members
}

/// `geo` and `as` of an endpoint (each left out when empty); `country` when
/// the answer has none.
fn write_geo(o: &mut Obj<'_>, geo: Option<&Geo>, fallback: Option<&str>) {
    {
        o.obj(k!("geo"), |g| {
            let country = geo.and_then(|g| g.country_iso_code.as_deref());
            g.str(k!("country_iso_code"), country.or(fallback));
            g.str(k!("city_name"), geo.and_then(|g| g.city_name.as_deref()));
            if let Some(at) = geo.and_then(|g| g.location.as_ref()) {
                let ok = at.lat.is_finite()
                    && at.lon.is_finite()
                    && at.lat.abs() <= 90.0
                    && at.lon.abs() <= 180.0;
                if ok {
                    g.key(k!("location"));
                    let _ = write!(g.out, "{{\"lat\":{},\"lon\":{}}}", at.lat, at.lon);
                }
            }
        });
        o.obj(k!("as"), |a| {
            a.num(k!("number"), geo.and_then(|g| g.as_number).map(u64::from));
            a.obj(k!("organization"), |org| {
                org.str(k!("name"), geo.and_then(|g| g.as_organization.as_deref()));
            });
        });
    }
}

/// How many addresses' GeoIP answers a plugin instance keeps (an
/// instance lives for one batch, where the same client often comes back):
/// bounds the cache's memory to a few hundred kilobytes. Past it, lookups
/// go to the host uncached.
pub const GEOIP_CACHE_ENTRIES: usize = 1024;

/// FNV-1a: the cache's keys are short addresses from the logs of one
/// batch, where SipHash's resistance to chosen keys buys little (the
/// cache is bounded) and costs more than the rest of the lookup.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Cache = HashMap<String, Rc<GeoEntry>, BuildHasherDefault<Fnv>>;

thread_local! {
    static GEOIP_CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The entry of public address `text`, if it was looked up before.
fn cached(text: &str) -> Option<Rc<GeoEntry>> {
    GEOIP_CACHE.with(|cache| cache.borrow().get(text).cloned())
}

/// [`crate::geoip`] of public address `ip` (written `text`), remembered
/// (see [`GEOIP_CACHE_ENTRIES`]).
fn look_up(text: &str, ip: IpAddr) -> Rc<GeoEntry> {
    let geo = crate::geoip(text);
    let members = rendered(geo.as_ref(), None);
    let entry = Rc::new(GeoEntry {
        ip,
        geo,
        members,
        fallback: RefCell::new(None),
    });
    GEOIP_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() < GEOIP_CACHE_ENTRIES {
            cache.insert(text.to_string(), Rc::clone(&entry));
        }
    });
    entry
}

/// Forget the cached GeoIP answers (natively, when a test changes them).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn clear_geoip_cache() {
    GEOIP_CACHE.with(|cache| cache.borrow_mut().clear());
}

/// Whether GeoIP could know `ip`: not private, loopback, link-local,
/// unspecified, multicast, broadcast, documentation or shared (CGNAT).
pub fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let [s0, s1, ..] = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (s0 == 0x2001 && s1 == 0x0db8))
        }
    }
}
