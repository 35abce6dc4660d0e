//! Who a rate limit counts: the client's address, as the edge reports it.

use std::net::IpAddr;

/// The client's address (`CF-Connecting-IP`) as a limiter counts it: an IPv4 address on its
/// own (an IPv4-mapped IPv6 one too), an IPv6 address by its /64 (one subscriber usually holds
/// a whole /64, so counting single IPv6 addresses would brake nobody), and anything else (no
/// address, which Cloudflare always sets, or not an address) as one shared `unknown`.
pub fn client_key(address: Option<&str>) -> String {
    match address.and_then(|a| a.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_an_ipv4_address_or_an_ipv6_slash_64() {
        assert_eq!(client_key(Some("203.0.113.9")), "ip:203.0.113.9");
        assert_eq!(client_key(Some(" 203.0.113.9 ")), "ip:203.0.113.9");
        assert_eq!(client_key(Some("::ffff:203.0.113.9")), "ip:203.0.113.9");
        // Every address of one /64 is one client; the next /64 is another.
        let a = client_key(Some("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, "ip6:2001:db8:1:2::/64");
        assert_eq!(client_key(Some("2001:db8:1:2:ffff:ffff:ffff:ffff")), a);
        assert_ne!(client_key(Some("2001:db8:1:3::1")), a);
        // No address, or not an address: one shared key.
        for other in [
            None,
            Some(""),
            Some("localhost"),
            Some("203.0.113.9, 10.0.0.1"),
        ] {
            assert_eq!(client_key(other), "unknown", "{other:?}");
        }
    }
}
