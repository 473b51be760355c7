//! A well-behaved echo plugin built against the released
//! `weir:plugin@0.1.1` (`wit/released/0.1.1`: a `metadata` export, but no
//! `schema` export and no `enrich` import): the host must still load it,
//! read its metadata and run it. Each record gives one document
//! `{"echo": <the record as a string>}` (lossy UTF-8).

#![allow(unsafe_code)] // wit-bindgen's generated export glue

#[cfg(target_arch = "wasm32")]
mod plugin {
    wit_bindgen::generate!({ path: "../../../wit/released/0.1.1", world: "plugin" });

    use exports::weir::plugin::metadata::PluginInfo;
    use exports::weir::plugin::transform::{BatchContext, Guest, Outcome};
    use weir::plugin::types::Document;

    struct Wit011;

    impl Guest for Wit011 {
        fn validate_config(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn transform(_ctx: BatchContext, records: Vec<Vec<u8>>) -> Vec<Outcome> {
            records
                .iter()
                .map(|r| {
                    let text = String::from_utf8_lossy(r);
                    let body = serde_json::json!({ "echo": text }).to_string();
                    Outcome::Ok(vec![Document {
                        index: None,
                        id: None,
                        timestamp_ms: None,
                        body,
                    }])
                })
                .collect()
        }
    }

    impl exports::weir::plugin::metadata::Guest for Wit011 {
        fn info() -> PluginInfo {
            PluginInfo {
                name: "wit-0-1-1".into(),
                version: "0.1.1".into(),
                date_fields: vec![],
                default_index: Some("echo-%Y.%m.%d".into()),
                config_schema: None,
            }
        }
    }

    export!(Wit011);
}
