//! A phone the IVR calls: a sipp UAS (Debian `sip-tester`) on its own SIP
//! port, playing a scenario from `tests/sipp` for a number of calls, with
//! `[key]` placeholders of ours replaced first (sipp's own `-key` does not
//! reach every attribute). A test waits for it to finish and fails with
//! sipp's report when a call went otherwise than the scenario says.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Uas {
    pub port: u16,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Uas {
    pub fn start(scenario: &str, values: &[(&str, &str)], calls: usize) -> Uas {
        super::require("sipp", "sip-tester");
        let dir = tempfile::tempdir().unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(scenario);
        let mut text = std::fs::read_to_string(&source).unwrap();
        for (key, value) in values {
            text = text.replace(&format!("[{key}]"), value);
        }
        let file = dir.path().join(scenario);
        std::fs::write(&file, text).unwrap();
        let port = super::free_port();
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(&file)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &super::free_port().to_string()])
            .args(["-m", &calls.to_string(), "-nostdin"])
            .args(["-timeout", "150s", "-timeout_error"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Uas {
            port,
            child: Some(child),
            _dir: dir,
        }
    }

    /// `HOST:PORT`, e.g. for `--outbound-trunk`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A SIP URI of `user` at this phone.
    pub fn uri(&self, user: &str) -> String {
        format!("sip:{user}@127.0.0.1:{}", self.port)
    }

    /// Waits for sipp to finish its calls; fails with its report if any
    /// call failed or they did not end `within`.
    pub fn finished(mut self, within: Duration) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + within;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!("the phone was not called in time:\n{}", report(&out));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "sipp UAS:\n{}", report(&out));
    }
}

impl Drop for Uas {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The end of sipp's screen and its errors.
pub fn report(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    format!(
        "{}\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&out.stderr)
    )
}
