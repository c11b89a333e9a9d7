//! FETCH 1:* (or `NOOPn`: n NOOPs) with async-imap (tokio): `e2e-async-imap PORT USER PASSWORD ITEMS`.
use futures::StreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", a[1].parse::<u16>().unwrap()))
        .await
        .unwrap();
    let client = async_imap::Client::new(tcp);
    let mut session = client.login(&a[2], &a[3]).await.map_err(|e| e.0).unwrap();
    if let Some(n) = a[4].strip_prefix("NOOP") {
        for _ in 0..n.parse::<usize>().unwrap() {
            session.noop().await.unwrap();
        }
        session.logout().await.unwrap();
        return;
    }
    session.examine("INBOX").await.unwrap();
    let mut bytes = 0usize;
    let mut count = 0usize;
    {
        let mut stream = session.fetch("1:*", &a[4]).await.unwrap();
        while let Some(f) = stream.next().await {
            let f = f.unwrap();
            bytes += f.body().map_or(0, <[u8]>::len);
            count += 1;
        }
    }
    session.logout().await.unwrap();
    println!("{count} messages, {bytes} bytes");
}
