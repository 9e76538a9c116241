//! The tokio side of paging: the subscription to ticketing's page stream
//! (reconnecting with a back-off while ticketing is away), the check and
//! resolution of each target, the call placed through the endpoint task,
//! and the outcome reported back.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hotline_domain::{Language, SipUri};
use hotline_proto::v1 as pb;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{info, info_span, warn, Instrument};

use super::{PageCall, PageMessage};
use crate::service::{Control, Dial, DialOutcome, Script};
use crate::sip::endpoint::EndReason;
use crate::tickets::TicketsClient;

/// Pages one node dials at once; the stream waits for a free one, so other
/// nodes take what this one cannot.
const MAX_AT_ONCE: usize = 8;
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct PagerConfig {
    /// This IVR node's name, written on the pages it claims.
    pub node: String,
    /// `HOST:PORT` of the SIP trunk for pages to a phone number.
    pub trunk: Option<String>,
    /// How long a paged phone rings before the call is given up.
    pub ring: Duration,
}

/// Where a page's call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub addr: SocketAddr,
    /// The request-URI.
    pub uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("refused: {0}")]
    Refused(String),
    #[error(
        "a phone number is dialled only through an outbound trunk (outbound_trunk is not set)"
    )]
    NoTrunk,
    #[error("cannot resolve {0}")]
    Unresolved(String),
}

/// Checks a page's target as ticketing sent it and finds where to send the
/// INVITE: a plain `sip:` URI from the roster, or `tel:NUMBER` through the
/// trunk (the number as the request-URI user). Anything else is refused.
pub async fn resolve(target: &str, trunk: Option<&str>) -> Result<Route, RouteError> {
    let trunk = match trunk {
        Some(t) => Some(
            SipUri::parse(&format!("sip:{t}"))
                .map_err(|e| RouteError::Refused(format!("outbound_trunk: {e}")))?,
        ),
        None => None,
    };
    let (uri, host_port) = if let Some(number) = target.strip_prefix("tel:") {
        // Only a domestic mobile or landline: no international or premium
        // number reaches the trunk through a roster entry.
        if !hotline_domain::phone::callable(number) {
            return Err(RouteError::Refused(
                "the phone number is not a mobile or a landline with its area code".into(),
            ));
        }
        let trunk = trunk.ok_or(RouteError::NoTrunk)?;
        let uri = SipUri {
            user: Some(number.to_owned()),
            ..trunk.clone()
        };
        (uri.to_string(), trunk.host_port())
    } else {
        let uri = SipUri::parse(target).map_err(|e| RouteError::Refused(e.to_string()))?;
        // A roster SIP address must not be a way to dial any number
        // through the trunk.
        if trunk
            .as_ref()
            .is_some_and(|t| t.host_port() == uri.host_port())
        {
            return Err(RouteError::Refused(
                "a SIP address at the outbound trunk; give the lawyer's phone number instead"
                    .into(),
            ));
        }
        (uri.to_string(), uri.host_port())
    };
    let addr = tokio::net::lookup_host(host_port.as_str())
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or(RouteError::Unresolved(host_port))?;
    Ok(Route { addr, uri })
}

/// Takes pages from ticketing until `stop` completes, dialling each through
/// `control` (the endpoint task).
pub async fn run(
    tickets: TicketsClient,
    control: mpsc::Sender<Control>,
    config: PagerConfig,
    stop: impl Future<Output = ()>,
) {
    let config = Arc::new(config);
    let node = config.node.clone();
    let subscriber = tickets.clone();
    take(
        "pages",
        move || {
            let (tickets, node) = (subscriber.clone(), node.clone());
            async move { tickets.take_pages(&node).await }
        },
        move |page: pb::PageRequest| {
            let span = info_span!("page", page = page.page_id, ticket = %page.ticket_number);
            let (tickets, control, config) = (tickets.clone(), control.clone(), config.clone());
            async move { page_one(page, &tickets, &control, &config).await }.instrument(span)
        },
        MAX_AT_ONCE,
        stop,
    )
    .await;
}

