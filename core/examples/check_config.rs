//! Checks the Worker's settings, read from this process's environment, with the Worker's own
//! rules ([`Config::from_lookup`]): `scripts/deploy` runs it before deploying, so that a setting
//! that cannot work is refused by name on the operator's machine rather than by `/healthz`
//! after the deploy.
//!
//! Prints each problem as `SETTING: message` on stderr and exits 1, or exits 0 when every
//! setting is usable. Values are never printed.

use edgeauth_core::config::Config;
use std::process::ExitCode;

fn main() -> ExitCode {
    match Config::from_lookup(|name| std::env::var(name).ok()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(problems) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            ExitCode::FAILURE
        }
    }
}
