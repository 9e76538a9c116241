#![no_main]
//! Any text as a menu file: refused with file:line messages, or accepted
//! and then walkable — a flow started on it never panics, whatever keys
//! and timeouts follow (the remaining bytes drive the call).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_ivr::media::dtmf::Digit;
use hotline_ivr::menu::{parse, CallInfo, Flow, Input, PromptCheck};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let menu = match parse(text, "fuzz.toml", PromptCheck::Skip) {
        Ok(menu) => Arc::new(menu),
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a refusal says why");
            return;
        }
    };
    let Ok(calendar) = hotline_domain::HolidayCalendar::bundled() else {
        return;
    };
    let info = CallInfo {
        caller: None,
        center: "default".into(),
        region: None,
        started_local: chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("a date"),
    };
    let mut now = Instant::now();
    let mut flow = Flow::new(menu, Arc::new(calendar), info, now);
    for &b in data.get(split + 1..).unwrap_or_default() {
        now += Duration::from_millis(u64::from(b) * 50);
        match b % 4 {
            0 => flow.handle_input(now, Input::PlaybackFinished),
            1 => flow.handle_timeout(now),
            _ => {
                let keys = "0123456789*#";
                if let Some(d) = keys
                    .chars()
                    .nth(usize::from(b) % keys.len())
                    .and_then(Digit::from_char)
                {
                    flow.handle_input(now, Input::Digit(d));
                }
            }
        }
        while flow.poll_output().is_some() {}
    }
});
