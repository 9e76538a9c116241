//! A real softphone calls the IVR: baresip (Debian `baresip-core`), headless,
//! driven through its ctrl_tcp module, with aufile as microphone and sndfile
//! recording what it hears. The IVR must hear the keys baresip sends
//! (RFC 4733), and baresip must hear the IVR's prompt — checked by
//! correlating its recording with the prompt WAV, not by energy alone.

// test-group: real-time (tests/suite.sh runs these one at a time)

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{digits_menu, free_port, prompts_dir, require, Server};

struct Baresip {
    child: Child,
    ctrl: TcpStream,
    buffer: Vec<u8>,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Baresip {
    fn start(dir: &Path) -> Baresip {
        require("baresip", "baresip-core");
        require("sox", "sox");
        let ctrl_port = free_port();
        // A long microphone file: baresip 1.0 hangs up when aufile reaches its end.
        let mic = dir.join("mic.wav");
        let made = Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&mic)
            .args(["synth", "120", "whitenoise", "vol", "0.05"])
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::create_dir_all(dir.join("snd")).unwrap();
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip}\ncall_local_timeout 120\n\
             audio_player aufile,{heard}\naudio_source aufile,{mic}\naudio_alert aufile,{heard}\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n\
             module sndfile.so\nmodule ctrl_tcp.so\nmodule_tmp account.so\nmodule_app menu.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\nsnd_path {snd}\n",
            sip = free_port(),
            heard = dir.join("heard.wav").display(),
            mic = mic.display(),
            snd = dir.join("snd").display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(
            dir.join("accounts"),
            "<sip:13812345678@127.0.0.1>;regint=0\n",
        )
        .unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => panic!("baresip's ctrl_tcp did not come up: {e}"),
            }
        };
        ctrl.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Baresip {
            child,
            ctrl,
            buffer: Vec::new(),
        }
    }

    /// Sends one ctrl_tcp command as a netstring.
    fn command(&mut self, command: &str, params: &str) {
        let json = serde_json::json!({ "command": command, "params": params, "token": "test" })
            .to_string();
        let framed = format!("{}:{json},", json.len());
        self.ctrl.write_all(framed.as_bytes()).unwrap();
    }

    /// Waits for an event of `kind` (e.g. CALL_ESTABLISHED).
    fn wait_event(&mut self, kind: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(message) = self.next_netstring() {
                if message["type"] == kind {
                    return message;
                }
            }
            assert!(Instant::now() < deadline, "no {kind} event from baresip");
            let mut chunk = [0u8; 4096];
            match self.ctrl.read(&mut chunk) {
                Ok(0) => panic!("baresip closed its control connection"),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }

    fn next_netstring(&mut self) -> Option<serde_json::Value> {
        let colon = self.buffer.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&self.buffer[..colon])
            .ok()?
            .parse()
            .ok()?;
        if self.buffer.len() < colon + 1 + len + 1 {
            return None;
        }
        let body = self.buffer[colon + 1..colon + 1 + len].to_vec();
        self.buffer.drain(..colon + 1 + len + 1);
        serde_json::from_slice(&body).ok()
    }
}

fn read_wav(path: &Path) -> (u32, Vec<f64>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    let samples: Vec<f64> = reader
        .samples::<i16>()
        .map(|s| f64::from(s.unwrap()))
        .collect::<Vec<_>>()
        .chunks(channels)
        .map(|frame| frame[0])
        .collect();
    (spec.sample_rate, samples)
}

/// The best normalized cross-correlation of `template` anywhere in `signal`.
fn best_correlation(template: &[f64], signal: &[f64]) -> f64 {
    let t_norm = template.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut best = 0.0f64;
    let n = template.len();
    if signal.len() < n {
        return 0.0;
    }
    let mut window_energy: f64 = signal[..n].iter().map(|v| v * v).sum();
    for lag in 0..=signal.len() - n {
        if lag > 0 {
            window_energy += signal[lag + n - 1].powi(2) - signal[lag - 1].powi(2);
        }
        if window_energy <= 1.0 {
            continue;
        }
        let dot: f64 = template
            .iter()
            .zip(&signal[lag..lag + n])
            .map(|(a, b)| a * b)
            .sum();
        best = best.max(dot / (t_norm * window_energy.sqrt()));
    }
    best
}

