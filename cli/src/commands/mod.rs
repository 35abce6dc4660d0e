//! One module per command or family of commands; each turns the server's answer into the
//! documented output.
//!
//! Output contract: results go to stdout, everything meant only for a person (summaries,
//! warnings, errors) goes to stderr. With `--json`, stdout is the server's JSON.

mod login;
mod logout;
mod tokens;
mod whoami;

use crate::args::{Cli, Command, ServiceTokenCommand, UserTokenCommand};
use crate::client::ApiClient;
use crate::config::{self, Environment, Flags};
use crate::error::CliError;
use std::io::Write;

/// Where a command writes.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Whether `err` is a terminal (the login spinner is drawn only there).
    pub err_is_terminal: bool,
}

/// What every command gets: a client for the resolved server, and the output mode.
pub struct Context {
    pub client: ApiClient,
    pub json: bool,
}

/// Resolves settings from the process environment and working directory, then runs the command.
pub fn run(cli: Cli, io: &mut Io<'_>) -> Result<(), CliError> {
    if let Command::Login(args) = &cli.command {
        if args.device {
            return Err(CliError::usage(
                "`edgeauth login --device` is not available yet",
            )
            .with_hint(
                "sign in through a browser on this machine with `edgeauth login` (or `edgeauth login --no-browser` to open the URL yourself), or use a token: EDGEAUTH_TOKEN or --token",
            ));
        }
    }
    let env = Environment::from_process()?;
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::config(format!("cannot read the working directory: {e}")))?;
    let flags = Flags {
        server: cli.global.server,
        project: cli.global.project,
        token: cli.global.token,
    };
    let settings = config::resolve(&flags, &env, &cwd)?;
    for warning in &settings.warnings {
        writeln!(io.err, "warning: {warning}")?;
    }
    let ctx = Context {
        client: ApiClient::new(&settings),
        json: cli.global.json,
    };
    match cli.command {
        Command::Login(args) => login::run(&ctx, io, &settings, &env, &args),
        Command::Logout => logout::run(&ctx, io, &settings, &env),
        Command::Whoami => whoami::run(&ctx, io, settings.token.as_ref().map(|t| &t.source)),
        Command::Token(UserTokenCommand::Create(args)) => tokens::USER_TOKENS.create(
            &ctx,
            io,
            &tokens::creation_body(&args.name, &args.workspaces, args.expires_in_days),
        ),
        Command::Token(UserTokenCommand::List) => tokens::USER_TOKENS.list(&ctx, io),
        Command::Token(UserTokenCommand::Revoke { id }) => {
            tokens::USER_TOKENS.revoke(&ctx, io, &id)
        }
        Command::ServiceToken(ServiceTokenCommand::Create(args)) => tokens::SERVICE_TOKENS.create(
            &ctx,
            io,
            &tokens::creation_body(&args.name, &args.workspaces, args.expires_in_days),
        ),
        Command::ServiceToken(ServiceTokenCommand::List) => tokens::SERVICE_TOKENS.list(&ctx, io),
        Command::ServiceToken(ServiceTokenCommand::Revoke { id }) => {
            tokens::SERVICE_TOKENS.revoke(&ctx, io, &id)
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError::new(
            crate::error::ExitStatus::Failure,
            format!("cannot write output: {e}"),
        )
    }
}
