//! One module per command or family of commands; each turns the server's answer into the
//! documented output.
//!
//! Output contract: results go to stdout, everything meant only for a person (summaries,
//! warnings, errors) goes to stderr. With `--json`, stdout is the server's JSON.

mod api;
mod audit;
mod auth;
mod ci;
mod device;
mod lifetime;
mod login;
mod logout;
mod roles;
mod tokens;
mod trust;
mod whoami;

use crate::args::{
    asked_lifetime_days, AuthCommand, Cli, Command, LifetimeCommand, RolesCommand,
    ServiceTokenCommand, TrustCommand, UserTokenCommand,
};
use crate::client::ApiClient;
use crate::config::{self, Environment, Flags, Purpose};
use crate::credentials;
use crate::error::CliError;
use crate::session::{self, Why};
use edgeauth_core::lifetime::Governed;
use std::io::Write;
use std::rc::Rc;

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
    if let Command::Completion { shell } = cli.command {
        use clap::CommandFactory;
        // Into memory first: clap_complete panics when its writer fails (a closed pipe).
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "edgeauth", &mut script);
        io.out.write_all(&script)?;
        return Ok(());
    }
    let env = Environment::from_process()?;
    // `auth login|logout|whoami` are the top-level commands under another name, as in gh.
    let command = match cli.command {
        Command::Auth(AuthCommand::Login(args)) => Command::Login(args),
        Command::Auth(AuthCommand::Logout(args)) => Command::Logout(args),
        Command::Auth(AuthCommand::Whoami) => Command::Whoami,
        other => other,
    };
    // It needs no server: it reads only what is stored.
    if let Command::Auth(AuthCommand::Status) = command {
        return auth::status(io, &env, cli.global.json);
    }
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::config(format!("cannot read the working directory: {e}")))?;
    let flags = Flags {
        server: cli.global.server,
        project: cli.global.project,
        token: cli.global.token,
    };
    let purpose = match command {
        Command::Login(_) | Command::Logout(_) => Purpose::SignInOrOut,
        _ => Purpose::Requests,
    };
    let settings = config::resolve(&flags, &env, &cwd, purpose)?;
    for warning in &settings.warnings {
        writeln!(io.err, "warning: {warning}")?;
    }
    let client = match purpose {
        Purpose::Requests => keep_fresh(ApiClient::new(&settings), &settings, &env)?,
        // What they send, they choose themselves (anonymous, or the stored login).
        Purpose::SignInOrOut => ApiClient::new(&settings).with_token(None),
    };
    let ctx = Context {
        client,
        json: cli.global.json,
    };
    match command {
        Command::Login(args) if args.ci => ci::run(
            &ctx,
            io,
            &args,
            settings
                .project
                .as_deref()
                .unwrap_or("(the server's default)"),
        ),
        Command::Login(args) if args.device => device::run(&ctx, io, &settings, &env, &args),
        Command::Login(args) => match login::browser(&ctx, io, &settings, &env, &args)? {
            login::Browser::DeviceCode => device::sign_in(&ctx, io, &settings, &env, &args, false),
            login::Browser::Open => login::run(&ctx, io, &settings, &env, &args, true),
            login::Browser::PrintUrl => login::run(&ctx, io, &settings, &env, &args, false),
        },
        Command::Logout(args) => logout::run(&ctx, io, &settings, &env, args.all),
        Command::Whoami => whoami::run(&ctx, io, settings.token.as_ref().map(|t| &t.source)),
        Command::Token(UserTokenCommand::Create(args)) => tokens::USER_TOKENS.create(
            &ctx,
            io,
            &tokens::creation_body(
                &args.name,
                &args.workspaces,
                asked_lifetime_days(args.expires_in_days, args.no_expiry, || {
                    lifetime::default_token_days(&ctx, Governed::UserTokens)
                }),
            ),
        ),
        Command::Token(UserTokenCommand::List) => tokens::USER_TOKENS.list(&ctx, io),
        Command::Token(UserTokenCommand::Roll { id, grace_seconds }) => {
            tokens::USER_TOKENS.roll(&ctx, io, &id, grace_seconds)
        }
        Command::Token(UserTokenCommand::Revoke { ids }) => {
            tokens::USER_TOKENS.revoke_each(&ctx, io, &ids)
        }
        Command::ServiceToken(ServiceTokenCommand::Create(args)) => tokens::SERVICE_TOKENS.create(
            &ctx,
            io,
            &tokens::creation_body(
                &args.name,
                &args.workspaces,
                asked_lifetime_days(args.expires_in_days, args.no_expiry, || {
                    lifetime::default_token_days(&ctx, Governed::ServiceTokens)
                }),
            ),
        ),
        Command::ServiceToken(ServiceTokenCommand::List) => tokens::SERVICE_TOKENS.list(&ctx, io),
        Command::ServiceToken(ServiceTokenCommand::Roll { id, grace_seconds }) => {
            tokens::SERVICE_TOKENS.roll(&ctx, io, &id, grace_seconds)
        }
        Command::ServiceToken(ServiceTokenCommand::Revoke { ids }) => {
            tokens::SERVICE_TOKENS.revoke_each(&ctx, io, &ids)
        }
        Command::Api(args) => api::run(&ctx, io, &args),
        Command::Roles(RolesCommand::Show) => roles::show(&ctx, io),
        Command::Roles(RolesCommand::Set(args)) => roles::set(&ctx, io, &args),
        Command::Roles(RolesCommand::Reset) => roles::reset(&ctx, io),
        Command::Lifetime(LifetimeCommand::Show) => lifetime::show(&ctx, io),
        Command::Lifetime(LifetimeCommand::Set(args)) => lifetime::set(&ctx, io, &args),
        Command::Lifetime(LifetimeCommand::Reset) => lifetime::reset(&ctx, io),
        Command::Trust(TrustCommand::Create(args)) => trust::create(&ctx, io, &args),
        Command::Trust(TrustCommand::List) => trust::list(&ctx, io),
        Command::Trust(TrustCommand::Delete { id }) => trust::delete(&ctx, io, &id),
        Command::Audit(args) => audit::run(&ctx, io, &args),
        Command::Auth(AuthCommand::Token) => auth::token(&ctx, io, &settings),
        Command::Auth(_) | Command::Completion { .. } => unreachable!("handled above"),
    }
}

