//! Used by build scripts to compile guest crates (the protocol component,
//! plugins) for `wasm32-wasip2` from a native build.
//!
//! The nested cargo gets its own target directory (`target/guest`) so it
//! cannot deadlock on the lock of the outer build, and is stripped of the
//! outer build's flags and wrappers, which are meant for the host target.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, from a build script's `CARGO_MANIFEST_DIR`.
///
/// # Panics
/// Outside the wasimap repository (a crate built from its package):
/// see [`find_workspace_root`].
pub fn workspace_root() -> PathBuf {
    find_workspace_root().expect("the wasimap repository (wit/ and guest/component/ beside a Cargo.toml)")
}

/// The repository's root, if the build script runs inside it: the first
/// ancestor of `CARGO_MANIFEST_DIR` holding `wit/`, `guest/component/` and
/// a `Cargo.toml`. `None` for a crate built from its published package,
/// which has no guest sources to build.
pub fn find_workspace_root() -> Option<PathBuf> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run from a build script"));
    manifest
        .ancestors()
        .find(|d| {
            d.join("wit").is_dir() && d.join("guest/component/Cargo.toml").is_file() && d.join("Cargo.toml").is_file()
        })
        .map(Path::to_path_buf)
}

/// Builds `packages` in release mode for wasm32-wasip2 and returns the path
/// of each package's `.wasm`, in order. Prints `rerun-if-changed` for the
/// sources given in `watch` (relative to the workspace root) and `wit/`.
///
/// # Panics
/// When cargo fails: a build script cannot continue without the guests.
pub fn build_guests(packages: &[&str], watch: &[&str]) -> Vec<PathBuf> {
    build(packages, &[], watch)
}

/// Builds one package as [`build_guests`] does, with `features` on. The
/// `.wasm` is where the build without them leaves its own: copy it before
/// building the package again.
///
/// # Panics
/// As [`build_guests`].
pub fn build_guest_with_features(package: &str, features: &[&str], watch: &[&str]) -> PathBuf {
    build(&[package], features, watch).remove(0)
}

fn build(packages: &[&str], features: &[&str], watch: &[&str]) -> Vec<PathBuf> {
    let root = workspace_root();
    for w in watch.iter().chain(&["wit", "Cargo.lock"]) {
        println!("cargo:rerun-if-changed={}", root.join(w).display());
    }
    let target_dir = root.join("target/guest");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo for the guest crates");
    assert!(
        status.success(),
        "building {packages:?} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    packages.iter().map(|p| wasm_path(&target_dir, p)).collect()
}

fn wasm_path(target_dir: &Path, package: &str) -> PathBuf {
    target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}
