//! The SIP endpoint driven by hand: messages as sipp and baresip send them,
//! time moved by the test, every output checked. No sockets, no sleeping.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline_ivr::media::dtmf::Digit;
use hotline_ivr::sip::endpoint::{Config, EndReason, Endpoint, Event, Output, Peer, Transport};
use hotline_ivr::sip::message::{Message, StartLine};

const LOCAL: &str = "127.0.0.1:5060";

fn peer() -> Peer {
    Peer {
        addr: "127.0.0.1:5061".parse().unwrap(),
        transport: Transport::Udp,
    }
}

fn local() -> SocketAddr {
    LOCAL.parse().unwrap()
}

fn invite(branch: &str) -> String {
    format!(
        "INVITE sip:12348@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}\r\n\
         From: sipp <sip:13812345678@127.0.0.1:5061>;tag=caller\r\nTo: <sip:12348@127.0.0.1:5060>\r\n\
         Call-ID: call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:sipp@127.0.0.1:5061>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0"
    )
}

fn in_dialog(
    method: &str,
    cseq: u32,
    to_tag: &str,
    branch: &str,
    extra: &str,
    body: &str,
) -> String {
    format!(
        "{method} sip:ivr@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}\r\n\
         From: sipp <sip:13812345678@127.0.0.1:5061>;tag=caller\r\nTo: <sip:12348@127.0.0.1:5060>;tag={to_tag}\r\n\
         Call-ID: call-1\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

struct Harness {
    ep: Endpoint,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Self {
            ep: Endpoint::new(Config::default()),
            now: Instant::now(),
        }
    }

    fn recv(&mut self, text: &str) -> Vec<Output> {
        self.ep
            .handle_message(self.now, peer(), local(), text.as_bytes());
        self.drain()
    }

    fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.ep.poll_output()).collect()
    }

    fn advance(&mut self, by: Duration) -> Vec<Output> {
        self.now += by;
        self.ep.handle_timeout(self.now);
        self.drain()
    }
}

fn sent(outputs: &[Output]) -> Vec<Message> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { data, .. } => Some(Message::parse(data).unwrap()),
            Output::Event(_) => None,
        })
        .collect()
}

fn codes(outputs: &[Output]) -> Vec<u16> {
    sent(outputs)
        .iter()
        .filter_map(|m| match m.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        })
        .collect()
}

fn events(outputs: &[Output]) -> Vec<Event> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            Output::Send { .. } => None,
        })
        .collect()
}

/// INVITE, answer: returns the call and our To tag.
fn answered(h: &mut Harness) -> (hotline_ivr::sip::endpoint::CallKey, String) {
    let out = h.recv(&invite("z9hG4bK-1"));
    assert_eq!(codes(&out), [100]);
    let [Event::Incoming {
        call,
        caller,
        called,
        offer,
        ..
    }] = &events(&out)[..]
    else {
        panic!("{out:?}")
    };
    assert_eq!(caller.as_deref(), Some("13812345678"));
    assert_eq!(called.as_deref(), Some("12348"));
    assert_eq!(offer.as_deref(), Some("v=0"));
    h.ep.answer(h.now, *call, "v=0\r\n");
    let out = h.drain();
    let ok = &sent(&out)[0];
    assert_eq!(
        ok.start,
        StartLine::Response {
            code: 200,
            reason: "OK".into()
        }
    );
    assert!(ok.header("Contact").unwrap().contains("127.0.0.1:5060"));
    assert_eq!(ok.body, b"v=0\r\n");
    (*call, ok.to_tag().unwrap().to_owned())
}

#[test]
fn invite_answer_ack_bye() {
    let mut h = Harness::new();
    let (call, tag) = answered(&mut h);
    // No ACK yet: the 200 is resent after T1, then 2·T1.
    assert_eq!(codes(&h.advance(Duration::from_millis(500))), [200]);
    assert_eq!(
        codes(&h.advance(Duration::from_millis(999))),
        Vec::<u16>::new()
    );
    assert_eq!(codes(&h.advance(Duration::from_millis(1))), [200]);
    let out = h.recv(&in_dialog("ACK", 1, &tag, "z9hG4bK-2", "", ""));
    assert_eq!(events(&out), [Event::Confirmed { call, sdp: None }]);
    assert!(
        codes(&h.advance(Duration::from_secs(10))).is_empty(),
        "retransmissions stop at the ACK"
    );
    let out = h.recv(&in_dialog("BYE", 2, &tag, "z9hG4bK-3", "", ""));
    assert_eq!(codes(&out), [200]);
    assert_eq!(
        events(&out),
        [Event::Ended {
            call,
            call_id: "call-1".into(),
            reason: EndReason::RemoteBye
        }]
    );
    // A retransmitted BYE gets the same 200 and ends nothing twice.
    let out = h.recv(&in_dialog("BYE", 2, &tag, "z9hG4bK-3", "", ""));
    assert_eq!(codes(&out), [200]);
    assert!(events(&out).is_empty());
    assert_eq!(h.ep.active_calls(), 0);
}

