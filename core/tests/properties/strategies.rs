//! Generators and helpers shared by the property tests.

use edgeauth_core::crypto::{DerivedKey, KeyPurpose, RootSecret};
use edgeauth_core::Entropy;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Number, Value};

/// A run of `default` cases, or of `PROPTEST_CASES` when it is set (for a deeper search).
pub fn cases(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        // Shrinking is for the failing case only; keep it bounded on a shared machine.
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// A deterministic CSPRNG stand-in (xorshift64) seeded by the test case.
pub struct Seeded(u64);

impl Seeded {
    pub fn new(seed: u64) -> Self {
        // Xorshift never leaves zero.
        Self(seed | 1)
    }
}

impl Entropy for Seeded {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0 >> 24) as u8;
        }
    }
}

/// Characters that tend to break parsers: separators of URLs, headers, JSON and tokens, every
/// kind of whitespace and control, bidirectional overrides, a lookalike and a non-BMP char.
pub const NASTY: &[char] = &[
    '/',
    '\\',
    ':',
    '@',
    '?',
    '#',
    '%',
    '.',
    '=',
    '&',
    '+',
    ';',
    ',',
    '*',
    '-',
    '_',
    '~',
    '[',
    ']',
    '"',
    '\'',
    '<',
    '>',
    '`',
    '{',
    '}',
    '|',
    '^',
    '!',
    '$',
    '(',
    ')',
    ' ',
    '\t',
    '\n',
    '\r',
    '\0',
    '\x0b',
    '\x0c',
    '\x7f',
    '\u{85}',
    '\u{a0}',
    '\u{2028}',
    '\u{202e}',
    '\u{200b}',
    '\u{feff}',
    '\u{3000}',
    'é',
    'ß',
    'İ',
    '\u{ff0e}',
    '\u{ff1a}',
    '\u{1f600}',
    'a',
    'Z',
    '0',
    '9',
];

/// Any string: arbitrary Unicode with a bias towards [`NASTY`] characters; usually short,
/// sometimes a few kilobytes (a short random run repeated, which is cheap to generate).
pub fn text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        3 => proptest::char::any(),
        2 => proptest::sample::select(NASTY),
        1 => proptest::char::range(' ', '~'),
    ];
    prop_oneof![
        12 => proptest::collection::vec(ch.clone(), 0..40).prop_map(String::from_iter),
        1 => (proptest::collection::vec(ch, 1..8), 100usize..5000)
            .prop_map(|(run, n)| run.into_iter().cycle().take(n).collect()),
    ]
}

/// Strings over `alphabet` only, of up to `max` characters: dense enough that a parser's
/// special cases (dots, slashes, escapes) meet each other often.
pub fn over(alphabet: &'static str, max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet.chars().collect();
    proptest::collection::vec(proptest::sample::select(chars), 0..=max).prop_map(String::from_iter)
}

/// `prefix` followed by [`text`], so that a parser gets past its first check.
pub fn after(prefix: &'static str) -> impl Strategy<Value = String> {
    text().prop_map(move |t| format!("{prefix}{t}"))
}

/// Any JSON value: scalars of every kind (huge and fractional numbers, nasty strings),
/// nested a few levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON object with each of `fields` usually set to a value of its plausible strategy,
/// sometimes absent or any JSON, and perhaps other members: what a client or provider might
/// send for a body with those fields.
pub fn object_with(
    fields: Vec<(&'static str, BoxedStrategy<Value>)>,
) -> impl Strategy<Value = Value> {
    let (names, members): (Vec<&'static str>, Vec<_>) = fields
        .into_iter()
        .map(|(name, plausible)| {
            let member = prop_oneof![
                1 => Just(None),
                1 => json().prop_map(Some),
                8 => plausible.prop_map(Some),
            ];
            (name, member)
        })
        .unzip();
    let extra = proptest::option::weighted(0.2, (text(), json()));
    (members, extra).prop_map(move |(values, extra)| {
        let mut object: Map<String, Value> = extra.into_iter().collect();
        for (name, value) in names.iter().zip(values) {
            if let Some(value) = value {
                object.insert((*name).to_owned(), value);
            }
        }
        Value::Object(object)
    })
}

/// The access-token key of a root secret.
pub fn access_key(secret: &str) -> edgeauth_core::signing::KeyRing {
    let root = RootSecret::new(secret)
        .expect("a test secret of 32 bytes or more")
        .derive(KeyPurpose::SigningKeys);
    edgeauth_core::signing::KeyRing::new(root, edgeauth_core::signing::DEFAULT_PERIOD_S)
}

/// A project's service-token key under a root secret.
pub fn service_key(secret: &str, project: &str) -> DerivedKey {
    RootSecret::new(secret)
        .expect("a test secret of 32 bytes or more")
        .derive(KeyPurpose::ServiceTokens { project })
}

/// The key that tags tokens of `kind` (user API and refresh tokens; a service token's is its
/// project's, [`service_key`]), or sessions' (`None`), under `secret`.
pub fn tag_key(secret: &str, purpose: KeyPurpose<'_>) -> DerivedKey {
    RootSecret::new(secret)
        .expect("a test secret of 32 bytes or more")
        .derive(purpose)
}

/// The test secret.
pub const SECRET: &str = "property-test-secret-0123456789abcdef";
/// Another deployment's secret.
pub const OTHER_SECRET: &str = "another-deployment-secret-0123456789";

/// Replaces the character at char index `at` (modulo the length) of `s` by `with`, or `None`
/// when that changes nothing.
pub fn replace_char(s: &str, at: usize, with: char) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let at = at % chars.len().max(1);
    if chars.get(at) == Some(&with) || chars.is_empty() {
        return None;
    }
    let mut out = chars;
    out[at] = with;
    Some(out.into_iter().collect())
}

/// The `application/x-www-form-urlencoded` pairs of a query, as a browser or a server's
/// query parser reads them (WHATWG URL).
pub fn form_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The values of query parameter `name` in a URL, decoded, in order.
pub fn query_values(url: &url::Url, name: &str) -> Vec<String> {
    url.query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}
