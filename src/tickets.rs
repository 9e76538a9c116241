//! `hotline tickets …`: the operator's client of the ticketing gRPC API.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use hotline_domain::TicketNumber;
use hotline_proto::v1 as pb;
use hotline_proto::v1::routing_service_client::RoutingServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_proto::{AuthedChannel, Bearer};
use tonic::transport::Channel;
use tonic::Code;

use crate::cli::{ClientArgs, TicketsCommand};
use crate::output;
use crate::UsageError;

pub async fn run(command: TicketsCommand) -> anyhow::Result<()> {
    match command {
        TicketsCommand::Create { client, facts } => {
            let mut api = connect(&client).await?;
            let request = pb::CreateTicketRequest {
                idempotency_key: facts
                    .idempotency_key
                    .unwrap_or_else(|| format!("cli-{:032x}", rand::random::<u128>())),
                proposed_number: None,
                kind: Some(facts.kind),
                matter: facts.matter,
                caller_number: facts.caller,
                callback_number: facts.callback,
                event_date: facts.event_date,
                preservation: facts.preservation,
                priority_group: facts.group,
                language: facts.language,
                center: facts.center,
                region: facts.region,
                summary: facts.summary,
                hardship_waived: facts.hardship_waived,
                pledge_offered: facts.pledge_offered,
                home_visit: facts.home_visit,
                mediation_preferred: facts.mediation_preferred,
                document: facts.document,
                chosen_rule: facts.rule,
                advance_enforcement: facts.advance_enforcement,
                hardship_basis: facts.hardship_basis,
                // Operators create applications and consultations, not
                // callbacks of abandoned calls.
                last_node: None,
            };
            let response = api
                .create_ticket(request)
                .await
                .map_err(status)?
                .into_inner();
            let ticket = response.ticket.context("the server returned no ticket")?;
            output::ticket(&ticket, client.json);
        }
        TicketsCommand::List { client, filter } => {
            let mut api = connect(&client).await?;
            let mut request = pb::ListTicketsRequest {
                state: filter.state,
                urgency: filter.urgency,
                matter: filter.matter,
                center: filter.center,
                number: filter.number.map(|n| number(&n)).transpose()?,
                created_from: filter
                    .from
                    .as_deref()
                    .map(|t| time("--from", t))
                    .transpose()?,
                created_to: filter.to.as_deref().map(|t| time("--to", t)).transpose()?,
                page_size: filter.limit.clamp(1, 500),
                page_token: String::new(),
            };
            let mut printed = 0u32;
            while printed < filter.limit {
                let page = api
                    .list_tickets(request.clone())
                    .await
                    .map_err(status)?
                    .into_inner();
                // The header once the server has answered: a refusal
                // prints only its reason.
                if printed == 0 && !client.json {
                    output::ticket_header();
                }
                for ticket in &page.tickets {
                    if printed == filter.limit {
                        break;
                    }
                    output::ticket_row(ticket, client.json);
                    printed += 1;
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                request.page_token = page.next_page_token;
            }
        }
        TicketsCommand::Show { client, number: n } => {
            let number = number(&n)?;
            let mut api = connect(&client).await?;
            let ticket = api
                .get_ticket(pb::GetTicketRequest { number })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&ticket, client.json);
        }
        TicketsCommand::History { client, number: n } => {
            let number = number(&n)?;
            let mut api = connect(&client).await?;
            let events = api
                .list_ticket_events(pb::ListTicketEventsRequest { number })
                .await
                .map_err(status)?
                .into_inner()
                .events;
            for event in &events {
                output::event(event, client.json);
            }
        }
        TicketsCommand::Transition {
            client,
            number: n,
            to,
            reason,
            outcome,
            lawyer,
        } => {
            let number = number(&n)?;
            let mut api = connect(&client).await?;
            let ticket = api
                .transition_ticket(pb::TransitionTicketRequest {
                    number,
                    to,
                    reason,
                    outcome,
                    lawyer,
                })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&ticket, client.json);
        }
        TicketsCommand::Reassign {
            client,
            number: n,
            lawyer,
            reason,
        } => {
            let number = number(&n)?;
            let mut api = RoutingServiceClient::new(channel(&client).await?);
            let ticket = api
                .reassign(pb::ReassignRequest {
                    number,
                    to_lawyer: lawyer,
                    reason,
                })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&ticket, client.json);
        }
        TicketsCommand::Correct {
            client,
            number: n,
            matter,
            event_date,
            callback,
            document,
            rule,
            preservation,
            advance_enforcement,
            group,
            region,
            language,
            reason,
        } => {
            let number = number(&n)?;
            let mut api = connect(&client).await?;
            let ticket = api
                .correct_ticket(pb::CorrectTicketRequest {
                    number,
                    matter,
                    // "unknown" clears the date: the caller does not know it.
                    event_date: event_date.map(|d| if d == "unknown" { String::new() } else { d }),
                    callback_number: callback,
                    preservation,
                    priority_group: group,
                    hardship_waived: None,
                    pledge_offered: None,
                    home_visit: None,
                    mediation_preferred: None,
                    region,
                    language,
                    reason,
                    // "none" clears them.
                    document: document.map(|d| if d == "none" { String::new() } else { d }),
                    chosen_rule: rule.map(|r| if r == "none" { String::new() } else { r }),
                    advance_enforcement,
                    hardship_basis: None,
                })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&ticket, client.json);
        }
        TicketsCommand::Materials {
            client,
            number: n,
            note,
        } => {
            let number = number(&n)?;
            let mut api = connect(&client).await?;
            let ticket = api
                .mark_materials_received(pb::MarkMaterialsReceivedRequest { number, note })
                .await
                .map_err(status)?
                .into_inner();
            output::ticket(&ticket, client.json);
        }
        TicketsCommand::Note {
            client,
            number: n,
            text,
        } => {
            let number = number(&n)?;
            let mut api = connect(&client).await?;
            let event = api
                .add_note(pb::AddNoteRequest { number, text })
                .await
                .map_err(status)?
                .into_inner();
            output::event(&event, client.json);
        }
        TicketsCommand::Recording { client, id, output } => {
            if id <= 0 {
                return Err(UsageError(format!(
                    "recording id {id}: ids are positive; see `hotline tickets show`"
                ))
                .into());
            }
            let mut api = connect(&client).await?;
            let mut stream = api
                .get_recording(pb::GetRecordingRequest { id })
                .await
                .map_err(status)?
                .into_inner();
            let mut audio = Vec::new();
            while let Some(chunk) = stream.message().await.map_err(status)? {
                audio.extend_from_slice(&chunk.data);
            }
            if output.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout()
                    .write_all(&audio)
                    .context("cannot write the recording to stdout")?;
            } else {
                std::fs::write(&output, &audio)
                    .with_context(|| format!("cannot write {}", output.display()))?;
                eprintln!("{}: {} bytes", output.display(), audio.len());
            }
        }
    }
    Ok(())
}

