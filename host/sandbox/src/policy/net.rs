//! Connect grants: name patterns admit names, IP patterns admit IP
//! literals, and the addresses a name resolves to are checked again at
//! connect time, so a granted name cannot lead to loopback, link-local,
//! unspecified addresses, this machine's own interface addresses (or, on
//! request, private) addresses.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::glob::Glob;

/// Longest host name, in bytes (RFC 1035).
pub const MAX_HOST_BYTES: usize = 253;

/// What a host pattern admits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Host names (never IP literals).
    Name,
    /// IPv4 literals, matched in dotted-quad form.
    V4,
    /// IPv6 literals, matched in their canonical (compressed) text form.
    V6,
}

/// `HOST:PORT` with `*` wildcards in the host and `*` for any port.
///
/// - A name pattern (`imap.example.org:993`, `*.example.org:993`, `*:993`)
///   admits host names only; `*` matches any run of characters, dots
///   included.
/// - An IPv4 pattern has four dot-separated parts of digits and `*`
///   (`127.0.0.1:*`, `192.168.1.*:143`) and admits IPv4 literals only.
/// - An IPv6 pattern is bracketed (`[::1]:143`, `[fd00::*]:993`) and
///   admits IPv6 literals only, compared in canonical form.
///
/// Host text made only of digits, dots and `*` that is not a four-part
/// IPv4 pattern (`10.*`) is refused as ambiguous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    kind: Kind,
    text: String,
    host: Glob,
    port: Option<u16>,
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("invalid host pattern {s:?}: {why}; expected HOST:PORT, e.g. imap.example.org:993, 127.0.0.1:* or [::1]:143")
        };
        let (host, port, bracketed) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(|| bad("no ]:PORT"))?;
            (h, p, true)
        } else {
            let (h, p) = s.rsplit_once(':').ok_or_else(|| bad("no :PORT"))?;
            (h, p, false)
        };
        let port = match port {
            "*" => None,
            p => Some(
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number 0-65535 or *"))?,
            ),
        };
        let host = host.to_ascii_lowercase();
        if host.is_empty() || host.len() > MAX_HOST_BYTES {
            return Err(bad("the host is empty or longer than 253 bytes"));
        }
        let (kind, text) = if bracketed {
            if !host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.' || c == '*')
            {
                return Err(bad("not an IPv6 pattern"));
            }
            if host.contains('*') {
                (Kind::V6, host)
            } else {
                let ip = host.parse::<Ipv6Addr>().map_err(|_| bad("not an IPv6 address"))?;
                (Kind::V6, ip.to_string())
            }
        } else if host.contains(':') {
            return Err(bad("IPv6 addresses go in brackets"));
        } else if host != "*" && host.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '*') {
            let parts: Vec<&str> = host.split('.').collect();
            let part_ok = |p: &&str| {
                !p.is_empty() && (p.contains('*') || (p.parse::<u8>().is_ok() && (p.len() == 1 || !p.starts_with('0'))))
            };
            if parts.len() != 4 || !parts.iter().all(part_ok) {
                return Err(bad("an IPv4 pattern has four parts of 0-255 or * (10.*.*.*)"));
            }
            (Kind::V4, host)
        } else {
            let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*');
            if !host.chars().all(ok) {
                return Err(bad("a host name has only letters, digits, '-', '_', '.' and '*'"));
            }
            (Kind::Name, host)
        };
        Ok(HostPattern {
            kind,
            host: Glob::new(&text),
            text,
            port,
        })
    }
}

impl HostPattern {
    /// The endpoint this pattern names exactly (no wildcard in the host, a
    /// fixed port), if it names one: IPv6 without brackets.
    pub fn exact(&self) -> Option<(&str, u16)> {
        let port = self.port?;
        (!self.text.contains('*')).then_some((self.text.as_str(), port))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::V6 => write!(f, "[{}]", self.text)?,
            _ => write!(f, "{}", self.text)?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => write!(f, ":*"),
        }
    }
}

/// A request's host, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// A host name, lowercased.
    Name(String),
    /// An IP literal.
    Ip(IpAddr),
}

