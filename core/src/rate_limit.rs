//! The brakes on the endpoints people and robots hammer, and who they count: the client's
//! address, as the edge reports it.
//!
//! A brake is a Rate Limiting binding (`[[ratelimits]]` in wrangler.toml, where the operator
//! sets its limit): counted by each Cloudflare location on its own, never in isolate memory,
//! and a brake only. What must hold exactly is counted in D1 (code guessing, pending device
//! grants, a device's poll interval) or spent once (a CLI code, a refresh token, a CI job's ID
//! token), so a credential sent in a body needs no brake of its own.

use std::net::IpAddr;

/// One brake: its binding and period (the limit is the binding's, in wrangler.toml), what it
/// counts for a person, and whether its endpoints answer OAuth error bodies (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Brake {
    pub binding: &'static str,
    /// The binding's `period`: a braked client may ask again within this many seconds.
    pub period_s: u64,
    /// What was asked too often, for the 429's message: "sign-in requests".
    pub asked: &'static str,
    pub oauth: bool,
}

/// The browser's sign-in steps: `GET /api/auth/login`, `/api/auth/callback`, and
/// `GET`/`POST /api/auth/cli-start` (approving a CLI login).
pub const SIGN_IN: Brake = Brake {
    binding: "SIGN_IN_LIMITER",
    period_s: 60,
    asked: "sign-in requests",
    oauth: false,
};
/// `POST /api/auth/cli-exchange`.
pub const CLI_EXCHANGE: Brake = Brake {
    binding: "CLI_EXCHANGE_LIMITER",
    period_s: 60,
    asked: "CLI login exchanges",
    oauth: true,
};
/// `POST /api/auth/device/code`.
pub const DEVICE_CODE: Brake = Brake {
    binding: "DEVICE_CODE_LIMITER",
    period_s: 60,
    asked: "device codes",
    oauth: true,
};
/// `POST /api/auth/token` (device polling, refreshes, CI exchanges) and `/api/auth/revoke`.
pub const TOKEN: Brake = Brake {
    binding: "TOKEN_LIMITER",
    period_s: 60,
    asked: "token requests",
    oauth: true,
};
/// `POST /api/credentials/revoke`.
pub const LEAK_REPORT: Brake = Brake {
    binding: "LEAK_REPORT_LIMITER",
    period_s: 60,
    asked: "leak reports",
    oauth: false,
};

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
