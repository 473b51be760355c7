//! Builds the test-only plugins (hostile ones live beside the good ones) for
//! `wasm32-wasip2` and tells the tests where they are.

fn main() {
    let root = weir_plugin_build::workspace_root();
    let hostile = root.join("tests").join("plugins");
    let paths = weir_plugin_build::build(
        &["weir-test-plugin-hostile"],
        "wasm-test-plugins",
        &[hostile.as_path()],
    );
    println!(
        "cargo:rustc-env=WEIR_TEST_PLUGIN_HOSTILE={}",
        paths[0].display()
    );
}
