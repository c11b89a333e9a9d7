//! Builds the protocol component (`guest/protocol`) for wasm32-wasip2 and
//! embeds it, so users of `wasimap` never have to name it.
//!
//! The nested cargo uses its own target directory (`target/guest`) so it
//! cannot deadlock on the outer build's lock. Set `WASIMAP_PROTOCOL_WASM`
//! to a prebuilt component to skip the nested build.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=WASIMAP_PROTOCOL_WASM");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("wasimap_protocol.wasm");
    if let Ok(prebuilt) = env::var("WASIMAP_PROTOCOL_WASM") {
        std::fs::copy(&prebuilt, &out).unwrap_or_else(|e| panic!("copying {prebuilt}: {e}"));
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap();
    for watched in ["guest/protocol/src", "guest/protocol/Cargo.toml", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = root.join("target/guest");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "-p", "wasimap-protocol", "--target", "wasm32-wasip2", "--release", "--target-dir"])
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("running cargo for the protocol component");
    assert!(
        status.success(),
        "building the protocol component failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    let built = target_dir.join("wasm32-wasip2/release/wasimap_protocol.wasm");
    std::fs::copy(&built, &out).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
}
