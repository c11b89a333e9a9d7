//! The command table and the hand-written WIT contract agree: every
//! method of `resource imap4` in wit/client.wit is a table entry with the
//! same parameters, and every entry is in the contract.

use std::collections::BTreeMap;

use wasimap_protocol::commands::{imaplib_name, COMMANDS};

/// `name -> parameter names` of the `imap4` resource's functions.
fn wit_methods() -> BTreeMap<String, Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit/client.wit");
    let wit = std::fs::read_to_string(path).expect("wit/client.wit");
    let start = wit.find("resource imap4 {").expect("resource imap4");
    let body = &wit[start..];
    let end = body.find("\n    }").expect("end of resource imap4");
    let mut out = BTreeMap::new();
    for line in body[..end].lines() {
        let line = line.trim();
        if line.starts_with("///") {
            continue;
        }
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let Some(params) = rest.split_once("func(").map(|(_, p)| p) else {
            continue;
        };
        let params = &params[..params.find(')').expect("closing parenthesis")];
        let names = params
            .split(", ")
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.split(':')
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches('%')
                    .to_string()
            })
            .collect();
        out.insert(name.trim_start_matches('%').to_string(), names);
    }
    out
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

/// The shell and bindings rely on types.wit's `error-kind` listing the
/// core's kinds in the core's order (an enum's index is its position).
#[test]
fn types_wit_error_kinds_are_the_cores_in_order() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit/types.wit");
    let wit = std::fs::read_to_string(path).expect("wit/types.wit");
    let start = wit.find("enum error-kind {").expect("enum error-kind");
    let body = &wit[start..start + wit[start..].find("\n    }").expect("end of error-kind")];
    let names: Vec<&str> = body
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.starts_with("///") && !l.is_empty())
        .map(|l| l.trim_end_matches(','))
        .collect();
    let core: Vec<&str> = wasimap_protocol::ErrorKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names, core);
}
