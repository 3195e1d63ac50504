//! The `Host` allow-list: the names a request may be addressed to.
//!
//! A page on any site can point its own DNS name at 127.0.0.1 (DNS rebinding) and then talk
//! to the local server as if it were its own origin. Its requests still say which name they
//! were sent to, in `Host`: only loopback names and addresses, the address the server
//! listens on, and the names the developer allows get in.

use std::net::IpAddr;

use http::header::HOST;
use http::request::Parts;
use http::HeaderMap;

/// The names and addresses requests may be addressed to.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllowedHosts {
    /// The listening address (`0.0.0.0` and `::` included: the server's own startup line
    /// names it, and an address cannot be rebound as a name can).
    bind: Option<IpAddr>,
    /// Extra names from the settings, lowercase; `.example.com` covers `example.com` and
    /// its subdomains.
    names: Vec<String>,
    /// `*` in the settings: any host.
    any: bool,
}

impl AllowedHosts {
    /// Loopback only, the listening address `bind`, and `allowed` (the setting's entries).
    pub(crate) fn new(bind: Option<IpAddr>, allowed: &[String]) -> Self {
        let mut hosts = AllowedHosts {
            bind,
            ..AllowedHosts::default()
        };
        for name in allowed {
            let name = normalize(name.trim());
            if name == "*" {
                hosts.any = true;
            } else if !name.is_empty() {
                hosts.names.push(name);
            }
        }
        hosts
    }

    /// Whether a request with this head may be served: its `Host` (and the authority of an
    /// absolute-form target) names an allowed host. A request without any (HTTP/1.0) has
    /// no name to rebind and is let through; one with an unreadable `Host` is not.
    pub(crate) fn admits(&self, parts: &Parts) -> Result<(), String> {
        if let Some(authority) = parts.uri.authority() {
            self.admits_authority(authority.as_str())?;
        }
        self.admits_headers(&parts.headers)
    }

    /// [`admits`](Self::admits) for a request's headers alone.
    pub(crate) fn admits_headers(&self, headers: &HeaderMap) -> Result<(), String> {
        let mut values = headers.get_all(HOST).iter();
        let Some(value) = values.next() else {
            return Ok(());
        };
        if values.next().is_some() {
            return Err("several".to_owned());
        }
        match value.to_str() {
            Ok(v) => self.admits_authority(v),
            Err(_) => Err(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        }
    }

    /// Whether `authority` (`host[:port]`) names an allowed host; `Err` carries the host.
    pub(crate) fn admits_authority(&self, authority: &str) -> Result<(), String> {
        match split_authority(authority) {
            Some((host, _)) if self.allows(host) => Ok(()),
            Some((host, _)) => Err(host.to_owned()),
            None => Err(authority.to_owned()),
        }
    }

    /// Whether the bare host name or address `host` is allowed.
    pub(crate) fn allows(&self, host: &str) -> bool {
        if self.any || is_loopback(host) {
            return true;
        }
        let host = normalize(host);
        if let (Some(bind), Ok(ip)) = (self.bind, host.parse::<IpAddr>()) {
            if ip == bind {
                return true;
            }
        }
        self.names.iter().any(|name| match name.strip_prefix('.') {
            Some(domain) => {
                host == domain
                    || host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.ends_with('.'))
            }
            None => *name == host,
        })
    }
}

/// `localhost`, `*.localhost`, an address of 127.0.0.0/8, or `::1` (bare or in brackets).
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let name = host.as_bytes();
    let ends_with_ci = |suffix: &[u8]| {
        name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    if name.eq_ignore_ascii_case(b"localhost") || (ends_with_ci(b".localhost") && name.len() > 10) {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// `host[:port]` → (`host`, `port`): `[::1]:7000` → (`::1`, `7000`). `None` when it is not
/// an authority a client sends: empty, a user part, a bad port, or characters no host
/// name or address has.
pub(crate) fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse::<u16>().ok()?),
        Some(_) => return None,
    };
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':');
    if host.is_empty() || !host.bytes().all(valid) {
        return None;
    }
    Some((host, port))
}

