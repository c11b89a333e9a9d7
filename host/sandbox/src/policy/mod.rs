//! Deny-by-default permissions for what plugins may reach.
//!
//! Every transport request goes through one exhaustive match,
//! [`Policy::check`]: a new kind of [`Request`] does not compile until it
//! says what grants it. A refusal is a [`Denial`] carrying the [`Grant`]
//! that would admit it; the embedder words it ([`Wording`]: `wasimap run`
//! names its flags).
//!
//! Every grant admits exactly what it names:
//!
//! - `--allow HOST:PORT` ([`net`]): a name pattern admits names, an IP
//!   pattern IP literals; at connect time the addresses a name resolves to
//!   must not be loopback, link-local or unspecified (nor private, with
//!   [`Policy::deny_private_networks`]) unless an IP pattern grants them,
//!   or the grant is the name `localhost` itself (loopback only).
//! - `--allow-exec COMMAND` ([`exec`]): a command is an argument vector,
//!   never shell text; each grant word matches one argument and a final
//!   `**` any number of further ones.
//! - `--allow-read PATH` ([`path`]): the file the kernel actually opened
//!   must match the canonicalized grant.
//!
//! Matching is linear (no backtracking) and inputs are bounded before it: host
//! names to 253 bytes, commands to 8 KiB and 256 words, paths to 4096
//! bytes.

pub mod denial;
pub mod exec;
mod glob;
pub mod net;
pub mod path;

use std::net::SocketAddr;

pub use denial::{Denial, Grant, Wording};
pub use exec::{split_command, ExecPattern};
pub use net::{Endpoint, HostPattern};
pub use path::{PathGrant, ReadError};

use net::Host;

/// Something a plugin asks the host to do on its behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request<'a> {
    /// Open a TCP connection.
    ConnectTcp {
        /// Host name or IP literal as the plugin gave it.
        host: &'a str,
        /// Port.
        port: u16,
    },
    /// Open a TCP connection and run TLS on it.
    ConnectTls {
        /// Host name or IP literal as the plugin gave it.
        host: &'a str,
        /// Port.
        port: u16,
    },
    /// Run a command as a connection (`IMAP4_stream`).
    Exec {
        /// The command line, split into words by shell quoting rules but
        /// never run by a shell ([`split_command`]).
        command: &'a str,
    },
    /// Read a file on the host (a CA bundle named in TLS options).
    ReadFile {
        /// The path as the plugin gave it.
        path: &'a str,
    },
}

/// What the user granted. The default grants nothing.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allow: Vec<HostPattern>,
    allow_exec: Vec<ExecPattern>,
    allow_read: Vec<PathGrant>,
    deny_private: bool,
    /// Grants given to the infallible builders that did not parse; they
    /// grant nothing and are named in denials.
    invalid: Vec<String>,
}

impl Policy {
    /// The grants that name one endpoint exactly (no wildcard in the host,
    /// a fixed port): where a secret may go when the user bound it to
    /// nothing else.
    pub fn exact_endpoints(&self) -> Vec<Endpoint> {
        self.allow
            .iter()
            .filter_map(HostPattern::exact)
            .map(|(host, port)| Endpoint::new(host, port))
            .collect()
    }

    /// A policy that denies everything.
    pub fn deny_all() -> Self {
        Self::default()
    }

    /// Grants connections matching `pattern`.
    pub fn allow(mut self, pattern: HostPattern) -> Self {
        self.allow.push(pattern);
        self
    }

    /// Grants running commands matching `pattern`: words split as a shell
    /// would, each matching one argument (`*` within it), a final `**`
    /// matching any further arguments, e.g. `/usr/lib/dovecot/imap **`.
    /// An invalid pattern grants nothing and is named in denials; use
    /// [`Policy::try_allow_exec`] to see the error at once.
    pub fn allow_exec(self, pattern: impl Into<String>) -> Self {
        let pattern = pattern.into();
        match ExecPattern::parse(&pattern) {
            Ok(p) => self.with_exec(p),
            Err(e) => self.with_invalid(e),
        }
    }

