//! The in-band detector against ITU-T Q.24, on tones made by sox (an
//! independent generator), as they are and after a G.711 round trip; with
//! frames lost and concealed on the way; and talk-off over speech made by
//! espeak-ng and over music-like chords.
//!
//! Needs `sox` and `espeak-ng` (Debian packages of the same names); a test
//! fails with the install command when one is missing.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use hotline_ivr::media::codec::G711;
use hotline_ivr::media::dtmf::inband::detect;
use hotline_ivr::media::dtmf::Digit;
use hotline_ivr::media::wav::read_telephone_wav;

fn require(tool: &str, package: &str) {
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

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run sox");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Linear amplitude (full scale 1.0) of a sine at `dbm0`: 0 dBm0 is 3.17 dB
/// below a full-scale sine in G.711.
fn amplitude(dbm0: f64) -> f64 {
    10f64.powf((dbm0 - 3.17) / 20.0)
}

/// One tone burst as sox makes it: two sines of given frequencies and
/// levels, plus optional white noise at a given level, for `ms`.
#[derive(Clone, Copy, Debug)]
struct Burst {
    low_hz: f64,
    high_hz: f64,
    low_dbm0: f64,
    high_dbm0: f64,
    ms: u32,
}

struct Sox {
    dir: tempfile::TempDir,
    count: usize,
}

impl Sox {
    fn new() -> Self {
        require("sox", "sox");
        Sox {
            dir: tempfile::tempdir().unwrap(),
            count: 0,
        }
    }

    fn path(&mut self) -> PathBuf {
        self.count += 1;
        self.dir.path().join(format!("{}.wav", self.count))
    }

    fn tone(&mut self, b: Burst) -> PathBuf {
        let path = self.path();
        let secs = f64::from(b.ms) / 1000.0;
        let part = |hz: f64, dbm0: f64| {
            format!(
                "|sox -n -r 8000 -c 1 -b 16 -p synth {secs} sine {hz} vol {}",
                amplitude(dbm0)
            )
        };
        run(Command::new("sox")
            .args(["-m", "-v", "1"])
            .arg(part(b.low_hz, b.low_dbm0))
            .args(["-v", "1"])
            .arg(part(b.high_hz, b.high_dbm0))
            .args(["-r", "8000", "-c", "1", "-b", "16"])
            .arg(&path));
        path
    }

    fn silence(&mut self, ms: u32) -> PathBuf {
        let path = self.path();
        run(Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&path)
            .args(["trim", "0", &format!("{}", f64::from(ms) / 1000.0)]));
        path
    }

    fn concat(&mut self, parts: &[PathBuf]) -> PathBuf {
        let path = self.path();
        run(Command::new("sox").args(parts).arg(&path));
        path
    }

    /// Adds white noise `snr_db` below the signal's own power.
    fn with_noise(&mut self, signal: &Path, snr_db: f64) -> PathBuf {
        let samples = read_telephone_wav(signal).unwrap();
        let rms = |s: &[i16]| {
            (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
        };
        // Measure the noise sox makes at full volume, then scale it.
        let unit = self.path();
        let secs = samples.len() as f64 / 8000.0;
        run(Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
            .arg(&unit)
            .args(["synth", &secs.to_string(), "whitenoise", "vol", "0.5"]));
        let noise_rms = rms(&read_telephone_wav(&unit).unwrap());
        // Only the tone bursts count as signal, not the silences between them.
        let tone_rms = {
            let loud: Vec<i16> = samples.iter().copied().filter(|v| v.abs() > 30).collect();
            rms(&loud)
        };
        let gain = tone_rms / noise_rms / 10f64.powf(snr_db / 20.0);
        let path = self.path();
        run(Command::new("sox")
            .args(["-m", "-v", "1"])
            .arg(signal)
            .args(["-v", &gain.to_string()])
            .arg(&unit)
            .arg(&path));
        path
    }

    /// All sixteen keys, each burst followed by `gap_ms` of silence.
    fn keypad(&mut self, shape: impl Fn(f64, f64) -> Burst, gap_ms: u32) -> PathBuf {
        let mut parts = vec![self.silence(100)];
        for d in Digit::ALL {
            let (low, high) = d.frequencies();
            parts.push(self.tone(shape(low, high)));
            parts.push(self.silence(gap_ms));
        }
        self.concat(&parts)
    }
}

fn digits(samples: &[i16]) -> String {
    detect(samples).iter().map(|d| d.digit.as_char()).collect()
}

fn all_keys() -> String {
    Digit::ALL.iter().map(|d| d.as_char()).collect()
}

/// Checks a file as it is and after PCMU and PCMA round trips.
fn expect(file: &Path, expected: &str, what: &str, failures: &mut Vec<String>) {
    let samples = read_telephone_wav(file).unwrap();
    for (name, audio) in [
        ("linear", samples.clone()),
        ("PCMU", G711::Pcmu.round_trip(&samples)),
        ("PCMA", G711::Pcma.round_trip(&samples)),
    ] {
        let got = digits(&audio);
        if got != expected {
            failures.push(format!(
                "{what} ({name}): expected {expected:?}, got {got:?}"
            ));
        }
    }
}

/// How a key's two frequencies become a burst, for one grid condition.
type Shape = Box<dyn Fn(f64, f64) -> Burst>;

fn burst(low: f64, high: f64, low_dbm0: f64, high_dbm0: f64, ms: u32) -> Burst {
    Burst {
        low_hz: low,
        high_hz: high,
        low_dbm0,
        high_dbm0,
        ms,
    }
}

#[test]
fn accept_grid() {
    let mut sox = Sox::new();
    let mut failures = Vec::new();
    let keys = all_keys();
    let cases: Vec<(&str, Shape)> = vec![
        (
            "nominal, -10 dBm0, 60 ms",
            Box::new(|l, h| burst(l, h, -10.0, -10.0, 60)),
        ),
        (
            "-3 dBm0 per tone",
            Box::new(|l, h| burst(l, h, -3.0, -3.0, 60)),
        ),
        (
            "-25 dBm0 per tone",
            Box::new(|l, h| burst(l, h, -25.0, -25.0, 60)),
        ),
        ("40 ms", Box::new(|l, h| burst(l, h, -10.0, -10.0, 40))),
        (
            "+1.5 % both",
            Box::new(|l, h| burst(l * 1.015, h * 1.015, -10.0, -10.0, 60)),
        ),
        (
            "-1.5 % both",
            Box::new(|l, h| burst(l * 0.985, h * 0.985, -10.0, -10.0, 60)),
        ),
        (
            "+1.5 % low, -1.5 % high",
            Box::new(|l, h| burst(l * 1.015, h * 0.985, -10.0, -10.0, 60)),
        ),
        (
            "-1.5 % low, +1.5 % high",
            Box::new(|l, h| burst(l * 0.985, h * 1.015, -10.0, -10.0, 60)),
        ),
        (
            "normal twist 8 dB",
            Box::new(|l, h| burst(l, h, -10.0, -18.0, 60)),
        ),
        (
            "reverse twist 4 dB",
            Box::new(|l, h| burst(l, h, -14.0, -10.0, 60)),
        ),
        (
            "normal twist 8 dB at the floor",
            Box::new(|l, h| burst(l, h, -17.0, -25.0, 60)),
        ),
        (
            "reverse twist 4 dB at the top",
            Box::new(|l, h| burst(l, h, -7.0, -3.0, 60)),
        ),
        (
            "40 ms, -1.5 %, -25 dBm0",
            Box::new(|l, h| burst(l * 0.985, h * 0.985, -25.0, -25.0, 40)),
        ),
    ];
    for (what, shape) in &cases {
        let file = sox.keypad(shape, 60);
        expect(&file, &keys, what, &mut failures);
    }
    // 15 dB signal-to-noise ratio, at a low level.
    let clean = sox.keypad(|l, h| burst(l, h, -20.0, -20.0, 60), 60);
    let noisy = sox.with_noise(&clean, 15.0);
    expect(&noisy, &keys, "15 dB SNR, -20 dBm0", &mut failures);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn reject_grid() {
    let mut sox = Sox::new();
    let mut failures = Vec::new();
    let cases: Vec<(&str, Shape)> = vec![
        (
            "+3.5 % both",
            Box::new(|l, h| burst(l * 1.035, h * 1.035, -10.0, -10.0, 60)),
        ),
        (
            "-3.5 % both",
            Box::new(|l, h| burst(l * 0.965, h * 0.965, -10.0, -10.0, 60)),
        ),
        (
            "+3.5 % low only",
            Box::new(|l, h| burst(l * 1.035, h, -10.0, -10.0, 60)),
        ),
        (
            "-3.5 % high only",
            Box::new(|l, h| burst(l, h * 0.965, -10.0, -10.0, 60)),
        ),
        (
            "+5 % both",
            Box::new(|l, h| burst(l * 1.05, h * 1.05, -10.0, -10.0, 60)),
        ),
        (
            "normal twist 10 dB",
            Box::new(|l, h| burst(l, h, -8.0, -18.0, 60)),
        ),
        (
            "reverse twist 10 dB",
            Box::new(|l, h| burst(l, h, -18.0, -8.0, 60)),
        ),
        (
            "normal twist 12 dB",
            Box::new(|l, h| burst(l, h, -6.0, -18.0, 60)),
        ),
        ("23 ms", Box::new(|l, h| burst(l, h, -10.0, -10.0, 23))),
        ("20 ms", Box::new(|l, h| burst(l, h, -10.0, -10.0, 20))),
    ];
    for (what, shape) in &cases {
        let file = sox.keypad(shape, 60);
        expect(&file, "", what, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn gaps_separate_digits_and_short_breaks_do_not() {
    let mut sox = Sox::new();
    let mut failures = Vec::new();
    let (l1, h1) = Digit::D1.frequencies();
    let one = |ms| burst(l1, h1, -10.0, -10.0, ms);
    // "1 1 1" with 40 ms gaps: three digits.
    let parts = vec![
        sox.silence(100),
        sox.tone(one(50)),
        sox.silence(40),
        sox.tone(one(50)),
        sox.silence(40),
        sox.tone(one(50)),
        sox.silence(100),
    ];
    let file = sox.concat(&parts);
    expect(&file, "111", "40 ms gaps", &mut failures);
    // A 10 ms break inside one key press: one digit.
    let parts = vec![
        sox.silence(100),
        sox.tone(one(40)),
        sox.silence(10),
        sox.tone(one(40)),
        sox.silence(100),
    ];
    let file = sox.concat(&parts);
    expect(&file, "1", "10 ms break", &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_digits_from_speech() {
    require("espeak-ng", "espeak-ng");
    let mut sox = Sox::new();
    let texts = [
        ("en", "Welcome to the twelve three four eight legal aid hotline. Please press one for Mandarin, two for English. My employer has not paid my wages for three months, and I was dismissed without notice on the first of March."),
        ("en-us", "Hello, hello? Can you hear me? I need help with a traffic accident. The other driver drove away. Nine, eight, seven, six, five, four, three, two, one, zero."),
        ("cmn-latn-pinyin", "huan1 ying2 zhi4 dian4 yi1 er4 san1 si4 ba1 gong1 gong4 fa3 lv4 fu2 wu4 re4 xian4. wo3 de lao3 ban3 qian4 wo3 san1 ge4 yue4 de gong1 zi1."),
        ("cmn", "欢迎致电一二三四八公共法律服务热线，我的老板欠我三个月的工资。"),
    ];
    let mut failures = Vec::new();
    for (voice, text) in texts {
        for (speed, pitch) in [("160", "50"), ("220", "80"), ("120", "20")] {
            let raw = sox.path();
            run(Command::new("espeak-ng")
                .args(["-v", voice, "-s", speed, "-p", pitch, "-w"])
                .arg(&raw)
                .arg(text));
            let file = sox.path();
            run(Command::new("sox")
                .arg(&raw)
                .args(["-r", "8000", "-c", "1", "-b", "16"])
                .arg(&file));
            expect(
                &file,
                "",
                &format!("speech, voice {voice}, speed {speed}, pitch {pitch}"),
                &mut failures,
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_digits_from_music_like_chords() {
    let mut sox = Sox::new();
    // Chords around the DTMF bands. F5 (698 Hz) with E6 (1319 Hz), A#5 with
    // F#6 and G5 with G#6 sit within Q.24's tolerance of a key's pair: played
    // as bare sines they *are* that key's signal, and a compliant receiver
    // must hear them. Music is not bare sines: these dyads come here with
    // the harmonics of real timbres, or inside fuller chords.
    let chords = [
        "pluck F5 pluck A5 pluck C6",
        "pluck G5 pluck B5 pluck D6",
        "pluck C5 pluck E5 pluck G5 pluck C6",
        "pluck F5 pluck E6 pluck A6",
        "sine F5 sine A5 sine C6",
        "sine G5 sine B5 sine D6 sine F6",
        "square F5 square E6",
        "sawtooth A#5 sawtooth F#6",
        "sawtooth G5 sawtooth G#6",
        "triangle A#5 triangle D6 triangle F#6",
    ];
    let mut parts = Vec::new();
    for chord in chords {
        let path = sox.path();
        let mut args: Vec<String> = ["-n", "-r", "8000", "-c", "1", "-b", "16"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(path.display().to_string());
        args.extend(["synth", "0.8"].iter().map(|s| s.to_string()));
        args.extend(chord.split(' ').map(str::to_owned));
        args.extend(["remix", "-", "vol", "0.3"].iter().map(|s| s.to_string()));
        run(Command::new("sox").args(&args));
        parts.push(path);
    }
    let file = sox.concat(&parts);
    let mut failures = Vec::new();
    expect(&file, "", "chords", &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What a gateway does with a lost 20 ms frame in the simplest G.711
/// packet-loss concealment: it plays the previous frame again (for a run of
/// losses, the last frame it played). Frames are lost at random with
/// `rate`, from a seeded generator (a failure names its seed and replays).
fn conceal_losses(samples: &[i16], rate: f64, seed: u64) -> (Vec<i16>, usize) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = samples.to_vec();
    let mut lost = 0;
    for start in (160..out.len().saturating_sub(160)).step_by(160) {
        if rng.random_bool(rate) {
            out.copy_within(start - 160..start, start);
            lost += 1;
        }
    }
    (out, lost)
}

/// Milliseconds of tone the caller's side still carries in `[from, to)`
/// (1 ms slots with any sample above -30 dBm0).
fn tone_ms(samples: &[i16], from: usize, to: usize) -> usize {
    let floor = (amplitude(-30.0) * 32768.0) as i16;
    samples[from..to.min(samples.len())]
        .chunks(8)
        .filter(|slot| slot.iter().any(|s| s.saturating_abs() > floor))
        .count()
}

/// Keys of 70 ms with 70 ms pauses at -8 dBm0, as a fast caller keys them,
/// through a network that loses 3 % and 8 % of frames and conceals each
/// loss by repeating the previous frame. Every key whose tone still lasts
/// 40 ms (what ITU-T Q.24 says must be recognised) is found exactly once,
/// in order; a key whose first frames were all lost, leaving less than the
/// 23 ms Q.24 says must be rejected, is not; nothing is ever doubled.
#[test]
fn concealed_frame_losses_lose_no_digit() {
    let mut sox = Sox::new();
    let file = sox.keypad(|l, h| burst(l, h, -8.0, -8.0, 70), 70);
    let samples = read_telephone_wav(&file).unwrap();
    let keys = all_keys();
    let mut failures = Vec::new();
    let (mut concealed, mut too_short) = (0, 0);
    for rate in [0.03, 0.08] {
        for seed in 0..40 {
            let (lossy, lost) = conceal_losses(&samples, rate, seed);
            concealed += lost;
            let got = digits(&G711::Pcmu.round_trip(&lossy));
            // The keypad starts after 100 ms; each key takes 140 ms. A
            // repeated frame may carry a tone's tail 20 ms past its end.
            for (i, key) in keys.chars().enumerate() {
                let start = 800 + i * 1120;
                let heard = tone_ms(&lossy, start, start + 560 + 160);
                let count = got.matches(key).count();
                let ok = match heard {
                    40.. => count == 1,
                    0..23 => count == 0,
                    _ => count <= 1,
                };
                if heard < 40 {
                    too_short += 1;
                }
                if !ok {
                    failures.push(format!(
                        "{:.0} % loss, seed {seed} ({lost} frames concealed): key {key} \
                         ({heard} ms of tone left) found {count} times in {got:?}",
                        rate * 100.0
                    ));
                }
            }
            let in_order = got.chars().all(|k| keys.contains(k))
                && got
                    .chars()
                    .zip(got.chars().skip(1))
                    .all(|(a, b)| keys.find(a) < keys.find(b));
            if !in_order {
                failures.push(format!("seed {seed}: out of order {got:?}"));
            }
        }
    }
    assert!(
        concealed > 100,
        "the losses must hit the tones: {concealed}"
    );
    assert!(
        too_short <= 4,
        "{too_short} of 1280 tones lost most of their frames"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
