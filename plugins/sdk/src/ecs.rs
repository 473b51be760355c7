//! ECS fields ([Elastic Common Schema](https://www.elastic.co/guide/en/ecs/current/index.html),
//! as OpenSearch Security Analytics and SIEM on OpenSearch read them), written
//! beside a source's own fields.
//!
//! A plugin fills an [`Ecs`] from its log (each source knows its own
//! semantics) and calls [`Ecs::append_to`] on the finished body: the ECS
//! roots (`event`, `cloud`, `source`, `destination`, `network`, `user`,
//! `user_agent`, `http`, `url`, `dns`, `rule`, `related`) are appended as
//! nested objects after the body's last member. Every original field stays
//! as it came. A root the log already has at its top level ([`Roots`]) is
//! skipped for that document, so a body never gets a duplicate key.
//!
//! What `append_to` checks and adds itself:
//! - a source or destination address that parses as an IP
//!   (`std::net::IpAddr`) is `*.ip`; one that does not
//!   (`ec2.amazonaws.com`, `fe80::1%eth0`) is `*.address` (ECS suggests
//!   both for an IP; the copy is left out to keep documents small, since
//!   `*.ip` holds the same text);
//! - GeoIP of a public `*.ip` ([`crate::geoip`]; private, loopback,
//!   link-local, documentation, shared and multicast addresses are never
//!   looked up): `*.geo.{country_iso_code,city_name,location}` and
//!   `*.as.{number,organization.name}`; a location outside ±90/±180 or not
//!   finite is left out;
//! - `related.ip`: the source and destination IPs and [`Ecs::related_ip`]
//!   (those that parse), without repeats;
//! - `cloud.provider` `aws` whenever another `cloud` field is set.
//!
//! GeoIP answers are cached per address for the plugin instance (one batch),
//! rendered once.
//!
//! Nothing here fails a record: a value that does not fit is left out.
//! [`INDEX_PROPERTIES`] is the mapping of every field this module writes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::rc::Rc;

use crate::Geo;
use crate::json::push_json_string;

/// The ECS roots this module may write, in the order it writes them.
pub const ROOTS: [&str; 12] = [
    "event",
    "cloud",
    "source",
    "destination",
    "network",
    "user",
    "user_agent",
    "http",
    "url",
    "dns",
    "rule",
    "related",
];

/// OpenSearch mapping `properties` of every ECS field [`Ecs::append_to`]
/// writes: `ip` for addresses, `geo_point` for locations, `long` for
/// numbers, `keyword` for the rest. For [`Info::index_properties`](crate::Info::index_properties).
pub const INDEX_PROPERTIES: &str = include_str!("ecs/index_properties.json");

/// Which ECS roots a document already has as top-level keys (a bit per
/// entry of [`ROOTS`]); [`Ecs::append_to`] skips them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roots(u16);

impl Roots {
    /// No root present.
    pub const NONE: Roots = Roots(0);
    /// Every root present (nothing is appended): for a document whose keys
    /// cannot be told.
    pub const ALL: Roots = Roots((1 << ROOTS.len()) - 1);

    /// Note a top-level key (anything but a root is ignored).
    pub fn mark(&mut self, key: &str) {
        self.mark_bytes(key.as_bytes());
    }

    /// [`Roots::mark`] of a key's UTF-8 bytes.
    pub(crate) fn mark_bytes(&mut self, key: &[u8]) {
        // Cheap first test: every root is 3..=11 bytes, lowercase ASCII.
        if !(3..=11).contains(&key.len()) || !key[0].is_ascii_lowercase() {
            return;
        }
        if let Some(i) = ROOTS.iter().position(|r| r.as_bytes() == key) {
            self.0 |= 1 << i;
        }
    }

    /// The roots among `keys`.
    pub fn of_keys<K: AsRef<str>>(keys: impl IntoIterator<Item = K>) -> Roots {
        let mut roots = Roots::NONE;
        for key in keys {
            roots.mark(key.as_ref());
        }
        roots
    }

    /// The roots among the keys of a JSON object.
    pub fn of_map(map: &serde_json::Map<String, serde_json::Value>) -> Roots {
        Roots::of_keys(map.keys())
    }