/// For a device login stored for the server (and in effect): refreshes its access token now if
/// it expires within a minute, and lets the client refresh once more on a 401
/// ([`crate::session`]). Any other credential is used as it is.
fn keep_fresh(
    client: ApiClient,
    settings: &config::Settings,
    env: &Environment,
) -> Result<ApiClient, CliError> {
    let Some(config::ResolvedToken {
        source: config::Source::StoredCredentials(_),
        ..
    }) = &settings.token
    else {
        return Ok(client);
    };
    let Some(dir) = env.credentials_dir() else {
        return Ok(client);
    };
    let stored = credentials::load(&dir)?.get(&settings.server).cloned();
    let Some(stored) = stored.filter(|c| c.kind == session::ACCESS_KIND) else {
        return Ok(client);
    };
    let anonymous = client.with_token(None);
    if session::needs_refresh(&stored) {
        client.set_secret(session::fresh_access_token(
            &anonymous,
            &dir,
            &settings.server,
            Why::Expiring,
        )?);
    }
    let server = settings.server.clone();
    Ok(client.with_refresh(Rc::new(move |refused| {
        session::fresh_access_token(&anonymous, &dir, &server, Why::Refused(refused))
    })))
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return CliError::closed_output();
        }
        CliError::new(
            crate::error::ExitStatus::Failure,
            format!("cannot write output: {e}"),
        )
    }
}
