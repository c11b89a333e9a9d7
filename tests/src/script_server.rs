//! A scripted IMAP server on 127.0.0.1 for what a healthy server never
//! sends (CPython's test_imaplib handler, in Rust): the test lists what to
//! send and which client lines to expect, and gets back every line the
//! client sent, byte for byte.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

/// One step of a script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send these bytes; `{tag}` is replaced by the tag of the last command
    /// the client sent.
    Send(Vec<u8>),
    /// Read one line from the client (recorded).
    Expect,
    /// Wait.
    Sleep(Duration),
    /// Send `pattern` over and over, `total` bytes in all (or until the
    /// client goes away): floods and giant lines without holding them.
    Flood(Vec<u8>, usize),
    /// Send these bytes one at a time, `Duration` apart (a slow drip).
    Drip(Vec<u8>, Duration),
    /// Close the connection.
    Close,
}

/// `Step::Send` from text.
pub fn send(s: impl AsRef<[u8]>) -> Step {
    Step::Send(s.as_ref().to_vec())
}

/// A server running one script for one connection.
pub struct ScriptServer {
    /// The port it listens on.
    pub port: u16,
    handle: Option<JoinHandle<Vec<Vec<u8>>>>,
}

/// The tag of a command line (`TAG COMMAND ...`); `None` for SASL answers
/// and literal data, which must not change the tag used in replies.
fn tag_of(line: &[u8]) -> Option<Vec<u8>> {
    let mut words = line.split(|&c| c == b' ');
    let tag = words.next()?;
    let command = words.next()?.trim_ascii_end();
    let is_tag = !tag.is_empty() && tag.iter().all(u8::is_ascii_alphanumeric);
    let is_command = !command.is_empty() && command.iter().all(u8::is_ascii_uppercase);
    (is_tag && is_command).then(|| tag.to_vec())
}

fn run(stream: TcpStream, steps: Vec<Step>) -> Vec<Vec<u8>> {
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut received = Vec::new();
    let mut tag = Vec::new();
    for step in steps {
        match step {
            Step::Send(bytes) => {
                let mut out = Vec::with_capacity(bytes.len());
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"{tag}") {
                        out.extend_from_slice(&tag);
                        i += 5;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                if writer.write_all(&out).is_err() {
                    break;
                }
            }
            Step::Expect => {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if let Some(t) = tag_of(&line) {
                            tag = t;
                        }
                        received.push(line);
                    }
                }
            }
            Step::Sleep(d) => std::thread::sleep(d),
            Step::Flood(pattern, total) => {
                let chunk = pattern.repeat((64 * 1024 / pattern.len().max(1)).max(1));
                let mut sent = 0;
                while sent < total {
                    let n = chunk.len().min(total - sent);
                    if writer.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
            }
            Step::Drip(bytes, gap) => {
                for b in bytes {
                    if writer.write_all(&[b]).is_err() {
                        break;
                    }
                    std::thread::sleep(gap);
                }
            }
            Step::Close => break,
        }
    }
    received
}

impl ScriptServer {
    /// Starts listening; the script runs for the first connection.
    pub fn start(steps: Vec<Step>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || match listener.accept() {
            Ok((stream, _)) => {
                stream.set_read_timeout(Some(Duration::from_secs(20))).ok();
                run(stream, steps)
            }
            Err(_) => Vec::new(),
        });
        ScriptServer {
            port,
            handle: Some(handle),
        }
    }

    /// Every line the client sent, once the script has finished.
    pub fn received(mut self) -> Vec<Vec<u8>> {
        self.handle.take().unwrap().join().expect("script thread")
    }
}

/// The usual opening: greeting, then the CAPABILITY exchange with `caps`.
pub fn greeting(caps: &str) -> Vec<Step> {
    opening("OK", caps)
}

/// A PREAUTH greeting (the session starts in AUTH), then CAPABILITY.
pub fn preauth(caps: &str) -> Vec<Step> {
    opening("PREAUTH", caps)
}

fn opening(status: &str, caps: &str) -> Vec<Step> {
    vec![
        send(format!("* {status} scripted server ready\r\n")),
        Step::Expect,
        send(format!("* CAPABILITY {caps}\r\n{{tag}} OK CAPABILITY completed\r\n")),
    ]
}
