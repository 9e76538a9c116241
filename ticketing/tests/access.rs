//! Who may call what, on the real gRPC server over a socket: every method
//! × every role, and no token, an expired token, a revoked token; a lawyer
//! kept to their own tickets; every denial in the audit log.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use hotline_domain::{Language, Matter, PhoneNumber, PriorityGroup, TicketKind};
use hotline_proto::v1 as pb;
use hotline_proto::v1::access_service_client::AccessServiceClient;
use hotline_proto::v1::report_service_client::ReportServiceClient;
use hotline_proto::v1::routing_service_client::RoutingServiceClient;
use hotline_proto::v1::ticket_service_client::TicketServiceClient;
use hotline_proto::AuthedChannel;
use hotline_ticketing::auth::{AuditFilter, NewToken, Role};
use hotline_ticketing::limitation::Limitation;
use hotline_ticketing::routing::Lawyer;
use hotline_ticketing::tickets::{Flags, NewTicket};
use hotline_ticketing::{server, Clock, ManualClock, Ticketing};
use tokio::net::TcpListener;
use tonic::{Code, Status};

/// What each method admits, written out here (not taken from the code) so
/// that a change to the rules must change this table too: ivr, lawyer,
/// supervisor, admin.
const MATRIX: &[(&str, [bool; 4])] = &[
    ("CreateTicket", [true, false, true, true]),
    ("GetTicket", [false, true, true, true]),
    ("ListTickets", [false, false, true, true]),
    ("TransitionTicket", [false, false, true, true]),
    ("CorrectTicket", [false, true, true, true]),
    ("MarkMaterialsReceived", [false, true, true, true]),
    ("AddNote", [false, true, true, true]),
    ("ListTicketEvents", [false, true, true, true]),
    ("LookupStatus", [true, false, true, true]),
    ("UploadRecording", [true, false, false, false]),
    ("GetRecording", [false, true, true, true]),
    ("PutLawyer", [false, false, false, true]),
    ("ListLawyers", [false, false, true, true]),
    ("AddShift", [false, false, true, true]),
    ("ListShifts", [false, true, true, true]),
    ("SwapShift", [false, false, true, true]),
    ("OnDuty", [false, false, true, true]),
    ("Acknowledge", [false, true, false, false]),
    ("Decline", [false, true, false, false]),
    ("StartCase", [false, true, false, false]),
    ("CloseCase", [false, true, false, false]),
    ("Queue", [false, true, true, true]),
    ("Pull", [false, true, false, false]),
    ("Reassign", [false, false, true, true]),
    ("MyWork", [false, true, true, true]),
    ("WatchOffers", [false, true, false, false]),
    ("WatchEvents", [false, false, true, true]),
    ("Check", [false, false, true, true]),
    ("WhoAmI", [true, true, true, true]),
    ("CreateToken", [false, false, false, true]),
    ("ListTokens", [false, false, false, true]),
    ("RevokeToken", [false, false, false, true]),
    ("RecordDenial", [true, true, true, true]),
    ("ListAudit", [false, false, true, true]),
    ("Report", [false, false, true, true]),
    ("QualitySample", [false, false, true, true]),
    ("PublishIvrFigures", [true, false, false, false]),
    ("ListCallbacks", [false, true, true, true]),
    ("RecordCallback", [false, true, true, true]),
    ("TakePages", [true, false, false, false]),
    ("ReportPage", [true, false, false, false]),
    ("CallBack", [false, true, true, true]),
    ("TakeBridges", [true, false, false, false]),
    ("ReportBridge", [true, false, false, false]),
];

struct World {
    ticketing: Ticketing,
    clock: ManualClock,
    addr: std::net::SocketAddr,
    /// Offered to lawyer li (critical, li the only one on duty).
    offered: String,
    _db: support::TestDb,
}

