//! A flood against the running IVR while genuine callers use it: one
//! source sends thousands of INVITEs, OPTIONS and garbage datagrams a
//! second and 500 idle TCP connections sit open, while sipp places genuine
//! calls from two other addresses. Every genuine call completes, the
//! flooding source hears almost nothing back, and the IVR's memory stays
//! bounded.
//!
//! The node is an open one (no `sip_trusted`: everyone is a stranger), the
//! harder case: the flood is not refused by address, only by its limits.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{genuine_calls, sipp_report, Server};

/// Datagrams per second the flooding source sends.
const FLOOD_RATE: u64 = 3000;
/// Genuine calls per source, and the two sources.
const CALLS: usize = 40;
const GENUINE: [&str; 2] = ["127.0.0.2", "127.0.0.4"];
const FLOODER: &str = "127.0.0.3";

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// What the flooder sent and what came back to it.
struct Flooded {
    sent: u64,
    answered: u64,
    seconds: f64,
}

/// Sends INVITEs, OPTIONS and garbage in turn at [`FLOOD_RATE`] until
/// `stop`, each request new (its own branch and Call-ID), never answering
/// anything, counting what comes back.
fn flood(target: SocketAddr, stop: Arc<AtomicBool>) -> Flooded {
    let socket = UdpSocket::bind((FLOODER, 0)).unwrap();
    socket.set_nonblocking(true).unwrap();
    let local = socket.local_addr().unwrap();
    let started = Instant::now();
    let (mut sent, mut answered) = (0u64, 0u64);
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        // Keep to the rate: the datagrams due by now.
        let due = (started.elapsed().as_secs_f64() * FLOOD_RATE as f64) as u64;
        while sent < due {
            let datagram = match sent % 3 {
                0 => request("INVITE", sent, local, target, true),
                1 => request("OPTIONS", sent, local, target, false),
                _ => format!("\u{1}garbage {sent} \u{ff} SIP/9.9\r\n\r\n").into_bytes(),
            };
            let _ = socket.send_to(&datagram, target);
            sent += 1;
        }
        while socket.recv_from(&mut buf).is_ok() {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(500));
    while socket.recv_from(&mut buf).is_ok() {
        answered += 1;
    }
    Flooded {
        sent,
        answered,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn request(method: &str, n: u64, local: SocketAddr, target: SocketAddr, sdp: bool) -> Vec<u8> {
    let body = if sdp {
        format!(
            "v=0\r\no=- {n} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
            ip = local.ip()
        )
    } else {
        String::new()
    };
    let content_type = if sdp {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "{method} sip:12348@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKflood{n}\r\n\
         From: <sip:bot@{local}>;tag=f{n}\r\n\
         To: <sip:12348@{target}>\r\n\
         Call-ID: flood-{n}@{ip}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:bot@{local}>\r\n\
         Max-Forwards: 70\r\n\
         {content_type}Content-Length: {len}\r\n\r\n{body}",
        ip = local.ip(),
        len = body.len()
    )
    .into_bytes()
}

#[test]
fn genuine_calls_complete_while_one_source_floods_and_500_tcp_connections_idle() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["serve"]);
    let sip = server.sip.unwrap();
    let pid = server.child.id();
    let idle_rss = rss_kib(pid);

    // 500 idle TCP connections: 8 (the most one address may hold) from
    // each of 63 addresses.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let idle: Vec<TcpStream> = runtime.block_on(async {
        let mut idle = Vec::new();
        for host in 1..=63u8 {
            for _ in 0..8 {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket
                    .bind(format!("127.0.1.{host}:0").parse().unwrap())
                    .unwrap();
                let stream = socket.connect(sip).await.unwrap();
                idle.push(stream.into_std().unwrap());
            }
        }
        idle
    });

    let stop = Arc::new(AtomicBool::new(false));
    let flooder = {
        let stop = stop.clone();
        std::thread::spawn(move || flood(sip, stop))
    };
    // Let the flood reach its rate before the genuine callers start.
    std::thread::sleep(Duration::from_secs(2));
    let callers: Vec<_> = GENUINE
        .iter()
        .map(|ip| std::thread::spawn(move || genuine_calls(ip, sip, CALLS)))
        .collect();
    let mut peak_rss = 0;
    while callers.iter().any(|c| !c.is_finished()) {
        peak_rss = peak_rss.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    let flooded = flooder.join().unwrap();

    for (ip, caller) in GENUINE.iter().zip(callers) {
        let out = caller.join().unwrap();
        // sipp exits 0 only when every call it placed succeeded.
        assert_eq!(
            out.status.code(),
            Some(0),
            "genuine calls from {ip} failed during the flood:\n{}",
            sipp_report(&out)
        );
    }
    eprintln!(
        "flood: {} datagrams in {:.1} s, {} answers to the flooder; \
         resident memory {idle_rss} KiB idle, {peak_rss} KiB at most",
        flooded.sent, flooded.seconds, flooded.answered
    );
    // The flood really was one: tens of thousands of datagrams while the
    // genuine calls ran (the generator paces itself at FLOOD_RATE a second).
    assert!(
        flooded.sent > 20_000,
        "only {} datagrams sent",
        flooded.sent
    );
    // The flooding source is throttled: it may have 100 requests at once,
    // then 50 a second, answered (garbage never is), and a request gets at
    // most two answers (100 Trying and a final one) besides the few 200 OKs
    // resent to the calls it may hold: far fewer answers than requests.
    let allowed = 2.0 * (100.0 + 50.0 * flooded.seconds);
    assert!(
        (flooded.answered as f64) < allowed && flooded.answered * 10 < flooded.sent,
        "the flooder sent {} and got {} answers in {:.1} s",
        flooded.sent,
        flooded.answered,
        flooded.seconds
    );
    // Memory stays bounded: a flood costs the IVR no more than a few
    // megabytes of transactions and rate-limit state.
    assert!(
        peak_rss < idle_rss + 64 * 1024,
        "resident memory went from {idle_rss} KiB to {peak_rss} KiB"
    );
    // And the node still answers a newcomer (with a branch of its own: a
    // request repeating the flooder's branch would be its retransmission).
    let probe = UdpSocket::bind("127.0.0.5:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    probe
        .send_to(
            &request("OPTIONS", u64::MAX, probe.local_addr().unwrap(), sip, false),
            sip,
        )
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = probe
        .recv_from(&mut buf)
        .expect("an answer after the flood");
    assert!(
        buf[..n].starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // The idle connections were held all along (an IVR that dropped them
    // would have had an easier time): each still reads as open, not closed.
    let mut open = 0;
    for stream in &idle {
        stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        if matches!(
            (&*stream).read(&mut byte),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        ) {
            open += 1;
        }
    }
    assert_eq!(
        open,
        idle.len(),
        "idle TCP connections still open after the flood"
    );
    drop(idle);
    server.kill();
}