#[test]
fn a_retransmitted_invite_is_one_call() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bK-1"));
    let out = h.recv(&invite("z9hG4bK-1"));
    assert_eq!(codes(&out), [100]);
    assert!(events(&out).is_empty());
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn cancel_before_the_answer_gets_487() {
    let mut h = Harness::new();
    let out = h.recv(&invite("z9hG4bK-1"));
    let [Event::Incoming { call, .. }] = &events(&out)[..] else {
        panic!()
    };
    let cancel = invite("z9hG4bK-1")
        .replace("INVITE sip", "CANCEL sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        .replace("Content-Length: 3\r\n\r\nv=0", "Content-Length: 0\r\n\r\n");
    let out = h.recv(&cancel);
    assert_eq!(codes(&out), [200, 487]);
    assert_eq!(
        events(&out),
        [Event::Ended {
            call: *call,
            call_id: "call-1".into(),
            reason: EndReason::Cancelled
        }]
    );
    // The 487 repeats until its ACK (same branch as the INVITE).
    assert_eq!(codes(&h.advance(Duration::from_millis(500))), [487]);
    let tag = sent(&out)[1].to_tag().unwrap().to_owned();
    h.recv(&in_dialog("ACK", 1, &tag, "z9hG4bK-1", "", ""));
    assert!(codes(&h.advance(Duration::from_secs(5))).is_empty());
}

#[test]
fn no_ack_ends_the_call_with_bye() {
    let mut h = Harness::new();
    let (call, _) = answered(&mut h);
    let mut out = Vec::new();
    for _ in 0..40 {
        out.extend(h.advance(Duration::from_secs(1)));
    }
    let byes = sent(&out)
        .into_iter()
        .filter(|m| m.method().is_some())
        .count();
    assert!(byes >= 1, "a BYE goes out");
    assert!(events(&out).contains(&Event::Ended {
        call,
        call_id: "call-1".into(),
        reason: EndReason::NoAck
    }));
}

/// A stranger's answered call that is never ACKed (a forged source) is
/// given up after 16·T1, not 64·T1: the slot is free again and the 200 was
/// resent four times, not ten.
#[test]
fn an_untrusted_caller_who_never_acks_is_hung_up_after_eight_seconds() {
    let mut h = Harness::new();
    let (call, _) = answered(&mut h);
    let mut out = Vec::new();
    for _ in 0..7 {
        out.extend(h.advance(Duration::from_secs(1)));
    }
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, Event::Ended { .. })),
        "still waiting at 7 s"
    );
    for _ in 0..2 {
        out.extend(h.advance(Duration::from_secs(1)));
    }
    assert!(events(&out).contains(&Event::Ended {
        call,
        call_id: "call-1".into(),
        reason: EndReason::NoAck
    }));
    let resent_200 = codes(&out).into_iter().filter(|c| *c == 200).count();
    assert!(resent_200 <= 4, "{resent_200} resends of the 200");
}

