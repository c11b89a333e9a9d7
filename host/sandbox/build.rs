//! Embeds the protocol component (`guest/component` over the core in
//! `guest/protocol`, built for wasm32-wasip2), so users of `wasimap` never have to name it. Set
//! `WASIMAP_PROTOCOL_WASM` to a prebuilt component to skip the nested build.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=WASIMAP_PROTOCOL_WASM");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("wasimap_protocol.wasm");
    let built = match env::var("WASIMAP_PROTOCOL_WASM") {
        Ok(prebuilt) => PathBuf::from(prebuilt),
        Err(_) => wasimap_guest_build::build_guests(
            &["wasimap-component"],
            &["guest/component", "guest/protocol", "guest/alloc"],
        )
        .remove(0),
    };
    std::fs::copy(&built, &out).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
    // Its digest names compiled artifacts; computed here so a start hashes
    // only the plugin.
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(&out).expect("the copied component");
    let hex: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(out.with_file_name("wasimap_protocol.sha256"), hex).expect("writing the digest");
}