async fn connect(args: &ClientArgs) -> anyhow::Result<TicketServiceClient<AuthedChannel>> {
    Ok(TicketServiceClient::new(channel(args).await?))
}

/// Where a client finds a token when given none: the admin token a server
/// started in this directory wrote on its first start.
pub(crate) const DEFAULT_TOKEN_FILE: &str = "hotline-data/admin.token";

/// The token to present: `--token` / `HOTLINE_TOKEN`, else the one in
/// `./hotline-data/admin.token` when it exists, else none (the server then
/// says how to get one).
pub(crate) fn token(args: &ClientArgs) -> anyhow::Result<Option<String>> {
    if args.token.is_none() && !is_loopback(&args.ticketing) {
        // The admin token on disk goes only to a ticketing on this machine.
        return Ok(None);
    }
    token_or_default(args.token.as_deref())
}

pub(crate) use hotline::tls::is_loopback;

/// `given`, else the admin token file when it exists.
pub(crate) fn token_or_default(given: Option<&str>) -> anyhow::Result<Option<String>> {
    if let Some(token) = given {
        // An empty token is a mistake (a `$(hotline token create …)` that
        // failed), never a wish to act as the admin whose file is here.
        if token.trim().is_empty() {
            anyhow::bail!(
                "the token given (--token or HOTLINE_TOKEN) is empty; \
                 did the command that made it fail? unset HOTLINE_TOKEN to use {DEFAULT_TOKEN_FILE}"
            );
        }
        return Ok(Some(token.trim().to_owned()));
    }
    match std::fs::read_to_string(DEFAULT_TOKEN_FILE) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "cannot read {DEFAULT_TOKEN_FILE} ({e}); pass --token or set HOTLINE_TOKEN"
        )),
    }
}

/// A connection to ticketing, shared by every client subcommand; every
/// request carries the token. With several nodes in `--ticketing` (comma
/// separated, as IVR nodes are given them), the first that answers.
pub(crate) async fn channel(args: &ClientArgs) -> anyhow::Result<AuthedChannel> {
    let nodes: Vec<&str> = args.ticketing.split(',').map(str::trim).collect();
    if nodes.len() == 1 {
        return connect_node(args).await;
    }
    // The whole list is checked before any node is tried.
    if nodes.iter().any(|n| n.is_empty()) {
        return Err(UsageError(format!(
            "--ticketing `{}` has an empty entry: give one URL, or several separated by commas",
            args.ticketing
        ))
        .into());
    }
    if let Some(bad) = nodes
        .iter()
        .find(|n| !n.starts_with("http://") && !n.starts_with("https://"))
    {
        return Err(UsageError(format!(
            "the ticketing URL `{bad}` needs its scheme: http://HOST:PORT, or https:// with --tls-ca"
        ))
        .into());
    }
    let mut failed = Vec::new();
    for node in nodes {
        let one = ClientArgs {
            ticketing: node.to_owned(),
            ..args.clone()
        };
        match connect_node(&one).await {
            Ok(channel) => return Ok(channel),
            // A usage error (no scheme, TLS settings) is the same for all.
            Err(e) if e.is::<UsageError>() => return Err(e),
            Err(e) => failed.push(e.to_string()),
        }
    }
    Err(anyhow::anyhow!(
        "no ticketing node answers: {}",
        failed.join("; ")
    ))
}

