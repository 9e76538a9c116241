//! `hotline callbacks due|record|call`: the callers waiting for the centre
//! to call them back, soonest due first, what came of an attempt, and a
//! click-to-call that connects a lawyer to the caller.

use hotline_proto::v1 as pb;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use serde_json::{json, Value};

use crate::cli::CallbacksCommand;
use crate::tickets::{self, status};

pub async fn run(command: CallbacksCommand) -> anyhow::Result<()> {
    match command {
        CallbacksCommand::Due {
            client,
            center,
            all,
        } => {
            let mut api = TicketServiceClient::new(tickets::channel(&client).await?);
            // Due by the end of today (China Standard Time), a day's work.
            let due_before = (!all).then(end_of_today);
            let list = api
                .list_callbacks(pb::ListCallbacksRequest { center, due_before })
                .await
                .map_err(status)?
                .into_inner()
                .callbacks;
            if !client.json && !list.is_empty() {
                println!(
                    "{:<10}  {:<25}  {:<8}  {:<14}  {:<8}  LAWYER",
                    "NUMBER", "DUE", "URGENCY", "PHONE", "ATTEMPTS"
                );
            }
            for c in &list {
                row(c, client.json);
            }
            if !client.json {
                match (list.len(), all) {
                    (0, false) => {
                        eprintln!("no callback is due today (--all lists the later ones)")
                    }
                    (0, true) => eprintln!("no caller waits for a call back"),
                    (1, _) => eprintln!("1 callback"),
                    (n, _) => eprintln!("{n} callbacks"),
                }
            }
        }
        CallbacksCommand::Record {
            client,
            ticket,
            outcome,
            note,
        } => {
            let mut api = TicketServiceClient::new(tickets::channel(&client).await?);
            let c = api
                .record_callback(pb::RecordCallbackRequest {
                    number: ticket,
                    outcome,
                    note,
                })
                .await
                .map_err(status)?
                .into_inner();
            if client.json {
                println!("{}", callback_json(&c));
            } else if c.flagged {
                println!(
                    "{}: not reached on three different half-days; flagged for a supervisor",
                    c.number
                );
            } else {
                match c.due_at.as_ref() {
                    Some(due) => println!("{}: next attempt due by {}", c.number, shown(due)),
                    None => println!("{}: the caller was reached; no callback is due", c.number),
                }
            }
        }
        CallbacksCommand::Call {
            client,
            ticket,
            lawyer,
        } => {
            let mut api = TicketServiceClient::new(tickets::channel(&client).await?);
            let queued = api
                .call_back(pb::CallBackRequest {
                    number: ticket,
                    lawyer,
                })
                .await
                .map_err(status)?
                .into_inner();
            if client.json {
                println!(
                    "{}",
                    json!({
                        "bridge_id": queued.bridge_id,
                        "number": queued.number,
                        "lawyer": queued.lawyer,
                    })
                );
            } else {
                println!(
                    "{}: an IVR node will call lawyer {}, then the caller; the outcome is recorded with the ticket's callbacks (hotline tickets history {})",
                    queued.number, queued.lawyer, queued.number
                );
            }
        }
    }
    Ok(())
}

/// The first instant of tomorrow in China Standard Time.
fn end_of_today() -> prost_types::Timestamp {
    let now = chrono::Utc::now().with_timezone(&hotline_domain::shanghai());
    let tomorrow = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(hotline_domain::shanghai()).single())
        .map(|t| t.timestamp())
        .unwrap_or_else(|| now.timestamp() + 86_400);
    prost_types::Timestamp {
        seconds: tomorrow - 1,
        nanos: 0,
    }
}

pub fn shown(t: &prost_types::Timestamp) -> String {
    chrono::DateTime::from_timestamp(t.seconds, 0)
        .map(hotline_domain::shown_time)
        .unwrap_or_else(|| "-".to_owned())
}

pub fn callback_json(c: &pb::CallbackStatus) -> Value {
    json!({
        "number": c.number,
        "center": c.center,
        "state": c.state,
        "urgency": c.urgency,
        "matter": c.matter,
        "phone": c.phone,
        "assigned_lawyer": c.assigned_lawyer,
        "due_at": c.due_at.as_ref().map(shown),
        "flagged": c.flagged,
        "attempts": c.attempts.iter().map(|a| json!({
            "at": a.at.as_ref().map(shown),
            "outcome": a.outcome,
            "note": a.note,
            "actor": a.actor,
        })).collect::<Vec<_>>(),
    })
}

/// One callback as a line of a listing.
pub fn row(c: &pb::CallbackStatus, as_json: bool) {
    if as_json {
        println!("{}", callback_json(c));
        return;
    }
    let due = if c.flagged {
        "FLAGGED".to_owned()
    } else {
        c.due_at
            .as_ref()
            .map(shown)
            .unwrap_or_else(|| "-".to_owned())
    };
    println!(
        "{:<10}  {:<25}  {:<8}  {:<14}  {:<8}  {}",
        c.number,
        due,
        if c.urgency.is_empty() {
            "-"
        } else {
            &c.urgency
        },
        c.phone,
        c.attempts.len(),
        c.assigned_lawyer.as_deref().unwrap_or("-"),
    );
}
