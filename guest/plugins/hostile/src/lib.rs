//! `hostile`: a test plugin that tries what the sandbox must stop. Its
//! first argument picks the attempt; it prints what it managed to see.

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../wit",
});

use wasimap::imap::body::Body;
use wasimap::imap::client::Imap4;
use wasimap::imap::types::{DataItem, ImapError};

struct Hostile;

export!(Hostile);

/// `class (Kind): message` (the kind as Rust's enum spells it), so the
/// tests see which failure the host gave.
fn show(e: &ImapError) -> String {
    let (class, d) = match e {
        ImapError::Error(d) => ("error", d),
        ImapError::Abort(d) => ("abort", d),
        ImapError::Readonly(d) => ("readonly", d),
    };
    // wit-bindgen's Debug writes `ErrorKind::Denied`; the variant is enough.
    let kind = format!("{:?}", d.kind);
    format!("{class} ({}): {}", kind.trim_start_matches("ErrorKind::"), d.message)
}

fn item(d: &DataItem) -> String {
    match d {
        DataItem::None => "None".into(),
        DataItem::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        DataItem::Literal((h, l)) => format!("{} {}", String::from_utf8_lossy(h), String::from_utf8_lossy(l)),
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64, pad: &mut [u8; 64]) -> u64 {
    pad[(depth % 64) as usize] = depth as u8;
    recurse(depth + 1, pad) + u64::from(pad[0])
}

/// Everything a plugin can observe around a login with a secret.
fn probe_secret(args: &[String]) -> Result<(), String> {
    let (host, port, user, secret) = (&args[1], args[2].parse::<u16>().unwrap(), &args[3], &args[4]);
    let imap = Imap4::open_tcp(host, port, Some(10.0)).map_err(|e| show(&e))?;
    imap.set_debug(5);
    match imap.login_secret(user, secret) {
        Ok(r) => println!("login: {} {:?}", r.typ, r.data.iter().map(item).collect::<Vec<_>>()),
        Err(e) => println!("login: {}", show(&e)),
    }
    println!("welcome: {}", String::from_utf8_lossy(&imap.welcome()));
    println!("capabilities: {:?}", imap.capabilities());
    for (name, data) in imap.untagged_responses() {
        println!("untagged {name}: {:?}", data.iter().map(item).collect::<Vec<_>>());
    }
    // The server never echoes a password, but a plugin could try to make
    // the protocol component send it somewhere it can read.
    let _ = imap.send(b"X1 NOOP\r\n");
    println!(
        "readline: {:?}",
        imap.readline().map(|l| String::from_utf8_lossy(&l).into_owned())
    );
    for (k, v) in std::env::vars() {
        println!("env {k}={v}");
    }
    println!(
        "environ file: {:?}",
        std::fs::read_to_string("/proc/self/environ").map_err(|e| e.to_string())
    );
    Ok(())
}

/// Opens up to N connections (TCP to HOST:PORT, or runs COMMAND) and keeps
/// them all; prints how many opened and the first refusal.
fn flood(args: &[String]) -> Result<(), String> {
    let usage = || "usage: hostile flood tcp HOST PORT N | flood exec COMMAND N".to_string();
    let n: usize = args.last().and_then(|n| n.parse().ok()).ok_or_else(usage)?;
    let mut open = Vec::new();
    for _ in 0..n {
        let attempt = match args.get(1).map(String::as_str) {
            Some("tcp") => {
                let port: u16 = args.get(3).and_then(|p| p.parse().ok()).ok_or_else(usage)?;
                Imap4::open_tcp(args.get(2).ok_or_else(usage)?, port, Some(5.0))
            }
            Some("exec") => Imap4::open_stream(args.get(2).ok_or_else(usage)?, Some(5.0)),
            _ => return Err(usage()),
        };
        match attempt {
            Ok(imap) => open.push(imap),
            Err(e) => {
                println!("opened {}; then {}", open.len(), show(&e));
                return Ok(());
            }
        }
    }
    println!("opened {}", open.len());
    Ok(())
}

impl Guest for Hostile {
    fn run(args: Vec<String>) -> Result<(), String> {
        match args.first().map(String::as_str) {
            Some("file") => match std::fs::read_to_string("/etc/passwd") {
                Ok(text) => Err(format!("read a host file: {} bytes", text.len())),
                Err(e) => {
                    println!("file refused: {e}");
                    Ok(())
                }
            },
            Some("socket") => match std::net::TcpStream::connect(args[1].as_str()) {
                Ok(_) => Err("opened a socket".into()),
                Err(e) => {
                    println!("socket refused: {e}");
                    Ok(())
                }
            },
            Some("env") => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                println!("environment: {vars:?}");
                Ok(())
            }
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            // Blocked in the host on stdio, not in wasm: a stdin that stays
            // open, a stdout nobody drains.
            Some("stdin-wait") => {
                let mut all = Vec::new();
                match std::io::Read::read_to_end(&mut std::io::stdin(), &mut all) {
                    Ok(n) => Err(format!("stdin ended after {n} bytes")),
                    Err(e) => Err(format!("stdin failed: {e}")),
                }
            }
            Some("stdout-block") => {
                let chunk = [b'x'; 65536];
                loop {
                    if let Err(e) = std::io::Write::write_all(&mut std::io::stdout(), &chunk) {
                        return Err(format!("stdout failed: {e}"));
                    }
                }
            }
            Some("sleep") => loop {
                // Blocked in the host, not in wasm: no epoch check runs
                // while it sleeps.
                std::thread::sleep(std::time::Duration::from_secs(3600));
            },
            Some("memory") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("bodies") => {
                // Host memory instead of linear memory: bodies kept alive.
                let mut hoard = Vec::new();
                loop {
                    hoard.push(Body::new(&vec![1u8; 16 << 20]));
                }
            }
            Some("recursion") => {
                let mut pad = [0u8; 64];
                println!("{}", recurse(0, &mut pad));
                Ok(())
            }
            Some("panic") => panic!("the plugin panicked on purpose"),
            Some("lent") => match Imap4::open_lent(Some(5.0)) {
                Ok(_) => Err("a session was lent outside wasimap watch".into()),
                Err(e) => {
                    println!("lent: {}", show(&e));
                    Ok(())
                }
            },
            Some("secret") => probe_secret(&args),
            // Words the host shows on its terminal: a progress label that
            // U+202E would show as "report-exe.txt", then an error with an
            // OSC 52 clipboard write, a screen erase and a line of its own
            // made to pass for the host's.
            Some("terminal") => {
                wasimap::imap::progress::report("report-\u{202e}txt.exe", 1, Some(2));
                wasimap::imap::progress::finish();
                Err("boom\u{1b}]52;c;b3duZWQ=\u{7}\u{1b}[2J\nwasimap: done, nothing failed\u{202e}".into())
            }
            Some("flood") => flood(&args),
            _ => Err(
                "usage: hostile file|socket ADDR|env|loop|sleep|lent|memory|recursion|panic|stdin-wait|stdout-block|secret HOST PORT USER NAME|terminal|flood tcp HOST PORT N|flood exec COMMAND N"
                    .into(),
            ),
        }
    }
}
