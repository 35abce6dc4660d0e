//! `edgeauth audit`: a page of the audit trail (`GET /api/audit`), newest first.

use super::{Context, Io};
use crate::args::AuditArgs;
use crate::error::CliError;
use crate::output::{self, sanitize, Table};
use edgeauth_core::api::AuditPage;
use edgeauth_core::encoding::percent_encode;

/// The request's path and query: each filter given, percent-encoded.
pub fn path(args: &AuditArgs) -> String {
    let limit = args.limit.map(|n| n.to_string());
    let given = [
        ("action", args.action.as_ref()),
        ("actor", args.actor.as_ref()),
        ("subject", args.subject.as_ref()),
        ("person", args.person.as_ref()),
        ("token_hash", args.token_hash.as_ref()),
        ("since", args.since.as_ref()),
        ("until", args.until.as_ref()),
        ("limit", limit.as_ref()),
        ("cursor", args.cursor.as_ref()),
    ];
    let query: Vec<String> = given
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name}={}", percent_encode(v))))
        .collect();
    match query.is_empty() {
        true => "/api/audit".to_owned(),
        false => format!("/api/audit?{}", query.join("&")),
    }
}

/// Prints a page as a table (or the server's JSON), and how to get the next.
pub fn run(ctx: &Context, io: &mut Io<'_>, args: &AuditArgs) -> Result<(), CliError> {
    let response = ctx.client.get(&path(args))?;
    if ctx.json {
        write!(io.out, "{}", output::json(&response.json()?))?;
        return Ok(());
    }
    let page: AuditPage = response.parse()?;
    if page.events.is_empty() {
        writeln!(io.err, "no events")?;
        return Ok(());
    }
    let mut table = Table::new(&[
        "TIME",
        "ACTION",
        "ACTOR",
        "SUBJECT",
        "CREDENTIAL",
        "FROM",
        "COUNT",
    ]);
    for e in &page.events {
        let from = [e.ip.as_deref(), e.colo.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let credential = e
            .credential_prefix
            .clone()
            .or_else(|| {
                e.credential_hash
                    .as_ref()
                    .map(|h| format!("sha256:{}…", &h[..h.len().min(12)]))
            })
            .unwrap_or_default();
        table.push(vec![
            sanitize(&e.at),
            sanitize(&e.action),
            sanitize(&e.actor),
            sanitize(&e.subject),
            sanitize(&credential),
            sanitize(&from),
            e.count.to_string(),
        ]);
    }
    write!(io.out, "{}", table.render())?;
    if let Some(cursor) = &page.next_cursor {
        writeln!(io.err, "more: add --cursor {}", sanitize(cursor))?;
    }
    Ok(())
}
