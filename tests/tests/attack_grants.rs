//! Attempts to stretch a grant past what it names (issue #13), each through
//! the shell plugin on a runner with its own policy: shell injection through
//! `IMAP4_stream`, escapes from an `--allow-read` directory through a TLS
//! `ca_file`, names and IP literals crossing, names resolving to loopback,
//! the child's environment, and pathological inputs. Every attempt must end
//! in a clear error with nothing created and nothing read.
//!
//! Only loopback traffic: the names used resolve from `/etc/hosts` or are
//! refused before any lookup.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde_json::{json, Value};
use wasimap_sandbox::policy::HostPattern;
use wasimap_sandbox::{Policy, Runner};
use wasimap_tests::{dovecot, root, runner_with, shell_with, unique_user};
use wasmtime::component::Component;

fn host(pattern: &str) -> HostPattern {
    pattern.parse().unwrap()
}

/// `target/attack-grants-PID`, fresh for this test binary (those of
/// finished runs are removed).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        for entry in std::fs::read_dir(root().join("target")).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("attack-grants-") {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = root().join(format!("target/attack-grants-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::canonicalize(&dir).unwrap()
    })
}

/// A path the attacks try to create; it must not exist afterwards.
fn marker() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = scratch().join(format!("pwned-{}", N.fetch_add(1, Ordering::Relaxed)));
    path.to_str().unwrap().to_string()
}

fn error_message(answer: &Value, class: &str) -> String {
    assert_eq!(answer["error"], class, "{answer}");
    answer["message"].as_str().unwrap().to_string()
}

fn stream_command() -> &'static str {
    dovecot().get("WASIMAP_STREAM_COMMAND")
}

/// The README's grant: the Dovecot command with any arguments.
fn stream_runner() -> &'static (Runner, Component) {
    static RUNNER: OnceLock<(Runner, Component)> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let policy = Policy::deny_all()
            .try_allow_exec(format!("{} **", stream_command()))
            .unwrap();
        runner_with(policy)
    })
}

fn run(runner: &(Runner, Component), script: &[Value]) -> Vec<Value> {
    shell_with(&runner.0, &runner.1, script)
}

fn open_stream(runner: &(Runner, Component), command: &str) -> Value {
    run(runner, &[json!(["IMAP4_stream", command])]).remove(0)
}

#[test]
fn shell_syntax_in_a_stream_command_is_refused_by_name() {
    let cmd = stream_command();
    let user = unique_user("attack");
    let f = marker();
    let cases: Vec<(String, &str)> = vec![
        (format!("{cmd} -u {user}; touch {f}"), "';' (a shell operator)"),
        (format!("{cmd} -u {user} | sh"), "'|' (a shell operator)"),
        (format!("{cmd} -u {user} && touch {f}"), "'&' (a shell operator)"),
        (format!("{cmd} -u {user} || touch {f}"), "'|' (a shell operator)"),
        (format!("{cmd} -u {user} & touch {f}"), "'&' (a shell operator)"),
        (format!("{cmd} -u $(touch {f})"), "'$' (a substitution)"),
        (format!("{cmd} -u ${{HOME}}"), "'$' (a substitution)"),
        (format!("{cmd} -u `touch {f}`"), "'`' (a command substitution)"),
        (format!("{cmd} -u \"$(touch {f})\""), "'$' inside double quotes"),
        (format!("{cmd} -u \"`touch {f}`\""), "'`' inside double quotes"),
        (format!("{cmd} -u {user} > {f}"), "'>' (a redirection)"),
        (format!("{cmd} -u {user} < /etc/passwd"), "'<' (a redirection)"),
        (format!("{cmd} -u {user} (touch {f})"), "'(' (a shell operator)"),
        (format!("{cmd} -u {user}\ntouch {f}"), "a newline"),
        (format!("{cmd} -u '{user}\ntouch {f}'"), "a newline"),
        (format!("{cmd} -u {user}\ttouch"), "a tab"),
        (format!("{cmd} -u {user}\0"), "a NUL"),
        (format!("{cmd} -u {user} *"), "'*' (a glob)"),
        (format!("{cmd} -u {user} ?"), "'?' (a glob)"),
        (format!("{cmd} -u {user} [a]"), "'[' (a glob)"),
        (format!("{cmd} -u {user} {{a,b}}"), "'{' (a brace expansion)"),
        (format!("{cmd} -u ~root"), "'~' (a tilde expansion)"),
        (format!("{cmd} -u {user} #"), "'#' (a comment)"),
        (format!("{cmd} -u {user} !"), "'!' (a shell operator)"),
    ];
    for (command, what) in cases {
        let a = open_stream(stream_runner(), &command);
        let msg = error_message(&a, "error");
        assert!(
            msg.starts_with("command refused: ") && msg.contains(what),
            "{command:?}: {msg}"
        );
        assert!(msg.ends_with("; wasimap runs commands without a shell"), "{msg}");
        assert!(!Path::new(&f).exists(), "{command:?} created {f}");
    }
    assert_eq!(
        error_message(&open_stream(stream_runner(), &format!("{cmd} x; touch {f}")), "error"),
        "command refused: ';' (a shell operator) is not allowed; wasimap runs commands without a shell"
    );
}

