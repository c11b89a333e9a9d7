//! FETCH 1:* (or `NOOPn`: n NOOPs) with the `imap` crate (sync): `e2e-imap PORT USER PASSWORD ITEMS`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", a[1].parse::<u16>().unwrap())).unwrap();
    let mut client = imap::Client::new(tcp);
    client.read_greeting().unwrap();
    let mut session = client.login(&a[2], &a[3]).map_err(|e| e.0).unwrap();
    if let Some(n) = a[4].strip_prefix("NOOP") {
        for _ in 0..n.parse::<usize>().unwrap() {
            session.noop().unwrap();
        }
        session.logout().unwrap();
        return;
    }
    session.examine("INBOX").unwrap();
    let fetches = session.fetch("1:*", &a[4]).unwrap();
    let bytes: usize = fetches.iter().map(|f| f.body().map_or(0, <[u8]>::len)).sum();
    println!("{} messages, {bytes} bytes", fetches.len());
    drop(fetches);
    session.logout().unwrap();
}