#[test]
fn options_and_invites_while_draining() {
    let mut h = Harness::new();
    let options = invite("z9hG4bK-o1")
        .replace("INVITE sip", "OPTIONS sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    assert_eq!(codes(&h.recv(&options)), [200]);
    h.ep.set_draining(true);
    assert_eq!(
        codes(&h.recv(&options.replace("z9hG4bK-o1", "z9hG4bK-o2"))),
        [503]
    );
    let out = h.recv(&invite("z9hG4bK-9"));
    assert_eq!(codes(&out), [503]);
    assert!(events(&out).is_empty());
}

#[test]
fn info_dtmf_relay_is_a_digit() {
    let mut h = Harness::new();
    let (call, tag) = answered(&mut h);
    h.recv(&in_dialog("ACK", 1, &tag, "z9hG4bK-2", "", ""));
    let out = h.recv(&in_dialog(
        "INFO",
        2,
        &tag,
        "z9hG4bK-4",
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=#\r\nDuration=160\r\n",
    ));
    assert_eq!(codes(&out), [200]);
    assert_eq!(
        events(&out),
        [Event::Dtmf {
            call,
            digit: Digit::Pound
        }]
    );
}

#[test]
fn reinvite_for_hold_is_reoffered_and_answered() {
    let mut h = Harness::new();
    let (call, tag) = answered(&mut h);
    h.recv(&in_dialog("ACK", 1, &tag, "z9hG4bK-2", "", ""));
    let out = h.recv(&in_dialog(
        "INVITE",
        2,
        &tag,
        "z9hG4bK-5",
        "Content-Type: application/sdp\r\n",
        "a=sendonly",
    ));
    assert_eq!(
        events(&out),
        [Event::Reoffer {
            call,
            offer: Some("a=sendonly".into())
        }]
    );
    h.ep.answer(h.now, call, "a=recvonly\r\n");
    assert_eq!(codes(&h.drain()), [200]);
    let out = h.recv(&in_dialog("ACK", 2, &tag, "z9hG4bK-6", "", ""));
    assert!(events(&out).is_empty());
    assert!(codes(&h.advance(Duration::from_secs(5))).is_empty());
}

#[test]
fn unknown_methods_unknown_dialogs_and_garbage() {
    let mut h = Harness::new();
    let base =
        invite("z9hG4bK-7").replace("Content-Length: 3\r\n\r\nv=0", "Content-Length: 0\r\n\r\n");
    let publish = base
        .replace("INVITE sip", "PUBLISH sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 PUBLISH");
    assert_eq!(codes(&h.recv(&publish)), [501]);
    let register = base
        .replace("INVITE sip", "REGISTER sip")
        .replace("CSeq: 1 INVITE", "CSeq: 1 REGISTER");
    assert_eq!(codes(&h.recv(&register)), [405]);
    assert_eq!(
        codes(&h.recv(&in_dialog("BYE", 2, "nobody", "z9hG4bK-8", "", ""))),
        [481]
    );
    // Malformed but addressable: 400 naming the fault.
    let bad = base
        .replace("CSeq: 1 INVITE", "CSeq: x INVITE")
        .replace("z9hG4bK-7", "z9hG4bK-10");
    let out = h.recv(&bad);
    assert_eq!(codes(&out), [400]);
    let StartLine::Response { reason, .. } = &sent(&out)[0].start else {
        panic!()
    };
    assert!(reason.contains("CSeq"), "{reason}");
    // Garbage gets no answer at all, and the endpoint goes on.
    assert!(h.recv("\u{0}\u{1}garbage").is_empty());
    assert!(h.recv("SIP/2.0 200 OK\r\n\r\n").is_empty());
    let out = h.recv(&invite("z9hG4bK-11"));
    assert_eq!(codes(&out), [100]);
}

#[test]
fn an_outbound_call_rings_is_answered_and_hung_up() {
    let mut h = Harness::new();
    let callee = Peer {
        addr: "127.0.0.1:5070".parse().unwrap(),
        transport: Transport::Udp,
    };
    let call = h.ep.dial(
        h.now,
        callee,
        local(),
        "sip:lawyer@127.0.0.1:5070",
        "12348",
        "v=0\r\n",
    );
    let out = h.drain();
    let inv = &sent(&out)[0];
    assert_eq!(inv.method().map(|m| m.as_str()), Some("INVITE"));
    // Unanswered: retransmitted after T1.
    assert_eq!(sent(&h.advance(Duration::from_millis(500))).len(), 1);
    let resp = |code: u16, reason: &str, body: &str| {
        let mut r = inv.response(code, reason, Some("callee"));
        r.add_header("Contact", "<sip:lawyer@127.0.0.1:5070>");
        r.body = body.as_bytes().to_vec();
        String::from_utf8(r.to_bytes()).unwrap()
    };
    let out = h.recv(&resp(180, "Ringing", ""));
    assert_eq!(events(&out), [Event::Ringing { call }]);
    assert!(
        sent(&h.advance(Duration::from_secs(2))).is_empty(),
        "no retransmission after a provisional"
    );
    let out = h.recv(&resp(200, "OK", "v=0\r\n"));
    let acks: Vec<_> = sent(&out)
        .into_iter()
        .filter(|m| m.method().map(|m| m.as_str()) == Some("ACK"))
        .collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(
        events(&out),
        [Event::Answered {
            call,
            sdp: Some("v=0\r\n".into())
        }]
    );
    h.ep.hangup(h.now, call);
    let out = h.drain();
    let bye = &sent(&out)[0];
    assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"));
    assert_eq!(bye.to_tag(), Some("callee"));
    assert!(matches!(
        &events(&out)[..],
        [Event::Ended { call: c, reason: EndReason::LocalBye, .. }] if *c == call
    ));
}

#[test]
fn an_answer_that_crosses_our_cancel_is_acked_and_hung_up() {
    let mut h = Harness::new();
    let callee = Peer {
        addr: "127.0.0.1:5070".parse().unwrap(),
        transport: Transport::Udp,
    };
    let call = h.ep.dial(
        h.now,
        callee,
        local(),
        "sip:13812345678@127.0.0.1:5070",
        "12348",
        "v=0\r\n",
    );
    let out = h.drain();
    let inv = sent(&out)[0].clone();
    let ringing =
        String::from_utf8(inv.response(180, "Ringing", Some("callee")).to_bytes()).unwrap();
    h.recv(&ringing);
    // It rings longer than the INVITE transaction's own 32 s: the caller
    // of `dial` decides when to give up.
    let out = h.advance(Duration::from_secs(40));
    assert!(events(&out).is_empty(), "{:?}", events(&out));
    // We give up ringing: CANCEL, and the call is over for us.
    h.ep.hangup(h.now, call);
    let out = h.drain();
    assert_eq!(sent(&out)[0].method().map(|m| m.as_str()), Some("CANCEL"));
    assert!(matches!(
        &events(&out)[..],
        [Event::Ended {
            reason: EndReason::LocalBye,
            ..
        }]
    ));
    // Seconds later (past the once-a-second sweep) the callee's 200
    // arrives: it crossed the CANCEL.
    h.advance(Duration::from_secs(3));
    let mut ok = inv.response(200, "OK", Some("callee"));
    ok.add_header("Contact", "<sip:13812345678@127.0.0.1:5070>");
    let out = h.recv(&String::from_utf8(ok.to_bytes()).unwrap());
    let methods: Vec<_> = sent(&out)
        .iter()
        .filter_map(|m| m.method().map(|m| m.as_str().to_owned()))
        .collect();
    assert_eq!(methods, ["ACK", "BYE"], "the unwanted answer is ended");
    let bye = sent(&out)[1].clone();
    assert_eq!(bye.to_tag(), Some("callee"));
    assert!(
        events(&out).is_empty(),
        "the call was already reported ended"
    );
}

#[test]
fn the_487_after_our_cancel_is_acked() {
    let mut h = Harness::new();
    let callee = Peer {
        addr: "127.0.0.1:5070".parse().unwrap(),
        transport: Transport::Udp,
    };
    let call = h.ep.dial(
        h.now,
        callee,
        local(),
        "sip:13812345678@127.0.0.1:5070",
        "12348",
        "v=0\r\n",
    );
    let out = h.drain();
    let inv = sent(&out)[0].clone();
    h.ep.hangup(h.now, call);
    h.drain();
    h.advance(Duration::from_secs(2));
    let terminated = inv.response(487, "Request Terminated", Some("callee"));
    let out = h.recv(&String::from_utf8(terminated.to_bytes()).unwrap());
    let methods: Vec<_> = sent(&out)
        .iter()
        .filter_map(|m| m.method().map(|m| m.as_str().to_owned()))
        .collect();
    assert_eq!(methods, ["ACK"]);
    assert!(events(&out).is_empty());
}

#[test]
fn one_source_sending_too_many_invites_gets_503() {
    let mut h = Harness::new();
    // The rate alone: no cap on the calls the source holds.
    h.ep = Endpoint::new(Config {
        calls_per_source: 100,
        ..Config::default()
    });
    let mut refused = 0;
    for i in 0..30 {
        let out =
            h.recv(&invite(&format!("z9hG4bK-flood-{i}")).replace("call-1", &format!("call-{i}")));
        if codes(&out) == [503] {
            refused += 1;
        }
    }
    assert_eq!(refused, 10, "a burst of 20 is taken, the rest refused");
    // After a few seconds the budget has refilled.
    h.advance(Duration::from_secs(4));
    let out = h.recv(&invite("z9hG4bK-later").replace("call-1", "call-later"));
    assert_eq!(codes(&out), [100]);
}

/// An answered and acknowledged call, then `refer`: returns the call, our
/// tag and the REFER that went out.
fn referred(h: &mut Harness) -> (hotline_ivr::sip::endpoint::CallKey, String, Message) {
    let (call, tag) = answered(h);
    h.recv(&in_dialog("ACK", 1, &tag, "z9hG4bK-2", "", ""));
    h.ep.refer(h.now, call, "sip:operator@10.0.0.9");
    let out = h.drain();
    let refer = sent(&out).remove(0);
    assert!(
        matches!(&refer.start, StartLine::Request { uri, .. } if uri.contains("sipp@127.0.0.1:5061"))
    );
    assert_eq!(refer.header("Refer-To"), Some("<sip:operator@10.0.0.9>"));
    assert_eq!(
        refer.cseq().unwrap().1,
        hotline_ivr::sip::message::Method::Refer
    );
    assert_eq!(refer.call_id(), "call-1");
    (call, tag, refer)
}

fn notify(tag: &str, cseq: u32, sipfrag: &str) -> String {
    in_dialog(
        "NOTIFY",
        cseq,
        tag,
        &format!("z9hG4bK-n{cseq}"),
        "Event: refer\r\nSubscription-State: active\r\nContent-Type: message/sipfrag\r\n",
        sipfrag,
    )
}

#[test]
fn a_transfer_accepted_and_answered_reports_success_once() {
    let mut h = Harness::new();
    let (call, tag, refer) = referred(&mut h);
    let accepted = refer.response(202, "Accepted", Some("caller"));
    let out = h.recv(&String::from_utf8(accepted.to_bytes()).unwrap());
    assert!(
        events(&out).is_empty(),
        "202 only means the phone is trying"
    );
    let out = h.recv(&notify(&tag, 2, "SIP/2.0 100 Trying\r\n"));
    assert_eq!(codes(&out), [200]);
    assert!(events(&out).is_empty());
    let out = h.recv(&notify(&tag, 3, "SIP/2.0 200 OK\r\n"));
    assert_eq!(codes(&out), [200]);
    assert_eq!(
        events(&out),
        [Event::Transfer {
            call,
            ok: true,
            code: 200
        }]
    );
    // A repeated final NOTIFY reports nothing new.
    let out = h.recv(&notify(&tag, 4, "SIP/2.0 200 OK\r\n"));
    assert!(events(&out).is_empty());
}

#[test]
fn a_refused_or_unanswered_refer_is_a_failed_transfer() {
    let mut h = Harness::new();
    let (call, _, refer) = referred(&mut h);
    let declined = refer.response(603, "Decline", Some("caller"));
    let out = h.recv(&String::from_utf8(declined.to_bytes()).unwrap());
    assert_eq!(
        events(&out),
        [Event::Transfer {
            call,
            ok: false,
            code: 603
        }]
    );

    let mut h = Harness::new();
    let (call, _, _) = referred(&mut h);
    // Retransmitted over UDP, then given up after 64·T1.
    assert!(!sent(&h.advance(Duration::from_millis(500))).is_empty());
    let out = h.advance(Duration::from_secs(40));
    assert!(events(&out).contains(&Event::Transfer {
        call,
        ok: false,
        code: 408
    }));
}

#[test]
fn a_failed_call_to_the_target_and_a_bad_notify() {
    let mut h = Harness::new();
    let (call, tag, refer) = referred(&mut h);
    let accepted = refer.response(202, "Accepted", Some("caller"));
    h.recv(&String::from_utf8(accepted.to_bytes()).unwrap());
    let out = h.recv(&notify(&tag, 2, "not a status line"));
    assert_eq!(codes(&out), [400]);
    let out = h.recv(&in_dialog(
        "NOTIFY",
        3,
        &tag,
        "z9hG4bK-p",
        "Event: presence\r\n",
        "",
    ));
    assert_eq!(codes(&out), [489]);
    let out = h.recv(&notify(&tag, 4, "SIP/2.0 486 Busy Here\r\n"));
    assert_eq!(
        events(&out),
        [Event::Transfer {
            call,
            ok: false,
            code: 486
        }]
    );
}

/// Everything a seeded endpoint sends and reports over one INVITE–ACK–BYE
/// call (with one retransmission of the 200 before the ACK), as text.
fn seeded_call(seed: u64) -> String {
    use rand::SeedableRng;
    use std::fmt::Write;
    let start = Instant::now();
    let mut h = Harness {
        ep: Endpoint::with_rng(Config::default(), rand::rngs::StdRng::seed_from_u64(seed)),
        now: start,
    };
    let mut transcript = String::new();
    let mut log = |h: &Harness, outputs: Vec<Output>| {
        for output in outputs {
            let at = (h.now - start).as_millis();
            match output {
                Output::Send { peer, data } => {
                    let _ = write!(
                        transcript,
                        "--- +{at} ms send to {} {:?}\n{}\n",
                        peer.addr,
                        peer.transport,
                        // Every byte shows: CR as `\r`, anything unprintable escaped.
                        data.escape_ascii().to_string().replace("\\n", "\n")
                    );
                }
                Output::Event(event) => {
                    let _ = writeln!(transcript, "--- +{at} ms event {event:?}");
                }
            }
        }
    };
    let out = h.recv(&invite("z9hG4bK-1"));
    let call = match &events(&out)[..] {
        [Event::Incoming { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    log(&h, out);
    h.ep.answer(h.now, call, "v=0\r\n");
    let out = h.drain();
    let tag = sent(&out)[0].to_tag().unwrap().to_owned();
    log(&h, out);
    let out = h.advance(Duration::from_millis(500));
    log(&h, out);
    let out = h.recv(&in_dialog("ACK", 1, &tag, "z9hG4bK-2", "", ""));
    log(&h, out);
    h.now += Duration::from_secs(3);
    let out = h.recv(&in_dialog("BYE", 2, &tag, "z9hG4bK-3", "", ""));
    log(&h, out);
    transcript
}

/// A failing call can be replayed exactly: with a fixed seed, every byte the
/// endpoint sends (tags, CSeqs, retransmissions) and every event it reports
/// (the call's own seed included) matches the stored transcript. Set
/// `HOTLINE_UPDATE_TRANSCRIPTS=1` to write it after an intended change, and
/// read the diff before committing it.
#[test]
fn a_seeded_call_replays_byte_for_byte() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/transcripts/invite_ack_bye.txt");
    let transcript = seeded_call(12348);
    if std::env::var_os("HOTLINE_UPDATE_TRANSCRIPTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &transcript).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with HOTLINE_UPDATE_TRANSCRIPTS=1",
            path.display()
        )
    });
    assert_eq!(
        transcript, stored,
        "the seeded call differs from the transcript"
    );
    assert_eq!(
        seeded_call(12348),
        transcript,
        "the same seed, the same bytes"
    );
    assert_ne!(seeded_call(7), transcript, "another seed, other tags");
}

/// A Call-ID beyond the bound (or not printable) is refused plainly: it
/// would bloat dialog keys and log lines.
#[test]
fn an_invite_with_an_unbounded_call_id_gets_400() {
    let mut h = Harness::new();
    let long = "x".repeat(hotline_domain::limits::MAX_CALL_ID_LEN + 1);
    let out = h.recv(&invite("z9hG4bK-1").replace("Call-ID: call-1", &format!("Call-ID: {long}")));
    assert_eq!(codes(&out), [400]);
    assert!(events(&out).is_empty());
    assert_eq!(h.ep.active_calls(), 0);
    // At the bound it is a call.
    let fits = "y".repeat(hotline_domain::limits::MAX_CALL_ID_LEN);
    let out = h.recv(&invite("z9hG4bK-2").replace("Call-ID: call-1", &format!("Call-ID: {fits}")));
    assert_eq!(codes(&out), [100]);
    assert_eq!(h.ep.active_calls(), 1);
}

// --- Strangers -----------------------------------------------------------

/// An INVITE of its own Call-ID and branch from `from`.
fn invite_from(from: &str, n: u32) -> String {
    format!(
        "INVITE sip:12348@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-s{n}\r\n\
         From: <sip:x@{from}>;tag=t{n}\r\nTo: <sip:12348@127.0.0.1:5060>\r\n\
         Call-ID: stranger-{n}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

fn udp(addr: &str) -> Peer {
    Peer {
        addr: addr.parse().unwrap(),
        transport: Transport::Udp,
    }
}

fn from(h: &mut Harness, addr: &str, text: &str) -> Vec<Output> {
    h.ep.handle_message(h.now, udp(addr), local(), text.as_bytes());
    h.drain()
}

#[test]
fn one_untrusted_source_holds_at_most_its_share_of_the_calls() {
    let mut h = Harness::new();
    for n in 0..4 {
        assert_eq!(
            codes(&from(
                &mut h,
                "192.0.2.9:5060",
                &invite_from("192.0.2.9:5060", n)
            )),
            [100]
        );
    }
    let out = from(&mut h, "192.0.2.9:5060", &invite_from("192.0.2.9:5060", 4));
    assert_eq!(codes(&out), [486], "the fifth call from one address");
    // Another address is not touched.
    let out = from(
        &mut h,
        "192.0.2.10:5060",
        &invite_from("192.0.2.10:5060", 5),
    );
    assert_eq!(codes(&out), [100]);
}

#[test]
fn a_refusal_to_a_stranger_is_sent_once_and_a_cached_answer_only_to_who_asked() {
    let mut h = Harness::new();
    // Past the INVITE burst: 503s, each sent once, never retransmitted.
    let mut refusals = 0;
    for n in 0..40 {
        let out = from(
            &mut h,
            "192.0.2.9:5060",
            &invite_from("192.0.2.9:5060", 100 + n),
        );
        refusals += codes(&out).iter().filter(|c| **c >= 300).count();
    }
    assert!(refusals >= 20, "{refusals} refusals");
    let later = h.advance(Duration::from_secs(40));
    assert!(
        codes(&later).is_empty(),
        "no retransmitted refusal: {:?}",
        codes(&later)
    );

    // OPTIONS answered; the same request again from another address (a
    // forged source) gets nothing: the answer goes only where it was asked.
    let options = "OPTIONS sip:12348@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-o1\r\n\
                   From: <sip:x@y>;tag=1\r\nTo: <sip:12348@127.0.0.1>\r\nCall-ID: o-1\r\nCSeq: 1 OPTIONS\r\n\
                   Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(codes(&from(&mut h, "192.0.2.20:5060", options)), [200]);
    assert!(from(&mut h, "198.51.100.1:5060", options).is_empty());
    assert_eq!(codes(&from(&mut h, "192.0.2.20:5060", options)), [200]);
}

#[test]
fn a_flood_of_any_method_from_one_source_is_answered_only_within_its_budget() {
    let mut h = Harness::new();
    let mut answered = 0;
    for n in 0..1000 {
        let options = format!(
            "OPTIONS sip:12348@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-f{n}\r\n\
             From: <sip:x@y>;tag=1\r\nTo: <sip:12348@127.0.0.1>\r\nCall-ID: f-{n}\r\nCSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        answered += codes(&from(&mut h, "192.0.2.9:5060", &options)).len();
        answered += codes(&from(&mut h, "192.0.2.9:5060", "garbage\r\n\r\n")).len();
    }
    assert!(
        answered <= 100,
        "{answered} answers to 2000 requests in an instant"
    );
    assert!(answered >= 50, "{answered}");
}

#[test]
fn with_trusted_trunks_named_others_get_403_once_or_nothing() {
    use hotline_ivr::sip::endpoint::Untrusted;
    let trusted: hotline_ivr::sip::trust::TrustedSources = "10.0.0.0/8".parse().unwrap();
    let mut h = Harness::new();
    h.ep = Endpoint::new(Config {
        trusted: trusted.clone(),
        ..Config::default()
    });
    assert_eq!(
        codes(&from(
            &mut h,
            "192.0.2.9:5060",
            &invite_from("192.0.2.9:5060", 1)
        )),
        [403]
    );
    assert!(
        codes(&h.advance(Duration::from_secs(5))).is_empty(),
        "sent once"
    );
    // The trunk has no per-source cap.
    for n in 0..10 {
        assert_eq!(
            codes(&from(
                &mut h,
                "10.1.1.1:5060",
                &invite_from("10.1.1.1:5060", 10 + n)
            )),
            [100]
        );
    }
    h.ep = Endpoint::new(Config {
        trusted,
        untrusted: Untrusted::Drop,
        ..Config::default()
    });
    assert!(from(&mut h, "192.0.2.9:5060", &invite_from("192.0.2.9:5060", 2)).is_empty());
}

/// Where each output datagram goes, with what it carries.
fn sent_to(outputs: &[Output]) -> Vec<(SocketAddr, Message)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { peer, data } => Some((peer.addr, Message::parse(data).unwrap())),
            Output::Event(_) => None,
        })
        .collect()
}

#[test]
fn a_record_routing_proxy_stays_on_the_path_of_a_call_we_answer() {
    // The proxy in front is a trusted source.
    let mut h = Harness {
        ep: Endpoint::new(Config {
            trusted: "127.0.0.1".parse().unwrap(),
            ..Config::default()
        }),
        now: Instant::now(),
    };
    // Two proxies recorded themselves, one per header line and two in one.
    let text = invite("z9hG4bK-rr").replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRecord-Route: <sip:127.0.0.9:5070;lr;ftag=caller>\r\n\
         Record-Route: <sip:10.0.0.8;lr>, <sip:proxy.example.cn;lr>\r\n",
    );
    let out = h.recv(&text);
    let [Event::Incoming { call, .. }] = &events(&out)[..] else {
        panic!("{out:?}")
    };
    let call = *call;
    h.ep.answer(h.now, call, "v=0\r\n");
    let ok = sent(&h.drain()).remove(0);
    // The 200 carries them as they came, so the caller routes through them too.
    let recorded: Vec<&str> = ok.header_values("Record-Route").collect();
    assert_eq!(
        recorded,
        [
            "<sip:127.0.0.9:5070;lr;ftag=caller>",
            "<sip:10.0.0.8;lr>",
            "<sip:proxy.example.cn;lr>"
        ]
    );
    let tag = ok.to_tag().unwrap().to_owned();
    h.recv(&in_dialog("ACK", 1, &tag, "z9hG4bK-rr2", "", ""));
    // Our REFER and BYE go to the first proxy, carrying the route set, and
    // still name the caller's Contact as their target.
    for (method, act) in [("REFER", 0), ("BYE", 1)] {
        if act == 0 {
            h.ep.refer(h.now, call, "sip:operator@10.0.0.9");
        } else {
            h.ep.hangup(h.now, call);
        }
        let out = h.drain();
        let (to, req) = sent_to(&out)
            .into_iter()
            .find(|(_, m)| m.method().map(|m| m.as_str()) == Some(method))
            .unwrap();
        assert_eq!(
            to,
            "127.0.0.9:5070".parse::<SocketAddr>().unwrap(),
            "{method}"
        );
        let routes: Vec<&str> = req.header_values("Route").collect();
        assert_eq!(routes, recorded, "{method}");
        assert!(
            matches!(&req.start, StartLine::Request { uri, .. } if uri == "sip:sipp@127.0.0.1:5061"),
            "{method}: {:?}",
            req.start
        );
    }
    // A stranger's Record-Route naming another address does not aim our
    // BYE there: it goes back to where the call came from (with the Route).
    let mut h = Harness::new();
    let out = h.recv(&text);
    let [Event::Incoming { call, .. }] = &events(&out)[..] else {
        panic!("{out:?}")
    };
    let call = *call;
    h.ep.answer(h.now, call, "v=0\r\n");
    let tag = sent(&h.drain())[0].to_tag().unwrap().to_owned();
    h.recv(&in_dialog("ACK", 1, &tag, "z9hG4bK-rr3", "", ""));
    h.ep.hangup(h.now, call);
    let (to, bye) = sent_to(&h.drain()).remove(0);
    assert_eq!(to, peer().addr);
    assert_eq!(bye.header_values("Route").count(), 3);
    // Without Record-Route, requests go back where the call came from, with no Route.
    let mut h = Harness::new();
    let (call, tag) = answered(&mut h);
    h.recv(&in_dialog("ACK", 1, &tag, "z9hG4bK-2", "", ""));
    h.ep.hangup(h.now, call);
    let (to, bye) = sent_to(&h.drain()).remove(0);
    assert_eq!(to, peer().addr);
    assert_eq!(bye.header("Route"), None);
}

