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

/// Natively: whether [`log`] writes to stderr (it does unless this is
/// set to `false`, as the fuzzer does: `tools/fuzz`).
#[cfg(not(target_arch = "wasm32"))]
pub static NATIVE_LOG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Write a line to the host's log (tagged by the host with tenant, route
/// and request id; capped per batch). Natively (unit tests) it goes to
/// stderr, unless [`NATIVE_LOG`] is off.
pub fn log(level: weir::plugin::host::Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    weir::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    if NATIVE_LOG.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("[{level:?}] {message}");
    }
}
