//! Build-script helper: builds plugin crates of this workspace for
//! `wasm32-wasip2` with the `plugin` profile, in a target directory of
//! their own (so the nested cargo never waits on the outer build's lock),
//! the way wasmtime's `test-programs/artifacts` build script does.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target every plugin is built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The cargo profile plugins are built with (see the workspace `Cargo.toml`).
pub const PROFILE: &str = "plugin";

/// Variables of the outer build that must not leak into the wasm build
/// (they are for the host target, or name the outer target dir).
const SCRUBBED_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_LLVM_COV",
    "LLVM_PROFILE_FILE",
];

/// The workspace root, from a build script's `CARGO_MANIFEST_DIR` (one level up).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Build `crates` (package names) for wasm into `<workspace>/target/<dir_name>`
/// and return the `.wasm` path of each, in order. Emits the
/// `rerun-if-changed` lines for `plugins/`, `wit/` and `extra_watch`.
/// Exits the build script with a clear message when the build fails.
pub fn build(crates: &[&str], dir_name: &str, extra_watch: &[&Path]) -> Vec<PathBuf> {
    let workspace = workspace_root();
    for watched in [workspace.join("plugins"), workspace.join("wit")]
        .iter()
        .map(PathBuf::as_path)
        .chain(extra_watch.iter().copied())
    {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    let target_dir = workspace.join("target").join(dir_name);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--profile", PROFILE, "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    for krate in crates {
        cmd.args(["-p", krate]);
    }
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!(
            "building {crates:?} for {TARGET} failed ({s}); is the target installed? \
             `rustup target add {TARGET}`"
        )),
        Err(e) => fail(&format!("could not run cargo to build {crates:?}: {e}")),
    }
    crates
        .iter()
        .map(|k| {
            target_dir
                .join(TARGET)
                .join(PROFILE)
                .join(format!("{}.wasm", k.replace('-', "_")))
        })
        .collect()
}

fn fail(message: &str) -> ! {
    println!("cargo:warning={message}");
    std::process::exit(1)
}