async fn connect_node(args: &ClientArgs) -> anyhow::Result<AuthedChannel> {
    let bearer = Bearer::new(token(args)?.as_deref()).map_err(|e| UsageError(e.to_string()))?;
    if !args.ticketing.starts_with("http://") && !args.ticketing.starts_with("https://") {
        return Err(UsageError(format!(
            "the ticketing URL `{}` needs its scheme: http://HOST:PORT, or https:// with --tls-ca",
            args.ticketing
        ))
        .into());
    }
    let mut endpoint = Channel::from_shared(args.ticketing.clone())
        .map_err(|e| UsageError(format!("invalid --ticketing URL `{}`: {e}", args.ticketing)))?;
    let secure = args.ticketing.starts_with("https://");
    match (&args.tls_ca, secure) {
        (Some(ca), true) => {
            let ca = hotline::tls::read_ca(ca).map_err(|e| UsageError(e.to_string()))?;
            endpoint = endpoint
                .tls_config(hotline::tls::client(&ca))
                .map_err(|e| UsageError(format!("TLS: {e}")))?;
        }
        (None, true) => {
            return Err(UsageError(format!(
            "{} speaks TLS: give --tls-ca (HOTLINE_TLS_CA) with the CA that signed its certificate",
            args.ticketing
        ))
            .into())
        }
        (Some(_), false) => {
            return Err(UsageError(format!(
                "--tls-ca is for an https:// URL; use https://{}",
                args.ticketing.trim_start_matches("http://")
            ))
            .into())
        }
        (None, false) => {}
    }
    endpoint
        .connect_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .map(|channel| tonic::service::interceptor::InterceptedService::new(channel, bearer))
        .map_err(|e| {
            // The whole chain: tonic's own message is only "transport error".
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                // Layers often repeat the message below them.
                let text = inner.to_string();
                if !why.contains(&text) {
                    why = format!("{why}: {text}");
                }
                source = inner.source();
            }
            if why.contains("Connection refused") {
                anyhow::anyhow!(
                    "nothing listens at {} ({why}); start it (`hotline serve`, or \
                     `hotline ticketing` for a ticketing node), or point --ticketing / \
                     HOTLINE_TICKETING at it",
                    args.ticketing
                )
            } else if secure {
                anyhow::anyhow!(
                    "cannot open TLS to ticketing at {} ({why}): does it serve TLS \
                     (hotline serve --dev-tls, or --tls-cert), and is --tls-ca the CA of its certificate?",
                    args.ticketing
                )
            } else {
                anyhow::anyhow!(
                    "cannot reach ticketing at {} ({why}); if it serves TLS, use https:// with --tls-ca",
                    args.ticketing
                )
            }
        })
}

/// Checks a ticket number before any request: a typo is the user's to fix.
pub(crate) fn number(text: &str) -> anyhow::Result<String> {
    TicketNumber::parse(text)
        .map(|n| n.to_string())
        .map_err(|e| UsageError(format!("ticket number `{text}`: {e}")).into())
}

/// An RFC 3339 time, or a date meaning midnight in Asia/Shanghai.
fn time(flag: &str, text: &str) -> anyhow::Result<prost_types::Timestamp> {
    let at = if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        t.with_timezone(&Utc)
    } else if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        d.and_time(NaiveTime::MIN)
            .and_local_timezone(output::shanghai())
            .single()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| UsageError(format!("{flag} {text}: not a valid local time")))?
    } else {
        return Err(UsageError(format!(
            "{flag} `{text}`: expected RFC 3339 (2026-03-01T08:00:00+08:00) or YYYY-MM-DD"
        ))
        .into());
    };
    Ok(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

/// A gRPC error as the user should see it: invalid input exits 2.
pub(crate) fn status(s: tonic::Status) -> anyhow::Error {
    match s.code() {
        Code::InvalidArgument => UsageError(s.message().to_owned()).into(),
        Code::NotFound | Code::FailedPrecondition => anyhow::anyhow!("{}", s.message()),
        Code::Unavailable => anyhow::anyhow!("ticketing is unavailable: {}", s.message()),
        Code::Unauthenticated | Code::PermissionDenied => anyhow::anyhow!("{}", s.message()),
        // A plaintext client talking to a TLS port sees the connection cut,
        // which HTTP/2 reports in several ways.
        Code::Unknown | Code::Cancelled | Code::Internal
            if [
                "transport error",
                "h2 protocol error",
                "canceled",
                "connection",
            ]
            .iter()
            .any(|m| s.message().contains(m)) =>
        {
            anyhow::anyhow!(
                "ticketing cut the connection ({}): if it serves TLS, use an https:// URL with --tls-ca",
                s.message()
            )
        }
        code => anyhow::anyhow!("{} ({code:?})", s.message()),
    }
}