async fn world() -> World {
    let (store, db) = support::sqlite().await;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap());
    let ticketing = Ticketing::new(
        store,
        Arc::new(clock.clone()),
        Arc::new(Limitation::bundled().unwrap()),
    );
    for id in ["li", "wang"] {
        let lawyer = Lawyer {
            id: id.into(),
            center: "default".into(),
            name: id.into(),
            phone: "13900000001".into(),
            sip_uri: None,
            skills: vec!["labor-wages".into()],
            regions: vec![],
            languages: vec!["zh".into()],
            capacity: 10,
            active: true,
        };
        ticketing.put_lawyer(&lawyer).await.unwrap();
    }
    let now = clock.now();
    ticketing
        .add_shift("li", now - Duration::hours(1), now + Duration::hours(8))
        .await
        .unwrap()
        .unwrap();
    let new = NewTicket {
        idempotency_key: "access-offered".to_owned(),
        proposed_number: None,
        kind: TicketKind::Application,
        matter: Some(Matter::LaborWages),
        caller_number: Some(PhoneNumber::parse("13812345678").unwrap()),
        callback_number: Some(PhoneNumber::parse("13812345678").unwrap()),
        event_date: None,
        document: None,
        chosen_rule: None,
        preservation: true,
        priority_group: PriorityGroup::None,
        language: Language::Zh,
        center: "default".to_owned(),
        region: None,
        summary: String::new(),
        flags: Flags::default(),
        last_node: None,
        actor: "ivr".to_owned(),
    };
    let (offered, _) = ticketing.create(&new).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = ticketing.clone();
    tokio::spawn(async move { server::run(listener, served, std::future::pending()).await });
    World {
        ticketing,
        clock,
        addr,
        offered: offered.number.to_string(),
        _db: db,
    }
}

impl World {
    async fn token(&self, role: Role, lawyer: Option<&str>) -> String {
        support::token(&self.ticketing, role, lawyer).await
    }

    async fn channel(&self, token: Option<&str>) -> AuthedChannel {
        match token {
            Some(t) => support::channel(self.addr, t).await,
            None => {
                let channel =
                    tonic::transport::Channel::from_shared(format!("http://{}", self.addr))
                        .unwrap()
                        .connect()
                        .await
                        .unwrap();
                tonic::service::interceptor::InterceptedService::new(
                    channel,
                    hotline_proto::Bearer::default(),
                )
            }
        }
    }
}

/// A ticket number that no ticket has (valid check digit).
const NOBODY: &str = "1000000008";

