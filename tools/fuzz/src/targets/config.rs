//! The config parser: `weir::config::Config::parse` (TOML, strict keys,
//! validation that collects every problem).

use weir::config::Config;

use super::{Fnv, Target, bucket, class};

/// The config parser.
pub const CONFIG: Target = Target {
    name: "config",
    about: "config parser: Config::parse refuses with problems, never panics; a parsed config answers its queries",
    run: config,
    fixtures: &[("examples", ".toml")],
    seed: config_seeds,
    dictionary: &[
        b"[server]\n",
        b"[server.tls]\n",
        b"[limits]\n",
        b"[plugins]\n",
        b"[geoip]\n",
        b"[[tenants]]\n",
        b"[[routes]]\n",
        b"[routes.plugin_config]\n",
        b"[sinks.x]\n",
        b"type = \"opensearch\"\n",
        b"type = \"s3\"\n",
        b"type = \"directory\"\n",
        b"kind = \"s3-notification\"\n",
        b"plugin = \"builtin:waf\"\n",
        b"plugin = \"file:x.wasm\"\n",
        b"index = \"a-%Y.%m.%d\"\n",
        b" = \"\"\n",
        b" = []\n",
        b" = {}\n",
        b"\"\"\"",
        b"'''",
        b"1979-05-27T07:32:00Z",
        b"inf",
        b"nan",
        b"0x7f",
        b"1_000",
    ],
    max_len: 8 * 1024,
};

/// A config file as an input, without its comments and blank lines (the
/// mutations go to keys and values).
fn config_seeds(file: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(file);
    let kept: Vec<&str> = text
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim_end())
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    vec![(kept.join("\n") + "\n").into_bytes()]
}

/// Input: TOML text (bytes that are not UTF-8 are replaced).
pub fn config(data: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text) {
        Ok(c) => {
            for r in &c.routes {
                assert!(
                    c.route_for_path(&r.path).is_some(),
                    "route {:?} not found by its path",
                    r.path
                );
                assert!(
                    c.tenants.keys().any(|t| *t == r.tenant),
                    "route of an unknown tenant"
                );
            }
            let _ = c.warnings();
            let _ = c.own_objects();
            let _ = c.metrics_on_listen();
            let mut h = Fnv::new(0);
            h.write_u64(bucket(c.routes.len()));
            h.write_u64(bucket(c.sinks.len()));
            h.write_u64(bucket(c.tenants.len()));
            h.finish()
        }
        Err(e) => {
            assert!(!e.problems.is_empty(), "refused without a problem");
            assert!(
                e.problems.iter().all(|p| !p.trim().is_empty()),
                "an empty problem"
            );
            let mut h = Fnv::new(1);
            h.write_u64(bucket(e.problems.len()));
            h.write_u64(class(
                5,
                e.problems.first().map(String::as_str).unwrap_or_default(),
            ));
            h.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_without_comments() {
        let seeds = config_seeds(include_bytes!("../../../../examples/weir.toml"));
        assert!(!seeds[0].contains(&b'#'));
        assert!(Config::parse(std::str::from_utf8(&seeds[0]).unwrap()).is_ok());
        config(&seeds[0]);
        config(b"[server]\nlisten = 1\n");
    }
}
