//! Builds the test-only plugins (hostile ones live beside the good ones) for
//! `wasm32-wasip2` and tells the tests where they are.

fn main() {
    let root = weir_plugin_build::workspace_root();
    let hostile = root.join("tests").join("plugins");
    let crates = [
        ("weir-test-plugin-hostile", "WEIR_TEST_PLUGIN_HOSTILE"),
        (
            "weir-test-plugin-wrong-version",
            "WEIR_TEST_PLUGIN_WRONG_VERSION",
        ),
        (
            "weir-test-plugin-wrong-world",
            "WEIR_TEST_PLUGIN_WRONG_WORLD",
        ),
        ("weir-test-plugin-capability", "WEIR_TEST_PLUGIN_CAPABILITY"),
        (
            "weir-test-plugin-old-version",
            "WEIR_TEST_PLUGIN_OLD_VERSION",
        ),
        ("weir-test-plugin-wit-0-1-1", "WEIR_TEST_PLUGIN_WIT_0_1_1"),
    ];
    let names: Vec<&str> = crates.iter().map(|(c, _)| *c).collect();
    let paths = weir_plugin_build::build(&names, "wasm-test-plugins", &[hostile.as_path()]);
    for ((_, var), path) in crates.iter().zip(&paths) {
        println!("cargo:rustc-env={var}={}", path.display());
    }
}
