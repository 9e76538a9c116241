//! Starting the real `hotline` binary for end-to-end tests: port 0
//! everywhere, and the real addresses read back from the `listening` line.

#![allow(dead_code)]

pub mod phone;
pub mod uas;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Fails the test, with the command that installs it, when `tool` is missing.
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is missing: install it with `apt-get install -y {package}`"
    );
}

/// A UDP port free on loopback right now.
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The binary under test, built by cargo with the same profile as the tests.
pub fn hotline() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hotline"))
}

/// `hotline` in `dir` with none of the caller's `HOTLINE_*` variables, so a
/// test sees the binary's own defaults (and any `hotline.toml` it writes there).
pub fn bare_hotline(dir: &Path) -> Command {
    let mut command = Command::new(hotline());
    command.current_dir(dir);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HOTLINE_")) {
        command.env_remove(key);
    }
    command
}

/// The repository's prompts, so servers started in temp dirs find them.
pub fn prompts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts")
}

/// The default 12348 menu.
pub fn default_menu() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr/menus/12348.toml")
}

/// The telephony tests' menu: welcome, digits up to `#`, goodbye.
pub fn digits_menu() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/menus/digits.toml")
        .display()
        .to_string()
}

pub struct Server {
    pub child: Child,
    pub grpc: SocketAddr,
    /// The SIP and admin addresses, when the server runs the IVR.
    pub sip: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
    /// The web console, when the server runs ticketing.
    pub web: Option<SocketAddr>,
    /// Every stderr line after `listening`, for diagnosing failures.
    pub log: mpsc::Receiver<String>,
    /// The admin token the server wrote on its first start, when it runs
    /// ticketing in a data directory the test knows.
    pub admin_token: Option<String>,
    /// Lawyers' tokens made so far, by lawyer id.
    lawyer_tokens: std::cell::RefCell<std::collections::HashMap<String, String>>,
}

impl Server {
    /// Runs `hotline ARGS… --grpc-listen 127.0.0.1:0` in `dir` and waits for
    /// its `listening` line. The menu and prompts are the embedded ones
    /// unless `args` names others.
    pub fn start(dir: &Path, args: &[&str]) -> Server {
        // Loopback port 0 everywhere, unless the test chose its own SIP address.
        let sip: &[&str] = if args.contains(&"--sip-listen") {
            &[]
        } else {
            &["--sip-listen", "127.0.0.1:0"]
        };
        let grpc: &[&str] = if args.contains(&"--grpc-listen") {
            &[]
        } else {
            &["--grpc-listen", "127.0.0.1:0"]
        };
        let web: &[&str] = if args.contains(&"--web-listen") || args.first() == Some(&"ivr") {
            &[]
        } else {
            &["--web-listen", "127.0.0.1:0"]
        };
        let mut command = Command::new(hotline());
        command
            .args(args)
            .args(grpc)
            .args(["--admin-listen", "127.0.0.1:0"])
            .args(sip)
            .args(["--metrics-listen", "127.0.0.1:0"])
            .args(web)
            .current_dir(dir)
            .env_remove("HOTLINE_DATABASE_URL")
            .env_remove("HOTLINE_GRPC_LISTEN");
        let mut server = Server::launch(command);
        let data_dir = args
            .iter()
            .position(|a| *a == "--data-dir")
            .and_then(|i| args.get(i + 1))
            .map_or_else(|| dir.join("hotline-data"), |d| dir.join(d));
        server.admin_token = read_token(&data_dir.join("admin.token"));
        server
    }

