//! The gRPC API over a real socket: validation at the edge, status codes,
//! masking, idempotency and aliases as clients see them.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use hotline_proto::v1 as pb;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_proto::AuthedChannel;
use hotline_ticketing::auth::Role;
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::{server, Store, SystemClock, Ticketing};
use tokio::net::TcpListener;
use tonic::Code;

struct Api {
    client: TicketServiceClient<AuthedChannel>,
    store: Store,
    ticketing: Ticketing,
    addr: std::net::SocketAddr,
    _db: support::TestDb,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Api {
    let (store, db) = support::sqlite().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limitation = Arc::new(Limitation::bundled().unwrap());
    let ticketing = Ticketing::new(store.clone(), Arc::new(SystemClock), limitation);
    let served = ticketing.clone();
    tokio::spawn(async move {
        server::run(listener, served, async {
            stopped.await.ok();
        })
        .await
        .unwrap();
    });
    let supervisor = support::token(&ticketing, Role::Supervisor, None).await;
    let client = TicketServiceClient::new(support::channel(addr, &supervisor).await);
    Api {
        client,
        store,
        ticketing,
        addr,
        _db: db,
        _stop: stop,
    }
}

fn create(key: &str) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        idempotency_key: key.into(),
        matter: Some("labor-termination".into()),
        caller_number: Some("13812345678".into()),
        callback_number: Some("13812345678".into()),
        event_date: Some("2025-02-28".into()),
        ..Default::default()
    }
}

async fn ticket_count(api: &Api) -> usize {
    let filter = hotline_ticketing::tickets::TicketFilter::default();
    api.store
        .list_tickets(&filter, 500, None)
        .await
        .unwrap()
        .0
        .len()
}

/// Asserts INVALID_ARGUMENT naming `field`.
fn assert_invalid(result: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let status = result.expect_err("the request must be refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains(&format!("`{field}`")),
        "the message must name `{field}`: {}",
        status.message()
    );
}

#[tokio::test]
async fn bad_fields_are_refused_by_name_and_nothing_is_written() {
    let mut api = start().await;
    let c = &mut api.client;

    let mut r = create("k1");
    r.matter = Some("labour".into());
    assert_invalid(c.create_ticket(r).await, "matter");

    assert_invalid(c.create_ticket(create("")).await, "idempotency_key");
    assert_invalid(c.create_ticket(create("   ")).await, "idempotency_key");

    let mut r = create("k2");
    r.proposed_number = Some("12345".into());
    assert_invalid(c.create_ticket(r).await, "proposed_number");

    let mut r = create("k3");
    r.summary = Some("欠".repeat(1366)); // 4098 bytes of UTF-8
    assert_invalid(c.create_ticket(r).await, "summary");

    let mut r = create("k4");
    r.event_date = Some("2025-02-30".into());
    assert_invalid(c.create_ticket(r).await, "event_date");

    let mut r = create("k5");
    r.caller_number = Some("138-abc".into());
    assert_invalid(c.create_ticket(r).await, "caller_number");

    let mut r = create("k6");
    r.region = Some("990000".into());
    assert_invalid(c.create_ticket(r).await, "region");

    let mut r = create("k7");
    r.matter = None;
    assert_invalid(c.create_ticket(r).await, "matter");

    assert_eq!(ticket_count(&api).await, 0, "nothing may be written");

    // A summary of exactly 4 KiB is fine; a consultation needs no matter.
    let mut r = create("k8");
    r.summary = Some("a".repeat(4096));
    api.client.create_ticket(r).await.unwrap();
    let mut r = create("k9");
    r.kind = Some("consultation".into());
    r.matter = None;
    let t = api
        .client
        .create_ticket(r)
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(t.state, "consultation");
    assert_eq!(t.matter, None);
}

