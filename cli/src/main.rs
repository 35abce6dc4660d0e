//! `edgeauth`: the command-line client of edgeauth.
//!
//! Modules: [`args`] (the command-line surface), [`config`] (where the server, project and token
//! come from), [`credentials`] (the file `edgeauth login` writes), [`client`] (HTTP and the
//! mapping of failures to exit codes), [`commands`], [`output`] (tables), [`error`] (the exit
//! code table), [`server_url`] (a server's normal form), [`loopback`] (the listener that
//! `edgeauth login` waits on for the browser), [`session`] (keeping a device login's access
//! token fresh).
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
mod output;
mod server_url;
mod session;

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let err_is_terminal = stderr.is_terminal();
    let mut io = commands::Io {
        out: &mut stdout.lock(),
        err: &mut stderr.lock(),
        err_is_terminal,
    };
    match commands::run(cli, &mut io) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = io.out.flush();
            let _ = writeln!(io.err, "{e}");
            e.exit_code()
        }
    }
}
