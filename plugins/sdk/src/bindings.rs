//! The generated bindings of `wit/plugin.wit` (`weir:plugin@0.1.2`, world
//! `plugin`), generated once, here, for every plugin, and the host's `log`.

#![allow(unsafe_code, missing_docs, clippy::all, unreachable_pub)]

wit_bindgen::generate!({
    world: "plugin",
    path: "../../wit",
    pub_export_macro: true,
    export_macro_name: "__export_plugin",
    default_bindings_module: "::weir_plugin_sdk::bindings",
    runtime_path: "::weir_plugin_sdk::__rt::wit_bindgen::rt",
});

/// Write a line to the host's log (tagged by the host with tenant, route
/// and request id; capped per batch). Natively (unit tests) it goes to stderr.
pub fn log(level: weir::plugin::host::Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    weir::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}
