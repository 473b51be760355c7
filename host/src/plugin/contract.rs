//! The plugin contract, checked on the names a component's binary imports
//! and exports, before anything is compiled or instantiated.

use wasmparser::{Parser, Payload};

/// The WIT package plugins target; this host runs every `0.1.x` version.
const WIT_PACKAGE: &str = "weir:plugin";
/// The version prefix of [`WIT_PACKAGE`] this host accepts.
const WIT_VERSION_PREFIX: &str = "0.1.";

/// Interfaces (name without `@version`) a plugin may import: the
/// `weir:plugin` world and the WASI pieces a Rust or Python standard library
/// needs to start (stdio, exit, an empty environment, frozen clocks,
/// random). Anything else (filesystem, sockets, HTTP, …) is refused at load.
const ALLOWED_IMPORTS: &[&str] = &[
    "weir:plugin/host",
    "weir:plugin/enrich",
    "weir:plugin/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
];

/// Why a binary is not a plugin this host runs.
#[derive(Debug, thiserror::Error)]
pub(super) enum ContractError {
    /// A core module, or not wasm at all.
    #[error("not a WebAssembly component (a core module, or not wasm at all)")]
    NotComponent,
    /// The component's binary does not parse.
    #[error("not a valid component: {0}")]
    Invalid(#[from] wasmparser::BinaryReaderError),
    /// It exports `weir:plugin/transform` of another version.
    #[error(
        "targets {WIT_PACKAGE}@{version}, but this host runs {WIT_PACKAGE}@{WIT_VERSION_PREFIX}x; \
         rebuild the plugin against wit/plugin.wit of this release"
    )]
    WrongVersion {
        /// The version it targets.
        version: String,
    },
    /// It does not export `weir:plugin/transform` at all.
    #[error(
        "wrong world: a plugin must export {WIT_PACKAGE}/transform@{WIT_VERSION_PREFIX}x \
         (world `plugin` of wit/plugin.wit); this component exports [{}]",
        exports.join(", ")
    )]
    WrongWorld {
        /// What it exports instead.
        exports: Vec<String>,
    },
    /// It imports interfaces beyond [`ALLOWED_IMPORTS`].
    #[error(
        "imports what the host does not give plugins: {} (a plugin gets only the \
         {WIT_PACKAGE} world: stdio, exit, clocks, random and its `host` import)",
        refused.join(", ")
    )]
    RefusedImports {
        /// The imports refused.
        refused: Vec<String>,
    },
}

/// Check a component against the contract by the names of its top-level
/// imports and exports, read from the binary without compiling it: it must
/// export `weir:plugin/transform@0.1.x`, and import only
/// [`ALLOWED_IMPORTS`] (and `weir:plugin` interfaces of version 0.1.x).
pub(super) fn check_contract_names(bytes: &[u8]) -> Result<(), ContractError> {
    let (imports, exports) = top_level_names(bytes)?;
    let transform = format!("{WIT_PACKAGE}/transform@");
    let ours = exports
        .iter()
        .find_map(|n| n.strip_prefix(transform.as_str()));
    match ours {
        Some(v) if v.starts_with(WIT_VERSION_PREFIX) => {}
        Some(v) => {
            return Err(ContractError::WrongVersion {
                version: v.to_string(),
            });
        }
        None => return Err(ContractError::WrongWorld { exports }),
    }
    let refused: Vec<String> = imports
        .into_iter()
        .filter(|name| {
            let (iface, version) = name.split_once('@').unwrap_or((name, ""));
            !(ALLOWED_IMPORTS.contains(&iface)
                && (!iface.starts_with(WIT_PACKAGE) || version.starts_with(WIT_VERSION_PREFIX)))
        })
        .collect();
    if !refused.is_empty() {
        return Err(ContractError::RefusedImports { refused });
    }
    Ok(())
}

/// The names of a component's own (top-level) imports and exports.
fn top_level_names(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), ContractError> {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    // Nested modules and components are parsed inline; only depth 0 is ours.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::Version { encoding, .. }
                if depth == 0 && encoding != wasmparser::Encoding::Component =>
            {
                return Err(ContractError::NotComponent);
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) if depth > 0 => depth -= 1,
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    imports.push(import?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    exports.push(export?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;

    #[test]
    fn the_contract_is_read_from_the_binary() {
        for name in builtin::names() {
            check_contract_names(builtin::bytes(name).unwrap()).unwrap();
        }
        // A core module (the wasm header with version 1) is not a component.
        let core = b"\0asm\x01\0\0\0";
        let e = check_contract_names(core).unwrap_err();
        assert!(matches!(e, ContractError::NotComponent), "{e}");
        assert!(e.to_string().contains("not a WebAssembly component"));
        let e = check_contract_names(b"plainly not wasm").unwrap_err();
        assert!(matches!(e, ContractError::Invalid(_)), "{e}");
        assert!(e.to_string().contains("not a valid component"));
    }
    #[test]
    fn contract_messages() {
        let wrong_world = ContractError::WrongWorld {
            exports: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            wrong_world.to_string(),
            "wrong world: a plugin must export weir:plugin/transform@0.1.x (world `plugin` of \
             wit/plugin.wit); this component exports [a, b]"
        );
        let version = ContractError::WrongVersion {
            version: "0.2.0".into(),
        };
        assert_eq!(
            version.to_string(),
            "targets weir:plugin@0.2.0, but this host runs weir:plugin@0.1.x; rebuild the plugin \
             against wit/plugin.wit of this release"
        );
        let refused = ContractError::RefusedImports {
            refused: vec!["wasi:filesystem/types@0.2.0".into()],
        };
        assert_eq!(
            refused.to_string(),
            "imports what the host does not give plugins: wasi:filesystem/types@0.2.0 (a plugin \
             gets only the weir:plugin world: stdio, exit, clocks, random and its `host` import)"
        );
    }
}
