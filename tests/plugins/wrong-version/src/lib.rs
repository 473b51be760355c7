//! A well-behaved echo plugin built against `weir:plugin@0.2.0` (a copy of
//! the WIT with only the version changed): the host must refuse it at load.

#![allow(unsafe_code)] // wit-bindgen's generated export glue

#[cfg(target_arch = "wasm32")]
mod plugin {
    wit_bindgen::generate!({ path: "wit", world: "plugin" });

    use exports::weir::plugin::transform::{BatchContext, Guest, Outcome};
    use weir::plugin::types::Document;

    struct WrongVersion;

    impl Guest for WrongVersion {
        fn validate_config(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn transform(_ctx: BatchContext, records: Vec<Vec<u8>>) -> Vec<Outcome> {
            records
                .iter()
                .map(|_| {
                    Outcome::Ok(vec![Document {
                        index: None,
                        id: None,
                        timestamp_ms: None,
                        body: "{}".to_string(),
                    }])
                })
                .collect()
        }
    }

    export!(WrongVersion);
}