impl Host {
    /// Classifies and validates the host a plugin asked for.
    pub(crate) fn parse(host: &str) -> Result<Self, String> {
        if host.len() > MAX_HOST_BYTES {
            return Err(format!(
                "a host of {} bytes is longer than the limit of {MAX_HOST_BYTES}",
                host.len()
            ));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        let name = host.to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !name.split('.').all(label_ok) {
            return Err(format!("{host:?} is not a valid host name"));
        }
        // getaddrinfo reads `127.1`, `2130706433` and `0x7f.1` as IPv4
        // addresses: such a "name" would dodge the IP patterns.
        let last = name.rsplit('.').next().unwrap_or_default();
        let numeric = last.chars().all(|c| c.is_ascii_digit())
            || (last.starts_with("0x") && last[2..].chars().all(|c| c.is_ascii_hexdigit()));
        if numeric {
            return Err(format!(
                "{host:?} is an IPv4 address in a non-standard form; write it as four decimal parts"
            ));
        }
        Ok(Host::Name(name))
    }

    /// How a grant for this host is written.
    pub(crate) fn grant(&self, port: u16) -> String {
        match self {
            Host::Name(n) => format!("{n}:{port}"),
            Host::Ip(IpAddr::V4(a)) => format!("{a}:{port}"),
            Host::Ip(IpAddr::V6(a)) => format!("[{a}]:{port}"),
        }
    }
}

impl HostPattern {
    fn port_ok(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }

    /// Whether this pattern admits `host` on `port`.
    pub(crate) fn matches(&self, host: &Host, port: u16) -> bool {
        self.port_ok(port)
            && match (host, &self.kind) {
                (Host::Name(n), Kind::Name) => self.host.matches(n),
                (Host::Ip(IpAddr::V4(a)), Kind::V4) => self.host.matches(&a.to_string()),
                (Host::Ip(IpAddr::V6(a)), Kind::V6) => self.host.matches(&a.to_string()),
                _ => false,
            }
    }

    /// Whether this is an IP pattern admitting the address `ip` on `port`
    /// (an IPv4-mapped IPv6 address counts as its IPv4 address too).
    pub(crate) fn admits_address(&self, ip: IpAddr, port: u16) -> bool {
        let mapped = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        [Some(ip), mapped]
            .into_iter()
            .flatten()
            .any(|ip| self.matches(&Host::Ip(ip), port))
    }

    /// Whether this is the name `localhost` itself, no wildcard.
    pub(crate) fn is_localhost(&self, port: u16) -> bool {
        self.kind == Kind::Name && self.port_ok(port) && self.text == "localhost"
    }
}

/// Why `ip` is refused unless granted by address, if it is: loopback,
/// link-local, unspecified and this machine's own interface addresses
/// always (a service bound to 0.0.0.0 answers on each of them as on
/// 127.0.0.1); private ranges when `private`. IPv6 addresses embedding an
/// IPv4 one (mapped, compatible, NAT64) are judged by it.
pub(crate) fn special(ip: IpAddr, private: bool) -> Option<&'static str> {
    special_range(ip, private).or_else(|| own_address(ip).then_some("an address of this machine"))
}

/// How long the list of this machine's addresses is used before it is
/// read again (interfaces come and go: DHCP, VPNs, containers).
const OWN_ADDRESSES_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `ip` (or the IPv4 address it embeds) is an address of one of
/// this machine's interfaces.
fn own_address(ip: IpAddr) -> bool {
    use std::sync::{Mutex, PoisonError};
    use std::time::Instant;
    static CACHE: Mutex<Option<(Instant, Vec<IpAddr>)>> = Mutex::new(None);
    let ip = match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.as_ref().is_none_or(|(at, _)| at.elapsed() > OWN_ADDRESSES_TTL) {
        *cache = Some((Instant::now(), interface_addresses()));
    }
    cache.as_ref().is_some_and(|(_, addrs)| addrs.contains(&ip))
}