/// Calls `method` with arguments that pass the gate's own checks for a
/// holder who may call it and change nothing (most are refused later, for
/// a reason that is not about permission).
async fn call(method: &str, channel: AuthedChannel, offered: &str) -> Result<(), Status> {
    let mut tickets = TicketServiceClient::new(channel.clone());
    let mut routing = RoutingServiceClient::new(channel.clone());
    let channel_for_reports = channel.clone();
    let mut access = AccessServiceClient::new(channel);
    let number = || offered.to_owned();
    match method {
        "CreateTicket" => tickets
            .create_ticket(pb::CreateTicketRequest::default())
            .await
            .map(drop),
        "GetTicket" => tickets
            .get_ticket(pb::GetTicketRequest { number: number() })
            .await
            .map(drop),
        "ListTickets" => tickets
            .list_tickets(pb::ListTicketsRequest::default())
            .await
            .map(drop),
        "TransitionTicket" => tickets
            .transition_ticket(pb::TransitionTicketRequest {
                number: number(),
                to: "nowhere".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "CorrectTicket" => tickets
            .correct_ticket(pb::CorrectTicketRequest {
                number: number(),
                matter: Some("no-such-matter".into()),
                ..Default::default()
            })
            .await
            .map(drop),
        "MarkMaterialsReceived" => tickets
            .mark_materials_received(pb::MarkMaterialsReceivedRequest {
                number: number(),
                note: Some("x".repeat(10_000)),
            })
            .await
            .map(drop),
        "AddNote" => tickets
            .add_note(pb::AddNoteRequest {
                number: number(),
                text: String::new(),
            })
            .await
            .map(drop),
        "ListCallbacks" => tickets
            .list_callbacks(pb::ListCallbacksRequest::default())
            .await
            .map(drop),
        "CallBack" => tickets
            .call_back(pb::CallBackRequest {
                number: number(),
                lawyer: None,
            })
            .await
            .map(drop),
        "RecordCallback" => tickets
            .record_callback(pb::RecordCallbackRequest {
                number: number(),
                outcome: "no-answer".into(),
                note: None,
            })
            .await
            .map(drop),
        "ListTicketEvents" => tickets
            .list_ticket_events(pb::ListTicketEventsRequest { number: number() })
            .await
            .map(drop),
        "LookupStatus" => tickets
            .lookup_status(pb::LookupStatusRequest { number: number() })
            .await
            .map(drop),
        "UploadRecording" => tickets
            .upload_recording(tokio_stream::iter(Vec::<pb::RecordingChunk>::new()))
            .await
            .map(drop),
        "GetRecording" => tickets
            .get_recording(pb::GetRecordingRequest { id: 999 })
            .await
            .map(drop),
        "PutLawyer" => routing.put_lawyer(pb::Lawyer::default()).await.map(drop),
        "ListLawyers" => routing
            .list_lawyers(pb::ListLawyersRequest {})
            .await
            .map(drop),
        "AddShift" => routing
            .add_shift(pb::AddShiftRequest {
                lawyer: "li".into(),
                from: "2026-03-02T10:00".into(),
                to: "2026-03-02T09:00".into(),
            })
            .await
            .map(drop),
        "ListShifts" => routing
            .list_shifts(pb::ListShiftsRequest::default())
            .await
            .map(drop),
        "SwapShift" => routing
            .swap_shift(pb::SwapShiftRequest {
                shift: 0,
                to_lawyer: "li".into(),
            })
            .await
            .map(drop),
        "OnDuty" => routing
            .on_duty(pb::OnDutyRequest::default())
            .await
            .map(drop),
        // The lawyer's own offer: taken (the calls after this one find the
        // ticket provisional, li on it).
        "Acknowledge" => routing
            .acknowledge(pb::OfferActionRequest {
                number: number(),
                ..Default::default()
            })
            .await
            .map(drop),
        "Decline" => routing
            .decline(pb::OfferActionRequest {
                number: number(),
                ..Default::default()
            })
            .await
            .map(drop),
        "StartCase" => routing
            .start_case(pb::CaseActionRequest {
                number: number(),
                ..Default::default()
            })
            .await
            .map(drop),
        "CloseCase" => routing
            .close_case(pb::CaseActionRequest {
                number: number(),
                ..Default::default()
            })
            .await
            .map(drop),
        "Queue" => routing.queue(pb::QueueRequest::default()).await.map(drop),
        "Pull" => routing
            .pull(pb::OfferActionRequest {
                number: NOBODY.into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "Reassign" => routing
            .reassign(pb::ReassignRequest {
                number: number(),
                to_lawyer: "nobody".into(),
                reason: "test".into(),
            })
            .await
            .map(drop),
        "MyWork" => routing
            .my_work(pb::MyWorkRequest {
                lawyer: String::new(),
            })
            .await
            .map(drop),
        "WatchOffers" => routing
            .watch_offers(pb::WatchOffersRequest::default())
            .await
            .map(drop),
        "WatchEvents" => routing
            .watch_events(pb::WatchEventsRequest::default())
            .await
            .map(drop),
        "Check" => routing.check(pb::CheckRequest::default()).await.map(drop),
        "TakePages" => routing
            .take_pages(pb::TakePagesRequest {
                node: "ivr-1".into(),
            })
            .await
            .map(drop),
        "TakeBridges" => routing
            .take_bridges(pb::TakeBridgesRequest {
                node: "ivr-1".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ReportBridge" => routing
            .report_bridge(pb::BridgeReport {
                bridge_id: 1,
                node: "ivr-1".into(),
                lawyer_leg: "no-answer".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ReportPage" => routing
            .report_page(pb::PageReport {
                page_id: 1,
                node: "ivr-1".into(),
                outcome: "no-answer".into(),
                detail: None,
                permanent: false,
            })
            .await
            .map(drop),
        "WhoAmI" => access.who_am_i(pb::WhoAmIRequest {}).await.map(drop),
        "CreateToken" => access
            .create_token(pb::CreateTokenRequest {
                role: "root".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ListTokens" => access.list_tokens(pb::ListTokensRequest {}).await.map(drop),
        "RevokeToken" => access
            .revoke_token(pb::RevokeTokenRequest {
                id: "000000000000".into(),
            })
            .await
            .map(drop),
        "ListAudit" => access
            .list_audit(pb::ListAuditRequest::default())
            .await
            .map(drop),
        "Report" => ReportServiceClient::new(channel_for_reports.clone())
            .report(pb::ReportRequest {
                from: "2026-01-01".into(),
                to: "2026-01-31".into(),
                format: "csv".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "QualitySample" => ReportServiceClient::new(channel_for_reports.clone())
            .quality_sample(pb::QualitySampleRequest {
                from: "2026-01-01".into(),
                to: "2026-01-31".into(),
                per_lawyer: 2,
                seed: 1,
                ..Default::default()
            })
            .await
            .map(drop),
        "PublishIvrFigures" => ReportServiceClient::new(channel_for_reports.clone())
            .publish_ivr_figures(pb::IvrFigures {
                ivr_node: "ivr-1".into(),
                boot: "0123456789abcdef0123456789abcdef".into(),
                calls_in_progress: 0,
                calls: Vec::new(),
                nodes: vec![pb::MenuNodeDay {
                    date: "2026-01-05".into(),
                    center: "default".into(),
                    node: "main".into(),
                    entered: 1,
                    ..Default::default()
                }],
            })
            .await
            .map(drop),
        "RecordDenial" => access
            .record_denial(pb::RecordDenialRequest {
                action: "/hotline.v1.IvrAdmin/ListCalls".into(),
                detail: "a test".into(),
            })
            .await
            .map(drop),
        other => panic!("the matrix names an unknown method {other}"),
    }
}

fn gated(result: &Result<(), Status>) -> Option<Code> {
    match result {
        Err(s) if matches!(s.code(), Code::PermissionDenied | Code::Unauthenticated) => {
            Some(s.code())
        }
        _ => None,
    }
}

#[tokio::test]
async fn every_method_admits_exactly_the_roles_it_should() {
    let w = world().await;
    // Every method the server has is in the table.
    let methods: Vec<&str> = MATRIX.iter().map(|(m, _)| *m).collect();
    for method in hotline_ticketing::api::gate::Method::ALL {
        assert!(
            methods.contains(&format!("{method:?}").as_str()),
            "{method:?} is missing from the matrix"
        );
    }
    let tokens = [
        w.token(Role::Ivr, None).await,
        w.token(Role::Lawyer, Some("li")).await,
        w.token(Role::Supervisor, None).await,
        w.token(Role::Admin, None).await,
    ];
    let denied_before = denied(&w).await;
    let mut wrong = Vec::new();
    let mut denials = 0;
    for (method, allowed) in MATRIX {
        for (i, role) in Role::ALL.iter().enumerate() {
            // A second apart, as people work: each token's denials are
            // written at most 20 a second (see the test below).
            w.clock.advance(Duration::seconds(1));
            let result = call(method, w.channel(Some(&tokens[i])).await, &w.offered).await;
            // A lawyer hears only recordings of tickets assigned to them;
            // the id asked for here is nobody's, and a lawyer is told
            // nothing more about it than about someone else's.
            let scoped_out = *method == "GetRecording" && *role == Role::Lawyer;
            let expected = if allowed[i] && !scoped_out {
                None
            } else {
                denials += 1;
                Some(Code::PermissionDenied)
            };
            // A RecordDenial that is let through writes a denial line.
            if *method == "RecordDenial" && expected.is_none() {
                denials += 1;
            }
            if gated(&result) != expected {
                wrong.push(format!("{method} as {role}: {result:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected answers:\n{}",
        wrong.join("\n")
    );
    // Every denial of a valid token is in the audit log.
    assert_eq!(denied(&w).await - denied_before, denials);
}

/// A token trying what its role may not, in a loop, is written down 20
/// times a second, not without end; the next second it is written again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_denied_in_a_loop_writes_at_most_twenty_lines_a_second() {
    let w = world().await;
    let ivr = w.channel(Some(&w.token(Role::Ivr, None).await)).await;
    let before = denied(&w).await;
    for _ in 0..30 {
        let refused = TicketServiceClient::new(ivr.clone())
            .list_tickets(pb::ListTicketsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
    }
    assert_eq!(denied(&w).await - before, 20);
    w.clock.advance(Duration::seconds(1));
    TicketServiceClient::new(ivr)
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied(&w).await - before, 21);
}

async fn denied(w: &World) -> usize {
    let all = w
        .ticketing
        .audit_log(&AuditFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    all.iter().filter(|e| e.outcome == "denied").count()
}

#[tokio::test]
async fn no_token_an_expired_token_and_a_revoked_token_open_nothing() {
    let w = world().await;
    let expiring = NewToken {
        role: Role::Admin,
        lawyer: None,
        center: None,
        name: "temp".into(),
        expires_at: Some(w.clock.now() + Duration::seconds(60)),
    };
    let (expired, _) = w.ticketing.create_token(&expiring, "test").await.unwrap();
    let revoked = w.token(Role::Admin, None).await;
    let id = revoked.split('_').nth(1).unwrap().to_owned();
    w.ticketing.revoke_token(&id, "admin:test").await.unwrap();
    // Before it expires the expiring token works …
    assert_eq!(
        gated(&call("ListTickets", w.channel(Some(&expired)).await, &w.offered).await),
        None
    );
    w.clock.advance(Duration::seconds(61));
    let mistyped = format!("{}0", &revoked[..revoked.len() - 1]);
    for (what, token) in [
        ("no token", None),
        ("an expired token", Some(expired.as_str())),
        ("a revoked token", Some(revoked.as_str())),
        ("a mistyped token", Some(mistyped.as_str())),
        ("not a token", Some("letmein")),
    ] {
        for (method, _) in MATRIX {
            let result = call(method, w.channel(token).await, &w.offered).await;
            assert_eq!(
                gated(&result),
                Some(Code::Unauthenticated),
                "{method} with {what}: {result:?}"
            );
        }
    }
    let s = call("WhoAmI", w.channel(Some(&expired)).await, &w.offered)
        .await
        .unwrap_err();
    assert!(s.message().contains("expired"), "{}", s.message());
    let s = call("WhoAmI", w.channel(None).await, &w.offered)
        .await
        .unwrap_err();
    assert!(s.message().contains("HOTLINE_TOKEN"), "{}", s.message());
    // Strangers are audited too, within a per-second budget.
    let anonymous = w
        .ticketing
        .audit_log(&AuditFilter {
            actor: Some("anonymous".into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        (1..=20).contains(&anonymous.len()),
        "{} anonymous lines",
        anonymous.len()
    );
}

/// A lawyer's stream of offers shows the caller's numbers in full while the
/// offer waits for them, and only then: replayed after they declined, the
/// same offer shows them masked.
#[tokio::test]
async fn the_offers_stream_shows_numbers_in_full_only_while_the_offer_is_theirs() {
    let w = world().await;
    let li = w
        .channel(Some(&w.token(Role::Lawyer, Some("li")).await))
        .await;
    let replay = |channel: AuthedChannel| async move {
        let mut stream = RoutingServiceClient::new(channel)
            .watch_offers(pb::WatchOffersRequest::default())
            .await
            .unwrap()
            .into_inner();
        let mut seen = Vec::new();
        while let Ok(Ok(Some(e))) =
            tokio::time::timeout(std::time::Duration::from_secs(2), stream.message()).await
        {
            let caller = e.ticket.and_then(|t| t.caller_number).unwrap_or_default();
            let done = e.event == "declined";
            seen.push((e.event, caller));
            if done {
                break;
            }
        }
        seen
    };
    let full = "13812345678".to_owned();
    let masked = "138****5678".to_owned();
    assert_eq!(replay(li.clone()).await, [("offered".to_owned(), full)]);
    let number = hotline_domain::TicketNumber::parse(&w.offered).unwrap();
    w.ticketing
        .decline(&number, "li", "conflict of interest")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        replay(li).await,
        [
            ("offered".to_owned(), masked.clone()),
            ("declined".to_owned(), masked)
        ]
    );
}

#[tokio::test]
async fn a_lawyer_sees_and_acts_on_their_own_tickets_only() {
    let w = world().await;
    let li = w
        .channel(Some(&w.token(Role::Lawyer, Some("li")).await))
        .await;
    let wang = w
        .channel(Some(&w.token(Role::Lawyer, Some("wang")).await))
        .await;
    let number = || w.offered.clone();

    // li, offered the ticket, sees it with the numbers to call.
    let seen = TicketServiceClient::new(li.clone())
        .get_ticket(pb::GetTicketRequest { number: number() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.callback_number.as_deref(), Some("13812345678"));

    // wang can neither read, acknowledge, decline, start nor close it, nor
    // act as li.
    let mut t = TicketServiceClient::new(wang.clone());
    let mut r = RoutingServiceClient::new(wang.clone());
    let denied = |result: Result<(), Status>| {
        assert_eq!(gated(&result), Some(Code::PermissionDenied), "{result:?}");
    };
    denied(
        t.get_ticket(pb::GetTicketRequest { number: number() })
            .await
            .map(drop),
    );
    denied(
        t.list_ticket_events(pb::ListTicketEventsRequest { number: number() })
            .await
            .map(drop),
    );
    let act = pb::OfferActionRequest {
        number: number(),
        lawyer: String::new(),
        reason: Some("busy".into()),
    };
    denied(r.acknowledge(act.clone()).await.map(drop));
    denied(r.decline(act.clone()).await.map(drop));
    let case = pb::CaseActionRequest {
        number: number(),
        lawyer: String::new(),
        outcome: Some("advice-given".into()),
    };
    denied(r.start_case(case.clone()).await.map(drop));
    denied(r.close_case(case).await.map(drop));
    denied(
        r.acknowledge(pb::OfferActionRequest {
            lawyer: "li".into(),
            ..act.clone()
        })
        .await
        .map(drop),
    );
    // A number that does not exist tells wang nothing either: the same
    // code and the same words as li's ticket.
    let theirs = t
        .get_ticket(pb::GetTicketRequest { number: number() })
        .await
        .unwrap_err();
    let nobodys = t
        .get_ticket(pb::GetTicketRequest {
            number: NOBODY.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(nobodys.code(), Code::PermissionDenied, "{nobodys:?}");
    assert_eq!(
        nobodys.message().replace(NOBODY, "N"),
        theirs.message().replace(&number(), "N")
    );

    // li acknowledges: the history names li, from the token.
    RoutingServiceClient::new(li.clone())
        .acknowledge(pb::OfferActionRequest {
            number: number(),
            ..Default::default()
        })
        .await
        .unwrap();
    let history = w
        .ticketing
        .history(&hotline_domain::TicketNumber::parse(&w.offered).unwrap())
        .await
        .unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.kind.as_str() == "offer_acknowledged" && e.actor == "li"),
        "{history:?}"
    );

    // Nor can wang pull li's case out of li's hands: only what waits in
    // the queue can be pulled.
    let pulled = RoutingServiceClient::new(wang.clone())
        .pull(pb::OfferActionRequest {
            number: number(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(pulled.code(), Code::FailedPrecondition, "{pulled:?}");
    let still = w
        .ticketing
        .ticket(&hotline_domain::TicketNumber::parse(&w.offered).unwrap())
        .await
        .unwrap();
    assert_eq!(still.assigned_lawyer.as_deref(), Some("li"));

    // The audit log has wang's denials and li's read of the numbers.
    let lines = w
        .ticketing
        .audit_log(&AuditFilter {
            ticket: Some(w.offered.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(lines
        .iter()
        .any(|l| l.actor == "lawyer:li" && l.action == "read-numbers"));
    assert!(
        lines
            .iter()
            .filter(|l| l.actor == "lawyer:wang" && l.outcome == "denied")
            .count()
            >= 6,
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_supervisor_of_one_center_sees_only_that_center() {
    let w = world().await;
    let new = NewToken {
        role: Role::Supervisor,
        lawyer: None,
        center: Some("shenzhen".into()),
        name: "zhang".into(),
        expires_at: None,
    };
    let (token, _) = w.ticketing.create_token(&new, "test").await.unwrap();
    let channel = w.channel(Some(&token)).await;
    let mut t = TicketServiceClient::new(channel);
    let s = t
        .get_ticket(pb::GetTicketRequest {
            number: w.offered.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    let listed = t
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed.tickets.is_empty(),
        "the default center's tickets are not theirs"
    );
    let s = t
        .list_tickets(pb::ListTicketsRequest {
            center: Some("default".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    // Nor enter a ticket for another center, nor give away another
    // center's shift, even to a lawyer of their own.
    let s = t
        .create_ticket(pb::CreateTicketRequest {
            idempotency_key: "shenzhen-for-default".into(),
            matter: Some("labor-wages".into()),
            center: Some("default".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    w.ticketing
        .put_lawyer(&Lawyer {
            id: "zhou".into(),
            center: "shenzhen".into(),
            name: "zhou".into(),
            phone: "13900000002".into(),
            sip_uri: None,
            skills: vec![],
            regions: vec![],
            languages: vec!["zh".into()],
            capacity: 10,
            active: true,
        })
        .await
        .unwrap();
    let lis = w
        .ticketing
        .shifts(None)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.lawyer == "li")
        .unwrap();
    let s = RoutingServiceClient::new(w.channel(Some(&token)).await)
        .swap_shift(pb::SwapShiftRequest {
            shift: lis.id,
            to_lawyer: "zhou".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
}

#[tokio::test]
async fn one_token_holds_a_bounded_number_of_streams() {
    let w = world().await;
    let token = w.token(Role::Supervisor, None).await;
    let mut routing = RoutingServiceClient::new(w.channel(Some(&token)).await);
    let mut open = Vec::new();
    for _ in 0..hotline_ticketing::api::gate::MAX_STREAMS_PER_TOKEN {
        open.push(
            routing
                .watch_events(pb::WatchEventsRequest::default())
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let refused = routing
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // Another token is not touched.
    let other = w.token(Role::Supervisor, None).await;
    RoutingServiceClient::new(w.channel(Some(&other)).await)
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap();
    // A stream closed gives its place back.
    drop(open.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match routing
            .watch_events(pb::WatchEventsRequest::default())
            .await
        {
            Ok(_) => break,
            Err(s)
                if s.code() == Code::ResourceExhausted && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(s) => panic!("the place was not given back: {s:?}"),
        }
    }
}
