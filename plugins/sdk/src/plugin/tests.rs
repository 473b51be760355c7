use super::*;
use crate::Document;
use crate::testing::{self, ok_docs};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    suffix: String,
}

struct Echo;

impl Plugin for Echo {
    type Config = Config;
    const INFO: Info = crate::info!("echo")
        .date_fields(&["at"])
        .default_index("echo-%Y")
        .config_schema("{}");

    fn transform_record(config: &Config, record: &[u8]) -> Outcome {
        let text = String::from_utf8_lossy(record);
        Outcome::Ok(vec![Document::new(format!("{text}{}", config.suffix))])
    }
}

#[test]
fn info_is_the_crate_version_and_what_the_plugin_declares() {
    let info = Echo::INFO;
    assert_eq!(info.name, "echo");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    let wit = <Exported<Echo> as metadata::Guest>::info();
    assert_eq!(wit.date_fields, ["at"]);
    assert_eq!(wit.default_index.as_deref(), Some("echo-%Y"));
    assert_eq!(wit.config_schema.as_deref(), Some("{}"));
    let bare = Info::new("x", "1.0.0");
    assert_eq!((bare.date_fields.len(), bare.default_index), (0, None));
}

#[test]
fn the_export_parses_the_config_once_or_fails_every_record() {
    let out = testing::transform::<Echo>(r#"{"suffix":"!"}"#, &[b"a", b"b"]);
    let bodies: Vec<String> = out.into_iter().flat_map(ok_docs).map(|d| d.body).collect();
    assert_eq!(bodies, ["a!", "b!"]);
    let out = testing::transform::<Echo>(r#"{"sufix":"!"}"#, &[b"a", b"b"]);
    assert_eq!(out.len(), 2);
    for o in out {
        assert!(testing::failed(o).starts_with("invalid plugin config: unknown option `sufix`"),);
    }
    assert!(testing::validate_config::<Echo>("").is_ok());
    assert!(testing::validate_config::<Echo>("[]").is_err());
}
