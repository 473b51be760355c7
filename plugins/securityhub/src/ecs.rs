//! The ECS fields of an ASFF finding ([`weir_plugin_sdk::ecs`]).
//!
//! | ECS | from |
//! |---|---|
//! | `event.kind` | `alert` |
//! | `event.category` | `[configuration]` when a `Types` entry starts with `Software and Configuration Checks`, `[intrusion_detection]` for `TTPs`, `Effects` or `Unusual Behaviors`, else none |
//! | `event.type` | `[info]` |
//! | `event.id` | `Id` |
//! | `event.provider` | `ProductName`, else the product of `ProductArn` (`guardduty`) |
//! | `event.dataset` | `aws.securityhub_findings` |
//! | `cloud.account.id` | `AwsAccountId` |
//! | `cloud.region` | `Region`, else the region of `ProductArn` (the first of its fields before the resource that looks like one, as GuardDuty writes `arn:aws::securityhub:us-east-1::…`) |
//! | `rule.id`, `rule.name` | `GeneratorId`, `Title` |
//! | `source.*`, `destination.*` | `Network.SourceIpV4` (else `SourceIpV6`), `SourcePort`, `SourceDomain` (address when there is no IP); same for `Destination` (GeoIP) |
//! | `network.transport`, `network.direction` | `Network.Protocol` lowercased, `Network.Direction` (`IN` → `inbound`, `OUT` → `outbound`) |
//! | `related.ip` | the source and destination IPs, and every `ProductFields` value whose key ends in `ipAddressV4` or `ipAddressV6` (GuardDuty's remote and local addresses) |
//!
//! A value of another type than ASFF gives is left out; nothing here fails
//! a finding. A root the finding has at its top level is skipped.

use serde_json::{Map, Value};
use weir_plugin_sdk::ecs::{Ecs, Endpoint, Roots};

/// The ECS members of a finding (`"event":{…},…`, no braces; empty when none).
pub(crate) fn members(finding: &Map<String, Value>) -> String {
    members_with(finding, Roots::of_map(finding))
}

/// [`members`] from the fields ECS reads (`finding` may hold only those),
/// skipping the roots the finding has (`present`).
pub(crate) fn members_with(finding: &Map<String, Value>, present: Roots) -> String {
    let s = |key: &str| finding.get(key).and_then(Value::as_str);
    let network = finding.get("Network").and_then(Value::as_object);
    let net = |key: &str| network.and_then(|n| n.get(key));
    let net_str = |key: &str| net(key).and_then(Value::as_str);
    let port = |key: &str| {
        net(key)
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
    };
    let endpoint = |side: &str| Endpoint {
        address: net_str(&format!("{side}IpV4"))
            .or_else(|| net_str(&format!("{side}IpV6")))
            .or_else(|| net_str(&format!("{side}Domain"))),
        port: port(&format!("{side}Port")),
        country: None,
    };
    let product_arn = s("ProductArn");
    let transport = net_str("Protocol").map(str::to_ascii_lowercase);
    let related = finding
        .get("ProductFields")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.ends_with("ipAddressV4") || k.ends_with("ipAddressV6"))
        .filter_map(|(_, v)| v.as_str())
        .collect();
    Ecs {
        kind: Some("alert"),
        category: category(finding.get("Types")),
        types: &["info"],
        id: s("Id"),
        provider: s("ProductName")
            .or_else(|| product_arn.and_then(crate::product_of_arn).map(|p| p.1)),
        dataset: Some("aws.securityhub_findings"),
        account_id: s("AwsAccountId"),
        region: s("Region").or_else(|| product_arn.and_then(arn_region)),
        rule_id: s("GeneratorId"),
        rule_name: s("Title"),
        source: endpoint("Source"),
        destination: endpoint("Destination"),
        transport: transport.as_deref(),
        direction: match net_str("Direction") {
            Some("IN") => Some("inbound"),
            Some("OUT") => Some("outbound"),
            _ => None,
        },
        related_ip: related,
        ..Ecs::default()
    }
    .to_members(present)
}

/// `event.category` from the finding's `Types` (`namespace/category/classifier`).
fn category(types: Option<&Value>) -> &'static [&'static str] {
    let types = types.and_then(Value::as_array).into_iter().flatten();
    for t in types.filter_map(Value::as_str) {
        if t.starts_with("Software and Configuration Checks") {
            return &["configuration"];
        }
        if ["TTPs", "Effects", "Unusual Behaviors"]
            .iter()
            .any(|ns| t.starts_with(ns))
        {
            return &["intrusion_detection"];
        }
    }
    &[]
}

/// The region of an ARN: the first field before the resource that looks
/// like a region (`us-east-1`: lowercase letters and digits with dashes,
/// ending in a digit), wherever a malformed ARN put it.
fn arn_region(arn: &str) -> Option<&str> {
    let fields: Vec<&str> = arn.split(':').collect();
    let before_resource = fields.get(1..fields.len().saturating_sub(1))?;
    before_resource.iter().copied().find(|f| {
        f.contains('-')
            && f.ends_with(|c: char| c.is_ascii_digit())
            && f.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn regions_of_arns() {
        for (arn, want) in [
            (
                "arn:aws:securityhub:us-east-1::product/aws/securityhub",
                Some("us-east-1"),
            ),
            (
                "arn:aws::securityhub:us-east-1::product/aws/guardduty",
                Some("us-east-1"),
            ),
            (
                "arn:aws-us-gov:securityhub:us-gov-west-1::product/a/b",
                Some("us-gov-west-1"),
            ),
            ("arn:aws:securityhub:::ruleset/cis", None),
            ("product/aws/x-1", None),
        ] {
            assert_eq!(super::arn_region(arn), want, "{arn}");
        }
    }
}
