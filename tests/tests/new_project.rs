//! `wasimap new NAME --lang rust|python|js`: each template is created in a
//! temporary directory outside the repository, built by its own
//! `build.sh` and run against Dovecot by its own `smoke-test.sh`, exactly
//! as its README tells a user to.
//!
//! Tools come from where `just test` put them: componentize-py on PATH
//! (`./quickstart test` installs it), componentize-js in target/js-tools
//! (`just build-js`), cargo with wasm32-wasip2. The Rust template builds in
//! `target/template-build` so later runs are warm; the big Python and
//! JavaScript components are compiled by the release host into the shared
//! cache.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::json;
use wasimap_tests::{b, dovecot, login_lines, release_wasimap_binary, root, shell, unique_user, wasimap_binary};

/// A user with two messages in INBOX (one seen) and none in `Work`.
fn seeded_user(prefix: &str) -> String {
    let user = unique_user(prefix);
    let msg = |s: &str| b(&format!("From: a@example.org\r\nSubject: {s}\r\n\r\nbody\r\n"));
    let mut seed = login_lines(&user);
    seed.extend([
        json!(["create", "Work"]),
        json!(["append", "INBOX", null, null, msg("one")]),
        json!(["append", "INBOX", "\\Seen", null, msg("two")]),
    ]);
    assert!(shell(&seed).iter().all(|a| a.get("error").is_none()));
    user
}

/// A fresh directory under the system's temporary directory.
fn temp_dir(lang: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wasimap-new-{}-{lang}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wasimap_new(dir: &Path, name: &str, lang: &str) -> std::process::Output {
    Command::new(wasimap_binary())
        .args(["new", "--lang", lang])
        .arg(dir.join(name))
        .output()
        .unwrap()
}

/// Creates project `name` in `lang`, runs its smoke test against Dovecot
/// and checks what the plugin printed.
fn create_build_and_run(lang: &str) {
    let name = format!("smoke-{lang}");
    let dir = temp_dir(lang);
    let out = wasimap_new(&dir, &name, lang);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("next: cd "), "{said}");
    let project = dir.join(&name);
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(
        readme.contains("./smoke-test.sh") && readme.contains(&format!("{name}.wasm")),
        "{readme}"
    );

    // A second `new` into the same directory is refused, saying why.
    let again = wasimap_new(&dir, &name, lang);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists and is not empty"));

    let user = seeded_user(&format!("new-{lang}"));
    let d = dovecot();
    let started = Instant::now();
    let out = Command::new(project.join("smoke-test.sh"))
        .args(["127.0.0.1", &d.imap_port().to_string()])
        .env("IMAP_USER", &user)
        .env("IMAP_PASSWORD", d.password())
        .env("WASIMAP", release_wasimap_binary())
        .env("WASIMAP_CACHE_DIR", root().join("target/wasimap-cache"))
        .env("CARGO_TARGET_DIR", root().join("target/template-build"))
        .env(
            "COMPONENTIZE_JS",
            root().join("target/js-tools/node_modules/.bin/componentize-js"),
        )
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "smoke test of the {lang} template failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = project.join(format!("{name}.wasm"));
    eprintln!(
        "{lang} template: built and run in {:.1} s, {} bytes",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&wasm).unwrap().len()
    );
    let rows: Vec<Vec<&str>> = stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.contains(&vec!["INBOX", "2", "1"]), "{stdout}");
    assert!(rows.contains(&vec!["Work", "0", "0"]), "{stdout}");
    assert!(stdout.contains("smoke test: passed"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_rust_template_builds_and_runs() {
    create_build_and_run("rust");
}

#[test]
fn the_python_template_builds_and_runs() {
    create_build_and_run("python");
}

#[test]
fn the_js_template_builds_and_runs() {
    create_build_and_run("js");
}

#[test]
fn bad_names_and_languages_say_what_to_do() {
    let dir = temp_dir("bad");
    let out = wasimap_new(&dir, "Bad Name", "rust");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use lower-case letters"));
    let out = wasimap_new(&dir, "ok", "cobol");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[possible values: rust, python, js]"));
    std::fs::remove_dir_all(&dir).unwrap();
}
