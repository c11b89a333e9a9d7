//! The host's layering, checked over its sources: only the bindings module
//! names what `bindgen!` generates, and no two modules of a crate import
//! each other, directly or around a loop, except through bindgen's `with:`
//! mappings (the generated code names the resources it hands out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every `.rs` file under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A crate's source without comments (a doc comment may name anything).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The crate's top-level module a file belongs to (`conn`, `policy`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The modules `text` names as `crate::NAME`, `crate::{NAME, ...}`.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let single = regex::Regex::new(r"\bcrate::([a-z_][a-z0-9_]*)").unwrap();
    let group = regex::Regex::new(r"\bcrate::\{([^}]*)\}").unwrap();
    let mut out: BTreeSet<String> = single.captures_iter(text).map(|c| c[1].to_string()).collect();
    for c in group.captures_iter(text) {
        for item in c[1].split(',') {
            let head = item.trim().split("::").next().unwrap_or_default().trim();
            if !head.is_empty() {
                out.insert(head.to_string());
            }
        }
    }
    out
}

/// `from -> to` for each module of the crate at `src`.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let modules: BTreeSet<String> = sources(src).iter().filter_map(|f| module_of(src, f)).collect();
    // bindgen's `with:` maps a resource to a native type: the generated
    // code names it, the one edge allowed back.
    let with = regex::Regex::new(r"(?s)with:\s*\{[^}]*\}").unwrap();
    for file in sources(src) {
        let Some(from) = module_of(src, &file) else { continue };
        let mut text = code(&file);
        if from == "bindings" {
            text = with.replace_all(&text, "").into_owned();
        }
        let to = graph.entry(from.clone()).or_default();
        for m in crate_paths(&text) {
            if m != from && modules.contains(&m) {
                to.insert(m);
            }
        }
    }
    graph
}

/// The module loops of `graph`: strongly connected groups of more than one.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reaches = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reaches(m))).collect();
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for (m, r) in &reach {
        let group: BTreeSet<String> = r
            .iter()
            .filter(|o| reach.get(o).is_some_and(|back| back.contains(*m)))
            .cloned()
            .chain([(*m).clone()])
            .collect();
        if group.len() > 1 && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

#[test]
fn no_host_crate_has_an_import_cycle() {
    for krate in ["host/sandbox", "host/watch", "host/cli"] {
        let graph = module_graph(&root().join(krate).join("src"));
        assert!(graph.len() > 3, "{krate}: modules found: {graph:?}");
        let loops = cycles(&graph);
        assert!(
            loops.is_empty(),
            "{krate} has import cycles: {loops:?}\ngraph: {graph:#?}"
        );
    }
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
            .into_iter()
            .map(|(m, to)| (m.to_string(), to.into_iter().map(String::from).collect()))
            .collect();
    let found = cycles(&graph);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], ["a", "b", "c"].into_iter().map(String::from).collect());
    assert_eq!(
        crate_paths("use crate::{conn::X, policy};\nlet y = crate::view::f();"),
        ["conn", "policy", "view"].into_iter().map(String::from).collect()
    );
}

#[test]
fn only_the_bindings_module_names_generated_types() {
    let src = root().join("host/sandbox/src");
    let bindings = src.join("bindings");
    // `wasimap::imap::…` and `exports::…` are where bindgen puts the WIT's
    // interfaces; `generated` is the bindings module's private home of them.
    let generated = regex::Regex::new(r"\bwasimap::imap::|\bexports::|\bbindgen!|bindings::generated").unwrap();
    let mut offenders = Vec::new();
    for krate in [
        "host/sandbox/src",
        "host/watch/src",
        "host/cli/src",
        "host/sandbox/examples",
    ] {
        for file in sources(&root().join(krate)) {
            if file.starts_with(&bindings) {
                continue;
            }
            for (n, line) in code(&file).lines().enumerate() {
                if generated.is_match(line) {
                    offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "generated types named outside bindings/:\n{}",
        offenders.join("\n")
    );
    // And the generated modules are private to it.
    let module = std::fs::read_to_string(bindings.join("mod.rs")).unwrap();
    assert!(module.contains("mod generated {") && module.contains("mod generated_async {"));
    assert!(!module.contains("pub mod generated") && !module.contains("pub use generated"));
}