/// Lowercase, without a trailing dot or IPv6 brackets.
fn normalize(host: &str) -> String {
    let host = host.strip_suffix('.').unwrap_or(host);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(bind: &str, allowed: &[&str]) -> AllowedHosts {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        AllowedHosts::new(bind.parse().ok(), &allowed)
    }

    #[test]
    fn loopback_names_and_addresses_are_in() {
        let h = hosts("127.0.0.1", &[]);
        for ok in [
            "localhost",
            "LOCALHOST:7000",
            "localhost.:7000",
            "app.localhost",
            "a.b.localhost:1",
            "127.0.0.1",
            "127.0.0.1:7000",
            "127.8.9.10:80",
            "[::1]:7000",
            "[::1]",
            "[::ffff:127.0.0.1]:7000",
        ] {
            assert_eq!(h.admits_authority(ok), Ok(()), "{ok}");
        }
        for bad in [
            "evil.example:7000",
            "evil.example",
            "localhost.evil.example",
            "evillocalhost",
            ".localhost",
            "127.0.0.1.nip.io",
            "128.0.0.1",
            "0.0.0.0:7000",
            "[::2]:7000",
            "[::1]x",
            "localhost:70000",
            "localhost:7a",
            "user@localhost",
            "",
            ":7000",
        ] {
            assert!(h.admits_authority(bad).is_err(), "{bad}");
        }
        assert_eq!(
            h.admits_authority("Evil.Example:7000"),
            Err("Evil.Example".to_owned())
        );
    }

    #[test]
    fn the_bind_address_and_the_setting_add_names() {
        let h = hosts(
            "192.168.1.5",
            &["Phone.Lan", ".trycloudflare.com", "[fe80::1]"],
        );
        assert_eq!(h.admits_authority("192.168.1.5:7000"), Ok(()));
        assert_eq!(h.admits_authority("phone.lan:7000"), Ok(()));
        assert_eq!(h.admits_authority("abc.trycloudflare.com"), Ok(()));
        assert_eq!(h.admits_authority("trycloudflare.com"), Ok(()));
        assert_eq!(h.admits_authority("[fe80::1]:7000"), Ok(()));
        assert!(h.admits_authority("eviltrycloudflare.com").is_err());
        assert!(h.admits_authority("192.168.1.6:7000").is_err());
        // Listening on every address does not allow every address.
        let h = hosts("0.0.0.0", &[]);
        assert_eq!(h.admits_authority("0.0.0.0:7000"), Ok(()));
        assert!(h.admits_authority("10.0.0.1:7000").is_err());
        let h = hosts("127.0.0.1", &["*"]);
        assert_eq!(h.admits_authority("evil.example"), Ok(()));
    }

    #[test]
    fn headers_and_absolute_targets() {
        let h = hosts("127.0.0.1", &[]);
        let req = |uri: &str, host: Option<&str>| {
            let mut b = http::Request::get(uri);
            if let Some(host) = host {
                b = b.header(HOST, host);
            }
            b.body(()).unwrap().into_parts().0
        };
        assert_eq!(h.admits(&req("/", Some("127.0.0.1:7000"))), Ok(()));
        assert_eq!(h.admits(&req("/", None)), Ok(()));
        assert!(h.admits(&req("/", Some("evil.example"))).is_err());
        assert!(h
            .admits(&req("http://evil.example/", Some("127.0.0.1")))
            .is_err());
        let mut two = req("/", Some("localhost"));
        two.headers
            .append(HOST, http::HeaderValue::from_static("evil.example"));
        assert!(h.admits(&two).is_err());
        let mut opaque = req("/", None);
        opaque.headers.insert(
            HOST,
            http::HeaderValue::from_bytes(b"\xfflocalhost").unwrap(),
        );
        assert!(h.admits(&opaque).is_err());
    }
}
