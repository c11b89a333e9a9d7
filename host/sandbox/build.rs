//! Embeds the two builds of the protocol component (`guest/component` over
//! the core in `guest/protocol`, for wasm32-wasip2), so users of `wasimap`
//! never have to name them: the plain one (world `protocol`, for `wasimap
//! run` and embedders) and the watcher's (feature `watcher`, world
//! `protocol-watcher`, which imports `lend`). Set `WASIMAP_PROTOCOL_WASM`
//! or `WASIMAP_PROTOCOL_WATCHER_WASM` to a prebuilt component to skip
//! that nested build; built from its published package, outside the
//! repository, the crate has no guest sources and needs both (`just
//! build-guest` and a build with `--features watcher` make them).

use std::env;
use std::path::{Path, PathBuf};

const SOURCES: [&str; 3] = ["guest/component", "guest/protocol", "guest/alloc"];

fn main() {
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    // One after the other: both builds leave their `.wasm` at one path.
    embed(&out_dir, "wasimap_protocol", "WASIMAP_PROTOCOL_WASM", &[]);
    embed(
        &out_dir,
        "wasimap_protocol_watcher",
        "WASIMAP_PROTOCOL_WATCHER_WASM",
        &["watcher"],
    );
}

/// Builds (or takes the prebuilt) component into `OUT_DIR/NAME.wasm` and
/// writes its SHA-256 beside it: the digest names compiled artifacts, and
/// computed here a start hashes only the plugin.
fn embed(out_dir: &Path, name: &str, prebuilt_var: &str, features: &[&str]) {
    println!("cargo:rerun-if-env-changed={prebuilt_var}");
    let out = out_dir.join(format!("{name}.wasm"));
    let built = match env::var(prebuilt_var) {
        Ok(prebuilt) => PathBuf::from(prebuilt),
        Err(_) if wasimap_guest_build::find_workspace_root().is_none() => panic!(
            "{prebuilt_var} is not set and the wasimap repository is not here to build the protocol component \
             from: set it to a prebuilt one (in the repository: `cargo build --release --target wasm32-wasip2 \
             -p wasimap-component{}`)",
            if features.is_empty() {
                String::new()
            } else {
                format!(" --features {}", features.join(","))
            }
        ),
        Err(_) => wasimap_guest_build::build_guest_with_features("wasimap-component", features, &SOURCES),
    };
    std::fs::copy(&built, &out).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(&out).expect("the copied component");
    let hex: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(out_dir.join(format!("{name}.sha256")), hex).expect("writing the digest");
}
