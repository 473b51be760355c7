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

mod geo;
mod memo;
mod roots;
mod write;

#[cfg(any(test, feature = "testing"))]
pub(crate) use geo::clear_geoip_cache;
pub use geo::{GEOIP_CACHE_ENTRIES, is_public};
pub use roots::Roots;

use geo::Resolved;
use write::{Obj, k};

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
    /// Every string above is known to hold no `"`, `\` or control
    /// character (a plugin took each from a JSON string literal without
    /// escapes, or from its own constants): they are written as they are,
    /// without looking for characters to escape. `false` (the default):
    /// each is escaped as needed. A plugin that sets it wrongly writes
    /// invalid JSON, which OpenSearch refuses (a dead letter).
    pub verbatim: bool,
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
        let mut top = Obj {
            out: body,
            empty,
            verbatim: self.verbatim,
        };
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
        let mut members = String::new();
        self.write_members(&mut members, present);
        members
    }

    /// Append the ECS members alone to `out` (as [`to_members`](Self::to_members)
    /// gives them), for a plugin that sizes its body before writing it (a
    /// body whose capacity is its length is handed to the host without
    /// being reallocated). Returns whether any was written.
    pub fn write_members(&self, out: &mut String, present: Roots) -> bool {
        let mut top = Obj {
            out,
            empty: true,
            verbatim: self.verbatim,
        };
        self.write_roots(&mut top, present);
        !top.empty
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
            top.obj(k!("cloud"), |o| self.cloud_members(o));
        }
        if root(2) {
            top.obj(k!("source"), |o| source.write(o, &self.source));
        }
        let d = &self.destination;
        if root(3) && (d.address.is_some() || d.port.is_some() || d.country.is_some()) {
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
        self.event_members(o);
        o.str(k!("id"), self.id);
    }

    fn write_network(&self, o: &mut Obj<'_>) {
        o.str(k!("transport"), self.transport);
        o.str(k!("protocol"), self.protocol);
        if let Some(n) = self.iana_number {
            o.key(k!("iana_number"));
            // a keyword in ECS: written as a string
            o.out.push('"');
            crate::json::push_u64(o.out, u64::from(n));
            o.out.push('"');
        }
        o.num(k!("bytes"), self.bytes);
        o.num(k!("packets"), self.packets);
        o.str(k!("direction"), self.direction);
    }

    /// `user`, `user_agent`, `http`, `url`, `dns`, `rule`.
    fn write_request(&self, top: &mut Obj<'_>, present: Roots) {
        let root = |i: usize| !present.has(i);
        if root(5) && self.user_name.is_some() {
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
        if root(9)
            && (self.dns_name.is_some() || self.dns_type.is_some() || self.dns_rcode.is_some())
        {
            top.obj(k!("dns"), |o| {
                o.obj(k!("question"), |q| {
                    q.str(k!("name"), self.dns_name);
                    q.str(k!("type"), self.dns_type);
                });
                o.str(k!("response_code"), self.dns_rcode);
            });
        }
        if root(10) {
            top.obj(k!("rule"), |o| self.rule_members(o));
        }
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
