//! The media side of a test caller: a UDP socket that the caller's SDP (sent
//! by sipp) points at. It sends what a phone sends — 20 ms PCMU frames,
//! silence unless it is speaking, and keys as RFC 4733 events on the same
//! SSRC — and keeps every byte of audio the IVR sends, so a test can tell
//! which prompts the caller heard by matching them against the prompt files.
//!
//! sipp plays its RFC 4733 captures from a socket of its own, and the IVR
//! (rightly) latches its audio to where RTP comes from, so a test that
//! must hear the IVR owns the whole media path here; sipp does the SIP.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_ivr::media::codec::G711;

const FRAME: usize = 160;
const EVENT_PT: u8 = 101;

/// A prompt as a caller receives it over PCMU.
#[derive(Debug, Clone)]
pub struct Heard {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Loads `prompts/<lang>/<name>.wav` and encodes it as the IVR does.
pub fn prompt(lang: &str, name: &str) -> Heard {
    let path = super::prompts_dir().join(lang).join(format!("{name}.wav"));
    let samples = wav_samples(&path);
    let mut bytes = Vec::new();
    G711::Pcmu.encode(&samples, &mut bytes);
    Heard {
        name: format!("{lang}/{name}"),
        bytes,
    }
}

pub fn wav_samples(path: &Path) -> Vec<i16> {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader.samples::<i16>().map(|s| s.unwrap()).collect()
}

enum Send {
    Key(char),
    Audio(Vec<i16>),
}

pub struct Phone {
    pub port: u16,
    heard: Arc<Mutex<Vec<u8>>>,
    /// Where the IVR's audio comes from: the call's RTP address.
    ivr: Arc<Mutex<Option<SocketAddr>>>,
    queue: Arc<Mutex<VecDeque<Send>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Phone {
    pub fn new() -> Phone {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let heard: Arc<Mutex<Vec<u8>>> = Arc::default();
        let ivr: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let queue: Arc<Mutex<VecDeque<Send>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let receiver = {
            let (socket, heard, ivr, stop) =
                (socket.clone(), heard.clone(), ivr.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = socket.recv_from(&mut buf) {
                        if n > 12 && buf[1] & 0x7f == 0 {
                            ivr.lock().unwrap().get_or_insert(from);
                            heard.lock().unwrap().extend_from_slice(&buf[12..n]);
                        }
                    }
                }
            })
        };
        let sender = {
            let (queue, stop, ivr) = (queue.clone(), stop.clone(), ivr.clone());
            std::thread::spawn(move || send_loop(&socket, &ivr, &queue, &stop))
        };
        Phone {
            port,
            heard,
            ivr,
            queue,
            stop,
            threads: vec![receiver, sender],
        }
    }

    /// The IVR's RTP address for this call, once its audio has arrived.
    pub fn ivr(&self) -> Option<SocketAddr> {
        *self.ivr.lock().unwrap()
    }

    /// Presses keys, one after the other, as RFC 4733 events.
    pub fn press(&self, keys: &str) {
        let mut q = self.queue.lock().unwrap();
        for k in keys.chars() {
            q.push_back(Send::Key(k));
        }
    }

    /// Speaks (sends) 8 kHz audio.
    pub fn speak(&self, samples: Vec<i16>) {
        self.queue.lock().unwrap().push_back(Send::Audio(samples));
    }

    /// Whether everything queued has been sent.
    pub fn idle(&self) -> bool {
        self.queue.lock().unwrap().is_empty()
    }

    /// Every PCMU byte the IVR sent so far.
    pub fn heard(&self) -> Vec<u8> {
        self.heard.lock().unwrap().clone()
    }

