//! Checking and composing plugins: the plugin's `wasimap:imap/client`
//! (and `typed`) imports are satisfied by the embedded protocol component's export (with
//! wac-graph, in process), leaving only transport, secrets, timezone,
//! progress, body and WASI for the host. Both import `body`: the
//! composition has one such import, so a body handle the protocol
//! component makes is one the plugin can use.

use anyhow::{bail, Context, Result};
use wac_graph::{types::Package, CompositionGraph, EncodeOptions};

/// The interface a plugin imports and the protocol component exports.
pub const CLIENT_INTERFACE: &str = "wasimap:imap/client@0.1.0";
/// The shared types interface.
pub const TYPES_INTERFACE: &str = "wasimap:imap/types@0.1.0";
/// The typed-results interface, also exported by the protocol component.
pub const TYPED_INTERFACE: &str = "wasimap:imap/typed@0.1.0";
/// The progress interface, implemented by the host.
pub const PROGRESS_INTERFACE: &str = "wasimap:imap/progress@0.1.0";
/// Host-held message bytes, shared by the plugin and the protocol component.
pub const BODY_INTERFACE: &str = "wasimap:imap/body@0.1.0";
/// The interface a watcher plugin exports for `wasimap watch`.
pub const WATCH_INTERFACE: &str = "wasimap:imap/watch@0.1.0";

/// What a component imports and exports, and whether it can run as a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Import names.
    pub imports: Vec<String>,
    /// Export names.
    pub exports: Vec<String>,
    /// Why it cannot run as a wasimap plugin; empty when it can.
    pub problems: Vec<String>,
}

impl Inspection {
    /// Whether `wasimap run` accepts it.
    pub fn can_run(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether `wasimap watch` accepts it: a plugin that also exports
    /// [`WATCH_INTERFACE`] (world `wasimap:imap/watcher`).
    pub fn can_watch(&self) -> bool {
        self.can_run() && self.exports.iter().any(|e| e == WATCH_INTERFACE)
    }
}

/// Why an import is not allowed in a plugin, if it is not.
fn import_problem(name: &str) -> Option<String> {
    if [
        CLIENT_INTERFACE,
        TYPES_INTERFACE,
        TYPED_INTERFACE,
        PROGRESS_INTERFACE,
        BODY_INTERFACE,
    ]
    .contains(&name)
    {
        return None;
    }
    // The host-side interfaces: the transport and secrets are the
    // sandbox itself; the timezone would let a plugin read the host's zone
    // directly, where it should only see local times through `client`.
    if ["transport", "lend", "secrets", "timezone"]
        .iter()
        .any(|i| name.starts_with(&format!("wasimap:imap/{i}")))
    {
        return Some(format!(
            "imports {name}: only the protocol component may use it (a plugin talks to servers through {CLIENT_INTERFACE})"
        ));
    }
    // WASI is provided, cut down to stdio, clocks and random: no preopened
    // directories, no environment, sockets switched off.
    if name.starts_with("wasi:") {
        return None;
    }
    Some(format!("imports {name}, which the host does not provide"))
}

/// Lists a component's imports and exports and checks it as a plugin.
///
/// # Errors
/// When the bytes are not a WebAssembly component.
pub fn inspect(bytes: &[u8]) -> Result<Inspection> {
    let mut graph = CompositionGraph::new();
    let pkg = Package::from_bytes("wasimap:plugin", None, bytes.to_vec(), graph.types_mut())
        .context("loading the plugin (is it a WebAssembly component?)")?;
    let world = &graph.types()[pkg.ty()];
    let imports: Vec<String> = world.imports.keys().cloned().collect();
    let exports: Vec<String> = world.exports.keys().cloned().collect();
    let mut problems: Vec<String> = imports.iter().filter_map(|i| import_problem(i)).collect();
    if !imports.iter().any(|i| i == CLIENT_INTERFACE) {
        problems.push(format!(
            "does not import {CLIENT_INTERFACE}: it is not a wasimap plugin"
        ));
    }
    if !exports.iter().any(|e| e == "run") {
        problems.push("does not export `run` (world wasimap:imap/plugin)".into());
    }
    Ok(Inspection {
        imports,
        exports,
        problems,
    })
}

/// Checks `plugin`, plugs `protocol` into it and encodes the result.
///
/// # Errors
/// When either is not a component, or the plugin is not a wasimap plugin
/// or imports something it may not (the transport, the secrets).
pub fn compose(plugin: &[u8], protocol: &[u8]) -> Result<Vec<u8>> {
    let inspection = inspect(plugin)?;
    if !inspection.can_run() {
        bail!("the plugin cannot run: {}", inspection.problems.join("; "));
    }
    let mut graph = CompositionGraph::new();
    let plugin_pkg = Package::from_bytes("wasimap:plugin", None, plugin.to_vec(), graph.types_mut())?;
    let protocol_pkg = Package::from_bytes("wasimap:protocol", None, protocol.to_vec(), graph.types_mut())
        .context("loading the protocol component")?;
    let plugin_id = graph.register_package(plugin_pkg)?;
    let protocol_id = graph.register_package(protocol_pkg)?;
    wac_graph::plug(&mut graph, vec![protocol_id], plugin_id)
        .context("plugging the protocol component into the plugin")?;
    graph
        .encode(EncodeOptions::default())
        .context("encoding the composed component")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_may_not_import_the_host_side() {
        assert!(import_problem(CLIENT_INTERFACE).is_none());
        assert!(import_problem(PROGRESS_INTERFACE).is_none());
        assert!(import_problem(BODY_INTERFACE).is_none());
        assert!(import_problem("wasi:cli/stdout@0.2.6").is_none());
        assert!(import_problem("wasimap:imap/secrets@0.1.0")
            .unwrap()
            .contains("only the protocol component"));
        assert!(import_problem("wasimap:imap/transport@0.1.0").is_some());
        assert!(import_problem("wasimap:imap/lend@0.1.0")
            .unwrap()
            .contains("only the protocol component"));
        assert!(import_problem("wasimap:imap/timezone@0.1.0")
            .unwrap()
            .contains("only the protocol component"));
        assert!(import_problem("acme:evil/backdoor")
            .unwrap()
            .contains("does not provide"));
    }

    #[test]
    fn the_protocol_component_is_not_a_plugin() {
        let i = inspect(crate::PROTOCOL_COMPONENT).unwrap();
        assert!(!i.can_run());
        assert!(i.exports.contains(&CLIENT_INTERFACE.to_string()), "{i:?}");
        assert!(
            i.imports.iter().any(|n| n.starts_with("wasimap:imap/transport")),
            "{i:?}"
        );
    }

    #[test]
    fn only_the_watchers_protocol_component_imports_lend() {
        let lends = |bytes: &[u8]| {
            inspect(bytes)
                .unwrap()
                .imports
                .iter()
                .any(|n| n.starts_with("wasimap:imap/lend@"))
        };
        assert!(
            !lends(crate::PROTOCOL_COMPONENT),
            "wasimap run's protocol component must not lend"
        );
        assert!(lends(crate::PROTOCOL_WATCHER_COMPONENT));
        let watcher = inspect(crate::PROTOCOL_WATCHER_COMPONENT).unwrap();
        let plain = inspect(crate::PROTOCOL_COMPONENT).unwrap();
        assert_eq!(watcher.exports, plain.exports);
    }
}
