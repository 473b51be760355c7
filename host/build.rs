//! Builds the built-in plugins for `wasm32-wasip2` so that `weir` embeds
//! them, and embeds the plugin project templates (`build_templates.rs`).

#[path = "build_templates.rs"]
mod templates;

/// (builtin name, crate) of every plugin embedded in `weir`.
const BUILTINS: &[(&str, &str)] = &[
    ("waf", "weir-plugin-waf"),
    ("cloudwatch-logs", "weir-plugin-cloudwatch-logs"),
    ("vpc-flow", "weir-plugin-vpc-flow"),
    ("securityhub", "weir-plugin-securityhub"),
    ("route53-resolver", "weir-plugin-route53-resolver"),
];

fn main() {
    let crates: Vec<&str> = BUILTINS.iter().map(|(_, k)| *k).collect();
    let paths = weir_plugin_build::build(&crates, "wasm-plugins", &[]);
    let mut src = String::from(
        "/// The built-in plugins: (name, component bytes).\npub const BUILTINS: &[(&str, &[u8])] = &[\n",
    );
    for ((name, _), path) in BUILTINS.iter().zip(paths) {
        src.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    src.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out.join("builtins.rs"), src) {
        println!("cargo:warning=cannot write builtins.rs: {e}");
        std::process::exit(1);
    }
    if let Err(e) = templates::embed(&weir_plugin_build::workspace_root(), &out) {
        println!("cargo:warning=cannot embed the plugin templates: {e}");
        std::process::exit(1);
    }
}
