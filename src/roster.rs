//! `hotline roster …`, `hotline lawyer …` and `hotline check`: clients of
//! the routing API for supervisors and duty lawyers.

use anyhow::Context;
use hotline_proto::v1 as pb;
use hotline_proto::v1::routing_service_client::RoutingServiceClient;
use hotline_proto::AuthedChannel;
use hotline_ticketing::routing::roster_csv;

use crate::cli::{ClientArgs, LawyerCommand, RosterCommand};
use crate::output;
use crate::tickets::{self, number, status};
use crate::UsageError;

async fn connect(args: &ClientArgs) -> anyhow::Result<RoutingServiceClient<AuthedChannel>> {
    Ok(RoutingServiceClient::new(tickets::channel(args).await?))
}

fn print_lawyer(l: &pb::Lawyer, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": l.id, "center": l.center, "name": l.name, "phone": l.phone,
                "sip_uri": l.sip_uri, "skills": l.skills, "regions": l.regions,
                "languages": l.languages, "capacity": l.capacity, "active": l.active,
            })
        );
    } else {
        println!(
            "{:<12} {:<16} {:<10} capacity {:<3} {}{}",
            l.id,
            l.name,
            l.center,
            l.capacity,
            l.skills.join(","),
            if l.active { "" } else { "  (inactive)" }
        );
    }
}

pub async fn roster(command: RosterCommand) -> anyhow::Result<()> {
    match command {
        RosterCommand::AddLawyer {
            client,
            id,
            name,
            phone,
            sip,
            skills,
            regions,
            languages,
            capacity,
            center,
            inactive,
        } => {
            let mut api = connect(&client).await?;
            let lawyer = api
                .put_lawyer(pb::Lawyer {
                    id,
                    center,
                    name,
                    phone,
                    sip_uri: sip,
                    skills,
                    regions,
                    languages,
                    capacity,
                    active: !inactive,
                })
                .await
                .map_err(status)?
                .into_inner();
            print_lawyer(&lawyer, client.json);
        }
        RosterCommand::AddShift {
            client,
            lawyer,
            from,
            to,
            weekly,
        } => {
            if !(1..=104).contains(&weekly) {
                return Err(UsageError("--weekly is 1 to 104 weeks".into()).into());
            }
            let mut api = connect(&client).await?;
            for week in 0..weekly {
                let shift = api
                    .add_shift(pb::AddShiftRequest {
                        lawyer: lawyer.clone(),
                        from: later(&from, week)?,
                        to: later(&to, week)?,
                    })
                    .await
                    .map_err(status)?
                    .into_inner();
                print_shift(&shift, client.json);
            }
        }
        RosterCommand::SwapShift { client, shift, to } => {
            let mut api = connect(&client).await?;
            let shift = api
                .swap_shift(pb::SwapShiftRequest {
                    shift,
                    to_lawyer: to,
                })
                .await
                .map_err(status)?
                .into_inner();
            print_shift(&shift, client.json);
        }
        RosterCommand::Import { client, file } => {
            let input = std::fs::File::open(&file)
                .map_err(|e| UsageError(format!("{}: {e}", file.display())))?;
            let rows = roster_csv::read(input)
                .map_err(|e| UsageError(format!("{}:{}: {}", file.display(), e.line, e.message)))?;
            let mut api = connect(&client).await?;
            let (mut lawyers, mut shifts) = (0, 0);
            for row in rows {
                let at =
                    |what: String| UsageError(format!("{}:{}: {what}", file.display(), row.line));
                let id = row.lawyer.id.clone();
                api.put_lawyer(row.lawyer)
                    .await
                    .map_err(|s| at(s.message().to_owned()))?;
                lawyers += 1;
                if let Some((from, to)) = row.shift {
                    api.add_shift(pb::AddShiftRequest {
                        lawyer: id,
                        from,
                        to,
                    })
                    .await
                    .map_err(|s| at(s.message().to_owned()))?;
                    shifts += 1;
                }
            }
            eprintln!("{}: {lawyers} lawyer rows, {shifts} shifts", file.display());
        }
        RosterCommand::Export { client } => {
            let mut api = connect(&client).await?;
            let lawyers = api
                .list_lawyers(pb::ListLawyersRequest {})
                .await
                .map_err(status)?
                .into_inner()
                .lawyers;
            let shifts = api
                .list_shifts(pb::ListShiftsRequest::default())
                .await
                .map_err(status)?
                .into_inner()
                .shifts;
            // One row per coming shift (the lawyer's fields repeated), or
            // one row without a shift; importing it back gives the same roster.
            roster_csv::write(std::io::stdout(), &lawyers, &shifts)
                .context("cannot write the roster")?;
        }
        RosterCommand::List { client } => {
            let mut api = connect(&client).await?;
            let lawyers = api
                .list_lawyers(pb::ListLawyersRequest {})
                .await
                .map_err(status)?
                .into_inner()
                .lawyers;
            for l in &lawyers {
                print_lawyer(l, client.json);
            }
        }
        RosterCommand::OnDuty { client, center, at } => {
            let mut api = connect(&client).await?;
            let lawyers = api
                .on_duty(pb::OnDutyRequest {
                    center,
                    at: at.unwrap_or_default(),
                })
                .await
                .map_err(status)?
                .into_inner()
                .lawyers;
            for l in &lawyers {
                print_lawyer(l, client.json);
            }
        }
    }
    Ok(())
}

