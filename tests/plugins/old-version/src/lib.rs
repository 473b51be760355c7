//! A well-behaved echo plugin built against the released
//! `weir:plugin@0.1.0` (`wit/released/0.1.0`, which has no `metadata`
//! export): the host must still load and run it. Each record gives one
//! document `{"echo": <the record as a string>}` (lossy UTF-8).

#![allow(unsafe_code)] // wit-bindgen's generated export glue

#[cfg(target_arch = "wasm32")]
mod plugin {
    wit_bindgen::generate!({ path: "../../../wit/released/0.1.0", world: "plugin" });

    use exports::weir::plugin::transform::{BatchContext, Guest, Outcome};
    use weir::plugin::types::Document;

    struct OldVersion;

    impl Guest for OldVersion {
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

    export!(OldVersion);
}
