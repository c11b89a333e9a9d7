//! Builds the plugins the integration tests run, and tells the tests where
//! they are (`env!("WASIMAP_PLUGIN_<NAME>")`).

fn main() {
    let plugins = [
        "shell", "triage", "hostile", "template", "archive", "dedupe", "mbox", "report", "journal", "bench",
    ];
    let paths = wasimap_guest_build::build_guests(
        &plugins,
        &["guest/plugins", "guest/sdk", "guest/protocol", "guest/alloc"],
    );
    for (name, path) in plugins.iter().zip(paths) {
        println!(
            "cargo:rustc-env=WASIMAP_PLUGIN_{}={}",
            name.to_uppercase(),
            path.display()
        );
    }
}