    /// Spawns `command` (a server) and waits for its `listening` line.
    pub fn launch(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hotline");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if let Some(addrs) = line.strip_prefix("listening ") {
                        let find = |key: &str| {
                            addrs
                                .split(' ')
                                .find_map(|kv| kv.strip_prefix(key))
                                .map(|a| a.parse::<SocketAddr>().expect("an address"))
                        };
                        // `hotline ivr` has no ticketing listener of its own.
                        let grpc = find("grpc=").unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
                        return Server {
                            child,
                            grpc,
                            sip: find("sip="),
                            admin: find("admin="),
                            metrics: find("metrics="),
                            web: find("web="),
                            log: rx,
                            admin_token: None,
                            lawyer_tokens: Default::default(),
                        };
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "hotline did not print its listening line; stderr:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// Runs a client subcommand against this server, as its admin.
    pub fn client(&self, args: &[&str]) -> Output {
        self.client_with(self.admin_token.as_deref(), args)
    }

    /// Runs a client subcommand presenting `token` (none when `None`).
    pub fn client_with(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut command = Command::new(hotline());
        command
            .args(args)
            .env("HOTLINE_TICKETING", self.url())
            .env_remove("HOTLINE_TOKEN");
        if let Some(token) = token {
            command.env("HOTLINE_TOKEN", token);
        }
        command.output().expect("run hotline client")
    }

    /// A token of lawyer `id` (on the roster), made once by the admin.
    pub fn lawyer_token(&self, id: &str) -> String {
        if let Some(token) = self.lawyer_tokens.borrow().get(id) {
            return token.clone();
        }
        let out = self.client(&["token", "create", "--role", "lawyer", "--lawyer", id]);
        assert!(out.status.success(), "token create: {}", stderr(&out));
        let token = stdout(&out).trim().to_owned();
        self.lawyer_tokens
            .borrow_mut()
            .insert(id.to_owned(), token.clone());
        token
    }

    /// Runs a client subcommand as lawyer `id`.
    pub fn as_lawyer(&self, id: &str, args: &[&str]) -> Output {
        let token = self.lawyer_token(id);
        self.client_with(Some(&token), args)
    }

    /// A gRPC channel to the IVR admin API whose requests carry the admin token.
    pub async fn admin_api(&self) -> hotline_proto::AuthedChannel {
        let url = format!("http://{}", self.admin.expect("the server runs the IVR"));
        authed_channel(&url, self.admin_token.as_deref()).await
    }

    /// A gRPC channel to ticketing whose requests carry the admin token.
    pub async fn channel(&self) -> hotline_proto::AuthedChannel {
        authed_channel(&self.url(), self.admin_token.as_deref()).await
    }

    /// Every ticket, as `hotline tickets list --json` prints them.
    pub fn tickets(&self) -> Vec<serde_json::Value> {
        let out = self.client(&["tickets", "list", "--json"]);
        stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// SIGKILL: no shutdown code runs, as in a crash or power cut of the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Provisions an IVR node as an operator would before an outage: ticketing
/// started once in `ticketing_dir` on `listen`, an `ivr` token made there
/// and saved as `<ivr_dir>/hotline-data/ivr.token`, ticketing stopped. The
/// IVR then starts with ticketing down; ticketing comes back later from
/// the same directory and knows the token.
pub fn provision_ivr(ticketing_dir: &Path, listen: &str, ivr_dir: &Path) {
    let ticketing = Server::start(ticketing_dir, &["ticketing", "--grpc-listen", listen]);
    let out = ticketing.client(&["token", "create", "--role", "ivr", "--name", "ivr-1"]);
    assert!(out.status.success(), "token create: {}", stderr(&out));
    let data = ivr_dir.join("hotline-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("ivr.token"), stdout(&out)).unwrap();
}

/// A token file's content, if the file is there.
pub fn read_token(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_owned())
}

/// A gRPC channel to `url` whose requests carry `token`.
pub async fn authed_channel(url: &str, token: Option<&str>) -> hotline_proto::AuthedChannel {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic::service::interceptor::InterceptedService::new(
        channel,
        hotline_proto::Bearer::new(token).unwrap(),
    )
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs sipp `scenario` (from tests/sipp) against `target`, one call per
/// row of `rows` (its fields become `[field0]`, `[field1]`, …), `limit`
/// calls at once, and returns its output.
pub fn sipp_calls(
    scenario: &str,
    target: SocketAddr,
    rows: &[Vec<String>],
    options: &[&str],
) -> Output {
    require("sipp", "sip-tester");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("calls.csv");
    let lines: Vec<String> = rows.iter().map(|r| format!("{};", r.join(";"))).collect();
    std::fs::write(&csv, format!("SEQUENTIAL\n{}\n", lines.join("\n"))).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(scenario);
    let calls = rows.len().to_string();
    Command::new("sipp")
        .arg("-sf")
        .arg(&source)
        .arg("-inf")
        .arg(&csv)
        .args(["-m", &calls, "-l", &calls, "-r", "20"])
        .args(["-i", "127.0.0.1", "-p", "0", "-nostdin"])
        .args(["-timeout", "300s", "-timeout_error"])
        .args(options)
        .arg(target.to_string())
        .current_dir(dir.path())
        .output()
        .unwrap()
}

/// Genuine callers: sipp placing `calls` calls from `ip` (a loopback
/// address of its own, as a separate caller would have), each hearing the
/// welcome for 2 s and hanging up, at most 4 at once (what the IVR allows
/// one untrusted source by default), 2 a second. sipp exits 0 only when
/// every call succeeded.
pub fn genuine_calls(ip: &str, target: SocketAddr, calls: usize) -> Output {
    require("sipp", "sip-tester");
    let dir = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/caller_hangs_up.xml");
    Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .args(["-m", &calls.to_string(), "-l", "4", "-r", "2"])
        .args(["-i", ip, "-p", "0", "-mi", ip, "-nostdin"])
        .args(["-timeout", "120s", "-timeout_error"])
        .arg(target.to_string())
        .current_dir(dir.path())
        .output()
        .unwrap()
}

/// sipp's exit status and the end of its report, for assertion messages.
pub fn sipp_report(out: &Output) -> String {
    format!(
        "sipp exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `GET path` over plain HTTP/1.1; the whole response, which must be 200.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}