fn welcome(runner: &(Runner, Component), command: &str) -> Value {
    let a = run(
        runner,
        &[json!(["IMAP4_stream", command]), json!(["getattr", "welcome"])],
    );
    assert_eq!(a[0], json!({"value": null}), "{command:?}: {a:?}");
    a[1]["value"].clone()
}

/// The greeting of a stream connection, as text.
fn welcome_text(runner: &(Runner, Component), command: &str) -> String {
    welcome(runner, command)["b"].as_str().unwrap().to_string()
}

/// Dovecot's greeting when its capabilities are set by `-o` to `caps`:
/// the greeting shows the argument arrived whole and unexpanded.
fn capabilities_greeting(caps: &str) -> String {
    format!("* PREAUTH [CAPABILITY {caps}] Logged in as ")
}

#[test]
fn quoted_metacharacters_are_plain_arguments() {
    let cmd = stream_command();
    let f = marker();
    let caps = format!("IMAP4rev1 X-A;touch {f}|sh&&$(touch {f})`touch {f}`>{f}</etc/passwd*?~#!{{a,b}}[c]");
    let user = unique_user("quoted");
    let text = welcome_text(stream_runner(), &format!("{cmd} -o 'imap_capability={caps}' -u {user}"));
    assert_eq!(text, capabilities_greeting(&caps) + &user);
    let escaped = format!(r"{cmd} -o imap_capability=IMAP4rev1\ X-A\;\$\(x\)\*\|\> -u {user}");
    let text = welcome_text(stream_runner(), &escaped);
    assert_eq!(text, capabilities_greeting("IMAP4rev1 X-A;$(x)*|>") + &user);
    let double = format!(r#"{cmd} -o "imap_capability=IMAP4rev1 X-\$HOME X-\`id\` X-;|&"'X-it'\''s' -u {user}"#);
    let text = welcome_text(stream_runner(), &double);
    assert_eq!(
        text,
        capabilities_greeting("IMAP4rev1 X-$HOME X-`id` X-;|&X-it's") + &user
    );
    assert!(!Path::new(&f).exists());
}

#[test]
fn each_exec_grant_word_is_one_whole_argument() {
    let cmd = stream_command();
    let runner = runner_with(
        Policy::deny_all()
            .try_allow_exec(format!("{cmd} -o imap_capability=* -u *"))
            .unwrap(),
    );
    let user = unique_user("one");
    let caps = "IMAP4rev1 X-ONE X-TWO";
    let text = welcome_text(&runner, &format!("{cmd} -o 'imap_capability={caps}' -u {user}"));
    assert_eq!(text, capabilities_greeting(caps) + &user);
    for args in [
        format!("-o imap_capability={caps} -u {user}"),
        format!("-u {user}"),
        format!("-o imap_capability=IMAP4rev1 -u {user} extra"),
        format!("-u {user} -o imap_capability=IMAP4rev1"),
        format!("-o mail_debug=yes -u {user}"),
        format!("-o 'imap_capability=IMAP4rev1 -u {user}'"),
    ] {
        let command = format!("{cmd} {args}");
        let msg = error_message(&open_stream(&runner, &command), "error");
        assert!(
            msg.starts_with(&format!("running {command:?} not allowed (no grant to run ")),
            "{msg}"
        );
    }
    let msg = error_message(&open_stream(&runner, "/bin/echo '* OK' a b"), "error");
    assert_eq!(
        msg,
        r#"running "/bin/echo '* OK' a b" not allowed (no grant to run "/bin/echo '* OK' a b")"#
    );
}

#[test]
fn programs_must_be_absolute_and_normal() {
    let msg = error_message(&open_stream(stream_runner(), "echo '* OK'"), "error");
    assert_eq!(
        msg,
        "command refused: the program \"echo\" is not an absolute path (wasimap does not search PATH)"
    );
    let program = stream_command().split(' ').next().unwrap();
    let sneaky = format!("{program}/../../../../../../usr/bin/echo '* OK'");
    let msg = error_message(&open_stream(stream_runner(), &sneaky), "error");
    assert!(msg.contains("has a . or .. component"), "{msg}");
    let msg = error_message(&open_stream(stream_runner(), ""), "error");
    assert_eq!(msg, "command refused: the command is empty");
}

#[test]
fn the_stream_command_still_works_with_odd_but_quoted_arguments() {
    let user = unique_user("quoted");
    let a = run(
        stream_runner(),
        &[
            json!(["IMAP4_stream", format!("{} -u '{user}'", stream_command())]),
            json!(["getattr", "state"]),
            json!(["logout"]),
        ],
    );
    assert_eq!(a[0], json!({"value": null}), "{a:?}");
    assert_eq!(a[1], json!({"value": "AUTH"}));
}

#[test]
fn the_child_inherits_no_environment() {
    std::env::set_var("WASIMAP_ATTACK_HOST_SECRET", "hunter2");
    let runner = runner_with(
        Policy::deny_all()
            .try_allow_exec("/usr/bin/env")
            .unwrap()
            .try_allow_exec("/usr/bin/env 'WASIMAP_VISIBLE=* OK' /usr/bin/env")
            .unwrap(),
    );
    // `env` with an empty environment prints nothing: the stream ends
    // before any greeting.
    let a = run(&runner, &[json!(["IMAP4_stream", "/usr/bin/env"])]);
    let msg = error_message(&a[0], "abort");
    assert!(!msg.contains("hunter2") && !msg.contains("PATH="), "{msg}");
    assert!(msg.contains("EOF"), "nothing was printed: {msg}");
    // What the child prints does show: the one variable given it on its
    // command line, alone, as the (unexpected) greeting.
    let a = run(
        &runner,
        &[json!([
            "IMAP4_stream",
            "/usr/bin/env 'WASIMAP_VISIBLE=* OK' /usr/bin/env"
        ])],
    );
    let msg = error_message(&a[0], "abort");
    assert!(msg.contains("WASIMAP_VISIBLE=* OK"), "{msg}");
    assert!(!msg.contains("hunter2") && !msg.contains("PATH="), "{msg}");
}

/// `S/rd` granted (written as `S/outside/../rd/*`), with ways out of it.
fn read_layout() -> &'static (String, String) {
    static LAYOUT: OnceLock<(String, String)> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        use std::os::unix::fs::symlink;
        let s = scratch();
        let (rd, outside) = (s.join("rd"), s.join("outside"));
        std::fs::create_dir_all(&rd).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let ca = dovecot().get("WASIMAP_CA");
        // The same valid CA outside: if it were read, TLS would succeed.
        std::fs::copy(ca, rd.join("ca.pem")).unwrap();
        std::fs::copy(ca, outside.join("ca.pem")).unwrap();
        symlink(outside.join("ca.pem"), rd.join("link.pem")).unwrap();
        symlink(&outside, rd.join("dir")).unwrap();
        symlink("/etc/shadow", rd.join("shadow")).unwrap();
        symlink("ca.pem", rd.join("inside.pem")).unwrap();
        let pem = std::fs::read(ca).unwrap();
        let big: Vec<u8> = pem.iter().copied().cycle().take(2 << 20).collect();
        std::fs::write(rd.join("big.pem"), big).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(rd.join("fifo"))
            .status()
            .unwrap();
        assert!(fifo.success());
        (rd.to_str().unwrap().to_string(), outside.to_str().unwrap().to_string())
    })
}