#[test]
fn baresip_hears_the_prompt_and_the_ivr_hears_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve", "--menu", &digits_menu()]);
    let sip = server.sip.unwrap();
    let phone_dir = dir.path().join("baresip");
    std::fs::create_dir_all(&phone_dir).unwrap();
    let mut phone = Baresip::start(&phone_dir);

    phone.command("dial", &format!("sip:12348@{sip}"));
    phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    // Listen to the start of the welcome prompt, then key 1 2 #, as a caller would.
    std::thread::sleep(Duration::from_millis(2500));
    for key in ["1", "2", "#"] {
        phone.command("sndcode", key);
        std::thread::sleep(Duration::from_millis(300));
    }
    // The IVR says goodbye and hangs up.
    phone.wait_event("CALL_CLOSED", Duration::from_secs(20));

    let deadline = Instant::now() + Duration::from_secs(10);
    let digits = loop {
        match server
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(line) if line.contains("call ended") => break line,
            Ok(_) => continue,
            Err(_) => panic!("the IVR logged no digits"),
        }
    };
    assert!(digits.contains("digits=12#"), "{digits}");

    // What baresip heard (sndfile's decoder-side dump) against the prompt.
    let heard = std::fs::read_dir(phone_dir.join("snd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("sndfile wrote what baresip heard");
    let (rate, heard) = read_wav(&heard);
    assert_eq!(rate, 8000, "G.711 decodes at 8 kHz");
    let (_, welcome) = read_wav(&prompts_dir().join("zh/welcome.wav"));
    // Half a second from the first second of the prompt (played before the keys).
    let template = &welcome[4000..8000];
    let score = best_correlation(template, &heard);
    eprintln!("correlation with the prompt: {score:.3}");
    assert!(
        score > 0.8,
        "the prompt is in the recording: correlation {score:.3}"
    );
    // A control, so the measure cannot pass on anything: noise of the same
    // length does not match.
    let noise: Vec<f64> = (0..4000)
        .map(|i| ((i * 7919 % 1000) as f64 - 500.0) * 10.0)
        .collect();
    let control = best_correlation(&noise, &heard);
    eprintln!("correlation with noise: {control:.3}");
    assert!(control < 0.3, "noise must not match: {control:.3}");

    // And the IVR recorded what baresip's microphone sent.
    let recordings = dir.path().join("hotline-data/recordings");
    let recording = std::fs::read_dir(&recordings)
        .unwrap_or_else(|e| panic!("{}: {e}", recordings.display()))
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "wav"))
        .expect("the call's recording was saved");
    let (rate, recorded) = read_wav(&recording);
    assert_eq!(rate, 8000);
    let (_, mic) = read_wav(&phone_dir.join("mic.wav"));
    let score = best_correlation(&mic[8000..12000], &recorded);
    eprintln!("correlation of the recording with the microphone: {score:.3}");
    assert!(
        score > 0.8,
        "the recording holds the caller's audio: {score:.3}"
    );
    let control = best_correlation(&welcome[4000..8000], &recorded);
    assert!(
        control < 0.3,
        "the prompt is not in the caller's recording: {control:.3}"
    );
}

#[test]
fn baresip_walks_the_english_branch_and_the_ticket_is_in_english() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["serve"]);
    let sip = server.sip.unwrap();
    let phone_dir = dir.path().join("baresip");
    std::fs::create_dir_all(&phone_dir).unwrap();
    let mut phone = Baresip::start(&phone_dir);

    phone.command("dial", &format!("sip:12348@{sip}"));
    phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    // 2 for English during the welcome, 2 for a consultation during the
    // main menu; 9 (anything else), 9 (no document), * (date unknown), 9
    // (no preservation); 1 to confirm the callback number (the caller's own).
    let keys = [
        (2500, "2"),
        (1500, "2"),
        (1500, "9"),
        (1500, "9"),
        (1500, "*"),
        (1500, "9"),
        (1500, "1"),
    ];
    for (wait_ms, key) in keys {
        std::thread::sleep(Duration::from_millis(wait_ms));
        phone.command("sndcode", key);
    }
    // The message prompt and the tone, a few seconds of the microphone, then #.
    std::thread::sleep(Duration::from_millis(10_000));
    phone.command("sndcode", "#");
    // The reference number, the next step, silence, goodbye: the IVR hangs up.
    phone.wait_event("CALL_CLOSED", Duration::from_secs(60));

    let out = server.client(&["tickets", "list", "--json"]);
    let tickets: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let ticket = &tickets[0];
    assert_eq!(ticket["language"], "en", "{ticket}");
    assert_eq!(ticket["kind"], "consultation", "{ticket}");
    // Lists mask the numbers; the ticket opened shows them (an audited read).
    assert_eq!(ticket["callback_number"], "138****5678", "{ticket}");
    let number = ticket["number"].as_str().unwrap();
    let shown = server.client(&["tickets", "show", number, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["callback_number"], "13812345678", "{shown}");
    assert_eq!(
        ticket["recordings"].as_array().map(Vec::len),
        Some(1),
        "{ticket}"
    );
}
