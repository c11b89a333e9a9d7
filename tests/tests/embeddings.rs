//! The blocking embedding (`Runner::run`, `wasimap run`, `wasimap watch`)
//! and the async one (`Runner::run_async`, `add_to_linker_async`) provide
//! the same imports and run every plugin alike: each plugin in the
//! repository (every one `just build-guest` builds, the componentize-py
//! and the componentize-js one) is instantiated and run under both, against
//! Dovecot, with the same answer and the same output. The async linker once
//! lacked `progress`, so every plugin importing it (the archive, mbox and
//! report plugins, and every componentize-py plugin) could not be
//! instantiated under `run_async`.
//!
//! The Python and JavaScript components (CPython, SpiderMonkey) are
//! compiled once by the release `wasimap` into the shared artifact cache,
//! where this test's runner finds them (a debug host compiles them ten
//! times slower).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use wasimap_sandbox::policy::HostPattern;
use wasimap_sandbox::runner::{Outcome, Stdio};
use wasimap_sandbox::{Policy, Runner, Secrets};
use wasimap_tests::{
    b, cached_config, dovecot, login_lines, plugin_login_args, plugin_path, prebuilt_plugin, release_wasimap_binary,
    root, shell, unique_user,
};

/// Every plugin crate under guest/plugins.
const PLUGINS: [&str; 10] = [
    "shell", "triage", "hostile", "template", "archive", "dedupe", "mbox", "report", "journal", "bench",
];

/// The Python and the JavaScript plugin, and the recipe that builds each.
const PREBUILT: [(&str, &str); 2] = [
    ("target/python/report.wasm", "just build-python"),
    ("target/js/report.wasm", "just build-js"),
];

/// `wasimap inspect --link PLUGIN` (release: it compiles the big
/// components fast) says it links under both, and leaves the compiled
/// component in the shared cache for [`runs_alike`].
fn assert_links(plugin: &std::path::Path) {
    let out = Command::new(release_wasimap_binary())
        .args(["inspect", "--link"])
        .arg(plugin)
        .env("WASIMAP_CACHE_DIR", root().join("target/wasimap-cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("links: blocking and async embeddings"),
        "{}: {stdout}\n{}",
        plugin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A user with two messages in INBOX, each a job's work to see.
fn seeded_user() -> String {
    let user = unique_user("embed");
    let mut seed = login_lines(&user);
    for (from, subject) in [("ann@example.org", "Minutes"), ("bob@example.org", "Invoice 7")] {
        let message =
            format!("From: {from}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n\r\nbody\r\n");
        seed.push(json!(["append", "INBOX", null, null, b(&message)]));
    }
    seed.push(json!(["logout"]));
    let answers = shell(&seed);
    assert!(answers.iter().all(|a| a.get("error").is_none()), "{answers:#?}");
    user
}

/// What each plugin is asked to do: a read-only job (or a dry run) on
/// `user`'s mailbox, so both embeddings see the same mailbox; the shell's
/// job comes on stdin.
fn job(plugin: &str, user: &str) -> (Vec<String>, Vec<u8>) {
    let login = plugin_login_args(user, dovecot().password());
    let with = |more: &[&str]| {
        login
            .iter()
            .cloned()
            .chain(more.iter().map(|s| s.to_string()))
            .collect()
    };
    match plugin {
        "shell" => {
            let mut script = login_lines(user);
            script.extend([
                json!(["select", "INBOX"]),
                json!(["search", null, "FROM", "ann@example.org"]),
                json!(["logout"]),
            ]);
            let stdin: String = script.iter().map(|v: &Value| format!("{v}\n")).collect();
            (vec![], stdin.into_bytes())
        }
        "triage" => (with(&["--from", "nobody@example.invalid", "--flag"]), vec![]),
        "hostile" => (vec!["file".into()], vec![]),
        "archive" | "dedupe" => (with(&["--dry-run"]), vec![]),
        "bench" => (vec!["parse".into(), "1".into()], vec![]),
        _ => (with(&[]), vec![]),
    }
}

/// Runs `plugin`'s job under the blocking and then the async embedding of
/// one runner and asserts both succeed with the same stdout, which it
/// returns.
fn runs_alike(runner: &Runner, plugin: &std::path::Path, name: &str, user: &str) -> String {
    let component = runner
        .load(&std::fs::read(plugin).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e:#}", plugin.display()));
    let (args, stdin) = job(name, user);
    let ok = |embedding: &str, out: &Outcome| {
        assert!(
            matches!(out.result, Ok(Ok(()))),
            "{} under the {embedding} embedding: {:?}\nstderr: {}",
            plugin.display(),
            out.result,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let blocking = ok(
        "blocking",
        &runner.run(&component, &args, Stdio::Captured(stdin.clone())),
    );
    let asynchronous = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(runner.run_async(&component, &args, Stdio::Captured(stdin)));
    let asynchronous = ok("async", &asynchronous);
    // The benchmark's lines are `CASE NANOSECONDS ITEMS`: only the
    // timing may differ.
    let comparable = |out: &str| -> String {
        if name == "bench" {
            out.lines()
                .map(|l| l.split(' ').next().unwrap_or_default().to_owned() + "\n")
                .collect()
        } else {
            out.to_owned()
        }
    };
    assert_eq!(
        comparable(&blocking),
        comparable(&asynchronous),
        "{}: the embeddings differ",
        plugin.display()
    );
    assert!(!blocking.is_empty(), "{}: no output", plugin.display());
    blocking
}

#[test]
fn every_plugin_runs_alike_under_both_embeddings() {
    let listed: Vec<String> = std::fs::read_dir(root().join("guest/plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in &listed {
        assert!(
            PLUGINS.contains(&name.as_str()),
            "guest/plugins/{name} is not checked here"
        );
    }
    let mut plugins: Vec<(PathBuf, &str)> = PLUGINS.iter().map(|&n| (plugin_path(n), n)).collect();
    plugins.extend(
        PREBUILT
            .iter()
            .map(|&(path, recipe)| (prebuilt_plugin(path, recipe), "report")),
    );
    for (path, _) in &plugins {
        assert_links(path);
    }

    let d = dovecot();
    let policy = Policy::deny_all().allow(format!("127.0.0.1:{}", d.imap_port()).parse::<HostPattern>().unwrap());
    let runner = Runner::new(cached_config(policy, Secrets::none())).unwrap();
    let user = seeded_user();
    for (path, name) in &plugins {
        let stdout = runs_alike(&runner, path, name, &user);
        // What each job must have seen of the mailbox.
        let seen = match *name {
            "shell" => r#"{"typ":"OK","data":[{"b":"1"}]}"#,
            "hostile" => "file refused",
            "bench" => "envelope_bodystructure/typed ",
            "mbox" => "Subject: Invoice 7",
            "journal" => "<Minutes@example.org>",
            "template" | "archive" | "dedupe" | "triage" => "",
            _ => "bob@example.org",
        };
        assert!(stdout.contains(seen), "{}: {stdout}", path.display());
    }
}
