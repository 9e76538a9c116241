//! Many concurrent sipp calls into `hotline serve`: every call is answered
//! and receives non-silent prompt audio. The test owns each call's media
//! port (sipp's SDP points there), so it sees exactly what the IVR sends,
//! and reports the pacing it measured. Figures are printed, never asserted:
//! speed lives in `bench/sip_load.sh`, which runs this with more calls in
//! release mode. HOTLINE_LOAD_CALLS (default 200) and HOTLINE_LOAD_RATE
//! (calls per second, default 50) set the load.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{digits_menu, Server};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Received {
    packets: usize,
    non_silent: usize,
    arrivals: Vec<Instant>,
}

#[test]
fn concurrent_calls_are_answered_and_hear_the_prompt() {
    common::require("sipp", "sip-tester");
    let calls = env_number("HOTLINE_LOAD_CALLS", 200);
    let rate = env_number("HOTLINE_LOAD_RATE", 50);
    let hold_ms = 8000;

    let dir = tempfile::tempdir().unwrap();
    // One source sends every INVITE here: it is the trunk, trusted, with
    // no per-source budget.
    std::fs::write(
        dir.path().join("hotline.toml"),
        // One RTP port per call: the range must hold them all.
        format!(
            "sip_trusted = \"127.0.0.1\"\nmax_calls = {}\nrtp_port_min = 20000\nrtp_port_max = {}\n",
            calls + 50,
            20_000 + (calls + 50).max(10_000) - 1
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["serve", "--menu", &digits_menu()]);
    let sip = server.sip.unwrap();

    // One media socket per call, read by one thread each.
    let mut ports = Vec::new();
    let received: Arc<Mutex<HashMap<u16, Received>>> = Arc::default();
    let stop_at =
        Instant::now() + Duration::from_secs((calls / rate.max(1)) as u64 + hold_ms / 1000 + 30);
    let mut readers = Vec::new();
    for _ in 0..calls {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        ports.push(port);
        let received = received.clone();
        readers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut mine = Received::default();
            let mut last = Instant::now();
            while Instant::now() < stop_at {
                match socket.recv_from(&mut buf) {
                    Ok((n, _)) if n > 12 => {
                        let now = Instant::now();
                        mine.packets += 1;
                        mine.arrivals.push(now);
                        // PCMU silence is 0xFF (or 0x7F); prompt audio is not.
                        if buf[12..n].iter().any(|&b| b != 0xff && b != 0x7f) {
                            mine.non_silent += 1;
                        }
                        last = now;
                    }
                    Ok(_) => {}
                    Err(_) if mine.packets > 0 && last.elapsed() > Duration::from_secs(3) => break,
                    Err(_) => {}
                }
            }
            received.lock().unwrap().insert(port, mine);
        }));
    }
    let csv = dir.path().join("ports.csv");
    let lines: Vec<String> = ports.iter().map(|p| format!("{p};")).collect();
    std::fs::write(&csv, format!("SEQUENTIAL\n{}\n", lines.join("\n"))).unwrap();

    let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/load.xml");
    let started = Instant::now();
    let out = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .arg("-inf")
        .arg(&csv)
        .args(["-d", &hold_ms.to_string()])
        .args([
            "-m",
            &calls.to_string(),
            "-l",
            &calls.to_string(),
            "-r",
            &rate.to_string(),
        ])
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-nostdin",
            "-timeout",
            "120s",
            "-timeout_error",
        ])
        .arg(sip.to_string())
        .current_dir(dir.path())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sipp: exit {:?}\n{}\n{}",
        out.status.code(),
        stdout.lines().rev().take(30).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    for reader in readers {
        reader.join().unwrap();
    }

    let received = received.lock().unwrap();
    let mut gaps_us: Vec<u128> = Vec::new();
    let mut silent_calls = Vec::new();
    for port in &ports {
        let r = &received[port];
        // 8 s of a 7 s prompt: most packets carry it.
        if r.non_silent < 100 {
            silent_calls.push((*port, r.packets, r.non_silent));
        }
        gaps_us.extend(r.arrivals.windows(2).map(|w| (w[1] - w[0]).as_micros()));
    }
    assert!(
        silent_calls.is_empty(),
        "calls without prompt audio (port, packets, non-silent): {silent_calls:?}"
    );
    gaps_us.sort_unstable();
    let pct = |p: f64| gaps_us[((gaps_us.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "load: {calls} calls at {rate}/s, {} at once; {:.1} calls/s over {:.1} s; \
         RTP inter-packet gap at the receiver: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} gaps)",
        calls.min(rate * hold_ms as usize / 1000),
        calls as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        gaps_us.len()
    );
}
