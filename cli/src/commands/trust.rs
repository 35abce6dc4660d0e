//! `edgeauth trust create|list|delete`: the project's trust policies (`/api/trust-policies`),
//! which let CI jobs trade their platform's ID token for an access token.

use std::collections::BTreeMap;

use super::{Context, Io};
use crate::args::CreateTrustPolicy;
use crate::error::CliError;
use crate::output::{self, sanitize, Table};
use edgeauth_core::api::{TrustPolicyList, TrustPolicyView};
use serde_json::json;

const PATH: &str = "/api/trust-policies";

/// The creation body: conditions grouped by claim (a claim given twice lists alternatives).
pub fn creation_body(args: &CreateTrustPolicy) -> serde_json::Value {
    let mut conditions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (claim, pattern) in &args.conditions {
        conditions.entry(claim).or_default().push(pattern);
    }
    let mut body = json!({
        "name": args.name,
        "issuer": args.issuer,
        "conditions": conditions,
        "workspaces": args.workspaces,
    });
    if let Some(audience) = &args.audience {
        body["audience"] = json!(audience);
    }
    if let Some(seconds) = args.lifetime_seconds {
        body["token_lifetime_seconds"] = json!(seconds);
    }
    body
}

/// Creates a policy; prints its description (or the server's JSON).
pub fn create(ctx: &Context, io: &mut Io<'_>, args: &CreateTrustPolicy) -> Result<(), CliError> {
    let response = ctx.client.post_json(PATH, &creation_body(args))?;
    if ctx.json {
        write!(io.out, "{}", output::json(&response.json()?))?;
        return Ok(());
    }
    let policy: TrustPolicyView = response.parse()?;
    write!(io.out, "{}", describe(&policy))?;
    Ok(())
}

/// Lists the project's policies as a table.
pub fn list(ctx: &Context, io: &mut Io<'_>) -> Result<(), CliError> {
    let response = ctx.client.get(PATH)?;
    if ctx.json {
        write!(io.out, "{}", output::json(&response.json()?))?;
        return Ok(());
    }
    let list: TrustPolicyList = response.parse()?;
    if list.trust_policies.is_empty() {
        writeln!(io.err, "no trust policies")?;
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID",
        "NAME",
        "ISSUER",
        "CONDITIONS",
        "WORKSPACES",
        "LIFETIME",
    ]);
    for p in &list.trust_policies {
        table.push(vec![
            sanitize(&p.id),
            sanitize(&p.name),
            sanitize(&p.issuer),
            conditions(p),
            sanitize(&p.workspaces.join(",")),
            format!("{}s", p.token_lifetime_seconds),
        ]);
    }
    write!(io.out, "{}", table.render())?;
    Ok(())
}

/// Deletes a policy; prints `deleted ID`.
pub fn delete(ctx: &Context, io: &mut Io<'_>, id: &str) -> Result<(), CliError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(CliError::usage(
            "give the policy's id (tp_…, from `edgeauth trust list`)",
        ));
    }
    ctx.client.delete(&format!("{PATH}/{id}"))?;
    if ctx.json {
        write!(io.out, "{}", output::json(&json!({"deleted": id})))?;
    } else {
        writeln!(io.out, "deleted {id}")?;
    }
    Ok(())
}

/// `claim=pattern|pattern, …`.
fn conditions(p: &TrustPolicyView) -> String {
    p.conditions
        .iter()
        .map(|(claim, patterns)| format!("{}={}", sanitize(claim), sanitize(&patterns.join("|"))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A created policy, in lines.
pub fn describe(p: &TrustPolicyView) -> String {
    format!(
        "created trust policy {} \"{}\" in project {}\nissuer:     {}\naudience:   {}\nconditions: {}\nworkspaces: {}\nlifetime:   {} s\n",
        sanitize(&p.id),
        sanitize(&p.name),
        sanitize(&p.project),
        sanitize(&p.issuer),
        sanitize(&p.audience),
        conditions(p),
        sanitize(&p.workspaces.join(", ")),
        p.token_lifetime_seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_claims_become_alternatives() {
        let args = CreateTrustPolicy {
            name: "deploy".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            audience: None,
            conditions: vec![
                ("repository".into(), "o/r".into()),
                ("ref".into(), "refs/heads/main".into()),
                ("ref".into(), "refs/tags/v*".into()),
            ],
            workspaces: vec!["production/*".into()],
            lifetime_seconds: Some(600),
        };
        let body = creation_body(&args);
        assert_eq!(
            body["conditions"]["ref"],
            json!(["refs/heads/main", "refs/tags/v*"])
        );
        assert_eq!(body["conditions"]["repository"], json!(["o/r"]));
        assert_eq!(body["token_lifetime_seconds"], 600);
        assert!(body.get("audience").is_none());
    }
}