    /// [`Policy::allow_exec`], failing on an invalid pattern.
    ///
    /// # Errors
    /// The parse error, naming the pattern.
    pub fn try_allow_exec(self, pattern: impl AsRef<str>) -> Result<Self, String> {
        Ok(self.with_exec(ExecPattern::parse(pattern.as_ref())?))
    }

    /// Grants reading files matching `pattern` (absolute; `*` matches any
    /// text, `/` included). The directory part is canonicalized now, when
    /// it exists. An invalid pattern grants nothing and is named in
    /// denials; use [`Policy::try_allow_read`] to see the error at once.
    pub fn allow_read(self, pattern: impl Into<String>) -> Self {
        let pattern = pattern.into();
        match PathGrant::parse(&pattern) {
            Ok(p) => self.with_read(p),
            Err(e) => self.with_invalid(e),
        }
    }

    /// [`Policy::allow_read`], failing on an invalid pattern.
    ///
    /// # Errors
    /// The parse error, naming the pattern.
    pub fn try_allow_read(self, pattern: impl AsRef<str>) -> Result<Self, String> {
        Ok(self.with_read(PathGrant::parse(pattern.as_ref())?))
    }

    /// Also refuses private addresses (10/8, 172.16/12, 192.168/16,
    /// 100.64/10, fc00::/7) that a granted name resolves to, unless an IP
    /// pattern grants them. Off by default.
    pub fn deny_private_networks(mut self, deny: bool) -> Self {
        self.deny_private = deny;
        self
    }

    /// Grants given to [`Policy::allow_exec`] or [`Policy::allow_read`]
    /// that were invalid and grant nothing, with the reason.
    pub fn invalid_grants(&self) -> &[String] {
        &self.invalid
    }

    fn with_exec(mut self, p: ExecPattern) -> Self {
        self.allow_exec.push(p);
        self
    }

    fn with_read(mut self, p: PathGrant) -> Self {
        self.allow_read.push(p);
        self
    }

    fn with_invalid(mut self, e: String) -> Self {
        self.invalid.push(e);
        self
    }

    fn grants_argv(&self, argv: &[String]) -> bool {
        self.allow_exec.iter().any(|p| p.matches(argv))
    }

    /// The invalid grants of one flag, as a note for a denial.
    fn note(&self, flag: &str) -> String {
        self.invalid
            .iter()
            .filter(|e| e.contains(flag))
            .map(|e| format!("; ignored {e}"))
            .collect()
    }

    /// Checks a request; the error says what was refused and the grant
    /// that is missing. For a connection this checks the name or literal;
    /// [`Policy::check_address`] checks each address it resolves to. For a
    /// file this is the lexical check; [`Policy::read_file`] does it and
    /// the rest.
    pub fn check(&self, request: &Request<'_>) -> Result<(), Denial> {
        match *request {
            Request::ConnectTcp { host, port } | Request::ConnectTls { host, port } => {
                let h = Host::parse(host).map_err(|e| Denial::ungrantable(format!("connection refused: {e}")))?;
                if self.allow.iter().any(|p| p.matches(&h, port)) {
                    return Ok(());
                }
                let grant = h.grant(port);
                Err(Denial::new(
                    format!("connection to {grant} not allowed"),
                    Grant::Connect(grant),
                ))
            }
            Request::Exec { command } => {
                let argv = split_command(command).map_err(Denial::ungrantable)?;
                if self.grants_argv(&argv) {
                    return Ok(());
                }
                Err(Denial {
                    note: self.note("exec grant"),
                    ..Denial::new(
                        format!("running {command:?} not allowed"),
                        Grant::Exec(exec::grant_for(&argv)),
                    )
                })
            }
            Request::ReadFile { path } => {
                if path::granted_lexically(&self.allow_read, path).map_err(Denial::ungrantable)? {
                    return Ok(());
                }
                Err(Denial {
                    note: self.note("read grant"),
                    ..Denial::new(format!("reading {path:?} not allowed"), Grant::Read(path.to_string()))
                })
            }
        }
    }