/// The addresses of this machine's interfaces (`getifaddrs`); empty if
/// they cannot be read.
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list it allocates, or
    // fails and leaves it untouched; it is freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&raw mut list) } != 0 {
        return Vec::new();
    }
    let mut addrs = Vec::new();
    let mut next = list;
    while !next.is_null() {
        // SAFETY: `next` is a node of the list getifaddrs returned, alive
        // until freeifaddrs; ifa_addr is null or points to a sockaddr of
        // the family it names (sockaddr_in / sockaddr_in6).
        unsafe {
            let ifa = &*next;
            if !ifa.ifa_addr.is_null() {
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                        addrs.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*ifa.ifa_addr.cast::<libc::sockaddr_in6>();
                        addrs.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            next = ifa.ifa_next;
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    addrs
}

/// [`special`]'s ranges, whatever machine this is.
fn special_range(ip: IpAddr, private: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => special_v4(a, private),
        IpAddr::V6(a) => {
            if a.is_unspecified() {
                return Some("an unspecified address");
            }
            if a.is_loopback() {
                return Some("a loopback address");
            }
            let s = a.segments();
            let embedded = a.to_ipv4_mapped().or_else(|| {
                (s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| {
                    let [.., a, b, c, d] = a.octets();
                    Ipv4Addr::new(a, b, c, d)
                })
            });
            if let Some(v4) = embedded {
                return special_v4(v4, private);
            }
            if s[0] & 0xffc0 == 0xfe80 {
                return Some("a link-local address");
            }
            if private && (s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0) {
                return Some("a private address");
            }
            None
        }
    }
}

fn special_v4(a: Ipv4Addr, private: bool) -> Option<&'static str> {
    let [first, second, ..] = a.octets();
    if a.is_loopback() {
        Some("a loopback address")
    } else if first == 0 {
        Some("an unspecified address")
    } else if a.is_link_local() {
        Some("a link-local address")
    } else if private && (a.is_private() || (first == 100 && second & 0xc0 == 64)) {
        Some("a private address")
    } else {
        None
    }
}

