//! Composition of a plugin with the protocol component (wac-graph, in
//! process): the plugin's `wasimap:imap/client` import is satisfied by the
//! protocol component's export, leaving transport and WASI as imports.

use anyhow::{bail, Context, Result};
use wac_graph::{types::Package, CompositionGraph, EncodeOptions};

/// The interface a plugin imports and the protocol component exports.
pub const CLIENT_INTERFACE: &str = "wasimap:imap/client@0.1.0";

/// Plugs `protocol` into `plugin` and encodes the result.
///
/// # Errors
/// When either is not a component, or the plugin does not import the
/// client interface (it is not a wasimap plugin).
pub fn compose(plugin: &[u8], protocol: &[u8]) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let plugin_pkg = Package::from_bytes("wasimap:plugin", None, plugin.to_vec(), graph.types_mut())
        .context("loading the plugin (is it a WebAssembly component?)")?;
    let imports_client = graph.types()[plugin_pkg.ty()].imports.contains_key(CLIENT_INTERFACE);
    let protocol_pkg = Package::from_bytes("wasimap:protocol", None, protocol.to_vec(), graph.types_mut())
        .context("loading the protocol component")?;
    if !imports_client {
        bail!("the plugin does not import {CLIENT_INTERFACE}: it is not a wasimap plugin");
    }
    let plugin_id = graph.register_package(plugin_pkg)?;
    let protocol_id = graph.register_package(protocol_pkg)?;
    wac_graph::plug(&mut graph, vec![protocol_id], plugin_id)
        .context("plugging the protocol component into the plugin")?;
    graph
        .encode(EncodeOptions::default())
        .context("encoding the composed component")
}
