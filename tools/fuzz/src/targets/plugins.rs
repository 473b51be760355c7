//! The built-in plugins' `transform`, built natively and called as the host
//! calls the component's export (`Exported::<P>::transform`: the route's
//! config parsed, then every record of the batch).

use weir_plugin_sdk::bindings::exports::weir::plugin::transform::Guest;
use weir_plugin_sdk::{Exported, Outcome, Plugin};

use super::{Fnv, Target, bucket, class};

/// Records of a batch are separated by this byte (ASCII record separator)
/// in an input.
pub const SEPARATOR: u8 = 0x1e;
/// Most records in one fuzzed batch.
pub const MAX_RECORDS: usize = 16;

/// Configs every plugin is tried with (by the first byte of an input,
/// with the plugin's own after them): none, empty, ECS on and off, and
/// one that is not the plugin's.
pub const COMMON_CONFIGS: &[&str] = &[
    "",
    "{}",
    r#"{"ecs":false}"#,
    r#"{"ecs":true}"#,
    r#"{"nope":1}"#,
];

/// A plugin target: its name, what it reads, its own configs.
macro_rules! plugin_target {
    ($name:literal, $fixtures:literal, $plugin:ty, $configs:expr) => {
        Target {
            name: $name,
            about: concat!(
                "plugin ",
                $name,
                ": transform (native): one outcome per record, bodies are JSON objects"
            ),
            run: |data| run_plugin::<$plugin>(data, $configs),
            fixtures: &[($fixtures, ".in"), ($fixtures, ".record")],
            seed: plugin_seeds,
            dictionary: &[b"\x1e", b"\x1f\x8b", b"\"\"", b"null", b"{}", b"[]"],
            max_len: 32 * 1024,
        }
    };
}

/// CloudWatch Logs subscription payloads and CloudTrail.
pub const CLOUDWATCH_LOGS: Target = plugin_target!(
    "cloudwatch-logs",
    "tests/fixtures/plugins/cloudwatch-logs",
    weir_plugin_cloudwatch_logs::CloudWatchLogs,
    &[r#"{"index_prefix":"x-"}"#, r#"{"index_prefix":"A/"}"#]
);
/// AWS WAF logs.
pub const WAF: Target = plugin_target!(
    "waf",
    "tests/fixtures/plugins/waf",
    weir_plugin_waf::Waf,
    &[]
);
/// VPC Flow Logs, with the fixtures' custom formats.
pub const VPC_FLOW: Target = plugin_target!(
    "vpc-flow",
    "tests/fixtures/plugins/vpc-flow",
    weir_plugin_vpc_flow::VpcFlow,
    &[
        include_str!(
            "../../../../tests/fixtures/plugins/vpc-flow/awsdocs_custom-nat-gateway.config.json"
        ),
        include_str!(
            "../../../../tests/fixtures/plugins/vpc-flow/awsdocs_v3-tcp-flags.config.json"
        ),
        include_str!(
            "../../../../tests/fixtures/plugins/vpc-flow/awsdocs_v5-traffic-path.config.json"
        ),
        include_str!(
            "../../../../tests/fixtures/plugins/vpc-flow/elastic_test-v8-samples.config.json"
        ),
        r#"{"format":"${srcaddr}"}"#,
        r#"{"format":""}"#,
    ]
);
/// Route 53 Resolver query logs.
pub const ROUTE53_RESOLVER: Target = plugin_target!(
    "route53-resolver",
    "tests/fixtures/plugins/route53-resolver",
    weir_plugin_route53_resolver::Route53Resolver,
    &[]
);
/// Security Hub findings.
pub const SECURITYHUB: Target = plugin_target!(
    "securityhub",
    "tests/fixtures/plugins/securityhub",
    weir_plugin_securityhub::SecurityHub,
    &[
        r#"{"keep_history":true}"#,
        r#"{"default_index":"x","indices":{"guardduty":"g"}}"#
    ]
);

/// A fixture record as inputs: with the default config, the plugin's
/// first own config, and twice in one batch. A `.lines.in` file is one
/// record per line.
fn plugin_seeds(file: &[u8]) -> Vec<Vec<u8>> {
    let batch: Vec<u8> = file
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(&SEPARATOR);
    vec![
        [&[0u8][..], file].concat(),
        [&[COMMON_CONFIGS.len() as u8][..], file].concat(),
        [&[2u8][..], &batch[..]].concat(),
        [&[0u8][..], file, &[SEPARATOR], file].concat(),
    ]
}

/// Input: a byte choosing the config ([`COMMON_CONFIGS`], then the
/// plugin's own), then the records, separated by [`SEPARATOR`].
pub fn run_plugin<P: Plugin>(data: &[u8], own: &[&str]) -> u64 {
    let Some((&c, rest)) = data.split_first() else {
        return 0;
    };
    let c = usize::from(c) % (COMMON_CONFIGS.len() + own.len());
    let config = COMMON_CONFIGS
        .get(c)
        .or_else(|| own.get(c - COMMON_CONFIGS.len()));
    let config = config.copied().unwrap_or_default();
    let records: Vec<Vec<u8>> = rest
        .splitn(MAX_RECORDS, |&b| b == SEPARATOR)
        .map(<[u8]>::to_vec)
        .collect();
    let ctx = weir_plugin_sdk::BatchContext {
        tenant: "t".into(),
        route: "fuzz".into(),
        request_id: "r".into(),
        source_arn: None,
        common_attributes: vec![],
        config: config.into(),
    };
    let outcomes = Exported::<P>::transform(ctx, records.clone());
    assert_eq!(outcomes.len(), records.len(), "one outcome per record");
    for outcome in &outcomes {
        if let Outcome::Ok(docs) = outcome {
            for doc in docs {
                let body = serde_json::from_str::<serde_json::Value>(&doc.body);
                assert!(
                    matches!(body, Ok(serde_json::Value::Object(_))),
                    "document body is not one JSON object: {:?}",
                    doc.body
                );
            }
        }
        if let Outcome::Failed(reason) = outcome {
            assert!(!reason.is_empty(), "failed without a reason");
        }
    }
    // The class: the config, the batch size, and what became of the first
    // record (every record's would multiply the classes).
    let mut h = Fnv::new(c as u64);
    h.write_u64(bucket(outcomes.len()));
    h.write_u64(match outcomes.first() {
        Some(Outcome::Ok(docs)) => bucket(docs.len()),
        Some(Outcome::Dropped) => 0xd,
        Some(Outcome::Failed(reason)) => class(4, reason),
        None => 0,
    });
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_takes_its_fixture_and_garbage() {
        for t in [
            &CLOUDWATCH_LOGS,
            &WAF,
            &VPC_FLOW,
            &ROUTE53_RESOLVER,
            &SECURITYHUB,
        ] {
            let good = std::fs::read(format!("../../{}/good.record", t.fixtures[0].0)).unwrap();
            for input in plugin_seeds(&good) {
                (t.run)(&input);
            }
            for c in 0..12u8 {
                (t.run)(&[c, b'{', SEPARATOR, 0x1f, 0x8b, SEPARATOR]);
            }
        }
    }
}
