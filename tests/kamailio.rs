//! Two IVR nodes behind Kamailio, with the dispatcher configuration that
//! ships in `deploy/kamailio/`: calls placed by sipp through the proxy are
//! shared between the nodes, the proxy stays on the path (the IVR copies
//! its Record-Route into the 200 and sends its BYE through it; Kamailio
//! refuses in-dialog requests that do not carry its Route), a node that
//! drains (SIGTERM: OPTIONS and INVITEs get 503) leaves the rotation while
//! the call it holds goes on to its end, and a call a node refuses with
//! 503 goes on to the next node. And the whole of deploy/ on loopback
//! addresses: two `hotline ivr` nodes behind Kamailio, each reaching two
//! `hotline ticketing` nodes on one PostgreSQL database, keep every call's
//! ticket while one IVR node drains and one ticketing node is killed.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_ivr::sip::message::Message;

use common::{digits_menu, require, sipp_calls, sipp_report, Server};

/// A Kamailio on 127.0.0.1 with deploy/kamailio/kamailio.cfg and a
/// dispatcher list naming `nodes`; stopped when dropped.
struct Kamailio {
    child: Child,
    addr: SocketAddr,
}

impl Kamailio {
    fn start(dir: &Path, nodes: &[SocketAddr]) -> Kamailio {
        require("kamailio", "kamailio");
        let list = dir.join("dispatcher.list");
        let lines: Vec<String> = nodes.iter().map(|n| format!("1 sip:{n}\n")).collect();
        std::fs::write(&list, lines.concat()).unwrap();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kamailio/kamailio.cfg");
        // Kamailio cannot take port 0 and say which it got: a port free now.
        let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap();
        let log = std::fs::File::create(dir.join("kamailio.log")).unwrap();
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(&config)
            .arg("-A")
            .arg(format!("LISTEN=udp:{addr}"))
            .arg("-A")
            .arg(format!("DISPATCHER_LIST=\"{}\"", list.display()))
            // In the foreground, logging to stderr, its runtime files here.
            .args(["-DD", "-E", "-m", "64", "-M", "8", "-Y"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kamailio");
        let kamailio = Kamailio { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while options(addr) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "kamailio did not answer OPTIONS; its log:\n{}",
                std::fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        kamailio
    }
}

impl Drop for Kamailio {
    /// SIGTERM: Kamailio stops its child processes itself (a SIGKILL of
    /// the main process would leave them holding the port and probing).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node that is up to the probes (OPTIONS 200) but refuses every call
/// with 503, as a node at its `max_calls` does; counts the INVITEs.
fn refusing_node(ip: &str) -> (SocketAddr, Arc<AtomicUsize>) {
    let socket = UdpSocket::bind(format!("{ip}:0")).unwrap();
    let addr = socket.local_addr().unwrap();
    let invites = Arc::new(AtomicUsize::new(0));
    let counted = invites.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Ok(request) = Message::parse(&buf[..n]) else {
                continue;
            };
            let response = match request.method().map(|m| m.as_str()) {
                Some("OPTIONS") => request.response(200, "OK", None),
                Some("INVITE") => {
                    counted.fetch_add(1, Ordering::SeqCst);
                    request.response(503, "Service Unavailable", Some("full"))
                }
                _ => continue,
            };
            let _ = socket.send_to(&response.to_bytes(), from);
        }
    });
    (addr, invites)
}

/// The status of an OPTIONS sent to `to`, if it answers within a second.
fn options(to: SocketAddr) -> Option<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let me = socket.local_addr().ok()?;
    let request = format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-probe{port}\r\n\
         From: <sip:test@{me}>;tag=probe\r\nTo: <sip:{to}>\r\nCall-ID: probe-{port}@test\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        port = me.port()
    );
    socket.send_to(request.as_bytes(), to).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// An IVR node (with its own ticketing) on loopback address `ip`, trusting
/// the proxy's address.
fn node(dir: &Path, ip: &str) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("hotline.toml"),
        "sip_trusted = \"127.0.0.1\"\ndrain_timeout_secs = 60\n",
    )
    .unwrap();
    Server::start(
        dir,
        &[
            "serve",
            "--menu",
            &digits_menu(),
            "--sip-listen",
            &format!("{ip}:0"),
        ],
    )
}

