//! `config`: any settings are read without a panic, a problem never repeats a secret, and the
//! loopback rule that `AUTH_DISABLED` and plain-http URLs depend on means what browsers mean.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use edgeauth_core::config::is_loopback_host;
use edgeauth_core::Config;
use proptest::prelude::*;
use url::{Host, Url};

use crate::strategies::{cases, over, text};

/// Marks secret values, so that any echo of one is caught.
const MARK: char = '\u{2603}';
const SECRETS: [&str; 3] = ["SECRET", "SUPER_TOKEN", "OIDC_CLIENT_SECRET"];
const SETTINGS: [&str; 15] = [
    "AUTH_DISABLED",
    "PUBLIC_READS",
    "SUPER_TOKEN",
    "SUPER_TOKEN_HASH",
    "SECRET",
    "DEFAULT_PROJECT",
    "PUBLIC_URL",
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_SCOPES",
    "OIDC_TEAMS_CLAIM",
    "ALLOWED_TEAMS",
    "ACCESS_TOKEN_TTL_SECONDS",
    "REFRESH_FAMILY_MAX_AGE_SECONDS",
];

fn plausible(setting: &'static str) -> BoxedStrategy<String> {
    match setting {
        "AUTH_DISABLED" | "PUBLIC_READS" => {
            proptest::sample::select(vec!["true", "FALSE", " yes ", "0", "maybe", ""])
                .prop_map(str::to_owned)
                .boxed()
        }
        "SUPER_TOKEN_HASH" => prop_oneof!["[0-9a-fA-F]{64}", "[0-9a-g]{60,66}"].boxed(),
        "DEFAULT_PROJECT" => prop_oneof!["[a-z0-9-]{1,70}", "[A-Za-z _]{1,5}"].boxed(),
        "PUBLIC_URL" | "OIDC_ISSUER" => url_like().boxed(),
        "OIDC_SCOPES" => {
            proptest::sample::select(vec!["openid email", "email", "openid", " openid\tprofile "])
                .prop_map(str::to_owned)
                .boxed()
        }
        "ACCESS_TOKEN_TTL_SECONDS" | "REFRESH_FAMILY_MAX_AGE_SECONDS" => prop_oneof![
            (0u64..40_000_000).prop_map(|n| n.to_string()),
            Just("+900".to_owned()),
            Just(" 60 ".to_owned()),
            Just("-1".to_owned()),
            Just("1e3".to_owned()),
        ]
        .boxed(),
        _ => "[ -~]{0,40}".boxed(),
    }
}

/// A value for `setting`: a secret (marked), plausible, or anything (unmarked).
fn value(setting: &'static str) -> BoxedStrategy<Option<String>> {
    if SECRETS.contains(&setting) {
        prop_oneof![
            1 => Just(None),
            4 => prop_oneof!["[!-~]{0,50}", text()].prop_map(|s| Some(format!("{MARK}{s}"))),
        ]
        .boxed()
    } else {
        prop_oneof![
            2 => Just(None),
            4 => plausible(setting).prop_map(Some),
            1 => text().prop_map(|t| Some(t.replace(MARK, ""))),
        ]
        .boxed()
    }
}

