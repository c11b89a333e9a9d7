//! The blocking embedding (`Runner::run`, `wasimap run`, `wasimap watch`)
//! and the async one (`Runner::run_async`, `add_to_linker_async`) provide
//! the same imports: every plugin in the repository links under both. The
//! async linker once lacked `progress`, so every plugin importing it (the
//! archive, mbox and report plugins, and every componentize-py plugin)
//! could not be instantiated under `run_async`.

use std::process::Command;

use wasimap_tests::{plugin_path, prebuilt_plugin, release_wasimap_binary};

/// Every plugin crate under guest/plugins.
const PLUGINS: [&str; 10] = [
    "shell", "triage", "hostile", "template", "archive", "dedupe", "mbox", "report", "journal", "bench",
];

/// `wasimap inspect --link PLUGIN` (the release build compiles the big
/// components ten times faster than a debug one) says it links under
/// both.
fn assert_links(plugin: &std::path::Path) {
    let out = Command::new(release_wasimap_binary())
        .args(["inspect", "--link"])
        .arg(plugin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("links: blocking and async embeddings"),
        "{}: {stdout}\n{}",
        plugin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_rust_plugin_links_under_both_embeddings() {
    let listed: Vec<String> = std::fs::read_dir(wasimap_tests::root().join("guest/plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in &listed {
        assert!(
            PLUGINS.contains(&name.as_str()),
            "guest/plugins/{name} is not checked here"
        );
    }
    for name in PLUGINS {
        assert_links(&plugin_path(name));
    }
}

#[test]
fn the_python_and_javascript_plugins_link_under_both_embeddings() {
    for (path, recipe) in [
        ("target/python/report.wasm", "just build-python"),
        ("target/js/report.wasm", "just build-js"),
    ] {
        assert_links(&prebuilt_plugin(path, recipe));
    }
}
