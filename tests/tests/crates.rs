//! The crates show the architecture: the sandbox, the library embedders
//! depend on, links no command-line parsing, progress drawing or log
//! subscriber; those belong to the CLI.

use std::path::Path;
use std::process::Command;

/// The normal (not dev, not build) dependencies of `package`, by name.
fn normal_dependencies(package: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(root)
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_sandbox_links_no_cli_crates() {
    let sandbox = normal_dependencies("wasimap-sandbox");
    assert!(sandbox.iter().any(|d| d == "wasmtime"), "{sandbox:?}");
    for cli_only in ["clap", "indicatif", "tracing-subscriber"] {
        assert!(
            !sandbox.iter().any(|d| d == cli_only),
            "wasimap-sandbox links {cli_only}"
        );
    }
    // The check itself sees them where they are.
    let cli = normal_dependencies("wasimap");
    for cli_only in ["clap", "indicatif", "tracing-subscriber"] {
        assert!(
            cli.iter().any(|d| d == cli_only),
            "the CLI does not list {cli_only}: {cli:?}"
        );
    }
}

#[test]
fn the_watcher_links_no_cli_crates() {
    let watch = normal_dependencies("wasimap-watch");
    assert!(watch.iter().any(|d| d == "wasimap-sandbox"), "{watch:?}");
    for cli_only in ["clap", "indicatif", "tracing-subscriber"] {
        assert!(!watch.iter().any(|d| d == cli_only), "wasimap-watch links {cli_only}");
    }
}