#[tokio::test]
async fn a_wrong_check_digit_is_invalid_argument_not_not_found() {
    let mut api = start().await;
    let bad = pb::GetTicketRequest {
        number: "1234567890".into(),
    };
    assert_invalid(api.client.get_ticket(bad).await, "number");
    let lookup = pb::LookupStatusRequest {
        number: "123456789".into(),
    };
    assert_invalid(api.client.lookup_status(lookup).await, "number");
    let missing = pb::GetTicketRequest {
        number: "1234567897".into(),
    };
    let status = api.client.get_ticket(missing).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn an_illegal_transition_names_the_current_state() {
    let mut api = start().await;
    let t = api
        .client
        .create_ticket(create("k"))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let status = api
        .client
        .transition_ticket(pb::TransitionTicketRequest {
            number: t.number.clone(),
            to: "closed".into(),
            outcome: Some("settled".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("`application`"),
        "{}",
        status.message()
    );

    // The intake fields are checked by name too.
    for (field, request) in [
        (
            "document",
            pb::CreateTicketRequest {
                document: Some("letter".into()),
                ..create("d")
            },
        ),
        (
            "chosen_rule",
            pb::CreateTicketRequest {
                chosen_rule: Some("no-such-rule".into()),
                ..create("r")
            },
        ),
        (
            "hardship_basis",
            pb::CreateTicketRequest {
                hardship_basis: Some("art-99".into()),
                ..create("h")
            },
        ),
    ] {
        assert_invalid(api.client.create_ticket(request).await, field);
    }
    let status = api
        .client
        .correct_ticket(pb::CorrectTicketRequest {
            number: t.number.clone(),
            chosen_rule: Some("no-such-rule".into()),
            ..Default::default()
        })
        .await;
    assert_invalid(status, "chosen_rule");
    // `veteran`, the group's former name, still arrives (an IVR outbox may
    // hold requests made before the rename).
    let veteran = api
        .client
        .create_ticket(pb::CreateTicketRequest {
            priority_group: Some("veteran".into()),
            ..create("v")
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(veteran.priority_group, "military");
    // Materials belong to an application: a consultation is refused, by state.
    let question = api
        .client
        .create_ticket(pb::CreateTicketRequest {
            kind: Some("consultation".into()),
            ..create("q")
        })
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let status = api
        .client
        .mark_materials_received(pb::MarkMaterialsReceivedRequest {
            number: question.number,
            note: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("`consultation`"),
        "{}",
        status.message()
    );

    let status = api
        .client
        .transition_ticket(pb::TransitionTicketRequest {
            number: t.number.clone(),
            to: "done".into(),
            ..Default::default()
        })
        .await;
    assert_invalid(status, "to");

    let status = api
        .client
        .transition_ticket(pb::TransitionTicketRequest {
            number: t.number.clone(),
            to: "rejected".into(),
            ..Default::default()
        })
        .await;
    assert_invalid(status, "reason");
    let history = api
        .client
        .list_ticket_events(pb::ListTicketEventsRequest { number: t.number })
        .await
        .unwrap()
        .into_inner()
        .events;
    // Created (and routed, when urgent), never moved: refused moves write nothing.
    assert_eq!(history[0].kind, "created");
    assert!(
        history.iter().all(|e| e.kind != "transitioned"),
        "refused moves write nothing: {history:?}"
    );
}

#[tokio::test]
async fn create_is_idempotent_and_masks_the_caller() {
    let mut api = start().await;
    let first = api
        .client
        .create_ticket(create("ivr-1:call-42"))
        .await
        .unwrap()
        .into_inner();
    let again = api
        .client
        .create_ticket(create("ivr-1:call-42"))
        .await
        .unwrap()
        .into_inner();
    assert!(first.created);
    assert!(!again.created);
    let (a, b) = (first.ticket.unwrap(), again.ticket.unwrap());
    assert_eq!(a.number, b.number);
    // The answer to a create shows the numbers masked; opening the ticket
    // shows them in full, and that read is in the audit log.
    assert_eq!(a.caller_number.as_deref(), Some("138****5678"));
    assert_eq!(a.callback_number.as_deref(), Some("138****5678"));
    assert_eq!(ticket_count(&api).await, 1);
    let opened = api
        .client
        .get_ticket(pb::GetTicketRequest {
            number: a.number.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opened.caller_number.as_deref(), Some("13812345678"));
    assert_eq!(opened.callback_number.as_deref(), Some("13812345678"));
    let filter = hotline_ticketing::auth::AuditFilter {
        ticket: Some(a.number.clone()),
        limit: 10,
        ..Default::default()
    };
    let audit = api.ticketing.audit_log(&filter).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        ("supervisor:supervisor", "read-numbers")
    );
}

#[tokio::test]
async fn a_taken_proposed_number_becomes_an_alias() {
    let mut api = start().await;
    let mut first = create("call-a");
    first.proposed_number = Some("8000000003".into());
    let a = api
        .client
        .create_ticket(first)
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(a.number, "8000000003");
    let mut second = create("call-b");
    second.proposed_number = Some("8000000003".into());
    let b = api
        .client
        .create_ticket(second)
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_ne!(b.number, "8000000003");
    assert_eq!(b.aliases, vec!["8000000003".to_owned()]);
    let found = api
        .client
        .list_tickets(pb::ListTicketsRequest {
            number: Some("8000000003".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    let mut numbers: Vec<_> = found.into_iter().map(|t| t.number).collect();
    numbers.sort();
    let mut expected = vec![a.number, b.number];
    expected.sort();
    assert_eq!(numbers, expected);
}

#[tokio::test]
async fn public_status_says_state_and_next_step_only() {
    let mut api = start().await;
    let t = api
        .client
        .create_ticket(create("k"))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let status = api
        .client
        .lookup_status(pb::LookupStatusRequest {
            number: t.number.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status,
        pb::TicketStatus {
            number: t.number.clone(),
            state: "application".into(),
            next_step: "materials-awaited".into(),
        }
    );
    // Once the materials are in, the decision is what the caller waits for.
    api.client
        .mark_materials_received(pb::MarkMaterialsReceivedRequest {
            number: t.number.clone(),
            note: None,
        })
        .await
        .unwrap();
    let status = api
        .client
        .lookup_status(pb::LookupStatusRequest { number: t.number })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.next_step, "decision-pending");
}

#[tokio::test]
async fn listing_rejects_bad_filters_and_pages() {
    let mut api = start().await;
    for i in 0..5 {
        api.client
            .create_ticket(create(&format!("k{i}")))
            .await
            .unwrap();
    }
    let list = |req: pb::ListTicketsRequest| {
        let mut c = api.client.clone();
        async move { c.list_tickets(req).await }
    };
    assert_invalid(
        list(pb::ListTicketsRequest {
            state: Some("open".into()),
            ..Default::default()
        })
        .await,
        "state",
    );
    assert_invalid(
        list(pb::ListTicketsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await,
        "page_token",
    );
    assert_invalid(
        list(pb::ListTicketsRequest {
            page_size: 10_000,
            ..Default::default()
        })
        .await,
        "page_size",
    );
    let page = list(pb::ListTicketsRequest {
        page_size: 3,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(page.tickets.len(), 3);
    let rest = list(pb::ListTicketsRequest {
        page_size: 3,
        page_token: page.next_page_token,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(rest.tickets.len(), 2);
    assert!(rest.next_page_token.is_empty());
}

#[tokio::test]
async fn the_actor_comes_from_the_token_never_from_a_header() {
    let mut api = start().await;
    let ivr = support::token(&api.ticketing, Role::Ivr, None).await;
    let mut as_ivr = TicketServiceClient::new(support::channel(api.addr, &ivr).await);
    // A header claiming to be someone else changes nothing.
    let mut request = tonic::Request::new(create("k"));
    request
        .metadata_mut()
        .insert("x-hotline-actor", "lawyer:li".parse().unwrap());
    let t = as_ivr
        .create_ticket(request)
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    // The IVR is told nothing it need not know: the numbers stay masked.
    assert_eq!(t.callback_number.as_deref(), Some("138****5678"));
    let events = api
        .client
        .list_ticket_events(pb::ListTicketEventsRequest { number: t.number })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events[0].actor, "ivr:ivr");
}
