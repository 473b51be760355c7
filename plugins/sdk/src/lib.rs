#![doc = include_str!("../README.md")]

// Lets the generated code name this crate by its public path from inside it too.
extern crate self as weir_plugin_sdk;

pub mod bindings;
pub mod config;
pub mod cwl;
mod document;
pub mod ecs;
pub mod enrich;
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
pub use enrich::{Geo, Location, geoip};
pub use plugin::{Exported, Info, Plugin};

pub use gzip::{GZIP_MAGIC, GunzipError, gunzip_capped, is_gzip};
pub use index::{check_index_name, is_index_name_char};
pub use json::{
    Loose, json_error, json_kind, json_kind_at, json_object_at, json_value_at, json_values,
    push_json_string, trim_json_ws,
};
pub use record::{MAX_DECOMPRESSED_BYTES, lines, record_text, text_outcome, transform_each};
pub use time::{
    ISO_MS_LEN, MAX_EPOCH_MS, epoch_ms_to_iso, epoch_seconds_to_iso, iso_to_epoch_ms,
    push_epoch_ms_iso,
};

/// Export a plugin as the component's `transform` and `metadata`
/// interfaces (through [`Exported`]). Use it once per plugin crate, in one
/// of two forms:
///
/// - `export!(MyPlugin)`: `MyPlugin` implements [`Plugin`] (for a plugin that
///   needs the whole batch);
/// - the common case, a plugin declared in one place: the macro defines the
///   struct, implements [`Plugin`] for it with that config type, that
///   [`Info`] and that function of a record, and exports it:
///
/// ```
/// # fn transform_record(_: &[u8]) -> weir_plugin_sdk::Outcome { weir_plugin_sdk::Outcome::Dropped }
/// weir_plugin_sdk::export! {
///     /// The plugin type exported to the host.
///     pub struct Echo;
///     config: weir_plugin_sdk::config::NoOptions,
///     info: weir_plugin_sdk::info!("echo").date_fields(&["at"]),
///     transform_record: |_config, record| transform_record(record),
/// }
/// # use weir_plugin_sdk::Plugin;
/// # assert_eq!(Echo::INFO.name, "echo");
/// ```
///
/// The exports exist only in the wasm build: natively (unit tests) the
/// crate is a plain library (the `Plugin` impl is there, so tests can read
/// `<MyPlugin as Plugin>::INFO`), and a native `cdylib` could not carry the
/// component-model export names (`weir:plugin/transform@0.1.2#…`) anyway.
#[macro_export]
macro_rules! export {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __WeirExported = $crate::Exported<$ty>;
            $crate::bindings::__export_plugin!(__WeirExported);
        };
    };
    (
        $(#[$attr:meta])*
        $vis:vis struct $ty:ident;
        config: $config:ty,
        info: $info:expr,
        transform_record: $record:expr $(,)?
    ) => {
        $(#[$attr])*
        $vis struct $ty;
        impl $crate::Plugin for $ty {
            type Config = $config;
            const INFO: $crate::Info = $info;
            fn transform_record(config: &$config, record: &[u8]) -> $crate::Outcome {
                $crate::__call_record($record, config, record)
            }
        }
        $crate::export!($ty);
    };
}

/// Calls `f` (a closure given to [`export!`]) with its argument types known.
#[doc(hidden)]
#[inline(always)]
pub fn __call_record<C, F: Fn(&C, &[u8]) -> Outcome>(f: F, config: &C, record: &[u8]) -> Outcome {
    f(config, record)
}