    /// Waits until `prompt` has been heard completely after byte `from`;
    /// returns where it ended.
    pub fn wait_heard(&self, prompt: &Heard, from: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let heard = self.heard();
            if let Some(at) = find(&heard[from.min(heard.len())..], &prompt.bytes) {
                return from + at + prompt.bytes.len();
            }
            assert!(
                Instant::now() < deadline,
                "the caller did not hear {} within {timeout:?} ({} bytes heard)",
                prompt.name,
                heard.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `prompt` has started playing (its first 250 ms of
    /// sound) after byte `from`, so a key can barge in; returns where.
    pub fn wait_started(&self, prompt: &Heard, from: usize, timeout: Duration) -> usize {
        let start = prompt
            .bytes
            .iter()
            .position(|&b| b != 0xff && b != 0x7f)
            .unwrap_or(0);
        let piece = &prompt.bytes[start..(start + 2000).min(prompt.bytes.len())];
        let deadline = Instant::now() + timeout;
        loop {
            let heard = self.heard();
            if let Some(at) = find(&heard[from.min(heard.len())..], piece) {
                return from + at + piece.len();
            }
            assert!(
                Instant::now() < deadline,
                "the caller did not hear {} start within {timeout:?}",
                prompt.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads the digits spoken right after `intro`, from the digit prompts of
/// `lang`: the ticket number as the caller heard it.
pub fn read_digits_after(heard: &[u8], intro: &Heard, lang: &str, count: usize) -> Option<String> {
    let digits: Vec<Heard> = (0..10)
        .map(|d| prompt(lang, &format!("digit-{d}")))
        .collect();
    let mut at = find(heard, &intro.bytes)? + intro.bytes.len();
    let mut number = String::new();
    for _ in 0..count {
        let (d, p) = digits
            .iter()
            .enumerate()
            .find(|(_, p)| heard[at..].starts_with(&p.bytes))?;
        number.push(char::from(b'0' + d as u8));
        at += p.bytes.len();
    }
    Some(number)
}

fn send_loop(
    socket: &UdpSocket,
    ivr: &Mutex<Option<SocketAddr>>,
    queue: &Mutex<VecDeque<Send>>,
    stop: &AtomicBool,
) {
    let ssrc: u32 = 0x1234_5678 ^ u32::from(socket.local_addr().unwrap().port());
    let mut seq: u16 = 1000;
    let mut timestamp: u32 = 0;
    let start = Instant::now();
    let mut tick: u32 = 0;
    let mut speaking: VecDeque<i16> = VecDeque::new();
    let packet = |pt: u8, marker: bool, ts: u32, payload: &[u8], seq: &mut u16| {
        let mut p = Vec::with_capacity(12 + payload.len());
        p.push(0x80);
        p.push(pt | if marker { 0x80 } else { 0 });
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        *seq = seq.wrapping_add(1);
        p
    };
    while !stop.load(Ordering::Relaxed) {
        tick += 1;
        let due = start + Duration::from_millis(20) * tick;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let Some(to) = *ivr.lock().unwrap() else {
            continue;
        };
        if speaking.is_empty() {
            match queue.lock().unwrap().pop_front() {
                Some(Send::Audio(samples)) => speaking.extend(samples),
                Some(Send::Key(k)) => {
                    // 100 ms of event updates, then three end packets, as phones do.
                    let code = match k {
                        '0'..='9' => k as u8 - b'0',
                        '*' => 10,
                        '#' => 11,
                        _ => continue,
                    };
                    let event_ts = timestamp;
                    for i in 1..=5u16 {
                        let payload = [code, 10, ((i * 160) >> 8) as u8, (i * 160) as u8];
                        let p = packet(EVENT_PT, i == 1, event_ts, &payload, &mut seq);
                        let _ = socket.send_to(&p, to);
                        std::thread::sleep(Duration::from_millis(20));
                        tick += 1;
                    }
                    for _ in 0..3 {
                        let payload = [code, 0x80 | 10, 0x03, 0x20];
                        let p = packet(EVENT_PT, false, event_ts, &payload, &mut seq);
                        let _ = socket.send_to(&p, to);
                    }
                    timestamp = timestamp.wrapping_add(160 * 5);
                    // A short gap between keys, as a person leaves.
                    for _ in 0..5 {
                        std::thread::sleep(Duration::from_millis(20));
                        tick += 1;
                        let mut silence = Vec::new();
                        G711::Pcmu.encode(&[0; FRAME], &mut silence);
                        let p = packet(0, false, timestamp, &silence, &mut seq);
                        timestamp = timestamp.wrapping_add(FRAME as u32);
                        let _ = socket.send_to(&p, to);
                    }
                    continue;
                }
                None => {}
            }
        }
        let frame: Vec<i16> = (0..FRAME)
            .map(|_| speaking.pop_front().unwrap_or(0))
            .collect();
        let mut payload = Vec::with_capacity(FRAME);
        G711::Pcmu.encode(&frame, &mut payload);
        let p = packet(0, false, timestamp, &payload, &mut seq);
        timestamp = timestamp.wrapping_add(FRAME as u32);
        let _ = socket.send_to(&p, to);
    }
}
