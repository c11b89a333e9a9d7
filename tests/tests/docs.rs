//! The documentation's commands exist: README's quick start is the two
//! set-up commands, `.ci/run` runs the very test command it gives, and
//! every `just` recipe that README or docs/ name is in the justfile.

use std::collections::BTreeSet;

use wasimap_tests::root;

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// The commands of the first ```sh block after the "Quick start" heading,
/// without comments and blank lines.
fn quick_start_commands(readme: &str) -> Vec<String> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("README has a Quick start section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the Quick start section has a ```sh block");
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

#[test]
fn quick_start_is_clone_then_two_commands_and_ci_runs_the_test_one() {
    let commands = quick_start_commands(&read("README.md"));
    let setup: Vec<&String> = commands
        .iter()
        .filter(|c| !c.starts_with("git clone") && !c.starts_with("cd "))
        .collect();
    assert_eq!(setup, ["./quickstart demo", "./quickstart test"], "{commands:?}");
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "./quickstart test"),
        ".ci/run must run README's test command as written"
    );
}

/// Recipe names defined in the justfile (`name PARAM="x": deps`).
fn recipes(justfile: &str) -> BTreeSet<String> {
    justfile
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .filter(|l| !l.contains(":=") && l.contains(':'))
        .filter_map(|l| l.split([' ', ':']).next())
        .map(String::from)
        .collect()
}

/// Every `just NAME` written as a command: in inline code (`` `just x` ``)
/// or at the start of a line of a code block.
fn just_mentions(text: &str) -> BTreeSet<String> {
    let inline = regex::Regex::new(r"`just ([a-z][a-z0-9-]*)").unwrap();
    let mut found: BTreeSet<String> = inline.captures_iter(text).map(|c| c[1].to_string()).collect();
    let line = regex::Regex::new(r"^\s*(?:\$ )?just ([a-z][a-z0-9-]*)").unwrap();
    let mut in_code = false;
    for l in text.lines() {
        if l.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if in_code {
            found.extend(line.captures(l).map(|c| c[1].to_string()));
        }
    }
    found
}

#[test]
fn every_just_recipe_the_docs_name_exists() {
    let defined = recipes(&read("justfile"));
    assert!(
        defined.contains("test") && defined.contains("build-guest"),
        "{defined:?}"
    );
    let mut docs = vec!["README.md".to_string()];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(format!("docs/{}", path.file_name().unwrap().to_string_lossy()));
        }
    }
    let mut checked = 0;
    for doc in &docs {
        for name in just_mentions(&read(doc)) {
            assert!(
                defined.contains(&name),
                "{doc} names `just {name}`, which the justfile does not define"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "found only {checked} recipe mentions: is the pattern right?"
    );
}

#[test]
fn the_mention_finder_finds_and_the_recipe_reader_reads() {
    assert_eq!(
        just_mentions("run `just build-guest`, just the x\n```sh\njust test   # all\n```\njust prose"),
        BTreeSet::from(["build-guest".to_string(), "test".to_string()])
    );
    assert_eq!(
        recipes("x := \"1\"\n# c\nbench MODE=\"full\": build\n    echo\ntest: build-python\n"),
        BTreeSet::from(["bench".to_string(), "test".to_string()])
    );
}