    /// The roots among the top-level keys of the JSON object at the start
    /// of `text` (keys read with their escapes decoded, values skipped);
    /// [`Roots::ALL`] when it is not one.
    pub fn of_json(text: &str) -> Roots {
        let mut de = serde_json::Deserializer::from_str(text);
        serde::Deserializer::deserialize_map(&mut de, KeysVisitor).unwrap_or(Roots::ALL)
    }

    /// Whether `root` (an entry of [`ROOTS`]) is present.
    pub fn contains(self, root: &str) -> bool {
        ROOTS
            .iter()
            .position(|r| *r == root)
            .is_some_and(|i| self.has(i))
    }

    /// Whether root `ROOTS[i]` is present.
    fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }
}

struct KeysVisitor;

impl<'de> serde::de::Visitor<'de> for KeysVisitor {
    type Value = Roots;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Roots, A::Error> {
        let mut roots = Roots::NONE;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            map.next_value::<serde::de::IgnoredAny>()?;
            roots.mark(&key);
        }
        Ok(roots)
    }
}

/// One end of a connection: `source` or `destination`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint<'a> {
    /// The address as the log gives it: `*.ip` (with GeoIP) when it parses
    /// as an IP, else `*.address`.
    pub address: Option<&'a str>,
    /// `*.port`.
    pub port: Option<u16>,
    /// The country (ISO 3166-1 alpha-2) the source itself names (WAF's
    /// `httpRequest.country`), written as `*.geo.country_iso_code` when
    /// GeoIP gives none.
    pub country: Option<&'a str>,
}

/// The ECS fields of one document; every field is optional (`None` or
/// empty: left out). Build one with `Ecs { …, ..Ecs::default() }`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ecs<'a> {
    /// `event.kind`: `event`, `alert`, …
    pub kind: Option<&'static str>,
    /// `event.category`: `network`, `web`, `authentication`, `iam`, …
    pub category: &'static [&'static str],
    /// `event.type`: `connection`, `allowed`, `denied`, `access`, `info`, …
    pub types: &'static [&'static str],
    /// `event.action`: what happened, as the source names it.
    pub action: Option<&'a str>,
    /// `event.outcome`: `success`, `failure` or `unknown`.
    pub outcome: Option<&'static str>,
    /// `event.provider`: the service that wrote the event.
    pub provider: Option<&'a str>,
    /// `event.dataset` (`aws.waf`, …).
    pub dataset: Option<&'static str>,
    /// `event.id`.
    pub id: Option<&'a str>,
    /// `cloud.account.id`.
    pub account_id: Option<&'a str>,
    /// `cloud.region`.
    pub region: Option<&'a str>,
    /// `source.*`.
    pub source: Endpoint<'a>,
    /// `destination.*`.
    pub destination: Endpoint<'a>,
    /// `network.transport`: `tcp`, `udp`, `icmp`, … (lowercase).
    pub transport: Option<&'a str>,
    /// `network.protocol`: `http`, `dns`, … (lowercase).
    pub protocol: Option<&'a str>,
    /// `network.iana_number`: the IP protocol number.
    pub iana_number: Option<u8>,
    /// `network.bytes`.
    pub bytes: Option<u64>,
    /// `network.packets`.
    pub packets: Option<u64>,
    /// `network.direction`: `ingress`, `egress`, …
    pub direction: Option<&'a str>,
    /// `user.name`.
    pub user_name: Option<&'a str>,
    /// `user_agent.original`.
    pub user_agent: Option<&'a str>,
    /// `http.request.method`.
    pub http_method: Option<&'a str>,
    /// `url.path`.
    pub url_path: Option<&'a str>,
    /// `url.query` (left out when empty).
    pub url_query: Option<&'a str>,
    /// `dns.question.name`.
    pub dns_name: Option<&'a str>,
    /// `dns.question.type`.
    pub dns_type: Option<&'a str>,
    /// `dns.response_code`.
    pub dns_rcode: Option<&'a str>,
    /// `rule.id`.
    pub rule_id: Option<&'a str>,
    /// `rule.name`.
    pub rule_name: Option<&'a str>,
    /// `rule.ruleset`.
    pub ruleset: Option<&'a str>,
    /// More addresses for `related.ip` (besides the source and destination
    /// IPs); those that do not parse as IPs are left out.
    pub related_ip: Vec<&'a str>,
}

