//! Bounds that two parts of the system must agree on, defined once: what
//! the IVR records and sends must fit what ticketing accepts. Constant
//! assertions below check them against each other when the crate builds;
//! the IVR's tests check its real WAV writer against them.

/// Telephone audio: 8 kHz, 16-bit mono PCM once decoded.
pub const SAMPLE_RATE_HZ: u32 = 8000;

/// The longest message a caller may leave (a `record` node's `max_secs`
/// cannot exceed it; the IVR stops recording there).
pub const MAX_MESSAGE_SECS: u32 = 8 * 60;

/// The most recording bytes ticketing accepts in one upload.
pub const MAX_RECORDING_BYTES: usize = 8 << 20;

/// How much of each whole call the IVR keeps on its own disk, from the start.
pub const CALL_RECORDING_SECS: u32 = 120;

/// The longest idempotency key ticketing accepts.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

/// The longest actor name ticketing accepts (the `x-hotline-actor` header).
pub const MAX_ACTOR_LEN: usize = 64;

/// The longest IVR node name (`node_id`), part of every idempotency key.
pub const MAX_NODE_ID_LEN: usize = 64;

/// The longest SIP Call-ID the IVR accepts on a call (kept as a field of
/// the call; never part of a key or a file name).
pub const MAX_CALL_ID_LEN: usize = 128;

/// The length of the IVR's own id of a call (hex digits), the rest of every
/// idempotency key and the recording's file name.
pub const CALL_REF_LEN: usize = 32;

/// Bytes of a WAV file holding `secs` seconds of telephone audio.
pub const fn wav_bytes(secs: u32) -> usize {
    44 + secs as usize * SAMPLE_RATE_HZ as usize * 2
}

/// Samples in `secs` seconds of telephone audio.
pub const fn samples(secs: u32) -> usize {
    secs as usize * SAMPLE_RATE_HZ as usize
}

// The bounds checked against each other when the crate compiles: a change
// that breaks one of these does not build.
const _: () = assert!(
    wav_bytes(MAX_MESSAGE_SECS) <= MAX_RECORDING_BYTES,
    "the longest message must fit one upload"
);
const _: () = assert!(
    MAX_NODE_ID_LEN + 1 + CALL_REF_LEN + ":99".len() + ":message".len() <= MAX_IDEMPOTENCY_KEY_LEN,
    "`node_id:call:n:message` must fit an idempotency key"
);
const _: () = assert!(
    wav_bytes(CALL_RECORDING_SECS) <= MAX_RECORDING_BYTES,
    "the call recording must fit one upload"
);
