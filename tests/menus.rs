//! Menu files from the outside: `hotline menu check` on a corpus of broken
//! menus (each refused with the file:line message its first line expects),
//! the IVR refusing to start on one, the DOT drawing, and a hot reload
//! while 20 calls are in progress.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::phone::{find, prompt, Phone};
use common::{hotline, prompts_dir, sipp_calls, sipp_report, stderr, stdout, Server};

static SERIAL: Mutex<()> = Mutex::new(());

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn check(file: &Path) -> std::process::Output {
    Command::new(hotline())
        .args(["menu", "check"])
        .arg(file)
        .arg("--prompts-dir")
        .arg(prompts_dir())
        .output()
        .unwrap()
}

#[test]
fn every_broken_menu_is_refused_with_file_line_and_reason() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("tests/menus/broken"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is there");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| {
                panic!("{}: first line is `# expect: LINE: reason`", file.display())
            });
        let out = check(&file);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {}",
            file.display(),
            stderr(&out)
        );
        let want = format!("{}:{expected}", file.display());
        assert!(
            stderr(&out).lines().any(|l| l.starts_with(&want)),
            "{}: expected `{want}`, got:\n{}",
            file.display(),
            stderr(&out)
        );
    }
}

#[test]
fn the_default_menu_checks_clean_and_draws_as_dot() {
    let out = check(&repo("ivr/menus/12348.toml"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(": ok ("), "{}", stdout(&out));
    let out = Command::new(hotline())
        .args(["menu", "graph"])
        .arg(repo("ivr/menus/12348.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph menu {"), "{dot}");
    assert!(
        dot.contains("\"main\" -> \"green-channel\" [label=\"3\"]"),
        "{dot}"
    );
}

#[test]
fn the_ivr_refuses_to_start_on_a_broken_menu() {
    let dir = tempfile::tempdir().unwrap();
    let broken = repo("tests/menus/broken/unknown-node.toml");
    let out = Command::new(hotline())
        .args([
            "serve",
            "--sip-listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--admin-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .arg("--menu")
        .arg(&broken)
        .arg("--prompts-dir")
        .arg(prompts_dir())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.contains(&format!("{}:11: unknown node `mian`", broken.display())),
        "{message}"
    );
    assert!(
        !message.contains("listening"),
        "nothing listened: {message}"
    );
}

/// The telephony test menu, with a long wait between digits so that calls
/// stay in progress while the test reloads.
fn waiting_menu() -> String {
    std::fs::read_to_string(repo("tests/menus/digits.toml"))
        .unwrap()
        .replace("inter_digit_secs = 5", "inter_digit_secs = 60")
}

/// Waits for a server log line containing `needle`.
fn wait_log(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match server.log.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no log line with `{needle}`");
}

#[test]
fn a_reload_during_twenty_calls_drops_none_and_new_calls_take_the_new_menu() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let menu = dir.path().join("menu.toml");
    std::fs::write(&menu, waiting_menu()).unwrap();
    // Twenty callers from one address: a trunk, as a centre's would be.
    let server = Server::start(
        dir.path(),
        &[
            "serve",
            "--menu",
            menu.to_str().unwrap(),
            "--sip-trusted",
            "127.0.0.1",
        ],
    );
    let sip = server.sip.unwrap();

    let phones: Vec<Phone> = (0..20).map(|_| Phone::new()).collect();
    let rows: Vec<Vec<String>> = phones
        .iter()
        .map(|p| vec![p.port.to_string(), "13812345678".to_owned()])
        .collect();
    let sipp = std::thread::spawn(move || sipp_calls("call_flow.xml", sip, &rows, &[]));
    // Every caller is in the middle of keying digits.
    for phone in &phones {
        phone.wait_started(&prompt("zh", "welcome"), 0, Duration::from_secs(30));
        phone.press("1");
    }
    std::thread::sleep(Duration::from_millis(500));

    // A broken menu is refused over the admin API; the old one stays.
    std::fs::write(&menu, "[menu]\nstart = \"nowhere\"\nlanguages = [\"zh\", \"en\"]\n\n[nodes.x]\ntype = \"hangup\"\n").unwrap();
    let out = Command::new(hotline())
        .args([
            "menu",
            "reload",
            "--admin",
            &format!("http://{}", server.admin.unwrap()),
        ])
        .env("HOTLINE_TOKEN", server.admin_token.as_deref().unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("menu.toml:2: unknown node `nowhere`"),
        "{}",
        stderr(&out)
    );

    // A valid new menu, by SIGHUP: straight to goodbye.
    std::fs::write(
        &menu,
        "[menu]\nstart = \"goodbye\"\nlanguages = [\"zh\", \"en\"]\n\n[nodes.goodbye]\ntype = \"hangup\"\nprompt = [\"goodbye\"]\n",
    )
    .unwrap();
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    wait_log(&server, "menu reloaded");

    // The calls in progress finish on the menu they started with.
    for phone in &phones {
        phone.press("#");
    }
    let out = sipp.join().unwrap();
    assert!(out.status.success(), "{}", sipp_report(&out));
    let goodbye = prompt("zh", "goodbye");
    for phone in &phones {
        assert!(
            find(&phone.heard(), &goodbye.bytes).is_some(),
            "each call ended with goodbye"
        );
    }
    let mut ended = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ended < 20 && Instant::now() < deadline {
        if let Ok(line) = server.log.recv_timeout(Duration::from_millis(200)) {
            if line.contains("call ended") {
                assert!(line.contains("digits=1#"), "{line}");
                ended += 1;
            }
        }
    }
    assert_eq!(ended, 20, "every call finished its digits on the old menu");

    // A new call takes the new menu: goodbye at once, no welcome.
    let phone = Phone::new();
    let rows = vec![vec![phone.port.to_string(), "13812345678".to_owned()]];
    let out = sipp_calls("call_flow.xml", sip, &rows, &[]);
    assert!(out.status.success(), "{}", sipp_report(&out));
    let heard = phone.heard();
    assert!(find(&heard, &goodbye.bytes).is_some());
    assert!(find(&heard, &prompt("zh", "welcome").bytes[..4000]).is_none());
}

/// A center's own prompts: exported from the binary, checked file by file
/// as the IVR will load them, never overwritten by a second export.
#[test]
fn exported_prompts_are_checked_as_the_ivr_loads_them() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    let export = |extra: &[&str]| {
        Command::new(hotline())
            .args(["prompts", "export"])
            .arg(&prompts)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = export(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(prompts.join("zh/welcome.wav").is_file());
    assert!(prompts.join("prompts.tsv").is_file());
    let menu_check = || {
        Command::new(hotline())
            .args(["menu", "check", "--prompts-dir"])
            .arg(&prompts)
            .output()
            .unwrap()
    };
    let out = menu_check();
    assert!(out.status.success(), "{}", stderr(&out));

    // A studio file in the wrong format is refused by the check, as by serve.
    std::fs::write(prompts.join("zh/welcome.wav"), b"not a wav").unwrap();
    let out = menu_check();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("welcome.wav"), "{}", stderr(&out));

    // A second export would overwrite it: refused without --force.
    let out = export(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(prompts.join("zh/welcome.wav")).unwrap(),
        b"not a wav"
    );
    let out = export(&["--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(menu_check().status.success());
}