/// Subscribes to one of ticketing's job streams (pages, bridges) with
/// `subscribe`, reconnecting with a back-off while ticketing is away, and
/// runs `handle` on each job, at most `at_once` together: the stream waits
/// for a free slot, so other nodes take what this one cannot. Once `stop`
/// completes it takes no more, and waits for the jobs it has to end and
/// report: each ends with its call (the draining endpoint hangs up what is
/// left at its deadline), and a report gives up after its retries.
pub(crate) async fn take<T, S, SF, H, HF>(
    what: &'static str,
    mut subscribe: S,
    handle: H,
    at_once: usize,
    stop: impl Future<Output = ()>,
) where
    S: FnMut() -> SF,
    SF: Future<Output = Result<tonic::Streaming<T>, tonic::Status>>,
    H: Fn(T) -> HF,
    HF: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(stop);
    let slots = Arc::new(Semaphore::new(at_once));
    let mut jobs = tokio::task::JoinSet::new();
    let mut backoff = BACKOFF_MIN;
    let mut last_error = String::new();
    'subscribed: loop {
        let subscribed = tokio::select! {
            () = &mut stop => break 'subscribed,
            s = subscribe() => s,
        };
        match subscribed {
            Ok(mut stream) => {
                info!(what, "taking {what} from ticketing");
                backoff = BACKOFF_MIN;
                last_error.clear();
                loop {
                    while let Some(done) = jobs.try_join_next() {
                        if let Err(e) = done {
                            warn!(what, error = %e, "a job of {what} failed");
                        }
                    }
                    let Ok(slot) = slots.clone().acquire_owned().await else {
                        break 'subscribed;
                    };
                    let next = tokio::select! {
                        () = &mut stop => break 'subscribed,
                        next = stream.message() => next,
                    };
                    match next {
                        Ok(Some(job)) => {
                            let work = handle(job);
                            jobs.spawn(async move {
                                let _slot = slot;
                                work.await;
                            });
                        }
                        Ok(None) => break,
                        Err(status) => {
                            warn!(what, error = %status.message(), "the {what} stream ended");
                            break;
                        }
                    }
                }
            }
            Err(status) => {
                // Said once per kind of failure, not every back-off.
                let error = format!("{:?}: {}", status.code(), status.message());
                if error != last_error {
                    warn!(what, error = %error, "cannot take {what} from ticketing; retrying");
                    last_error = error;
                }
            }
        }
        tokio::select! {
            () = &mut stop => break 'subscribed,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    if !jobs.is_empty() {
        info!(
            what,
            left = jobs.len(),
            "waiting for the {what} in progress to end"
        );
    }
    while let Some(done) = jobs.join_next().await {
        if let Err(e) = done {
            warn!(what, error = %e, "a job of {what} failed");
        }
    }
}

/// Dials one page and reports how it went.
async fn page_one(
    page: pb::PageRequest,
    tickets: &TicketsClient,
    control: &mpsc::Sender<Control>,
    config: &PagerConfig,
) {
    let report = |outcome: &str, detail: Option<String>| pb::PageReport {
        page_id: page.page_id,
        node: config.node.clone(),
        outcome: outcome.to_owned(),
        detail,
        permanent: false,
    };
    let route = match resolve(&page.target, config.trunk.as_deref()).await {
        Ok(route) => route,
        Err(e) => {
            warn!(lawyer = %page.lawyer, error = %e, "page not dialled");
            // Calling again would meet the same refusal; an address that
            // does not resolve now may later.
            let permanent = !matches!(e, RouteError::Unresolved(_));
            let failed = pb::PageReport {
                permanent,
                ..report("failed", Some(detail(e.to_string())))
            };
            send_report(tickets, failed).await;
            return;
        }
    };
    let message = PageMessage {
        language: Language::parse(&page.language).unwrap_or(Language::Zh),
        urgency: page.urgency.clone(),
        matter: page.matter.clone(),
        days_left: page.days_left,
        preservation: page.preservation,
        ticket_number: page.ticket_number.clone(),
    };
    let call = PageCall {
        page_id: page.page_id,
        node: config.node.clone(),
        message,
        tickets: tickets.clone(),
    };
    let (outcome_tx, outcome_rx) = oneshot::channel();
    let dial = Dial {
        target: route.addr,
        uri: route.uri,
        script: Script::Page(Box::new(call)),
        ring_for: Some(config.ring),
        outcome: outcome_tx,
        abandon: None,
    };
    info!(lawyer = %page.lawyer, attempt = page.attempt, "paging the duty lawyer");
    if control.send(Control::Dial(dial)).await.is_err() {
        send_report(
            tickets,
            report("failed", Some("the IVR is stopping".into())),
        )
        .await;
        return;
    }
    let outcome = outcome_rx
        .await
        .unwrap_or(DialOutcome::NotAnswered(EndReason::Failed(500)));
    let (name, detail) = match outcome {
        // The choice was reported during the call.
        DialOutcome::Paged(Some((_, true))) => return,
        // Ticketing did not answer during the call: the choice goes now
        // (ticketing takes the claim back after a few minutes otherwise).
        DialOutcome::Paged(Some((choice, false))) => match choice {
            super::Choice::Accept => ("accepted", Some("key pressed".to_owned())),
            super::Choice::Decline => ("declined", Some("key pressed".to_owned())),
        },
        DialOutcome::Paged(None) | DialOutcome::Completed | DialOutcome::Bridged(_) => {
            ("answered", None)
        }
        DialOutcome::NotAnswered(reason) => match not_answered(&reason) {
            // A lawyer's roster number is no caller's: a failure here.
            ("wrong-number", detail) => ("failed", detail),
            other => other,
        },
    };
    info!(outcome = name, "page ended");
    send_report(tickets, report(name, detail)).await;
}

