//! The command table and the hand-written WIT contract agree: every
//! method of `resource imap4` in wit/client.wit is a table entry with the
//! same parameters, and every entry is in the contract.

use std::collections::BTreeMap;

use wasimap_protocol::commands::{imaplib_name, COMMANDS};
use wit_parser::{FunctionKind, Resolve, TypeDefKind};

/// The contract in `wit/`, parsed and resolved as bindgen sees it.
fn contract() -> Resolve {
    let mut resolve = Resolve::default();
    resolve
        .push_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit"))
        .expect("wit/ parses");
    resolve
}

/// The interface `name` of `wasimap:imap`.
fn interface<'a>(resolve: &'a Resolve, name: &str) -> &'a wit_parser::Interface {
    resolve
        .interfaces
        .iter()
        .map(|(_, i)| i)
        .find(|i| i.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("interface {name}"))
}

/// `name -> parameter names` of the `imap4` resource's methods and static
/// functions (the receiver `self` left out).
fn wit_methods() -> BTreeMap<String, Vec<String>> {
    let resolve = contract();
    let client = interface(&resolve, "client");
    let imap4 = client.types["imap4"];
    client
        .functions
        .values()
        .filter(|f| matches!(f.kind, FunctionKind::Method(id) | FunctionKind::Static(id) if id == imap4))
        .map(|f| {
            let params = f
                .params
                .iter()
                .filter(|p| p.name != "self")
                .map(|p| p.name.clone())
                .collect();
            (f.item_name().to_string(), params)
        })
        .collect()
}

fn kebab(s: &str) -> String {
    s.replace('_', "-")
}

#[test]
fn client_wit_and_the_command_table_agree() {
    let wit = wit_methods();
    assert!(wit.len() > 60, "parsed {} methods of imap4", wit.len());
    let mut seen = Vec::new();
    for spec in COMMANDS {
        let name = kebab(imaplib_name(spec));
        let params: Vec<String> = spec.params.iter().map(|p| kebab(p)).collect();
        match wit.get(&name) {
            Some(wit_params) => assert_eq!(wit_params, &params, "parameters of {name}"),
            None => panic!("the table has {name}, client.wit's imap4 does not"),
        }
        seen.push(name);
    }
    let missing: Vec<_> = wit.keys().filter(|m| !seen.contains(m)).collect();
    assert!(
        missing.is_empty(),
        "in client.wit but not in the command table: {missing:?}"
    );
}

#[test]
fn every_sent_command_is_in_imaplibs_state_table() {
    for spec in COMMANDS {
        if let Some(command) = spec.command {
            assert!(
                wasimap_protocol::session::command_states(command).is_some(),
                "{} sends {command}, which imaplib's Commands lacks",
                spec.method
            );
        }
    }
}

/// types.wit's `error-kind` is the core's list of kinds, in the core's
/// order (`guest/protocol/src/error.rs`'s `error_kinds!`).
#[test]
fn types_wit_error_kinds_are_the_cores_in_order() {
    let resolve = contract();
    let types = interface(&resolve, "types");
    let TypeDefKind::Enum(kinds) = &resolve.types[types.types["error-kind"]].kind else {
        panic!("error-kind is not an enum");
    };
    let names: Vec<&str> = kinds.cases.iter().map(|c| c.name.as_str()).collect();
    let core: Vec<&str> = wasimap_protocol::ErrorKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names, core);
}
