//! How `wasimap run` words the sandbox's denials: each missing grant as
//! the flag that gives it, so the message a plugin prints tells the user
//! what to type (`grant it with --allow imap.example.org:993`).

use wasimap_sandbox::policy::denial::neutral;
use wasimap_sandbox::policy::Grant;

/// The clause after a refusal, naming the flag that would allow it.
pub fn with_flags(grant: &Grant) -> String {
    match grant {
        Grant::Connect(g) => format!("grant it with --allow {g}"),
        Grant::Exec(g) => format!("grant it with --allow-exec {g:?}"),
        Grant::Read(p) => format!("grant it with --allow-read {p:?}"),
        Grant::ReadResolved => "grant the file it leads to with --allow-read".into(),
        Grant::InsecureTls(e) => format!("grant it with --allow-insecure-tls {e}"),
        Grant::Ca => "grant the CA file with --allow-ca FILE".into(),
        Grant::Connections(limit) => format!("the limit is {limit}; raise it with --max-connections"),
        Grant::Processes(limit) => format!("the limit is {limit}; raise it with --max-processes"),
        Grant::Secret(name) => format!("define it with --secret {name}=env:VARIABLE"),
        Grant::SecretEndpoint { name, endpoint } => format!("bind it with --secret-endpoint {name}={endpoint}"),
        Grant::SecretPlaintext(name) => format!("use TLS, or allow it with --secret-plaintext {name}"),
        // A grant the sandbox learns later than this CLI: its own words.
        other => neutral(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasimap_sandbox::policy::Denial;

    #[test]
    fn every_denial_names_its_flag() {
        let endpoint: wasimap_sandbox::Endpoint = "imap.example.org:993".parse().unwrap();
        let cases = [
            (Grant::Connect("x:1".into()), "--allow x:1"),
            (Grant::Exec("/bin/imapd".into()), "--allow-exec \"/bin/imapd\""),
            (Grant::Read("/etc/ca.pem".into()), "--allow-read \"/etc/ca.pem\""),
            (Grant::ReadResolved, "--allow-read"),
            (
                Grant::InsecureTls(endpoint.clone()),
                "--allow-insecure-tls imap.example.org:993",
            ),
            (Grant::Ca, "--allow-ca FILE"),
            (Grant::Connections(8), "--max-connections"),
            (Grant::Processes(2), "--max-processes"),
            (Grant::Secret("pw".into()), "--secret pw=env:VARIABLE"),
            (
                Grant::SecretEndpoint {
                    name: "pw".into(),
                    endpoint,
                },
                "--secret-endpoint pw=imap.example.org:993",
            ),
            (Grant::SecretPlaintext("pw".into()), "--secret-plaintext pw"),
        ];
        for (grant, flag) in cases {
            let worded = Denial::new("refused", grant.clone()).worded(with_flags);
            assert!(worded.contains(flag), "{grant:?}: {worded}");
        }
    }
}
