//! The floor: a plain socket sends the same commands and reads until the
//! tagged reply, parsing nothing: `e2e-raw PORT USER PASSWORD ITEMS`.
//! Each command goes out in one write, as every client measured beside it
//! does (`write!` on the socket itself would send each formatted piece in
//! its own segment and wait on Nagle's algorithm).
use std::io::{Read, Write};

/// Sends one command line in one write.
fn send(sock: &mut std::net::TcpStream, line: &str) {
    sock.write_all(line.as_bytes()).unwrap();
}

fn until(sock: &mut std::net::TcpStream, tag: &[u8], buf: &mut Vec<u8>, chunk: &mut [u8]) -> usize {
    let mut total = 0;
    buf.clear();
    loop {
        let n = sock.read(chunk).unwrap();
        assert!(n > 0, "EOF");
        total += n;
        buf.extend_from_slice(&chunk[..n]);
        // Keep only a tail: look for "\r\nTAG " or a tag at the start.
        if let Some(pos) = buf.windows(tag.len()).rposition(|w| w == tag) {
            if (pos == 0 || buf[pos - 1] == b'\n') && buf[pos..].contains(&b'\n') {
                return total;
            }
        }
        if buf.len() > 4096 {
            buf.drain(..buf.len() - 256);
        }
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", a[1].parse::<u16>().unwrap())).unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut greeting = [0u8; 1024];
    let _ = sock.read(&mut greeting).unwrap();
    send(&mut sock, &format!("A1 LOGIN {} {}\r\n", a[2], a[3]));
    until(&mut sock, b"A1 ", &mut buf, &mut chunk);
    if let Some(n) = a[4].strip_prefix("NOOP") {
        for i in 0..n.parse::<usize>().unwrap() {
            let tag = format!("N{i} ");
            send(&mut sock, &format!("N{i} NOOP\r\n"));
            until(&mut sock, tag.as_bytes(), &mut buf, &mut chunk);
        }
        return;
    }
    send(&mut sock, "A2 EXAMINE INBOX\r\n");
    until(&mut sock, b"A2 ", &mut buf, &mut chunk);
    send(&mut sock, &format!("A3 FETCH 1:* {}\r\n", a[4]));
    let bytes = until(&mut sock, b"A3 ", &mut buf, &mut chunk);
    send(&mut sock, "A4 LOGOUT\r\n");
    println!("{bytes} bytes read");
}