#[test]
fn a_call_we_place_follows_the_route_its_answer_recorded() {
    let mut h = Harness::new();
    let trunk = Peer {
        addr: "127.0.0.1:5070".parse().unwrap(),
        transport: Transport::Udp,
    };
    let call = h.ep.dial(
        h.now,
        trunk,
        local(),
        "sip:lawyer@10.1.1.1",
        "12348",
        "v=0\r\n",
    );
    let inv = sent(&h.drain()).remove(0);
    let mut ok = inv.response(200, "OK", Some("callee"));
    ok.add_header("Contact", "<sip:lawyer@10.1.1.1:5062>");
    // Recorded from the callee's side: nearest to the callee first.
    ok.add_header(
        "Record-Route",
        "<sip:127.0.0.8:5080;lr>, <sip:127.0.0.9;lr>",
    );
    ok.body = b"v=0\r\n".to_vec();
    let out = h.recv(&String::from_utf8(ok.to_bytes()).unwrap());
    let (to, ack) = sent_to(&out).remove(0);
    assert_eq!(ack.method().map(|m| m.as_str()), Some("ACK"));
    // Ours pass them the other way round: the nearest to us first.
    assert_eq!(to, "127.0.0.9:5060".parse::<SocketAddr>().unwrap());
    let routes: Vec<&str> = ack.header_values("Route").collect();
    assert_eq!(routes, ["<sip:127.0.0.9;lr>", "<sip:127.0.0.8:5080;lr>"]);
    assert!(
        matches!(&ack.start, StartLine::Request { uri, .. } if uri == "sip:lawyer@10.1.1.1:5062")
    );
    h.ep.hangup(h.now, call);
    let (to, bye) = sent_to(&h.drain()).remove(0);
    assert_eq!(bye.method().map(|m| m.as_str()), Some("BYE"));
    assert_eq!(to, "127.0.0.9:5060".parse::<SocketAddr>().unwrap());
    assert_eq!(bye.header_values("Route").count(), 2);
}

