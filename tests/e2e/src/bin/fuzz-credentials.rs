//! Prints, as shell assignments, a credential of every kind on one instance of the fleet that
//! `scripts/test` started, for `scripts/fuzz` (schemathesis cannot sign in through a browser):
//!
//!     fuzz-credentials MAIN default > creds.sh    # instance name, project
//!
//! `FUZZ_SUPER`, `FUZZ_SERVICE` (covering `fuzz/*` and `staging` only), `FUZZ_USER`,
//! `FUZZ_ACCESS` (a device login's access token), `FUZZ_REFRESH`, `FUZZ_SESSION` (the
//! `edgeauth_session` cookie) and `FUZZ_CSRF` (that session's CSRF token). They are secrets:
//! write them to a file only you can read.

use edgeauth_e2e::credentials::every_kind;
use edgeauth_e2e::Instance;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(project), None) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: fuzz-credentials INSTANCE PROJECT   (e.g. MAIN default)");
        std::process::exit(2);
    };
    let instance = Instance::from_env(Box::leak(name.to_ascii_uppercase().into_boxed_str()));
    let kinds = every_kind(&instance, &project, &["fuzz/*", "staging"]);
    for (variable, value) in [
        ("FUZZ_SUPER", &kinds.super_token),
        ("FUZZ_SERVICE", &kinds.service.token),
        ("FUZZ_USER", &kinds.user.token),
        ("FUZZ_ACCESS", &kinds.device.access_token),
        ("FUZZ_REFRESH", &kinds.device.refresh_token),
        ("FUZZ_SESSION", &kinds.session.cookie),
        ("FUZZ_CSRF", &kinds.session.csrf_token),
    ] {
        // Tokens are base62, `_`, `-` and `.`: nothing a shell would expand in single quotes.
        assert!(!value.contains('\''), "{variable} has a quote");
        println!("{variable}='{value}'");
    }
}
