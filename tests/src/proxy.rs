//! A TCP proxy on 127.0.0.1 that a test can cut: every connection through
//! it is shut at once (what a network drop or a NAT timeout does to a
//! client), or stalled (bytes vanish both ways and nothing is closed:
//! what a peer that went away without a word, or a black-holing
//! firewall, does), and its target can move (a server restarted on other
//! ports).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The proxy; it stops accepting when dropped.
pub struct Proxy {
    port: u16,
    target: Arc<AtomicU16>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// One switch per connection: set, its bytes are dropped.
    stalls: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    /// Connections forwarded so far.
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to
    /// `127.0.0.1:target`.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            target: Arc::new(AtomicU16::new(target)),
            open: Arc::default(),
            stalls: Arc::default(),
            accepted: Arc::default(),
            stop: Arc::default(),
        };
        let (target, open, stalls, accepted, stop) = (
            proxy.target.clone(),
            proxy.open.clone(),
            proxy.stalls.clone(),
            proxy.accepted.clone(),
            proxy.stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(("127.0.0.1", target.load(Ordering::SeqCst))) else {
                    // The server is down: the client sees its connection closed.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let mut list = open.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                drop(list);
                let stalled = Arc::new(AtomicBool::new(false));
                stalls.lock().unwrap().push(stalled.clone());
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    stalled.clone(),
                );
                pump(server, client, stalled);
            }
        });
        proxy
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections it has forwarded.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Forwards new connections to `port` from now on.
    pub fn retarget(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }

    /// Stalls every connection open through the proxy now: from here on
    /// their bytes are read and dropped, both ways, and nothing is closed.
    /// Later connections pass as before. The number stalled.
    pub fn stall(&self) -> usize {
        let mut list = self.stalls.lock().unwrap();
        for s in list.iter() {
            s.store(true, Ordering::SeqCst);
        }
        let n = list.len();
        list.clear();
        n
    }

    /// Shuts every connection open through the proxy, both ways.
    pub fn cut(&self) -> usize {
        let mut list = self.open.lock().unwrap();
        for s in list.iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let n = list.len() / 2;
        list.clear();
        n
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
    }
}

/// Copies `from` to `to` until either side ends; once `stalled`, drops
/// what it reads.
fn pump(mut from: TcpStream, mut to: TcpStream, stalled: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) if stalled.load(Ordering::SeqCst) => {}
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