/// `time` moved `weeks` weeks later, in the form it was given (RFC 3339 or
/// local Asia/Shanghai time, so a weekly pattern keeps its wall-clock hours).
fn later(time: &str, weeks: u32) -> anyhow::Result<String> {
    if weeks == 0 {
        return Ok(time.to_owned());
    }
    let by = chrono::Duration::weeks(i64::from(weeks));
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(time) {
        return Ok((t + by).to_rfc3339());
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(time, format) {
            return Ok((t + by).format("%Y-%m-%dT%H:%M:%S").to_string());
        }
    }
    Err(UsageError(format!(
        "`{time}` is not RFC 3339 (2026-03-02T08:00:00+08:00) nor a local time (2026-03-02T08:00)"
    ))
    .into())
}

fn print_shift(s: &pb::Shift, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"id": s.id, "lawyer": s.lawyer, "from": s.from, "to": s.to})
        );
    } else {
        println!("shift {} of {}: {} – {}", s.id, s.lawyer, s.from, s.to);
    }
}

/// One offer event as the watch prints it: the lawyer must call back, so
/// the callback number is shown in full.
fn print_offer(e: &pb::OfferEvent, json: bool) {
    let Some(t) = &e.ticket else {
        return;
    };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "event_id": e.event_id,
                "event": e.event,
                "ticket": output::ticket_json(t),
                "ack_deadline": e.ack_deadline,
                "reason": e.reason,
            })
        );
    } else {
        println!(
            "{:<12} {} {} {} deadline {} ({} days left) call back {}{}{}",
            e.event,
            t.number,
            t.matter.as_deref().unwrap_or("-"),
            t.urgency.as_deref().unwrap_or("-"),
            t.deadline.as_deref().unwrap_or("none"),
            t.days_left.map_or("-".to_owned(), |d| d.to_string()),
            t.callback_number.as_deref().unwrap_or("-"),
            e.ack_deadline
                .as_deref()
                .map(|d| format!("; acknowledge by {d}"))
                .unwrap_or_default(),
            e.reason
                .as_deref()
                .map(|r| format!("; {r}"))
                .unwrap_or_default()
        );
    }
}