/// A value that `setting` accepts (secrets marked).
fn valid(setting: &'static str) -> BoxedStrategy<String> {
    let marked = |s: String| format!("{MARK}{s}");
    match setting {
        "AUTH_DISABLED" | "PUBLIC_READS" => {
            proptest::sample::select(vec!["true", "FALSE", " yes ", "0", "on", "off"])
                .prop_map(str::to_owned)
                .boxed()
        }
        "SUPER_TOKEN" => "[!-~]{16,40}".prop_map(marked).boxed(),
        "SUPER_TOKEN_HASH" => "[0-9a-fA-F]{64}".boxed(),
        "SECRET" => "[!-~]{32,50}".prop_map(marked).boxed(),
        "OIDC_CLIENT_SECRET" => "[!-~]{1,40}".prop_map(marked).boxed(),
        "DEFAULT_PROJECT" => "[a-z0-9][a-z0-9-]{0,20}".boxed(),
        "PUBLIC_URL" => proptest::sample::select(vec![
            "https://auth.example.test",
            "https://auth.example.test:8443/",
            "http://127.0.0.1:8787",
            "http://[::1]:8787",
            "http://localhost:8787",
        ])
        .prop_map(str::to_owned)
        .boxed(),
        "OIDC_ISSUER" => proptest::sample::select(vec![
            "https://idp.example.test",
            "https://idp.example.test/tenant/v2.0/",
            "http://127.0.0.1:8788",
        ])
        .prop_map(str::to_owned)
        .boxed(),
        "OIDC_SCOPES" => proptest::sample::select(vec!["openid email profile", " openid\tgroups "])
            .prop_map(str::to_owned)
            .boxed(),
        "ACCESS_TOKEN_TTL_SECONDS" => (1u32..=900).prop_map(|n| n.to_string()).boxed(),
        "REFRESH_FAMILY_MAX_AGE_SECONDS" => (1u32..=31_536_000).prop_map(|n| n.to_string()).boxed(),
        "ALLOWED_TEAMS" => "[a-z, ]{0,20}".boxed(),
        _ => "[a-z0-9_-]{1,20}".boxed(),
    }
}

/// Settings that are mostly valid, with up to three replaced by anything: every problem, and
/// combinations of them, with secrets among the values.
fn settings() -> impl Strategy<Value = HashMap<&'static str, String>> {
    let base = SETTINGS
        .iter()
        .map(|s| proptest::option::weighted(0.5, valid(s)))
        .collect::<Vec<_>>();
    let changes = proptest::collection::vec(
        (0..SETTINGS.len()).prop_flat_map(|i| (Just(i), value(SETTINGS[i]))),
        0..3,
    );
    (base, changes).prop_map(|(base, changes)| {
        let mut settings: HashMap<&'static str, String> = SETTINGS
            .iter()
            .zip(base)
            .filter_map(|(k, v)| v.map(|v| (*k, v)))
            .collect();
        // A consistent base: one super token setting, an issuer with its client.
        if settings.contains_key("SUPER_TOKEN") {
            settings.remove("SUPER_TOKEN_HASH");
        }
        if settings.contains_key("OIDC_ISSUER") {
            settings
                .entry("OIDC_CLIENT_ID")
                .or_insert_with(|| "edgeauth".to_owned());
            settings
                .entry("OIDC_CLIENT_SECRET")
                .or_insert_with(|| format!("{MARK}client-secret"));
        }
        for (i, value) in changes {
            match value {
                Some(v) => settings.insert(SETTINGS[i], v),
                None => settings.remove(SETTINGS[i]),
            };
        }
        settings
    })
}

/// Hosts that are loopback, look like loopback, or are names that merely start like it.
fn host_like() -> impl Strategy<Value = String> {
    let octet = prop_oneof![
        4 => (0u32..=255).prop_map(|n| n.to_string()),
        1 => (0u32..1000).prop_map(|n| n.to_string()),
        1 => proptest::sample::select(vec!["+1", "01", "0x7f", "", " 1", "1 ", "-0", "0377", "1e0"])
            .prop_map(str::to_owned),
    ];
    prop_oneof![
        4 => (
            proptest::sample::select(vec!["127", "127", "0127", "+127", "128"]),
            proptest::collection::vec(octet, 1..5),
        )
            .prop_map(|(first, rest)| format!("{first}.{}", rest.join("."))),
        2 => proptest::sample::select(vec![
            "localhost", "LocalHost", "localhost.", "localhost.evil.test", "[::1]", "::1",
            "[[::1]]", "[::1", "::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]",
            "[127.0.0.1]", "[localhost]", "127.0.0.1.evil.test", "0.0.0.0", "2130706433",
            "127.1",
        ]).prop_map(str::to_owned),
        1 => over("127.0+1:[]x", 12),
        1 => text(),
    ]
}

