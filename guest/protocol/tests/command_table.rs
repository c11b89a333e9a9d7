//! The command table and what is written from it by hand agree: every
//! method of `resource imap4` in wit/client.wit (parsed with wit-parser)
//! is a table entry with the same parameters, and every entry is in the
//! contract; the Python `imaplib` module has the table's methods and its
//! state table, as CPython's has. (The Rust SDK's `Client::raw()` is the
//! binding generated from that WIT, so it has every method by
//! construction.)

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

/// What `python3` finds in the Python `imaplib` module plugins import
/// (`guest/python/imaplib/imaplib.py`, read with `ast`, not imported: it
/// needs the component's bindings) and in CPython's own `imaplib`: the
/// `Commands` table and the public methods of each `IMAP4`.
fn python_imaplibs() -> serde_json::Value {
    const PROBE: &str = r#"
import ast, imaplib, inspect, json, sys
tree = ast.parse(open(sys.argv[1]).read())
commands, methods = None, []
for node in tree.body:
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "Commands":
        commands = ast.literal_eval(node.value)
    if isinstance(node, ast.ClassDef) and node.name == "IMAP4":
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                if not any(getattr(d, "id", None) == "property" or getattr(d, "attr", None) == "setter"
                           for d in item.decorator_list):
                    methods.append(item.name)
cpython = [n for n, v in inspect.getmembers(imaplib.IMAP4, inspect.isfunction) if not n.startswith("_")]
print(json.dumps({"commands": commands, "methods": methods, "cpython": cpython,
                  "cpython_commands": imaplib.Commands}))
"#;
    let module = concat!(env!("CARGO_MANIFEST_DIR"), "/../python/imaplib/imaplib.py");
    let out = std::process::Command::new("python3")
        .args(["-c", PROBE, module])
        .output()
        .expect("python3 (the Python imaplib module is checked with it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

/// The Python module's `Commands` is the core's `COMMAND_STATES`, and
/// CPython's own table (3.11 here) has nothing either lacks.
#[test]
fn the_python_modules_state_table_is_the_cores() {
    let found = python_imaplibs();
    let as_map = |v: &serde_json::Value| -> BTreeMap<String, Vec<String>> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, states)| (k.clone(), names(states)))
            .collect()
    };
    let core: BTreeMap<String, Vec<String>> = wasimap_protocol::session::COMMAND_STATES
        .iter()
        .map(|(name, states)| (name.to_string(), states.iter().map(|s| s.name().to_string()).collect()))
        .collect();
    assert_eq!(as_map(&found["commands"]), core);
    for (name, states) in as_map(&found["cpython_commands"]) {
        assert_eq!(core.get(&name), Some(&states), "CPython's Commands[{name:?}]");
    }
}

/// Every method of the command table that is imaplib's is a method of the
/// Python module's `IMAP4`, every method CPython's `IMAP4` has is one of
/// the Python module's, and each of those is in the table, but for what
/// a sandbox does not offer as CPython does (`open`, `socket`:
/// connections are made by the constructors; `print_log`: debug output
/// goes to stderr as it is written).
#[test]
fn the_python_module_and_cpython_have_the_tables_methods() {
    let found = python_imaplibs();
    let python = names(&found["methods"]);
    let cpython = names(&found["cpython"]);
    assert!(python.len() > 50 && cpython.len() > 45, "{python:?} {cpython:?}");
    let table: Vec<&str> = COMMANDS.iter().map(imaplib_name).collect();
    const SANDBOX_ONLY_PYTHON: [&str; 3] = ["open", "socket", "print_log"];
    for name in &cpython {
        assert!(
            python.contains(name),
            "CPython's IMAP4.{name} is not in the Python module"
        );
        assert!(
            table.contains(&name.as_str()) || SANDBOX_ONLY_PYTHON.contains(&name.as_str()),
            "CPython's IMAP4.{name} is not in the command table"
        );
    }
    for name in &python {
        assert!(
            table.contains(&name.as_str()) || SANDBOX_ONLY_PYTHON.contains(&name.as_str()),
            "the Python module's IMAP4.{name} is not in the command table"
        );
    }
    // The table's imaplib methods: those CPython has, and imaplib 3.14's
    // `idle` and RFC 6851's `move`, which the Python module offers too.
    for spec in COMMANDS {
        let name = imaplib_name(spec);
        if cpython.iter().any(|c| c == name) || ["idle", "move"].contains(&name) {
            assert!(python.iter().any(|p| p == name), "the Python module lacks {name}");
        }
    }
}
