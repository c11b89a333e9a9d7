//! Progress people can see: `wasimap run` draws a plugin's
//! `wasimap:imap/progress` reports on stderr when stderr is a terminal (a
//! pseudo-terminal from `script`, util-linux), and writes nothing of them
//! when stderr is a file. The plugins' own output is the same either way.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::json;
use wasimap_tests::{
    b, dovecot, login_lines, plugin_login_args, plugin_path, root, shell, unique_user, wasimap_binary,
};

/// A user with three messages in INBOX and one in `Work`.
fn seeded_user(prefix: &str) -> String {
    let user = unique_user(prefix);
    let mut seed = login_lines(&user);
    seed.push(json!(["create", "Work"]));
    for (mailbox, from) in [
        ("INBOX", "a@example.org"),
        ("INBOX", "b@example.org"),
        ("INBOX", "a@example.org"),
        ("Work", "c@example.org"),
    ] {
        let msg = format!("From: {from}\r\nSubject: s\r\n\r\nbody\r\n");
        seed.push(json!(["append", mailbox, null, null, b(&msg)]));
    }
    assert!(shell(&seed).iter().all(|a| a.get("error").is_none()));
    user
}

/// `wasimap run PLUGIN` with loopback granted and the shared cache, as a
/// shell command line (for `script -c`).
fn command_line(plugin: &str, user: &str, extra: &[&str]) -> String {
    let port = dovecot().imap_port();
    let mut words = vec![
        wasimap_binary().display().to_string(),
        "run".into(),
        "--cache-dir".into(),
        root().join("target/wasimap-cache").display().to_string(),
        "--allow".into(),
        format!("127.0.0.1:{port}"),
    ];
    words.extend(extra.iter().map(|s| s.to_string()));
    words.push(plugin_path(plugin).display().to_string());
    words.extend(plugin_login_args(user, dovecot().password()));
    words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ")
}

/// Runs `line` under a pseudo-terminal; what the terminal showed.
fn on_a_terminal(line: &str) -> String {
    let out = Command::new("script")
        .args(["-qec", line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{line}\n{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    shown
}

/// The terminal's lines with escape sequences and carriage returns taken
/// out (each `\r` starts the line over, as on a screen).
fn screen_lines(shown: &str) -> Vec<String> {
    let no_escapes = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]")
        .unwrap()
        .replace_all(shown, "");
    no_escapes
        .split('\n')
        .map(|l| {
            l.trim_end_matches('\r')
                .rsplit('\r')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn mbox_shows_progress_on_a_terminal_and_not_in_a_file() {
    let user = seeded_user("progress-mbox");
    let dir = root().join(format!("target/progress-test-{user}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mbox = dir.join("INBOX.mbox");

    // Stderr on a terminal, stdout to a file: the bar is drawn, the mail is
    // in the file.
    let line = format!("{} > '{}'", command_line("mbox", &user, &[]), mbox.display());
    let shown = on_a_terminal(&line);
    assert!(shown.contains("mbox INBOX ["), "no bar on the terminal: {shown:?}");
    assert!(shown.contains("] 3/3"), "the bar did not reach 3/3: {shown:?}");
    assert!(shown.contains("exported 3 message(s) from INBOX"), "{shown:?}");
    assert_eq!(read(&mbox).matches("\nSubject: s\n").count(), 3);

    // Stderr to a file: only the plugin's own line, no bar, no escapes.
    let err = dir.join("stderr.txt");
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("{} > '{}'", command_line("mbox", &user, &[]), mbox.display()),
        ])
        .stdin(Stdio::null())
        .stderr(File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(out.success(), "{}", read(&err));
    assert_eq!(read(&err), "exported 3 message(s) from INBOX\n");
    assert_eq!(read(&mbox).matches("\nSubject: s\n").count(), 3);

    // --no-progress on a terminal: nothing drawn.
    let line = format!(
        "{} > '{}'",
        command_line("mbox", &user, &["--no-progress"]),
        mbox.display()
    );
    let shown = on_a_terminal(&line);
    assert_eq!(screen_lines(&shown).concat(), "exported 3 message(s) from INBOX");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn report_lines_stay_whole_beside_the_bar() {
    let user = seeded_user("progress-report");
    // Stdout and stderr on the same terminal: each line the plugin prints
    // is written with the bar taken off, so it shows whole.
    let shown = on_a_terminal(&command_line("report", &user, &[]));
    assert!(shown.contains("report "), "no bar: {shown:?}");
    assert!(shown.contains("] 2/2"), "the bar did not reach 2/2: {shown:?}");
    let lines = screen_lines(&shown);
    for want in [
        "INBOX: 3 message(s), 123 bytes",
        "       2         82  a@example.org",
        "       1         41  b@example.org",
        "Work: 1 message(s), 41 bytes",
        "       1         41  c@example.org",
    ] {
        assert!(
            lines.iter().any(|l| l == want),
            "{want:?} not a whole line in {lines:#?}"
        );
    }
    // Not a terminal: the plugin's output alone.
    let out = Command::new("sh")
        .args(["-c", &command_line("report", &user, &[])])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "INBOX: 3 message(s), 123 bytes\n       2         82  a@example.org\n       1         41  b@example.org\n\
         Work: 1 message(s), 41 bytes\n       1         41  c@example.org\n"
    );
}