impl Ecs<'_> {
    /// Append the ECS roots to `body` (a JSON object's text, ending in `}`,
    /// trailing whitespace allowed), after its last member, skipping the
    /// roots in `present`. A body that does not end in `}`, or an `Ecs`
    /// with nothing to write, is left unchanged.
    pub fn append_to(&self, body: &mut String, present: Roots) {
        let end = body.trim_end().len();
        if !body[..end].ends_with('}') {
            return;
        }
        // whitespace after the closing brace (rare), put back after it
        let tail = (end < body.len()).then(|| body[end..].to_string());
        body.truncate(end - 1);
        let empty = body.trim_end().ends_with('{');
        let mut top = Obj { out: body, empty };
        self.write_roots(&mut top, present);
        body.push('}');
        if let Some(tail) = tail {
            body.push_str(&tail);
        }
    }

    /// The ECS members alone (`"event":{…},"cloud":{…}`, no braces; empty
    /// when there are none), for a body that is built after the log it
    /// borrows from is taken apart; put them in with [`append_members`].
    pub fn to_members(&self, present: Roots) -> String {
        let mut members = String::from("{}");
        self.append_to(&mut members, present);
        members.pop();
        members.remove(0);
        members
    }

    /// Write every root not in `present`.
    fn write_roots(&self, top: &mut Obj<'_>, present: Roots) {
        let source = Resolved::of(&self.source);
        let destination = Resolved::of(&self.destination);
        // ROOTS[i] is written unless the log has it
        let root = |i: usize| !present.has(i);
        if root(0) {
            top.obj(k!("event"), |o| self.write_event(o));
        }
        if root(1) {
            top.obj(k!("cloud"), |o| {
                let any = self.account_id.is_some() || self.region.is_some();
                o.lit(k!("provider"), any.then_some("aws"));
                o.obj(k!("account"), |a| a.str(k!("id"), self.account_id));
                o.str(k!("region"), self.region);
            });
        }
        if root(2) {
            top.obj(k!("source"), |o| source.write(o, &self.source));
        }
        if root(3) {
            top.obj(k!("destination"), |o| {
                destination.write(o, &self.destination)
            });
        }
        if root(4) {
            top.obj(k!("network"), |o| self.write_network(o));
        }
        self.write_request(top, present);
        if root(11) {
            top.obj(k!("related"), |o| {
                o.ips(k!("ip"), source.ip, destination.ip, &self.related_ip);
            });
        }
    }

    fn write_event(&self, o: &mut Obj<'_>) {
        o.lit(k!("kind"), self.kind);
        o.strs(k!("category"), self.category);
        o.strs(k!("type"), self.types);
        o.str(k!("action"), self.action);
        o.lit(k!("outcome"), self.outcome);
        o.str(k!("provider"), self.provider);
        o.lit(k!("dataset"), self.dataset);
        o.str(k!("id"), self.id);
    }

    fn write_network(&self, o: &mut Obj<'_>) {
        o.str(k!("transport"), self.transport);
        o.str(k!("protocol"), self.protocol);
        if let Some(n) = self.iana_number {
            o.key(k!("iana_number"));
            // a keyword in ECS: written as a string
            let _ = write!(o.out, "\"{n}\"");
        }
        o.num(k!("bytes"), self.bytes);
        o.num(k!("packets"), self.packets);
        o.str(k!("direction"), self.direction);
    }

    /// `user`, `user_agent`, `http`, `url`, `dns`, `rule`.
    fn write_request(&self, top: &mut Obj<'_>, present: Roots) {
        let root = |i: usize| !present.has(i);
        if root(5) {
            top.obj(k!("user"), |o| o.str(k!("name"), self.user_name));
        }
        if root(6) {
            top.obj(k!("user_agent"), |o| o.str(k!("original"), self.user_agent));
        }
        if root(7) {
            top.obj(k!("http"), |o| {
                o.obj(k!("request"), |r| r.str(k!("method"), self.http_method));
            });
        }
        if root(8) {
            top.obj(k!("url"), |o| {
                o.str(k!("path"), self.url_path);
                o.str(k!("query"), self.url_query.filter(|q| !q.is_empty()));
            });
        }
        if root(9) {
            top.obj(k!("dns"), |o| {
                o.obj(k!("question"), |q| {
                    q.str(k!("name"), self.dns_name);
                    q.str(k!("type"), self.dns_type);
                });
                o.str(k!("response_code"), self.dns_rcode);
            });
        }
        if root(10) {
            top.obj(k!("rule"), |o| {
                o.str(k!("id"), self.rule_id);
                o.str(k!("name"), self.rule_name);
                o.str(k!("ruleset"), self.ruleset);
            });
        }
    }
}