fn read_runner() -> &'static (Runner, Component) {
    static RUNNER: OnceLock<(Runner, Component)> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let (_, outside) = read_layout();
        let d = dovecot();
        let policy = Policy::deny_all()
            .allow(host(&format!("127.0.0.1:{}", d.imaps_port())))
            .allow(host(&format!("127.0.0.1:{}", d.imap_port())))
            .try_allow_read(format!("{outside}/../rd/*"))
            .unwrap();
        runner_with(policy)
    })
}

fn tls_open(ca_file: &str) -> Value {
    let a = run(
        read_runner(),
        &[json!(["IMAP4_SSL", "127.0.0.1", dovecot().imaps_port(), { "ca_file": ca_file }])],
    );
    a[0].clone()
}

#[test]
fn a_granted_directory_is_read_by_its_real_files_only() {
    let (rd, outside) = read_layout();
    for ok in [
        format!("{rd}/ca.pem"),
        format!("{rd}/./ca.pem"),
        format!("{rd}/inside.pem"),
    ] {
        assert_eq!(tls_open(&ok), json!({"value": null}), "{ok}");
    }
    // `..` out of the directory: refused before the file system is asked.
    for path in [
        format!("{rd}/../outside/ca.pem"),
        format!("{rd}/../../../../../../../etc/shadow"),
        format!("{outside}/ca.pem"),
    ] {
        let msg = error_message(&tls_open(&path), "error");
        assert_eq!(msg, format!("reading {path:?} not allowed (no grant to read {path:?})"));
    }
    // Symlinks inside the directory pointing out of it.
    for path in [
        format!("{rd}/link.pem"),
        format!("{rd}/dir/ca.pem"),
        format!("{rd}/shadow"),
    ] {
        let msg = error_message(&tls_open(&path), "error");
        assert_eq!(
            msg,
            format!(
                "reading {path:?} not allowed: it resolves to a file outside the read grants \
                 (no read grant for the file it leads to)"
            )
        );
    }
    // A FIFO with no writer neither blocks nor is read.
    let fifo = format!("{rd}/fifo");
    let msg = error_message(&tls_open(&fifo), "error");
    assert_eq!(msg, format!("reading {fifo:?} refused: it is not a regular file"));
    // A file over the limit is not read; its contents never show.
    let big = format!("{rd}/big.pem");
    let msg = error_message(&tls_open(&big), "abort");
    assert!(msg.contains("is larger than the limit of 1048576 bytes"), "{msg}");
    assert!(!msg.contains("BEGIN CERTIFICATE"), "{msg}");
    // Relative paths are refused.
    let msg = error_message(&tls_open("rd/ca.pem"), "error");
    assert_eq!(msg, "reading refused: the path \"rd/ca.pem\" is not an absolute path");
}

