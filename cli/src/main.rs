//! `edgeauth`: the command-line client of edgeauth.
//!
//! Modules: [`args`] (the command-line surface), [`config`] (where the server, project and token
//! come from), [`credentials`] (the file `edgeauth login` writes), [`client`] (HTTP and the
//! mapping of failures to exit codes), [`commands`], [`output`] (tables), [`error`] (the exit
//! code table), [`server_url`] (a server's normal form), [`loopback`] (the listener that
//! `edgeauth login` waits on for the browser), [`session`] (keeping a device login's access
//! token fresh), [`os_keyring`] (where stored tokens live when the OS has a keyring).
//!
//! The rules the server enforces and the bodies it sends come from `edgeauth-core`, so the CLI
//! checks and reads exactly what the server writes: project names, token kinds and prefixes,
//! PKCE and the encodings, and the JSON bodies ([`edgeauth_core::api`]); a token held in memory
//! is an [`edgeauth_core::secret::Secret`], which redacts itself.

mod args;
mod client;
mod commands;
mod config;
mod credentials;
mod error;
mod loopback;
mod os_keyring;
mod output;
mod server_url;
mod session;

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `--json` asks for errors as JSON too, usage errors included (clap's own, before parsing
    // is done, so the flag is looked for among the raw arguments).
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if json && e.use_stderr() => {
            // clap's text up to its usage lines, on one line.
            let rendered = e.render().to_string();
            let what = rendered.split("\n\nUsage:").next().unwrap_or_default();
            let message = what
                .trim_start_matches("error: ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let usage = error::CliError::usage(message)
                .with_hint("see `edgeauth --help` or the command's --help");
            eprintln!("{}", json_error(&usage));
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let err_is_terminal = stderr.is_terminal();
    let mut io = commands::Io {
        out: &mut stdout.lock(),
        err: &mut stderr.lock(),
        err_is_terminal,
    };
    match commands::run(cli, &mut io) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing to say, but no success claimed.
        Err(e) if e.is_closed_output() => e.exit_code(),
        Err(e) => {
            let _ = io.out.flush();
            let _ = match json {
                true => writeln!(io.err, "{}", json_error(&e)),
                false => writeln!(io.err, "{e}"),
            };
            e.exit_code()
        }
    }
}

/// `{"error": {"code", "message", "hint", "exit_code", "server_code"}}` on one line.
fn json_error(e: &error::CliError) -> String {
    serde_json::json!({ "error": e.json() }).to_string()
}
