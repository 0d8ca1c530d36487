//! Where webhooks may go. A vendor names the URL and this server makes the
//! request from inside its own network, so an unchecked URL would let a
//! vendor reach loopback services, the cloud metadata endpoint
//! (169.254.169.254) or private hosts (server-side request forgery).
//!
//! Unless private targets are allowed (`WEBHOOK_PRIVATE_TARGETS=true`, for
//! development against a local receiver): registration refuses an address
//! that is not public and `localhost` names; delivery refuses the same, and
//! resolves host names through `PublicOnly`, which drops every address that
//! is not public. The check happens as the connection is made, so a name
//! whose DNS answer changes after registration (rebinding) is caught too.
//! Redirects are never followed (`outbound::Channels`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a webhook URL is refused, if it is.
pub fn refusal(url: &Url) -> Option<&'static str> {
    // The URL parser has normalized the host: IPv6 in brackets, and IPv4
    // written as one number or in hex already as dotted decimal.
    let host = url.host_str()?;
    let private = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) => !is_public(ip),
        Err(_) => is_localhost(host),
    };
    private.then_some(PRIVATE_ADDRESS)
}

const PRIVATE_ADDRESS: &str = "webhooks may not target loopback, private, link-local or other non-public addresses";

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether an address is reachable on the public internet: not loopback,
/// private (RFC 1918, IPv6 unique local), link-local, carrier-grade NAT,
/// unspecified, broadcast, multicast or documentation space. An IPv4 address
/// mapped into IPv6 is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => {
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || v6.is_unique_local()
                    || v6.is_unicast_link_local())
            }
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || shared
        || a == 0)
}

/// A resolver that answers only with public addresses.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address: {PRIVATE_ADDRESS}").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private} passed");
        }
        for public in ["93.184.216.34", "8.8.8.8", "100.128.0.1", "2606:4700::1111", "::ffff:93.184.216.34"] {
            assert!(is_public(public.parse().unwrap()), "{public} refused");
        }
    }

    #[test]
    fn urls_naming_a_private_host_are_refused() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "http://localhost:3000/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://[::ffff:192.168.0.1]/",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            assert!(refusal(&Url::parse(url).unwrap()).is_some(), "{url} passed");
        }
        for url in ["https://hooks.example.com/in", "http://93.184.216.34/x", "https://localhost.example.com/"] {
            assert_eq!(refusal(&Url::parse(url).unwrap()), None, "{url} refused");
        }
    }
}