#[test]
fn starttls_ca_files_obey_the_same_rules() {
    let (rd, _) = read_layout();
    let d = dovecot();
    for name in ["link.pem", "dir/ca.pem", "../outside/ca.pem"] {
        let a = run(
            read_runner(),
            &[
                json!(["IMAP4", "127.0.0.1", d.imap_port()]),
                json!(["starttls", { "ca_file": format!("{rd}/{name}") }]),
            ],
        );
        let msg = error_message(&a[1], "error");
        assert!(msg.contains("not allowed"), "{name}: {msg}");
    }
    let a = run(
        read_runner(),
        &[
            json!(["IMAP4", "127.0.0.1", d.imap_port()]),
            json!(["starttls", { "ca_file": format!("{rd}/ca.pem") }]),
        ],
    );
    assert_eq!(a[1]["typ"], "OK", "{a:?}");
}

fn connect(runner: &(Runner, Component), host: &str, port: u16) -> Value {
    run(runner, &[json!(["IMAP4", host, port])]).remove(0)
}

/// Names in `/etc/hosts` for 127.0.0.1 other than `localhost` (resolved
/// without DNS).
fn other_loopback_names() -> Vec<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .filter_map(|l| l.split('#').next())
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("127.0.0.1")).then(|| f.map(str::to_string).collect::<Vec<_>>())
        })
        .flatten()
        .filter(|n| n != "localhost" && n.contains(|c: char| c.is_ascii_alphabetic()))
        .collect()
}

#[test]
fn a_name_pattern_admits_no_ip_literal_and_no_loopback_address() {
    let port = dovecot().imap_port();
    let runner = runner_with(Policy::deny_all().allow(host(&format!("*:{port}"))));
    for literal in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
        let msg = error_message(&connect(&runner, literal, port), "error");
        let grant = if literal.contains(':') {
            format!("[{literal}]:{port}")
        } else {
            format!("{literal}:{port}")
        };
        assert_eq!(
            msg,
            format!("connection to {grant} not allowed (no grant to connect to {grant})")
        );
    }
    // `localhost` matches `*` but resolves to loopback: `*` does not name it.
    let msg = error_message(&connect(&runner, "localhost", port), "error");
    assert!(
        msg.starts_with(&format!("connection to localhost:{port} refused: it resolves to ")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "127.0.0.1, a loopback address (no grant to connect to 127.0.0.1:{port})"
        )),
        "{msg}"
    );
    // Other names for 127.0.0.1, even granted exactly, are no grant of it.
    for name in other_loopback_names() {
        let exact = runner_with(Policy::deny_all().allow(host(&format!("{name}:{port}"))));
        for r in [&runner, &exact] {
            let msg = error_message(&connect(r, &name, port), "error");
            assert!(msg.contains("127.0.0.1, a loopback address"), "{name}: {msg}");
        }
    }
    // Numeric forms getaddrinfo would read as 127.0.0.1 are refused.
    for sneaky in ["2130706433", "127.1", "0x7f.1", "0177.0.0.1"] {
        let msg = error_message(&connect(&runner, sneaky, port), "error");
        assert!(msg.contains("non-standard form"), "{sneaky}: {msg}");
    }
}