// --- Overload ------------------------------------------------------------

/// An INVITE from the trunk at 10.1.1.1 with its own Call-ID and branch.
fn trunk_invite(n: u32) -> String {
    invite_from("10.1.1.1:5060", n)
}

#[test]
fn calls_slow_to_be_answered_cap_new_calls_with_a_prompt_503() {
    let mut h = Harness::new();
    h.ep = Endpoint::new(Config {
        trusted: "10.0.0.0/8".parse().unwrap(),
        ..Config::default()
    });
    let t0 = h.now;
    let mut calls = Vec::new();
    for n in 0..20 {
        let out = from(&mut h, "10.1.1.1:5060", &trunk_invite(n));
        assert_eq!(codes(&out), [100]);
        match &events(&out)[..] {
            [Event::Incoming { call, .. }] => calls.push(*call),
            other => panic!("expected one incoming call, got {other:?}"),
        }
    }
    // The calls' tasks answer late: half after 50 ms, half after 150 ms,
    // two 100-ms steps in a row whose set-ups were slow.
    for call in &calls[..10] {
        h.ep.answer(t0 + Duration::from_millis(50), *call, "v=0");
    }
    h.ep.observe_load(t0 + Duration::from_millis(100), Duration::ZERO);
    assert_eq!(h.ep.cpu_limit(), 500, "one slow step alone cuts nothing");
    for call in &calls[10..] {
        h.ep.answer(t0 + Duration::from_millis(150), *call, "v=0");
    }
    h.ep.observe_load(t0 + Duration::from_millis(200), Duration::ZERO);
    h.drain();
    assert_eq!(h.ep.cpu_limit(), 18, "90 % of the 20 calls up");
    // The next INVITE is refused at once, with a short Retry-After.
    h.now = t0 + Duration::from_millis(210);
    let out = from(&mut h, "10.1.1.1:5060", &trunk_invite(20));
    assert_eq!(codes(&out), [503]);
    let (_, refusal) = sent_to(&out).remove(0);
    assert_eq!(refusal.header("Retry-After"), Some("2"));
    assert!(events(&out).is_empty(), "no call task is started");
    assert_eq!(h.ep.overload_refusals(), 1);
    assert_eq!(h.ep.active_calls(), 20);
}