/// One exact endpoint, `HOST:PORT` (no wildcards), as a plugin names it
/// when it connects: what a secret is bound to and what an exact grant
/// allows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// Host name (lower case) or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Endpoint {
    /// An endpoint; the host is compared without regard to case.
    pub fn new(host: &str, port: u16) -> Self {
        Endpoint {
            host: host.to_ascii_lowercase(),
            port,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;

    /// A grant's syntax (`host:port`, `[v6]:port`), with no wildcard.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid endpoint {s:?}: expected HOST:PORT without wildcards, e.g. imap.example.org:993");
        let pattern: HostPattern = s.parse().map_err(|_| bad())?;
        let (host, port) = pattern.exact().ok_or_else(bad)?;
        Ok(Endpoint::new(host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn pattern_kinds() {
        let p = |s: &str| s.parse::<HostPattern>().unwrap();
        assert_eq!(p("IMAP.Example.org:993").kind, Kind::Name);
        assert_eq!(p("*:993").kind, Kind::Name);
        assert_eq!(p("127.0.0.*:*").kind, Kind::V4);
        assert_eq!(p("*.*.*.*:143").kind, Kind::V4);
        assert_eq!(p("[::1]:143").kind, Kind::V6);
        assert_eq!(p("[0:0::1]:143").text, "::1");
        assert_eq!(p("[FD00::*]:143").text, "fd00::*");
        assert_eq!(p("[::1]:143").to_string(), "[::1]:143");
        assert_eq!(p("a.b:*").to_string(), "a.b:*");
        for bad in [
            "nohost",
            "h:99999",
            ":143",
            "10.*:143",
            "*.*:143",
            "1.2.3:143",
            "1.2.3.256:143",
            "01.2.3.4:143",
            "::1:143",
            "[::g]:143",
            "[::1]143",
            "a b:143",
            "a/b:143",
            "a;b:143",
        ] {
            assert!(bad.parse::<HostPattern>().is_err(), "{bad}");
        }
        assert!(format!("{}.x:1", "a".repeat(260)).parse::<HostPattern>().is_err());
    }

    #[test]
    fn request_hosts() {
        assert_eq!(
            Host::parse("IMAP.example.org"),
            Ok(Host::Name("imap.example.org".into()))
        );
        assert_eq!(Host::parse("127.0.0.1"), Ok(Host::Ip(ip("127.0.0.1"))));
        assert_eq!(Host::parse("::ffff:127.0.0.1"), Ok(Host::Ip(ip("::ffff:127.0.0.1"))));
        for bad in [
            "",
            "a..b",
            "a.",
            ".a",
            "a b",
            "a%eth0",
            "fe80::1%lo",
            "a/b",
            "127.1",
            "2130706433",
            "1.0x7f",
            "a\0",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Host::parse("127.0.0.1.attacker.example").is_ok());
        let long = format!("{}.example", "a.".repeat(200));
        assert!(Host::parse(&long).unwrap_err().contains("longer than the limit of 253"));
        let dots = ".".repeat(100_000);
        assert!(Host::parse(&dots).is_err());
    }

    #[test]
    fn names_and_ip_literals_never_cross() {
        let v4: HostPattern = "127.0.0.*:143".parse().unwrap();
        let name: HostPattern = "*:143".parse().unwrap();
        let v6: HostPattern = "[::1]:143".parse().unwrap();
        let h = |s: &str| Host::parse(s).unwrap();
        assert!(v4.matches(&h("127.0.0.1"), 143));
        assert!(!v4.matches(&h("127.0.0.1"), 993));
        assert!(!v4.matches(&h("127.0.0.1.attacker.example"), 143));
        assert!(!name.matches(&h("127.0.0.1"), 143));
        assert!(!name.matches(&h("::1"), 143));
        assert!(name.matches(&h("localhost"), 143));
        assert!(v6.matches(&h("0:0:0:0:0:0:0:1"), 143));
        assert!(!v6.matches(&h("127.0.0.1"), 143));
        assert!(
            !v4.matches(&h("::ffff:127.0.0.1"), 143),
            "a literal matches its own family only"
        );
        assert!(
            v4.admits_address(ip("::ffff:127.0.0.1"), 143),
            "the same endpoint as an address"
        );
        assert!("localhost:*".parse::<HostPattern>().unwrap().is_localhost(1));
        assert!(!"localhost*:*".parse::<HostPattern>().unwrap().is_localhost(1));
        assert!(!"localhost:2".parse::<HostPattern>().unwrap().is_localhost(1));
    }

    #[test]
    fn special_addresses() {
        for (a, why) in [
            ("127.0.0.1", "a loopback address"),
            ("127.255.0.9", "a loopback address"),
            ("0.0.0.0", "an unspecified address"),
            ("0.1.2.3", "an unspecified address"),
            ("169.254.169.254", "a link-local address"),
            ("::1", "a loopback address"),
            ("::", "an unspecified address"),
            ("fe80::1", "a link-local address"),
            ("febf::1", "a link-local address"),
            ("::ffff:127.0.0.1", "a loopback address"),
            ("::ffff:169.254.1.1", "a link-local address"),
            ("::ffff:0.0.0.0", "an unspecified address"),
            ("::127.0.0.1", "a loopback address"),
            ("64:ff9b::7f00:1", "a loopback address"),
        ] {
            assert_eq!(special_range(ip(a), false), Some(why), "{a}");
        }
        for a in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "fc00::1",
            "fd12::1",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(special_range(ip(a), false), None, "{a}");
            assert_eq!(special_range(ip(a), true), Some("a private address"), "{a}");
        }
        for a in [
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "11.0.0.1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(special_range(ip(a), true), None, "{a}");
        }
    }

    /// The machine's own addresses as `hostname -I` lists them (not
    /// through getifaddrs, the code under test).
    fn addresses_from_hostname() -> Vec<IpAddr> {
        let out = std::process::Command::new("hostname").arg("-I").output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|a| a.parse().unwrap())
            .collect()
    }

    #[test]
    fn this_machines_own_addresses_are_special() {
        let own = addresses_from_hostname();
        assert!(!own.is_empty(), "hostname -I lists this machine's addresses");
        for a in own {
            assert!(interface_addresses().contains(&a), "{a}");
            assert_eq!(special(a, false), Some("an address of this machine"), "{a}");
            if let IpAddr::V4(v4) = a {
                let mapped = IpAddr::V6(v4.to_ipv6_mapped());
                assert_eq!(special(mapped, false), Some("an address of this machine"), "{mapped}");
            }
        }
        // Other addresses of the same kinds are not.
        assert_eq!(special(ip("192.0.2.200"), false), None);
        assert_eq!(special(ip("2001:db8::77"), false), None);
    }
}