#[test]
fn an_ip_pattern_admits_no_name() {
    let port = dovecot().imap_port();
    let runner = runner_with(Policy::deny_all().allow(host(&format!("127.0.0.*:{port}"))));
    assert_eq!(connect(&runner, "127.0.0.1", port), json!({"value": null}));
    // Refused before any lookup: no DNS traffic.
    for name in ["127.0.0.1.attacker.example", "localhost"] {
        let msg = error_message(&connect(&runner, name, port), "error");
        assert_eq!(
            msg,
            format!("connection to {name}:{port} not allowed (no grant to connect to {name}:{port})")
        );
    }
    let msg = error_message(&connect(&runner, "127.0.0.1", port + 1), "error");
    assert!(msg.contains("not allowed"), "{msg}");
}

#[test]
fn loopback_through_a_name_needs_localhost_itself_or_the_address() {
    let port = dovecot().imap_port();
    let by_name = runner_with(Policy::deny_all().allow(host(&format!("localhost:{port}"))));
    assert_eq!(connect(&by_name, "localhost", port), json!({"value": null}));
    assert_eq!(connect(&by_name, "LOCALHOST", port), json!({"value": null}));
    let msg = error_message(&connect(&by_name, "127.0.0.1", port), "error");
    assert!(msg.contains("not allowed"), "{msg}");
    let by_address = runner_with(
        Policy::deny_all()
            .allow(host(&format!("*:{port}")))
            .allow(host("127.0.0.1:*"))
            .deny_private_networks(true),
    );
    assert_eq!(connect(&by_address, "localhost", port), json!({"value": null}));
    for name in other_loopback_names() {
        assert_eq!(connect(&by_address, &name, port), json!({"value": null}), "{name}");
    }
}

#[test]
fn pathological_inputs_are_refused_quickly_and_clearly() {
    let port = dovecot().imap_port();
    let runner = runner_with(
        Policy::deny_all()
            .allow(host(&format!("*.*.*.example.org:{port}")))
            .allow(host(&format!("127.0.0.1:{}", dovecot().imaps_port())))
            .try_allow_exec(format!("/bin/echo {}b", "*a".repeat(2000)))
            .unwrap()
            .try_allow_read(format!("/{}x", "*a".repeat(1000)))
            .unwrap(),
    );
    let dots = ".".repeat(100_000);
    let msg = error_message(&connect(&runner, &dots, port), "error");
    assert_eq!(
        msg,
        "connection refused: a host of 100000 bytes is longer than the limit of 253"
    );
    // At the limit, matched (and not granted) without a lookup.
    let long = format!("{}x", "a.".repeat(126));
    let msg = error_message(&connect(&runner, &long, port), "error");
    assert!(msg.contains("not allowed"), "{msg}");
    let a = run(
        &runner,
        &[json!(["IMAP4_stream", format!("/bin/echo {}", "a".repeat(8000))])],
    );
    assert!(error_message(&a[0], "error").contains("not allowed"));
    let a = run(
        &runner,
        &[json!(["IMAP4_stream", format!("/bin/echo {}", "a".repeat(100_000))])],
    );
    assert_eq!(
        error_message(&a[0], "error"),
        "command refused: 100010 bytes is longer than the limit of 8192"
    );
    let a = run(
        &runner,
        &[json!(["IMAP4_stream", format!("/bin/echo{}", " a".repeat(300))])],
    );
    assert_eq!(error_message(&a[0], "error"), "command refused: more than 256 words");
    let path = format!("/{}", "a".repeat(100_000));
    let a = run(
        &runner,
        &[json!(["IMAP4_SSL", "127.0.0.1", dovecot().imaps_port(), { "ca_file": path }])],
    );
    assert_eq!(
        error_message(&a[0], "error"),
        "reading refused: the path of 100001 bytes is longer than the limit of 4096"
    );
    let path = format!("/{}", "a".repeat(4000));
    let a = run(
        &runner,
        &[json!(["IMAP4_SSL", "127.0.0.1", dovecot().imaps_port(), { "ca_file": path }])],
    );
    assert!(error_message(&a[0], "error").contains("not allowed"), "{a:?}");
}
