#![doc = include_str!("../README.md")]

// Lets the generated code name this crate by its public path from inside it too.
extern crate self as weir_plugin_sdk;

pub mod bindings;
pub mod config;
mod document;
pub mod json;
mod plugin;
pub mod record;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;

pub use weir_common::{gzip, index, time};

#[doc(hidden)]
pub mod __rt {
    pub use wit_bindgen;
}

pub use bindings::exports::weir::plugin::metadata::PluginInfo;
pub use bindings::log;
pub use bindings::weir::plugin::host::Level;
pub use bindings::weir::plugin::types::{Attribute, BatchContext, Document, Outcome};
pub use plugin::{Exported, Info, Plugin};

pub use gzip::{GZIP_MAGIC, GunzipError, gunzip_capped, is_gzip};
pub use index::{check_index_name, is_index_name_char};
pub use json::{
    Loose, json_error, json_kind, json_kind_at, json_value_at, json_values, push_json_string,
    trim_json_ws,
};
pub use record::{MAX_DECOMPRESSED_BYTES, lines, record_text, transform_each};
pub use time::{
    ISO_MS_LEN, MAX_EPOCH_MS, epoch_ms_to_iso, epoch_seconds_to_iso, iso_to_epoch_ms,
    push_epoch_ms_iso,
};

/// Export a type implementing [`Plugin`] as the component's `transform` and
/// `metadata` interfaces (through [`Exported`]).
///
/// Use it once per plugin crate: `weir_plugin_sdk::export!(MyPlugin);`
///
/// The exports exist only in the wasm build: natively (unit tests) the
/// crate is a plain library, and a native `cdylib` could not carry the
/// component-model export names (`weir:plugin/transform@0.1.1#…`) anyway.
#[macro_export]
macro_rules! export {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __WeirExported = $crate::Exported<$ty>;
            $crate::bindings::__export_plugin!(__WeirExported);
        };
    };
}
