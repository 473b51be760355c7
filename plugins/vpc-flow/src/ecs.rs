//! The ECS fields of a flow log line ([`weir_plugin_sdk::ecs`]), from the
//! values the line has (a `-` value gives no field: NODATA and SKIPDATA
//! lines get only what they carry).
//!
//! | ECS | from |
//! |---|---|
//! | `event.kind`, `event.category` | `event`, `[network]` |
//! | `event.type` | `[connection, allowed]` (`ACCEPT`), `[connection, denied]` (`REJECT`), else `[connection]` |
//! | `event.action`, `event.outcome` | `accept` / `reject`, `success` / `failure` (from `action`) |
//! | `event.dataset` | `aws.vpcflow` |
//! | `cloud.account.id`, `cloud.region` | `account-id`, `region` |
//! | `source.address`/`ip`/`port` | `srcaddr`, `srcport` (GeoIP) |
//! | `destination.address`/`ip`/`port` | `dstaddr`, `dstport` (GeoIP) |
//! | `network.iana_number`, `network.transport` | `protocol`; `tcp` (6), `udp` (17), `icmp` (1), `ipv6-icmp` (58), else no transport |
//! | `network.bytes`, `network.packets` | `bytes`, `packets` |
//! | `network.direction` | `flow-direction` (`ingress`, `egress`) |
//! | `related.ip` | `srcaddr`, `dstaddr`, `pkt-srcaddr`, `pkt-dstaddr` |
//!
//! A flow log line has none of the ECS roots as a field name, so no root is
//! ever skipped.

use weir_plugin_sdk::ecs::{Ecs, Endpoint, Roots, transport_of_iana};

/// Room reserved in a body for the ECS fields (about 400 bytes for a
/// default-format line).
pub(crate) const RESERVE: usize = 512;

/// The values of a line that ECS fields come from.
#[derive(Default)]
pub(crate) struct FlowFields<'a> {
    account: Option<&'a str>,
    region: Option<&'a str>,
    src: Option<&'a str>,
    dst: Option<&'a str>,
    pkt_src: Option<&'a str>,
    pkt_dst: Option<&'a str>,
    src_port: Option<&'a str>,
    dst_port: Option<&'a str>,
    protocol: Option<&'a str>,
    bytes: Option<&'a str>,
    packets: Option<&'a str>,
    action: Option<&'a str>,
    direction: Option<&'a str>,
}

impl<'a> FlowFields<'a> {
    /// Note the value of field `name` (not `-`).
    pub(crate) fn note(&mut self, name: &str, value: &'a str) {
        let slot = match name {
            "account-id" => &mut self.account,
            "region" => &mut self.region,
            "srcaddr" => &mut self.src,
            "dstaddr" => &mut self.dst,
            "pkt-srcaddr" => &mut self.pkt_src,
            "pkt-dstaddr" => &mut self.pkt_dst,
            "srcport" => &mut self.src_port,
            "dstport" => &mut self.dst_port,
            "protocol" => &mut self.protocol,
            "bytes" => &mut self.bytes,
            "packets" => &mut self.packets,
            "action" => &mut self.action,
            "flow-direction" => &mut self.direction,
            _ => return,
        };
        *slot = Some(value);
    }

    /// Append the ECS fields to `body`.
    pub(crate) fn append_to(&self, body: &mut String) {
        let (action, outcome, types): (_, _, &'static [&'static str]) = match self.action {
            Some("ACCEPT") => (Some("accept"), Some("success"), &["connection", "allowed"]),
            Some("REJECT") => (Some("reject"), Some("failure"), &["connection", "denied"]),
            _ => (None, None, &["connection"]),
        };
        let iana = self.protocol.and_then(|p| p.parse::<u8>().ok());
        let port = |p: Option<&str>| p.and_then(|p| p.parse::<u16>().ok());
        let count = |n: Option<&str>| n.and_then(|n| n.parse::<u64>().ok());
        let mut related = Vec::new();
        related.extend(self.pkt_src);
        related.extend(self.pkt_dst);
        Ecs {
            kind: Some("event"),
            category: &["network"],
            types,
            action,
            outcome,
            dataset: Some("aws.vpcflow"),
            account_id: self.account,
            region: self.region,
            source: Endpoint {
                address: self.src,
                port: port(self.src_port),
                country: None,
            },
            destination: Endpoint {
                address: self.dst,
                port: port(self.dst_port),
                country: None,
            },
            transport: iana.and_then(|n| transport_of_iana(u64::from(n))),
            iana_number: iana,
            bytes: count(self.bytes),
            packets: count(self.packets),
            direction: self.direction,
            related_ip: related,
            ..Ecs::default()
        }
        .append_to(body, Roots::NONE);
    }
}