/// An endpoint's address checked, and its GeoIP.
struct Resolved<'a> {
    ip: Option<(&'a str, IpAddr)>,
    geo: Option<Rc<GeoEntry>>,
}

/// A GeoIP answer, and its `geo` and `as` members as written.
struct GeoEntry {
    geo: Geo,
    members: String,
}

impl<'a> Resolved<'a> {
    fn of(endpoint: &Endpoint<'a>) -> Resolved<'a> {
        let ip = endpoint
            .address
            .and_then(|a| a.parse::<IpAddr>().ok().map(|ip| (a, ip)));
        let geo = ip
            .filter(|(_, ip)| is_public(ip))
            .and_then(|(text, _)| geoip_cached(text));
        Resolved { ip, geo }
    }

    fn write(&self, o: &mut Obj<'_>, endpoint: &Endpoint<'_>) {
        match self.ip {
            Some((ip, _)) => o.str(k!("ip"), Some(ip)),
            None => o.str(k!("address"), endpoint.address),
        }
        o.num(k!("port"), endpoint.port.map(u64::from));
        match &self.geo {
            // rendered once per address, unless the log's own country is needed
            Some(entry) if entry.geo.country_iso_code.is_some() || endpoint.country.is_none() => {
                o.members(&entry.members);
            }
            geo => write_geo(o, geo.as_ref().map(|e| &e.geo), endpoint.country),
        }
    }
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

/// Put `members` (from [`Ecs::to_members`]) after the last member of
/// `body` (a JSON object's text ending in `}`). Empty `members`, or a body
/// that does not end in `}`, leave it unchanged.
pub fn append_members(body: &mut String, members: &str) {
    let end = body.trim_end().len();
    if members.is_empty() || !body[..end].ends_with('}') {
        return;
    }
    body.truncate(end - 1);
    if !body.trim_end().ends_with('{') {
        body.push(',');
    }
    body.push_str(members);
    body.push('}');
}

/// How many addresses' GeoIP answers a plugin instance keeps (an
/// instance lives for one batch, where the same client often comes back):
/// bounds the cache's memory to a few hundred kilobytes. Past it, lookups
/// go to the host uncached.
pub const GEOIP_CACHE_ENTRIES: usize = 1024;

thread_local! {
    static GEOIP_CACHE: RefCell<HashMap<String, Option<Rc<GeoEntry>>>> = RefCell::new(HashMap::new());
}

/// [`crate::geoip`], remembered per address (see [`GEOIP_CACHE_ENTRIES`]).
fn geoip_cached(ip: &str) -> Option<Rc<GeoEntry>> {
    GEOIP_CACHE.with(|cache| {
        if let Some(hit) = cache.borrow().get(ip) {
            return hit.clone();
        }
        let geo = crate::geoip(ip).map(|geo| {
            let mut members = String::new();
            write_geo(
                &mut Obj {
                    out: &mut members,
                    empty: true,
                },
                Some(&geo),
                None,
            );
            Rc::new(GeoEntry { geo, members })
        });
        let mut cache = cache.borrow_mut();
        if cache.len() < GEOIP_CACHE_ENTRIES {
            cache.insert(ip.to_string(), geo.clone());
        }
        geo
    })
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

/// A key as written in a member: `k!("kind")` is `"kind":` (this module's
/// keys need no escaping).
macro_rules! k {
    ($key:literal) => {
        concat!("\"", $key, "\":")
    };
}
use k;

/// A JSON object being written: members appended, an object left out when
/// nothing was written into it.
struct Obj<'o> {
    out: &'o mut String,
    empty: bool,
}

impl Obj<'_> {
    /// Start a member: `key` is its key as written, quoted, with the colon
    /// ([`k!`]).
    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push_str(key);
    }

