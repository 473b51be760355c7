//! GeoIP: where a public address is and who routes it, from MaxMind-format
//! databases (a City or Country database and an ASN database), answered to
//! plugins through the WIT `enrich.geoip` import.
//!
//! Each database is memory-mapped once per process and shared by every
//! batch of every route; [`GeoIp::reload_if_changed`] maps it again when its
//! file's modification time or length changes, and keeps the old mapping
//! serving when the new file does not open. Replace a database by writing a
//! new file and renaming it over the old (what `geoipupdate` does): the old
//! mapping keeps its inode. Rewriting the file in place while it is mapped
//! is undefined behaviour (the reason `open_mmap` is `unsafe`).
//!
//! Answers are kept per address for the process ([`ANSWERS_KEPT`]), so an
//! address met again in a later batch is not looked up again; a reload
//! forgets them.
//!
//! Private, loopback, link-local, documentation, shared (CGNAT), multicast,
//! unspecified and other non-public addresses get nothing, and neither does
//! text that is not an address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use maxminddb::{Mmap, Reader, geoip2};

/// What the databases say about one address (each part only when known).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code.
    pub country_iso_code: Option<String>,
    /// The city's English name.
    pub city_name: Option<String>,
    /// Latitude and longitude, degrees.
    pub location: Option<(f64, f64)>,
    /// Autonomous system number.
    pub as_number: Option<u32>,
    /// Autonomous system organisation.
    pub as_organization: Option<String>,
}

impl Geo {
    fn is_empty(&self) -> bool {
        *self == Geo::default()
    }
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("GeoIP database {path}: {detail}")]
pub struct GeoIpError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub detail: String,
}

/// One memory-mapped database and the file identity it was mapped from.
struct Db {
    path: PathBuf,
    state: RwLock<(Arc<Reader<Mmap>>, FileStamp)>,
}

/// A file's modification time and length: a change of either means a new file.
type FileStamp = (Option<SystemTime>, u64);

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

