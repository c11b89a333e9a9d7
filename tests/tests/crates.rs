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

/// The crates people depend on package as they are published: each with
/// its README and metadata, the SDK and the sandbox with the WIT contract
/// they generate bindings from (`wit/`, a link to the repository's), the
/// core without its fuzz targets. `cargo package --no-verify` (no build:
/// a packaged sandbox builds from prebuilt protocol components), offline,
/// into a target directory of its own.
#[test]
fn the_library_crates_package() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let crates = [
        "wasimap-alloc",
        "wasimap-protocol",
        "wasimap-sdk",
        "wasimap-guest-build",
        "wasimap-sandbox",
    ];
    let target = root.join("target/package-check");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["package", "--offline", "--no-verify", "--allow-dirty", "--target-dir"])
        .arg(&target)
        .current_dir(root);
    for name in crates {
        cargo.args(["-p", name]);
    }
    let out = cargo.output().expect("cargo package runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing = |name: &str| -> Vec<String> {
        let out = Command::new(env!("CARGO"))
            .args(["package", "--offline", "--list", "--allow-dirty", "-p", name])
            .current_dir(root)
            .output()
            .expect("cargo package --list runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    for name in crates {
        let files = listing(name);
        assert!(files.iter().any(|f| f == "README.md"), "{name}: {files:?}");
        assert!(
            target.join(format!("package/{name}-0.1.0.crate")).is_file(),
            "{name} was not packaged"
        );
    }
    for name in ["wasimap-sdk", "wasimap-sandbox"] {
        let files = listing(name);
        for wit in ["wit/worlds.wit", "wit/client.wit", "wit/lend.wit"] {
            assert!(files.iter().any(|f| f == wit), "{name} lacks {wit}");
        }
    }
    assert!(!listing("wasimap-protocol").iter().any(|f| f.starts_with("fuzz/")));
}

/// The sandbox's public API is the documented list in its `lib.rs`: a
/// module made public (or private) changes this test and the list.
#[test]
fn the_sandboxs_public_modules_are_the_documented_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let lib = std::fs::read_to_string(root.join("host/sandbox/src/lib.rs")).unwrap();
    let public: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
        .collect();
    let documented = [
        "batch",
        "compose",
        "conn",
        "fair",
        "lend",
        "limits",
        "manifest",
        "policy",
        "private_dir",
        "progress",
        "runner",
        "secrets",
        "sleep",
        "terminal",
        "transport",
        "trust",
    ];
    assert_eq!(public, documented);
    let api = &lib[lib.find("## The public API").expect("lib.rs documents its public API")..];
    for module in documented {
        assert!(
            api.contains(&format!("[`{module}")),
            "lib.rs's API list does not name {module}"
        );
    }
}
