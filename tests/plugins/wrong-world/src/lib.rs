//! A component of another world: it exports `run`, not
//! `weir:plugin/transform`. The host must refuse it at load.

#![allow(unsafe_code)] // wit-bindgen's generated export glue

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "wit", world: "other" });

    struct Other;

    impl Guest for Other {
        fn run() -> u32 {
            42
        }
    }

    export!(Other);
}
