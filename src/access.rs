//! `hotline token …` and `hotline audit list`: clients of the access API.

use hotline_proto::v1 as pb;
use hotline_proto::v1::access_service_client::AccessServiceClient;
use hotline_proto::AuthedChannel;
use serde_json::json;

use crate::cli::{AuditCommand, ClientArgs, TokenCommand};
use crate::tickets::{self, status};
use crate::UsageError;

async fn connect(args: &ClientArgs) -> anyhow::Result<AccessServiceClient<AuthedChannel>> {
    Ok(AccessServiceClient::new(tickets::channel(args).await?))
}

/// `30d`, `12h`, `90m`, `3600s` → seconds; `never` → 0 (the API's "never").
fn expiry_seconds(text: &str) -> Result<i64, UsageError> {
    let text = text.trim();
    if text == "never" {
        return Ok(0);
    }
    let bad = || {
        UsageError(format!(
            "--expires `{text}`: a number with d, h, m or s (30d, 12h), or `never`"
        ))
    };
    let split = text.char_indices().last().map_or(0, |(i, _)| i);
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let per = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    match n.checked_mul(per) {
        Some(s) if s > 0 => Ok(s),
        _ => Err(bad()),
    }
}

fn token_json(t: &pb::Token) -> serde_json::Value {
    json!({
        "id": t.id, "role": t.role, "lawyer": t.lawyer, "center": t.center,
        "name": t.name, "status": t.status, "created_at": t.created_at,
        "created_by": t.created_by, "expires_at": t.expires_at, "revoked_at": t.revoked_at,
    })
}

fn print_token(t: &pb::Token, as_json: bool) {
    if as_json {
        println!("{}", token_json(t));
    } else {
        let whose = t.lawyer.as_deref().or(t.center.as_deref()).unwrap_or("-");
        println!(
            "{:<12}  {:<10}  {:<12}  {:<16}  {:<7}  expires {}",
            t.id,
            t.role,
            whose,
            t.name,
            t.status,
            t.expires_at.as_deref().unwrap_or("never")
        );
    }
}

pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            client,
            role,
            lawyer,
            center,
            name,
            expires,
        } => {
            let expires = match expires {
                Some(text) => expiry_seconds(&text)?,
                None if role == "ivr" => 0,
                None => expiry_seconds("90d")?,
            };
            let mut api = connect(&client).await?;
            let created = api
                .create_token(pb::CreateTokenRequest {
                    role,
                    lawyer,
                    center,
                    name,
                    expires_in_seconds: Some(expires),
                })
                .await
                .map_err(status)?
                .into_inner();
            let record = created.token.unwrap_or_default();
            if client.json {
                let mut line = token_json(&record);
                line["token"] = json!(created.secret);
                println!("{line}");
            } else {
                println!("{}", created.secret);
                eprintln!(
                    "token {} ({} {}, expires {}): shown only now; keep it secret",
                    record.id,
                    record.role,
                    record.lawyer.as_deref().unwrap_or(&record.name),
                    record.expires_at.as_deref().unwrap_or("never")
                );
            }
        }
        TokenCommand::List { client } => {
            let mut api = connect(&client).await?;
            let tokens = api
                .list_tokens(pb::ListTokensRequest {})
                .await
                .map_err(status)?
                .into_inner()
                .tokens;
            if !client.json {
                println!(
                    "{:<12}  {:<10}  {:<12}  {:<16}  {:<7}  expiry",
                    "ID", "ROLE", "LAWYER/CTR", "NAME", "STATUS"
                );
            }
            for t in &tokens {
                print_token(t, client.json);
            }
        }
        TokenCommand::Revoke { client, id } => {
            let mut api = connect(&client).await?;
            let t = api
                .revoke_token(pb::RevokeTokenRequest { id })
                .await
                .map_err(status)?
                .into_inner();
            print_token(&t, client.json);
        }
    }
    Ok(())
}

pub async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List {
        client,
        ticket,
        actor,
        from,
        to,
        limit,
    } = command;
    if let Some(n) = &ticket {
        tickets::number(n)?;
    }
    // Actors are written as `lawyer:li`, `supervisor:NAME`, `ivr`, …: a
    // bare id finds nothing, so say so rather than print an empty list.
    let bare_actor = actor
        .as_deref()
        .filter(|a| !a.contains(':') && !["ivr", "anonymous", "retention"].contains(a))
        .map(str::to_owned);
    let mut api = connect(&client).await?;
    let entries = api
        .list_audit(pb::ListAuditRequest {
            ticket,
            actor,
            from,
            to,
            after_id: 0,
            limit,
        })
        .await
        .map_err(status)?
        .into_inner()
        .entries;
    for e in &entries {
        if client.json {
            println!(
                "{}",
                json!({
                    "id": e.id, "at": e.at, "actor": e.actor, "token_id": e.token_id,
                    "action": e.action, "outcome": e.outcome, "ticket": e.ticket,
                    "recording": e.recording, "center": e.center, "detail": e.detail,
                })
            );
        } else {
            println!(
                "{}  {:<8}  {:<20}  {:<16}  {}{}{}",
                e.at,
                e.outcome,
                e.actor,
                e.action,
                e.ticket.as_deref().unwrap_or("-"),
                e.recording
                    .map(|r| format!(" recording {r}"))
                    .unwrap_or_default(),
                e.detail
                    .as_deref()
                    .map(|d| format!("  ({d})"))
                    .unwrap_or_default()
            );
        }
    }
    if let (true, Some(actor)) = (entries.is_empty(), bare_actor) {
        eprintln!(
            "no lines for actor `{actor}`; actors are written with their role, e.g. --actor lawyer:{actor}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::expiry_seconds;

    #[test]
    fn expiries_read_as_people_write_them() {
        assert_eq!(expiry_seconds("30d").ok(), Some(30 * 86_400));
        assert_eq!(expiry_seconds("12h").ok(), Some(43_200));
        assert_eq!(expiry_seconds("90m").ok(), Some(5_400));
        assert_eq!(expiry_seconds("5s").ok(), Some(5));
        assert_eq!(expiry_seconds("never").ok(), Some(0));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "3w",
            "1.5d",
            "99999999999999999d",
            "30天",
            "天",
        ] {
            assert!(expiry_seconds(bad).is_err(), "{bad}");
        }
    }
}
