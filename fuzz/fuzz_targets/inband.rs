#![no_main]
//! Any audio through the in-band detector, in the chunks a network delivers.

use hotline_ivr::media::dtmf::inband::InbandDetector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let samples: Vec<i16> = data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut detector = InbandDetector::new();
    for chunk in samples.chunks(160) {
        let found = detector.push(chunk);
        assert!(found.len() <= 1 + chunk.len() / 40);
    }
});
