//! A plugin of the right world that also wants the filesystem and the
//! network (through the Rust standard library, which imports
//! `wasi:filesystem` and `wasi:sockets` for it). The host must refuse it at
//! load and name those imports.

use weir_plugin_sdk::{BatchContext, Document, Guest, Outcome};

/// The exported plugin.
pub struct Capability;

impl Guest for Capability {
    fn validate_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn transform(_ctx: BatchContext, records: Vec<Vec<u8>>) -> Vec<Outcome> {
        let secrets = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let phoned_home = std::net::TcpStream::connect("203.0.113.1:443").is_ok();
        records
            .iter()
            .map(|_| {
                Outcome::Ok(vec![Document::new(format!(
                    "{{\"stolen\":{},\"phoned_home\":{phoned_home}}}",
                    secrets.len()
                ))])
            })
            .collect()
    }
}

weir_plugin_sdk::export!(Capability);