    /// Checks an address that `host` (already admitted by [`Policy::check`])
    /// resolved to, before connecting to it: loopback, link-local and
    /// unspecified addresses (and private ones with
    /// [`Policy::deny_private_networks`]) need an IP pattern granting
    /// them on that port, or, for loopback, a grant of the name
    /// `localhost` itself when `host` is `localhost`.
    ///
    /// # Errors
    /// Which address was refused, why, and how to grant it.
    pub fn check_address(&self, host: &str, addr: SocketAddr) -> Result<(), Denial> {
        let (ip, port) = (addr.ip(), addr.port());
        let Some(why) = net::special(ip, self.deny_private) else {
            return Ok(());
        };
        if self.allow.iter().any(|p| p.admits_address(ip, port)) {
            return Ok(());
        }
        let localhost = host.eq_ignore_ascii_case("localhost") && why == "a loopback address";
        if localhost && self.allow.iter().any(|p| p.is_localhost(port)) {
            return Ok(());
        }
        let grant = Host::Ip(ip).grant(port);
        Err(Denial::new(
            format!("connection to {host}:{port} refused: it resolves to {ip}, {why}"),
            Grant::Connect(grant),
        ))
    }

    /// Reads a file the policy grants (a CA bundle), at most 1 MiB: the
    /// lexical check, then the same check on the resolved path and on the
    /// path of the opened descriptor; only regular files are read.
    ///
    /// # Errors
    /// [`ReadError::Denied`] when a check fails, [`ReadError::Failed`]
    /// when the file cannot be read. Never file contents.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        self.check(&Request::ReadFile { path }).map_err(ReadError::Denied)?;
        path::read_granted(&self.allow_read, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI's words for the grants these tests meet (`host/cli/src/denials.rs`),
    /// so that the messages read as a user of `wasimap run` sees them.
    fn flags(g: &Grant) -> String {
        match g {
            Grant::Connect(g) => format!("grant it with --allow {g}"),
            Grant::Exec(g) => format!("grant it with --allow-exec {g:?}"),
            Grant::Read(p) => format!("grant it with --allow-read {p:?}"),
            other => denial::neutral(other),
        }
    }

    fn denied(e: ReadError) -> String {
        match e {
            ReadError::Denied(d) => d.worded(flags),
            other => panic!("not a denial: {other:?}"),
        }
    }

    fn policy(patterns: &[&str]) -> Policy {
        patterns
            .iter()
            .fold(Policy::deny_all(), |p, s| p.allow(s.parse().unwrap()))
    }

    fn tcp(host: &str, port: u16) -> Request<'_> {
        Request::ConnectTcp { host, port }
    }

    #[test]
    fn deny_by_default_with_a_helpful_message() {
        let err = Policy::deny_all()
            .check(&tcp("imap.example.org", 993))
            .unwrap_err()
            .worded(flags);
        assert_eq!(
            err,
            "connection to imap.example.org:993 not allowed (grant it with --allow imap.example.org:993)"
        );
        let err = Policy::deny_all().check(&tcp("::1", 143)).unwrap_err().worded(flags);
        assert!(err.ends_with("--allow [::1]:143)"), "{err}");
    }

    #[test]
    fn patterns() {
        let p = policy(&["*.example.org:993", "127.0.0.1:*", "[::1]:143"]);
        assert!(p.check(&tcp("imap.example.org", 993)).is_ok());
        assert!(p.check(&tcp("IMAP.Example.ORG", 993)).is_ok());
        assert!(p.check(&tcp("imap.example.org", 143)).is_err());
        assert!(p.check(&tcp("example.org.evil.com", 993)).is_err());
        assert!(p.check(&tcp("127.0.0.1", 31337)).is_ok());
        assert!(p.check(&tcp("127.0.0.2", 143)).is_err());
        assert!(p.check(&tcp("::1", 143)).is_ok());
        assert!(p
            .check(&Request::ConnectTls {
                host: "imap.example.org",
                port: 993
            })
            .is_ok());
        assert!("nohost".parse::<HostPattern>().is_err());
        assert!("h:99999".parse::<HostPattern>().is_err());
    }

