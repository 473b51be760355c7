//! A component that exports `weir:plugin/transform@0.2.0`, a WIT version this
//! host does not run (a minimal WIT, not a copy of the contract): the host
//! must refuse it at load.

#![allow(unsafe_code)] // wit-bindgen's generated export glue

#[cfg(target_arch = "wasm32")]
mod plugin {
    wit_bindgen::generate!({ path: "wit", world: "plugin" });

    use exports::weir::plugin::transform::Guest;

    struct WrongVersion;

    impl Guest for WrongVersion {
        fn transform(records: Vec<Vec<u8>>) -> Vec<String> {
            records.iter().map(|_| "{}".to_string()).collect()
        }
    }

    export!(WrongVersion);
}
