//! Media that strangers cannot abuse, against the real binary with sipp
//! signalling over UDP: a socket that never signalled cannot press keys or
//! speak inside someone's call, and an INVITE whose SDP names another
//! address gets no audio sent there (no reflection).

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::phone::{prompt, Phone};
use common::{digits_menu, sipp_calls, sipp_report, Server};

/// The tests here place real calls: one at a time, so they do not fight
/// over the two cores and the timing of the prompts.
static SERIAL: Mutex<()> = Mutex::new(());

const CALLER: &str = "13812345678";

/// An RFC 4733 key press (`code`) as a phone sends it: updates, then three
/// end packets.
fn press_from(socket: &UdpSocket, to: SocketAddr, code: u8, seq: &mut u16) {
    let packet = |marker: bool, payload: [u8; 4], seq: u16| {
        let mut p = vec![0x80, 101 | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&777_000u32.to_be_bytes());
        p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
        p.extend_from_slice(&payload);
        p
    };
    for i in 1..=5u16 {
        let d = (i * 160).to_be_bytes();
        socket
            .send_to(&packet(i == 1, [code, 10, d[0], d[1]], *seq), to)
            .unwrap();
        *seq += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        socket
            .send_to(&packet(false, [code, 0x80 | 10, 0x03, 0x20], *seq), to)
            .unwrap();
    }
    *seq += 1;
}

/// Loud PCMU audio, as a stranger talking over the call would send.
fn shout_from(socket: &UdpSocket, to: SocketAddr, seq: &mut u16) {
    for _ in 0..10 {
        let mut p = vec![0x80, 0];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(*seq) * 160).to_be_bytes());
        p.extend_from_slice(&0x0bad_cafe_u32.to_be_bytes());
        p.extend(std::iter::repeat_n(0x80u8, 160));
        socket.send_to(&p, to).unwrap();
        *seq += 1;
    }
}

/// Waits for the welcome prompt; on failure shows the server's log.
fn hears_the_welcome(phone: &Phone, server: &Server) {
    let heard = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        phone.wait_started(&prompt("zh", "welcome"), 0, Duration::from_secs(20))
    }));
    if heard.is_err() {
        let lines: Vec<String> = server.log.try_iter().collect();
        panic!(
            "the caller did not hear the welcome ({} bytes heard); the server said:\n{}",
            phone.heard().len(),
            lines.join("\n")
        );
    }
}

/// The `call ended` line of the server's log.
fn call_ended(server: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = server.log.recv_timeout(Duration::from_millis(200)) {
            if line.contains("call ended") {
                return line;
            }
        }
    }
    panic!("the call did not end");
}

#[test]
fn a_socket_that_never_signalled_cannot_press_keys_or_speak_in_a_call() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve", "--menu", &digits_menu()]);
    let sip = server.sip.unwrap();
    let phone = Phone::new();
    let rows = vec![vec![
        phone.port.to_string(),
        CALLER.to_owned(),
        "127.0.0.1".to_owned(),
    ]];
    let call = std::thread::spawn(move || sipp_calls("media_elsewhere.xml", sip, &rows, &[]));
    hears_the_welcome(&phone, &server);
    let ivr = phone.ivr().expect("the IVR's audio names its RTP address");

    // Strangers on another address and on the caller's own address (another
    // port) press 4 and talk, again and again, while the caller presses 1.
    let elsewhere = UdpSocket::bind("127.0.0.2:0").unwrap();
    let beside = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seq = 40_000;
    for stranger in [&elsewhere, &beside] {
        press_from(stranger, ivr, 4, &mut seq);
        shout_from(stranger, ivr, &mut seq);
    }
    phone.press("1");
    std::thread::sleep(Duration::from_millis(400));
    for stranger in [&elsewhere, &beside] {
        press_from(stranger, ivr, 4, &mut seq);
    }
    phone.press("#");
    let ended = call_ended(&server);
    assert!(
        ended.contains("digits=1#"),
        "only the caller's keys count: {ended}"
    );
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
}

#[test]
fn an_invite_naming_another_address_sends_it_no_audio() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve", "--menu", &digits_menu()]);
    let sip = server.sip.unwrap();

    // The victim listens at 127.0.0.2; the INVITE comes from 127.0.0.1
    // (sipp) and names the victim in c=.
    let victim = UdpSocket::bind("127.0.0.2:0").unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = victim.local_addr().unwrap().port();
    let rows = vec![vec![
        port.to_string(),
        CALLER.to_owned(),
        "127.0.0.2".to_owned(),
    ]];
    let call = std::thread::spawn(move || sipp_calls("media_elsewhere.xml", sip, &rows, &[]));
    // The call runs its welcome, waits 5 s for keys, says goodbye: ~10 s,
    // every one of which the victim listens through.
    let mut received = 0;
    let mut buf = [0u8; 2048];
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        if victim.recv_from(&mut buf).is_ok() {
            received += 1;
        }
    }
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    assert_eq!(received, 0, "the victim got {received} packets");

    // The same call with its own address in c= is heard: the test can tell.
    let phone = Phone::new();
    let rows = vec![vec![
        phone.port.to_string(),
        CALLER.to_owned(),
        "127.0.0.1".to_owned(),
    ]];
    let call = std::thread::spawn(move || sipp_calls("media_elsewhere.xml", sip, &rows, &[]));
    hears_the_welcome(&phone, &server);
    let out = call.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
}