    #[test]
    fn exec_and_read_are_denied_unless_granted() {
        let deny = Policy::deny_all();
        let err = deny
            .check(&Request::Exec {
                command: "/usr/lib/dovecot/imap -u x",
            })
            .unwrap_err()
            .worded(flags);
        assert_eq!(err, "running \"/usr/lib/dovecot/imap -u x\" not allowed (grant it with --allow-exec \"/usr/lib/dovecot/imap -u x\")");
        assert!(deny
            .check(&Request::ReadFile { path: "/etc/shadow" })
            .unwrap_err()
            .worded(flags)
            .contains("--allow-read"));
        let p = Policy::deny_all()
            .allow_exec("/usr/lib/dovecot/imap **")
            .allow_read("/tmp/certs/*.pem");
        assert!(p
            .check(&Request::Exec {
                command: "/usr/lib/dovecot/imap -c c -u x"
            })
            .is_ok());
        assert!(p.check(&Request::Exec { command: "/bin/sh" }).is_err());
        assert!(p
            .check(&Request::ReadFile {
                path: "/tmp/certs/ca.pem"
            })
            .is_ok());
        assert!(p.check(&Request::ReadFile { path: "/etc/passwd" }).is_err());
    }

    fn exec(command: &str) -> Request<'_> {
        Request::Exec { command }
    }

    #[test]
    fn exec_grants_are_argument_vectors() {
        let p = Policy::deny_all().allow_exec("/usr/lib/dovecot/imap **");
        assert!(p.check(&exec("/usr/lib/dovecot/imap")).is_ok());
        assert!(p.check(&exec("/usr/lib/dovecot/imap -u 'a b'")).is_ok());
        assert_eq!(
            p.check(&exec("/usr/lib/dovecot/imap x; touch /tmp/pwned"))
                .unwrap_err()
                .worded(flags),
            "command refused: ';' (a shell operator) is not allowed; wasimap runs commands without a shell"
        );
        // Quoted, the same characters are one plain argument.
        assert!(p.check(&exec("/usr/lib/dovecot/imap 'x; touch /tmp/pwned'")).is_ok());
        let err = Policy::deny_all()
            .check(&exec("/bin/echo 'a b' '*'"))
            .unwrap_err()
            .worded(flags);
        assert_eq!(
            err,
            r#"running "/bin/echo 'a b' '*'" not allowed (grant it with --allow-exec "/bin/echo 'a b' '*'")"#
        );
        let one = Policy::deny_all().allow_exec("/usr/lib/dovecot/imap *");
        assert!(one.check(&exec("/usr/lib/dovecot/imap -u x")).is_err());
        assert!(one.check(&exec("/usr/lib/dovecot/imap -u")).is_ok());
        assert!(one.check(&exec("/usr/lib/dovecot/imap -u;x")).is_err());
    }

    #[test]
    fn invalid_grants_grant_nothing_and_are_named() {
        let p = Policy::deny_all().allow_exec("imap *").allow_read("certs/*");
        assert_eq!(p.invalid_grants().len(), 2);
        let err = p.check(&exec("/bin/imap x")).unwrap_err().worded(flags);
        assert!(err.contains("; ignored invalid exec grant \"imap *\""), "{err}");
        let err = p
            .check(&Request::ReadFile { path: "/certs/a" })
            .unwrap_err()
            .worded(flags);
        assert!(err.contains("; ignored invalid read grant"), "{err}");
        assert!(Policy::deny_all().try_allow_exec("/bin/sh -c $x").is_err());
        assert!(Policy::deny_all().try_allow_read("relative").is_err());
        assert!(Policy::deny_all().try_allow_exec("/bin/cat").is_ok());
    }

    #[test]
    fn connect_grants_keep_names_and_ip_literals_apart() {
        let p = policy(&["*:143", "127.0.0.*:993", "[::1]:993"]);
        assert!(p.check(&tcp("imap.example.org", 143)).is_ok());
        assert!(
            p.check(&tcp("127.0.0.1", 143)).is_err(),
            "a name pattern admits no IP literal"
        );
        assert!(p.check(&tcp("::1", 143)).is_err());
        assert!(p.check(&tcp("127.0.0.1", 993)).is_ok());
        assert!(p.check(&tcp("127.0.0.1.attacker.example", 993)).is_err());
        assert!(p.check(&tcp("127.0.0.1.attacker.example", 143)).is_ok());
        assert!(p.check(&tcp("::ffff:127.0.0.1", 993)).is_err());
        assert!(p
            .check(&tcp("127.1", 143))
            .unwrap_err()
            .worded(flags)
            .contains("non-standard form"));
        assert!(p
            .check(&tcp("a b", 143))
            .unwrap_err()
            .worded(flags)
            .starts_with("connection refused:"));
        let dots = ".".repeat(100_000);
        let err = p.check(&tcp(&dots, 143)).unwrap_err().worded(flags);
        assert!(err.contains("longer than the limit of 253"), "{}", &err[..100]);
        assert!(err.len() < 200, "the message does not echo the host");
    }

    #[test]
    fn pathological_patterns_are_decided_quickly() {
        let p = policy(&["*.*.*.example.org:993"]);
        let dots = ".".repeat(100_000);
        assert!(p.check(&tcp(&dots, 993)).is_err());
        let long = format!("{}example.org", "a.".repeat(120));
        assert!(p.check(&tcp(&long, 993)).is_ok());
        let p = Policy::deny_all().allow_read(format!("/{}x", "*a".repeat(1000)));
        let path = format!("/{}", "a".repeat(4000));
        assert!(p.check(&Request::ReadFile { path: &path }).is_err());
        let huge = format!("/{}", "a".repeat(100_000));
        assert!(p
            .check(&Request::ReadFile { path: &huge })
            .unwrap_err()
            .worded(flags)
            .contains("longer than the limit of 4096"));
        let p = Policy::deny_all().allow_exec(format!("/bin/echo {}b **", "*a".repeat(1000)));
        let cmd = format!("/bin/echo {}", "a ".repeat(255));
        assert!(p.check(&exec(&cmd)).is_err());
        let cmd = format!("/bin/echo {}", "a".repeat(100_000));
        assert!(p
            .check(&exec(&cmd))
            .unwrap_err()
            .worded(flags)
            .contains("longer than the limit of 8192"));
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolved_addresses_need_their_own_grant() {
        let p = policy(&["*:143", "localhost:993"]);
        assert!(p.check_address("imap.example.org", addr("192.0.2.1:143")).is_ok());
        assert!(p.check_address("imap.example.org", addr("10.0.0.1:143")).is_ok());
        assert_eq!(
            p.check_address("evil.example", addr("127.0.0.1:143")).unwrap_err().worded(flags),
            "connection to evil.example:143 refused: it resolves to 127.0.0.1, a loopback address (grant it with --allow 127.0.0.1:143)"
        );
        // A name grant `*` does not make `localhost` loopback-capable.
        assert!(p.check_address("localhost", addr("127.0.0.1:143")).is_err());
        assert!(p.check_address("localhost", addr("[::1]:143")).is_err());
        // The name `localhost` granted itself does.
        assert!(p.check_address("localhost", addr("127.0.0.1:993")).is_ok());
        assert!(p.check_address("localhost", addr("[::1]:993")).is_ok());
        assert!(p.check_address("localhost", addr("169.254.1.1:993")).is_err());
        assert!(p.check_address("evil.example", addr("127.0.0.1:993")).is_err());
        for a in [
            "[::ffff:127.0.0.1]:143",
            "[::]:143",
            "0.0.0.0:143",
            "169.254.169.254:143",
            "[fe80::1]:143",
            "[::ffff:169.254.0.1]:143",
        ] {
            let err = p.check_address("evil.example", addr(a)).unwrap_err().worded(flags);
            assert!(err.contains("refused: it resolves to"), "{a}: {err}");
        }
        let err = p
            .check_address("evil.example", addr("[fe80::1]:143"))
            .unwrap_err()
            .worded(flags);
        assert!(
            err.ends_with("a link-local address (grant it with --allow [fe80::1]:143)"),
            "{err}"
        );
        // Granted by address, on that port only.
        let p = policy(&["*:143", "127.0.0.1:*", "[::1]:143"]);
        assert!(p.check_address("localhost", addr("127.0.0.1:143")).is_ok());
        assert!(p
            .check_address("anything.example", addr("[::ffff:127.0.0.1]:143"))
            .is_ok());
        assert!(p.check_address("anything.example", addr("[::1]:143")).is_ok());
        assert!(p.check_address("anything.example", addr("[::1]:144")).is_err());
    }

    #[test]
    fn private_networks_are_refused_on_request() {
        let p = policy(&["*:143", "10.0.0.5:143"]).deny_private_networks(true);
        for a in [
            "10.1.2.3:143",
            "172.16.0.1:143",
            "192.168.0.1:143",
            "100.64.0.1:143",
            "[fd00::1]:143",
            "[::ffff:192.168.0.1]:143",
        ] {
            let err = p.check_address("internal.example", addr(a)).unwrap_err().worded(flags);
            assert!(err.contains("a private address (grant it with --allow"), "{a}: {err}");
        }
        assert!(p.check_address("internal.example", addr("10.0.0.5:143")).is_ok());
        assert!(p.check_address("public.example", addr("192.0.2.1:143")).is_ok());
        assert!(p.check_address("evil.example", addr("127.0.0.1:143")).is_err());
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "wasimap-policy-{name}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(std::fs::canonicalize(&dir).unwrap())
        }

        fn path(&self, rel: &str) -> String {
            format!("{}/{rel}", self.0.display())
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_follow_the_file_actually_opened() {
        use std::os::unix::fs::symlink;
        let t = TempDir::new("read");
        std::fs::create_dir_all(t.path("certs/sub")).unwrap();
        std::fs::create_dir_all(t.path("other")).unwrap();
        std::fs::write(t.path("certs/ca.pem"), "CA").unwrap();
        std::fs::write(t.path("certs/sub/ca.pem"), "SUB").unwrap();
        std::fs::write(t.path("other/secret"), "TOP SECRET").unwrap();
        symlink(t.path("other/secret"), t.path("certs/out.pem")).unwrap();
        symlink("ca.pem", t.path("certs/in.pem")).unwrap();
        symlink(t.path("other"), t.path("certs/dir")).unwrap();
        // A grant written with `..` means its canonical directory.
        let p = Policy::deny_all().allow_read(t.path("other/../certs/*"));
        let read = |rel: &str| p.read_file(&t.path(rel));
        assert_eq!(read("certs/ca.pem").unwrap(), b"CA");
        assert_eq!(read("certs/sub/ca.pem").unwrap(), b"SUB");
        assert_eq!(read("certs/./ca.pem").unwrap(), b"CA");
        // A symlink staying inside the grant is fine.
        assert_eq!(read("certs/in.pem").unwrap(), b"CA");
        // `..` out of the granted directory: denied without touching the file system.
        let err = read("certs/../other/secret").unwrap_err();
        assert_eq!(
            denied(err),
            format!(
                "reading {:?} not allowed (grant it with --allow-read {:?})",
                t.path("certs/../other/secret"),
                t.path("certs/../other/secret")
            )
        );
        let err = read("certs/../../../../../../etc/shadow").unwrap_err();
        assert!(matches!(err, ReadError::Denied(_)), "{err:?}");
        // Symlinks leading out: denied, the target's contents unread.
        for rel in ["certs/out.pem", "certs/dir/secret"] {
            let msg = denied(read(rel).unwrap_err());
            assert!(msg.contains("resolves to a file outside the read grants"), "{msg}");
            assert!(!msg.contains("TOP SECRET"));
        }
        // Relative paths are refused.
        let err = p.read_file("certs/ca.pem").unwrap_err();
        assert_eq!(
            denied(err),
            "reading refused: the path \"certs/ca.pem\" is not an absolute path"
        );
        // Missing files fail plainly.
        assert!(matches!(read("certs/missing.pem"), Err(ReadError::Failed(_))));
    }

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let t = TempDir::new("kinds");
        let fifo = std::ffi::CString::new(t.path("fifo")).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::fs::create_dir(t.path("dir")).unwrap();
        std::fs::write(t.path("big"), vec![b'x'; (path::MAX_FILE_BYTES + 1) as usize]).unwrap();
        std::fs::write(t.path("edge"), vec![b'y'; path::MAX_FILE_BYTES as usize]).unwrap();
        let p = Policy::deny_all().allow_read(t.path("*")).allow_read("/dev/*");
        // The FIFO has no writer: opening it must not block.
        for what in [t.path("fifo"), t.path("dir"), "/dev/null".into(), "/dev/zero".into()] {
            let err = p.read_file(&what).unwrap_err();
            assert_eq!(
                denied(err),
                format!("reading {what:?} refused: it is not a regular file")
            );
        }
        let ReadError::Failed(msg) = p.read_file(&t.path("big")).unwrap_err() else {
            panic!()
        };
        assert!(msg.ends_with("is larger than the limit of 1048576 bytes"), "{msg}");
        assert!(!msg.contains("xxx"));
        assert_eq!(
            p.read_file(&t.path("edge")).unwrap().len(),
            path::MAX_FILE_BYTES as usize
        );
    }

    #[test]
    fn read_grants_through_a_symlinked_directory() {
        use std::os::unix::fs::symlink;
        let t = TempDir::new("link");
        std::fs::create_dir(t.path("real")).unwrap();
        std::fs::write(t.path("real/ca.pem"), "CA").unwrap();
        symlink(t.path("real"), t.path("alias")).unwrap();
        std::fs::write(t.path("file"), "F").unwrap();
        symlink(t.path("file"), t.path("file-link")).unwrap();
        // The grant names the alias; the canonical directory is granted.
        let p = Policy::deny_all().allow_read(t.path("alias/*"));
        assert_eq!(p.read_file(&t.path("alias/ca.pem")).unwrap(), b"CA");
        assert_eq!(p.read_file(&t.path("real/ca.pem")).unwrap(), b"CA");
        // A grant of one symlinked file grants the file it names now.
        let p = Policy::deny_all().allow_read(t.path("file-link"));
        assert_eq!(p.read_file(&t.path("file-link")).unwrap(), b"F");
        // Swapping the link afterwards leads nowhere new.
        std::fs::write(t.path("other"), "O").unwrap();
        std::fs::remove_file(t.path("file-link")).unwrap();
        symlink(t.path("other"), t.path("file-link")).unwrap();
        assert!(matches!(p.read_file(&t.path("file-link")), Err(ReadError::Denied(_))));
    }

    #[test]
    fn a_name_that_resolves_to_this_machine_is_refused() {
        // A service bound to 0.0.0.0 answers on the machine's own
        // interface addresses: a name grant is no grant for them, with
        // or without --deny-private-networks.
        let own = net::interface_addresses()
            .into_iter()
            .find(|ip| !ip.is_loopback())
            .expect("this machine has a non-loopback address");
        for deny_private in [false, true] {
            let p = policy(&["mail.example.org:993"]).deny_private_networks(deny_private);
            let err = p
                .check_address("mail.example.org", SocketAddr::new(own, 993))
                .unwrap_err()
                .worded(flags);
            assert!(err.contains("an address of this machine"), "{err}");
            // Granted by address, it is the user's choice.
            let grant = Host::Ip(own).grant(993);
            let p = p.allow(grant.parse().unwrap());
            assert!(p.check_address("mail.example.org", SocketAddr::new(own, 993)).is_ok());
        }
    }
}