pub async fn lawyer(command: LawyerCommand) -> anyhow::Result<()> {
    match command {
        LawyerCommand::Watch {
            client,
            lawyer,
            after,
        } => {
            let mut api = connect(&client).await?;
            let mut stream = api
                .watch_offers(pb::WatchOffersRequest {
                    lawyer: lawyer.unwrap_or_default(),
                    after_event_id: after,
                })
                .await
                .map_err(status)?
                .into_inner();
            let mut last = after;
            loop {
                match stream.message().await {
                    Ok(Some(event)) => {
                        last = event.event_id;
                        print_offer(&event, client.json);
                    }
                    Ok(None) => break,
                    // The server stopped or restarted: say so, and how to
                    // carry on without missing an offer.
                    Err(s) if s.code() == tonic::Code::Unauthenticated => {
                        return Err(anyhow::anyhow!(
                            "ticketing closed the stream: {}; ask an administrator for a new token",
                            s.message()
                        ))
                    }
                    Err(s) => {
                        return Err(anyhow::anyhow!(
                            "ticketing closed the stream ({}); resume with --after {last}",
                            s.message()
                        ))
                    }
                }
            }
        }
        LawyerCommand::Ack {
            client,
            ticket,
            lawyer,
        } => {
            let mut api = connect(&client).await?;
            let t = api
                .acknowledge(pb::OfferActionRequest {
                    number: number(&ticket)?,
                    lawyer: lawyer.unwrap_or_default(),
                    reason: None,
                })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&t, client.json);
        }
        LawyerCommand::Decline {
            client,
            ticket,
            lawyer,
            reason,
        } => {
            let mut api = connect(&client).await?;
            let t = api
                .decline(pb::OfferActionRequest {
                    number: number(&ticket)?,
                    lawyer: lawyer.unwrap_or_default(),
                    reason: Some(reason),
                })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&t, client.json);
        }
        LawyerCommand::Start {
            client,
            ticket,
            lawyer,
        } => {
            let mut api = connect(&client).await?;
            let t = api
                .start_case(pb::CaseActionRequest {
                    number: number(&ticket)?,
                    lawyer: lawyer.unwrap_or_default(),
                    outcome: None,
                })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&t, client.json);
        }
        LawyerCommand::Close {
            client,
            ticket,
            lawyer,
            outcome,
        } => {
            let mut api = connect(&client).await?;
            let t = api
                .close_case(pb::CaseActionRequest {
                    number: number(&ticket)?,
                    lawyer: lawyer.unwrap_or_default(),
                    outcome: Some(outcome),
                })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&t, client.json);
        }
        LawyerCommand::Queue { client, center } => {
            let mut api = connect(&client).await?;
            let tickets = api
                .queue(pb::QueueRequest {
                    center: center.unwrap_or_default(),
                    limit: 0,
                })
                .await
                .map_err(status)?
                .into_inner()
                .tickets;
            if !client.json && !tickets.is_empty() {
                output::ticket_header();
            }
            for t in &tickets {
                output::ticket_row(t, client.json);
            }
        }
        LawyerCommand::Pull {
            client,
            ticket,
            lawyer,
        } => {
            let mut api = connect(&client).await?;
            let t = api
                .pull(pb::OfferActionRequest {
                    number: number(&ticket)?,
                    lawyer: lawyer.unwrap_or_default(),
                    reason: None,
                })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&t, client.json);
        }
        LawyerCommand::Mine { client, lawyer } => {
            let mut api = connect(&client).await?;
            let work = api
                .my_work(pb::MyWorkRequest {
                    lawyer: lawyer.unwrap_or_default(),
                })
                .await
                .map_err(status)?
                .into_inner();
            for o in &work.offers {
                if client.json {
                    println!(
                        "{}",
                        serde_json::json!({"offer": o.number, "state": o.state, "ack_deadline": o.ack_deadline})
                    );
                } else {
                    println!("offer  {} acknowledge by {}", o.number, o.ack_deadline);
                }
            }
            for t in &work.tickets {
                output::ticket_row(t, client.json);
            }
            for c in &work.callbacks {
                if client.json {
                    println!(
                        "{}",
                        serde_json::json!({"callback": crate::callbacks::callback_json(c)})
                    );
                } else {
                    let due = match (&c.due_at, c.flagged) {
                        (_, true) => "flagged for a supervisor".to_owned(),
                        (Some(t), _) => format!("due by {}", crate::callbacks::shown(t)),
                        (None, _) => "-".to_owned(),
                    };
                    println!("call back  {} {} {due}", c.number, c.phone);
                }
            }
        }
    }
    Ok(())
}

/// `hotline check`: exit 1 when anything is listed.
pub async fn check(client: ClientArgs, grace_seconds: i64) -> anyhow::Result<()> {
    let mut api = connect(&client).await?;
    let problems = api
        .check(pb::CheckRequest { grace_seconds })
        .await
        .map_err(status)?
        .into_inner()
        .problems;
    for p in &problems {
        if client.json {
            println!("{}", serde_json::json!({ "problem": p }));
        } else {
            println!("{p}");
        }
    }
    if problems.is_empty() {
        if !client.json {
            println!("ok: no routing or art. 43 problems");
        }
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "{} routing problem(s), listed above",
            problems.len()
        ))
    }
}