fn stamp(path: &Path) -> Result<FileStamp, GeoIpError> {
    let meta = std::fs::metadata(path).map_err(|e| GeoIpError {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    Ok((meta.modified().ok(), meta.len()))
}

/// Map `path` and check it is a MaxMind DB of the `expected` kind (its
/// `database_type` contains it: `City`/`Country`, `ASN`).
fn map(path: &Path, expected: &[&str]) -> Result<(Reader<Mmap>, FileStamp), GeoIpError> {
    let err = |detail: String| GeoIpError {
        path: path.to_path_buf(),
        detail,
    };
    let before = stamp(path)?;
    // SAFETY: the mapped file must not change while mapped. Databases are
    // replaced by rename (documented above and in the README), which leaves
    // this mapping on the old inode.
    #[allow(unsafe_code)]
    let reader = unsafe { Reader::open_mmap(path) }.map_err(|e| err(e.to_string()))?;
    let kind = &reader.metadata().database_type;
    if !expected.iter().any(|k| kind.contains(k)) {
        return Err(err(format!(
            "is a {kind:?} database, expected one of {expected:?}"
        )));
    }
    Ok((reader, before))
}

impl Db {
    fn open(path: &Path, expected: &[&str]) -> Result<Db, GeoIpError> {
        let (reader, stamp) = map(path, expected)?;
        Ok(Db {
            path: path.to_path_buf(),
            state: RwLock::new((Arc::new(reader), stamp)),
        })
    }

    fn reader(&self) -> Arc<Reader<Mmap>> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .clone()
    }

    /// Map the file again when it changed: `Ok(true)` when reloaded.
    fn reload_if_changed(&self, expected: &[&str]) -> Result<bool, GeoIpError> {
        let now = stamp(&self.path)?;
        let old = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1;
        if now == old {
            return Ok(false);
        }
        let (reader, stamp) = map(&self.path, expected)?;
        *self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (Arc::new(reader), stamp);
        Ok(true)
    }
}

const CITY_KINDS: &[&str] = &["City", "Country"];
const ASN_KINDS: &[&str] = &["ASN"];

/// How many addresses' answers (found or not) a process keeps (a few
/// megabytes at most). Each batch's plugin instance starts with an empty
/// cache of its own, so without this an address met in every batch (a busy
/// client, a NAT gateway) was decoded from the databases in every batch.
/// When full, the whole cache is dropped and refilled (no bookkeeping per
/// hit).
pub const ANSWERS_KEPT: usize = 16_384;

/// The answers kept: a generation, moved on by every reload, and the
/// answers of that generation.
#[derive(Debug, Default)]
struct Answers {
    generation: u64,
    by_address: HashMap<IpAddr, Option<Geo>>,
}

/// The GeoIP databases of a process.
#[derive(Debug)]
pub struct GeoIp {
    city: Option<Db>,
    asn: Option<Db>,
    answers: Mutex<Answers>,
}

impl GeoIp {
    /// Open (memory-map) the databases; a missing, unreadable or wrong-kind
    /// file is an error.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<GeoIp, GeoIpError> {
        Ok(GeoIp {
            city: city.map(|p| Db::open(p, CITY_KINDS)).transpose()?,
            asn: asn.map(|p| Db::open(p, ASN_KINDS)).transpose()?,
            answers: Mutex::default(),
        })
    }

    /// The files, for messages.
    pub fn paths(&self) -> Vec<&Path> {
        self.city
            .iter()
            .chain(&self.asn)
            .map(|d| d.path.as_path())
            .collect()
    }

    /// Map again each database whose file changed. Each result is for one
    /// database: `Ok(true)` reloaded, `Ok(false)` unchanged, `Err` the new
    /// file did not open (the old mapping keeps serving).
    pub fn reload_if_changed(&self) -> Vec<Result<bool, GeoIpError>> {
        let mut out = Vec::new();
        if let Some(db) = &self.city {
            out.push(db.reload_if_changed(CITY_KINDS));
        }
        if let Some(db) = &self.asn {
            out.push(db.reload_if_changed(ASN_KINDS));
        }
        if out.iter().any(|r| matches!(r, Ok(true))) {
            let mut answers = self.answers();
            answers.generation += 1;
            answers.by_address.clear();
        }
        out
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where `ip` is; `None` for text that is not a public address or
    /// that the databases do not know.
    pub fn lookup(&self, ip: &str) -> Option<Geo> {
        let addr = public_address(ip)?;
        let generation = {
            let answers = self.answers();
            if let Some(known) = answers.by_address.get(&addr) {
                return known.clone();
            }
            answers.generation
        };
        let geo = self.decode(addr);
        let mut answers = self.answers();
        // not an answer of a database a reload has replaced meanwhile
        if answers.generation == generation {
            if answers.by_address.len() >= ANSWERS_KEPT {
                answers.by_address.clear();
            }
            answers.by_address.insert(addr, geo.clone());
        }
        geo
    }

    /// [`lookup`](Self::lookup) without the kept answers: every call reads
    /// the databases (for the `geoip` benchmark).
    #[doc(hidden)]
    pub fn lookup_uncached(&self, ip: &str) -> Option<Geo> {
        self.decode(public_address(ip)?)
    }

    /// What the databases say of public address `addr`.
    fn decode(&self, addr: IpAddr) -> Option<Geo> {
        let mut geo = Geo::default();
        if let Some(db) = &self.city {
            let reader = db.reader();
            if let Ok(Some(city)) = reader
                .lookup(addr)
                .and_then(|r| r.decode::<geoip2::City<'_>>())
            {
                geo.country_iso_code = city.country.iso_code.map(str::to_string);
                geo.city_name = city.city.names.english.map(str::to_string);
                geo.location = match (city.location.latitude, city.location.longitude) {
                    (Some(lat), Some(lon))
                        if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
                    {
                        Some((lat, lon))
                    }
                    _ => None,
                };
            }
        }
        if let Some(db) = &self.asn {
            let reader = db.reader();
            if let Ok(Some(asn)) = reader
                .lookup(addr)
                .and_then(|r| r.decode::<geoip2::Asn<'_>>())
            {
                geo.as_number = asn.autonomous_system_number;
                geo.as_organization = asn.autonomous_system_organization.map(str::to_string);
            }
        }
        (!geo.is_empty()).then_some(geo)
    }
}

/// `ip` as an address, when it is one and public (what is worth a lookup).
fn public_address(ip: &str) -> Option<IpAddr> {
    let addr: IpAddr = ip.trim().parse().ok()?;
    is_public(addr).then_some(addr)
}

/// Whether an address is routable on the public internet (what GeoIP can
/// say anything true about).
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [b0, b1, ..] = a.octets();
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_documentation()
        || a.is_multicast()
        || b0 == 0
        || b0 >= 240
        // 100.64.0.0/10 shared address space (CGNAT)
        || (b0 == 100 && (64..128).contains(&b1))
        // 192.0.0.0/24 protocol assignments
        || (b0 == 192 && b1 == 0 && a.octets()[2] == 0)
        // 198.18.0.0/15 benchmarking
        || (b0 == 198 && (18..20).contains(&b1)))
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        // fc00::/7 unique local
        || (s[0] & 0xfe00) == 0xfc00
        // fe80::/10 link local
        || (s[0] & 0xffc0) == 0xfe80
        // 2001:db8::/32 documentation
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // ::/96 (IPv4-compatible, deprecated) and other reserved low space
        || s[..6] == [0, 0, 0, 0, 0, 0])
}

#[cfg(test)]
mod tests;