/// How a placed call that was not answered ended, as reports name it:
/// `busy`, `no-answer` (including our own CANCEL after the ringing time),
/// `wrong-number` (the number does not exist), or `failed`; with the SIP
/// code.
pub(crate) fn not_answered(reason: &EndReason) -> (&'static str, Option<String>) {
    match reason {
        EndReason::Failed(code @ (486 | 600 | 603)) => ("busy", Some(format!("SIP {code}"))),
        EndReason::Failed(code @ (408 | 480 | 487)) => ("no-answer", Some(format!("SIP {code}"))),
        EndReason::Failed(code @ (404 | 484 | 604)) => {
            ("wrong-number", Some(format!("SIP {code}")))
        }
        // We gave up ringing (CANCEL).
        EndReason::LocalBye | EndReason::Cancelled => ("no-answer", None),
        EndReason::Failed(code) => ("failed", Some(format!("SIP {code}"))),
        other => ("failed", Some(format!("{other:?}"))),
    }
}

/// `text` cut to what ticketing takes in a report's detail (200
/// characters).
pub(crate) fn detail(text: impl Into<String>) -> String {
    let text: String = text.into();
    match text.char_indices().nth(200) {
        Some((at, _)) => text[..at].to_owned(),
        None => text,
    }
}

async fn send_report(tickets: &TicketsClient, report: pb::PageReport) {
    // Tries for about half a minute: the outcome decides whether the
    // lawyer is called again; past that, ticketing takes the claim back.
    let mut wait = Duration::from_secs(1);
    for attempt in 0..5 {
        match tickets.report_page(report.clone()).await {
            Ok(_) => return,
            // Taken back, or reported already: nothing left to say.
            Err(status) if status.code() == tonic::Code::NotFound => return,
            Err(status) if attempt == 4 => {
                warn!(page = report.page_id, error = %status.message(), "page outcome not reported");
            }
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_roster_addresses_and_the_trunk_are_dialled() {
        let route = resolve("sip:li@127.0.0.1:5070", None).await;
        assert_eq!(
            route,
            Ok(Route {
                addr: "127.0.0.1:5070".parse().unwrap_or_else(|_| unreachable!()),
                uri: "sip:li@127.0.0.1:5070".into(),
            })
        );
        let route = resolve("tel:13900000000", Some("127.0.0.1:5080")).await;
        assert_eq!(
            route.map(|r| r.uri),
            Ok("sip:13900000000@127.0.0.1:5080".to_owned())
        );
        assert_eq!(
            resolve("tel:13900000000", None).await,
            Err(RouteError::NoTrunk)
        );
        for bad in [
            "sip:li@127.0.0.1;maddr=203.0.113.9",
            "sips:li@127.0.0.1",
            "tel:900;phone-context=x",
            "tel:+88213900000000",
            "tel:16900",
            "http://127.0.0.1",
            // Any number through the trunk by a SIP address.
            "sip:0088213900000000@127.0.0.1:5080",
        ] {
            assert!(
                matches!(
                    resolve(bad, Some("127.0.0.1:5080")).await,
                    Err(RouteError::Refused(_))
                ),
                "{bad}"
            );
        }
    }
}