fn url_like() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(vec!["https://", "http://", "ftp://", "", "https:"]),
        prop_oneof![
            host_like(),
            proptest::sample::select(vec!["auth.example.test", "[::1]x", "[::1]:", "a:b"])
                .prop_map(str::to_owned),
        ],
        prop_oneof![
            Just(String::new()),
            (0u32..70_000).prop_map(|p| format!(":{p}")),
            proptest::sample::select(vec![":+443", ": 80", ":", ":0x50"]).prop_map(str::to_owned),
        ],
        proptest::sample::select(vec!["", "/", "/path", "?q", "#f", "/a/"]),
    )
        .prop_map(|(s, h, p, r)| format!("{s}{h}{p}{r}"))
}

/// What a WHATWG URL parser (browsers; the Worker's `url` crate) makes of `host` in an http
/// URL: `Some(true)` when it is a loopback address or `localhost`, `None` when it is no host.
fn oracle_is_loopback(host: &str) -> Option<bool> {
    // A bare IPv6 address (`::1`) is bracketed in a URL.
    let bracketed = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let url = Url::parse(&format!("http://{bracketed}/")).ok()?;
    // A host with a port or path inside it is not a host at all.
    if url.port().is_some() || url.path() != "/" || !url.username().is_empty() {
        return None;
    }
    Some(match url.host()? {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip == Ipv6Addr::LOCALHOST,
        Host::Domain(d) => d == "localhost",
    })
}

fn read(
    settings: &HashMap<&'static str, String>,
) -> Result<Config, Vec<edgeauth_core::ConfigProblem>> {
    Config::from_lookup(|name| settings.get(name).cloned())
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn any_settings_are_read_and_no_problem_or_debug_repeats_a_secret(settings in settings()) {
        match read(&settings) {
            Ok(config) => {
                let debug = format!("{config:?}");
                prop_assert!(!debug.contains(MARK), "{}", debug);
                prop_assert!((1..=900).contains(&config.access_token_ttl_s));
                if let Some(url) = &config.public_url {
                    prop_assert!(url.starts_with("https://") || url.starts_with("http://"));
                    prop_assert!(!url.ends_with('/'));
                }
            }
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for p in &problems {
                    prop_assert!(SETTINGS.contains(&p.setting));
                    prop_assert!(!p.message.is_empty());
                    prop_assert!(!p.message.contains(MARK), "{}", p);
                    prop_assert!(!p.to_string().contains(MARK), "{}", p);
                }
                // The same settings give the same problems.
                prop_assert_eq!(read(&settings).unwrap_err(), problems);
            }
        }
    }

    #[test]
    fn a_loopback_host_is_one_a_browser_also_calls_loopback(host in host_like()) {
        if is_loopback_host(&host) {
            prop_assert_eq!(oracle_is_loopback(&host), Some(true), "{:?} is called loopback", host);
        }
    }

    #[test]
    fn an_accepted_public_url_is_an_origin_a_browser_reads_alike(url in url_like()) {
        let settings = HashMap::from([("PUBLIC_URL", url.clone())]);
        let Ok(config) = read(&settings) else { return Ok(()) };
        // An empty setting counts as unset.
        let Some(public) = config.public_url else {
            prop_assert!(url.is_empty());
            return Ok(());
        };
        // Host names are not validated here (DNS or the browser will refuse a bad one), but
        // everything around the host is: a URL parser may refuse the host, never the rest.
        let parsed = match Url::parse(&public) {
            Ok(parsed) => parsed,
            Err(
                url::ParseError::IdnaError
                | url::ParseError::InvalidIpv4Address
                | url::ParseError::InvalidIpv6Address
                | url::ParseError::InvalidDomainCharacter
                | url::ParseError::EmptyHost,
            ) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{public}: {e}"))),
        };
        prop_assert!(parsed.username().is_empty() && parsed.password().is_none());
        prop_assert_eq!(parsed.path(), "/");
        prop_assert_eq!(parsed.query(), None);
        prop_assert_eq!(parsed.fragment(), None);
        match parsed.scheme() {
            "https" => {}
            "http" => prop_assert!(
                parsed.host_str().is_some_and(|h| oracle_is_loopback(h) == Some(true)),
                "{} is plain http off loopback", public
            ),
            other => prop_assert!(false, "scheme {}", other),
        }
    }
}