/// Calls the node answered since the last count (its `call answered` lines).
fn answered(node: &Server) -> usize {
    node.log
        .try_iter()
        .filter(|line| line.contains("call answered"))
        .count()
}

/// `calls` calls placed through `to`, each keying after `wait_ms`.
fn calls(to: SocketAddr, calls: usize, wait_ms: u64) -> std::process::Output {
    let rows: Vec<Vec<String>> = (0..calls).map(|_| vec![wait_ms.to_string()]).collect();
    sipp_calls("via_proxy.xml", to, &rows, &[])
}

#[test]
fn calls_through_kamailio_are_shared_and_a_draining_node_leaves_the_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(&dir.path().join("a"), "127.0.0.2");
    let b = node(&dir.path().join("b"), "127.0.0.3");
    let (a_sip, b_sip) = (a.sip.unwrap(), b.sip.unwrap());
    let proxy = Kamailio::start(dir.path(), &[a_sip, b_sip]);

    // Round robin: both nodes take calls, and each call ends with the
    // IVR's BYE through the proxy.
    let out = calls(proxy.addr, 4, 300);
    assert!(
        out.status.success(),
        "through the proxy: {}",
        sipp_report(&out)
    );
    let (from_a, from_b) = (answered(&a), answered(&b));
    assert_eq!(from_a + from_b, 4, "a {from_a}, b {from_b}");
    assert!(from_a >= 1 && from_b >= 1, "a {from_a}, b {from_b}");

    // A call in progress on node A (placed to it directly), then A drains.
    let long = std::thread::spawn(move || calls(a_sip, 1, 8000));
    let deadline = Instant::now() + Duration::from_secs(10);
    while answered(&a) == 0 {
        assert!(
            Instant::now() < deadline,
            "node A never answered the long call"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = a.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // The node says so to the proxy's probes (every 2 s)...
    let deadline = Instant::now() + Duration::from_secs(5);
    while options(a_sip) != Some(503) {
        assert!(
            Instant::now() < deadline,
            "node A does not answer 503 while draining"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Two probes (2 s apart) take it out; until then a call it refuses
    // goes to the next node anyway.
    std::thread::sleep(Duration::from_secs(5));
    // ...and the proxy sends every new call to node B.
    let out = calls(proxy.addr, 4, 300);
    assert!(
        out.status.success(),
        "with A draining: {}",
        sipp_report(&out)
    );
    assert_eq!(answered(&a), 0, "node A took a call while draining");
    assert_eq!(answered(&b), 4);
    // The call node A held went on to its end.
    let out = long.join().unwrap();
    assert!(
        out.status.success(),
        "the call on the draining node: {}",
        sipp_report(&out)
    );
}

#[test]
fn a_call_a_node_refuses_goes_to_the_next_node() {
    let dir = tempfile::tempdir().unwrap();
    let (full, invites) = refusing_node("127.0.0.4");
    let b = node(&dir.path().join("b"), "127.0.0.3");
    let proxy = Kamailio::start(dir.path(), &[full, b.sip.unwrap()]);
    let out = calls(proxy.addr, 4, 300);
    assert!(out.status.success(), "{}", sipp_report(&out));
    assert!(
        invites.load(Ordering::SeqCst) >= 1,
        "the proxy never tried the refusing node"
    );
    assert_eq!(answered(&b), 4, "every call ends on the node with room");
}

/// A scratch PostgreSQL database, dropped at the end.
struct ScratchDb {
    admin: String,
    name: String,
}

impl ScratchDb {
    fn create() -> ScratchDb {
        require("psql", "postgresql-client");
        let admin = std::env::var("HOTLINE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("hotline_t_{:016x}", rand::random::<u64>());
        let db = ScratchDb { admin, name };
        db.psql_admin(&format!("CREATE DATABASE {}", db.name));
        db
    }

    fn url(&self) -> String {
        format!("{}/{}", self.admin.rsplit_once('/').unwrap().0, self.name)
    }

    fn psql_admin(&self, sql: &str) -> String {
        psql(&self.admin, sql)
    }

    /// One value the query returns.
    fn value(&self, sql: &str) -> i64 {
        psql(&self.url(), sql).trim().parse().unwrap()
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.admin.as_str(),
                "-qAtc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-qAtc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql `{sql}`: {}",
        common::stderr(&out)
    );
    common::stdout(&out)
}

/// A `hotline ticketing` node on `ip`, on the shared database.
fn ticketing_node(dir: &Path, ip: &str, database: &str) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("hotline.toml"),
        deploy_config("ticketing.toml", &[]),
    )
    .unwrap();
    Server::start(
        dir,
        &[
            "ticketing",
            "--database-url",
            database,
            "--grpc-listen",
            &format!("{ip}:0"),
            "--web-listen",
            &format!("{ip}:0"),
        ],
    )
}

/// A `hotline ivr` node on `ip` with the critical-ticket menu, reaching
/// every ticketing node in `ticketing`, trusting the proxy's address.
fn ivr_node(dir: &Path, ip: &str, name: &str, ticketing: &[&Server], token: &str) -> Server {
    std::fs::create_dir_all(dir.join("hotline-data")).unwrap();
    std::fs::write(dir.join("hotline-data/ivr.token"), token).unwrap();
    // The proxy of this test is at 127.0.0.1.
    std::fs::write(
        dir.join("hotline.toml"),
        deploy_config("ivr.toml", &[("10.0.0.5", "127.0.0.1")]),
    )
    .unwrap();
    let urls: Vec<String> = ticketing.iter().map(|t| t.url()).collect();
    let menu = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/menus/critical.toml");
    Server::start(
        dir,
        &[
            "ivr",
            "--menu",
            &menu.display().to_string(),
            "--sip-listen",
            &format!("{ip}:0"),
            "--node-id",
            name,
            "--ticketing",
            &urls.join(","),
        ],
    )
}

/// A node configuration of deploy/ as this machine can run it: the host's
/// paths (TLS files, the token file, the data directory) and the JSON log
/// format left out, since there are no certificates here and the test
/// reads the text log, and `replace`'s addresses swapped. The addresses
/// left, the test's flags override (port 0 on 127.0.0.x).
fn deploy_config(name: &str, replace: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let host_only = [
        "tls_ca",
        "tls_cert",
        "tls_key",
        "token_file",
        "data_dir",
        "log_format",
    ];
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        if host_only.contains(&key) {
            continue;
        }
        let mut line = line.to_owned();
        for (from, to) in replace {
            line = line.replace(from, to);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The full deployment of deploy/ on loopback: Kamailio in front of two
/// IVR nodes, two ticketing nodes on one PostgreSQL, each node with its
/// configuration of deploy/ (see [`deploy_config`]). Calls come in through
/// the proxy while IVR node A drains and ticketing node 1 is killed; every
/// call still ends with exactly one ticket, each critical ticket with
/// exactly one offer.
#[test]
fn calls_through_two_ivr_and_two_ticketing_nodes_survive_a_drain_and_a_kill() {
    const CALLS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let db = ScratchDb::create();
    let mut t1 = ticketing_node(&dir.path().join("t1"), "127.0.0.2", &db.url());
    let t2 = ticketing_node(&dir.path().join("t2"), "127.0.0.3", &db.url());
    // Lawyers on duty with room for exactly the 40 tickets: both ticketing
    // nodes route at once, and neither may offer past a lawyer's capacity.
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::hours(8)).to_rfc3339();
    for (id, capacity) in [("l1", "14"), ("l2", "13"), ("l3", "13")] {
        for args in [
            &[
                "roster",
                "add-lawyer",
                "--id",
                id,
                "--name",
                id,
                "--phone",
                "13900000000",
                "--skills",
                "labor-wages",
                "--capacity",
                capacity,
            ][..],
            &[
                "roster",
                "add-shift",
                "--lawyer",
                id,
                "--from",
                &from,
                "--to",
                &to,
            ][..],
        ] {
            let out = t1.client(args);
            assert!(out.status.success(), "{}", common::stderr(&out));
        }
    }
    let mut ivr_tokens = Vec::new();
    for name in ["ivr-a", "ivr-b"] {
        let out = t1.client(&["token", "create", "--role", "ivr", "--name", name]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        ivr_tokens.push(common::stdout(&out).trim().to_owned());
    }
    let a = ivr_node(
        &dir.path().join("a"),
        "127.0.0.2",
        "ivr-a",
        &[&t1, &t2],
        &ivr_tokens[0],
    );
    let b = ivr_node(
        &dir.path().join("b"),
        "127.0.0.3",
        "ivr-b",
        &[&t1, &t2],
        &ivr_tokens[1],
    );
    let proxy = Kamailio::start(dir.path(), &[a.sip.unwrap(), b.sip.unwrap()]);

    // 40 calls at 4 a second through the proxy; 3 s in, node A drains; 5 s
    // in, ticketing node 1 freezes (SIGSTOP: requests sent to it hang, its
    // health check times out), and 2 s later it dies (SIGKILL).
    let to_proxy = proxy.addr;
    let placing = std::thread::spawn(move || {
        let rows: Vec<Vec<String>> = (0..CALLS).map(|_| Vec::new()).collect();
        sipp_calls("via_proxy_listen.xml", to_proxy, &rows, &["-r", "4"])
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_secs(2));
    let t1_pid = t1.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &t1_pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_secs(2));
    t1.kill();
    let out = placing.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let (from_a, from_b) = (answered(&a), answered(&b));
    assert!(from_a >= 1 && from_b >= 1, "a {from_a}, b {from_b}");
    assert_eq!(from_a + from_b, CALLS, "a {from_a}, b {from_b}");

    // Every call's request reaches the database once: the IVR nodes retry
    // what the dead node did not answer, with the same idempotency key.
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.value("SELECT COUNT(*) FROM tickets") < CALLS as i64 {
        assert!(
            Instant::now() < deadline,
            "{} tickets for {CALLS} calls",
            db.value("SELECT COUNT(*) FROM tickets")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Nothing is left to send (node A flushed its outbox as it drained):
    // no request can still arrive and make a second ticket.
    for node in ["a", "b"] {
        let out = common::bare_hotline(&dir.path().join(node))
            .args(["outbox", "list", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        assert_eq!(common::stdout(&out).trim(), "", "node {node}'s outbox");
    }
    assert_eq!(db.value("SELECT COUNT(*) FROM tickets"), CALLS as i64);
    // One ticket per call, not just as many: each call has its own caller
    // number (1380000 and sipp's call number).
    assert_eq!(
        db.value("SELECT COUNT(DISTINCT caller_number) FROM tickets"),
        CALLS as i64
    );
    assert_eq!(
        db.value("SELECT COUNT(*) FROM tickets WHERE urgency = 'critical'"),
        CALLS as i64
    );
    // Each critical ticket: one offer, one `offered` event; none lost, none
    // doubled, and no lawyer offered more than their capacity.
    assert_eq!(
        db.value(
            "SELECT COUNT(*) FROM tickets t WHERE (SELECT COUNT(*) FROM offers o \
             WHERE o.ticket_id = t.id) <> 1"
        ),
        0
    );
    assert_eq!(
        db.value(
            "SELECT COUNT(*) FROM tickets t WHERE (SELECT COUNT(*) FROM ticket_events e \
             WHERE e.ticket_id = t.id AND e.kind = 'offered') <> 1"
        ),
        0
    );
    assert_eq!(
        db.value(
            "SELECT COUNT(*) FROM lawyers l WHERE (SELECT COUNT(*) FROM offers o \
             WHERE o.lawyer_id = l.id AND o.state = 'pending') > l.capacity"
        ),
        0
    );
    // Both ticketing nodes created tickets: the kill came mid-stream.
    let created = |node: &Server| {
        node.log
            .try_iter()
            .filter(|line| line.contains("ticket created"))
            .count()
    };
    let (by_t1, by_t2) = (created(&t1), created(&t2));
    assert!(by_t1 >= 1 && by_t2 >= 1, "t1 {by_t1}, t2 {by_t2}");
    // The surviving node serves them all.
    let out = t2.client_with(t1.admin_token.as_deref(), &["tickets", "list", "--json"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out).lines().count(), CALLS);
}