    /// A member whose value needs no escaping (this module's constants).
    fn lit(&mut self, key: &str, value: Option<&'static str>) {
        if let Some(value) = value {
            self.key(key);
            self.out.push('"');
            self.out.push_str(value);
            self.out.push('"');
        }
    }

    /// Members already written (`"a":…,"b":…`), after the others.
    fn members(&mut self, members: &str) {
        if members.is_empty() {
            return;
        }
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push_str(members);
    }

    fn str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.key(key);
            push_json_string(self.out, value);
        }
    }

    fn num(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.key(key);
            let _ = write!(self.out, "{value}");
        }
    }

    fn strs(&mut self, key: &str, values: &[&str]) {
        if values.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            // this module's constants: nothing to escape
            self.out.push('"');
            self.out.push_str(value);
            self.out.push('"');
        }
        self.out.push(']');
    }

    /// `related.ip`: every IP once, in order.
    fn ips(
        &mut self,
        key: &str,
        a: Option<(&str, IpAddr)>,
        b: Option<(&str, IpAddr)>,
        more: &[&str],
    ) {
        let b = b.filter(|(_, ip)| a.is_none_or(|(_, first)| first != *ip));
        let mut wrote = false;
        for (text, _) in a.into_iter().chain(b) {
            self.list_item(key, &mut wrote, text);
        }
        // the rest checked against a list (no allocation without them)
        let mut seen: Vec<IpAddr> = Vec::new();
        for text in more {
            let Ok(ip) = text.parse::<IpAddr>() else {
                continue;
            };
            let known = |x: Option<(&str, IpAddr)>| x.is_some_and(|(_, known)| known == ip);
            if known(a) || known(b) || seen.contains(&ip) {
                continue;
            }
            seen.push(ip);
            self.list_item(key, &mut wrote, text);
        }
        if wrote {
            self.out.push(']');
        }
    }

    /// One string of a list member `key`, opening it first (`wrote`).
    fn list_item(&mut self, key: &str, wrote: &mut bool, text: &str) {
        if *wrote {
            self.out.push(',');
        } else {
            self.key(key);
            self.out.push('[');
            *wrote = true;
        }
        push_json_string(self.out, text);
    }

    /// A member holding an object written by `f`; left out when `f` writes
    /// nothing.
    fn obj(&mut self, key: &str, f: impl FnOnce(&mut Obj<'_>)) {
        let mark = self.out.len();
        let was_empty = self.empty;
        self.key(key);
        self.out.push('{');
        let mut child = Obj {
            out: self.out,
            empty: true,
        };
        f(&mut child);
        if child.empty {
            self.out.truncate(mark);
            self.empty = was_empty;
        } else {
            self.out.push('}');
        }
    }
}

/// The account and region of an ARN (`arn:<partition>:<service>:<region>:<account>:…`),
/// each `None` when empty. `None` when `arn` is not an ARN.
pub fn arn_region_account(arn: &str) -> Option<(Option<&str>, Option<&str>)> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let (_partition, _service) = (parts.next()?, parts.next()?);
    let region = parts.next()?;
    let account = parts.next()?;
    parts.next()?;
    Some((non_empty(region), non_empty(account)))
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// `network.transport` of an IANA protocol number: `tcp` (6), `udp` (17),
/// `icmp` (1), `ipv6-icmp` (58); `None` for any other.
pub fn transport_of_iana(number: u64) -> Option<&'static str> {
    match number {
        1 => Some("icmp"),
        6 => Some("tcp"),
        17 => Some("udp"),
        58 => Some("ipv6-icmp"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
