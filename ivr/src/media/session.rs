//! One call's media as a sans-I/O state machine: RTP datagrams and `now` in;
//! paced RTP packets, digits and the next wake-up out.
//!
//! - Sending: 20 ms packets on a schedule computed from the start time and
//!   the packet count, so timer jitter never accumulates into drift; prompt
//!   audio when there is some, silence otherwise (keeps NAT bindings open).
//! - Symmetric RTP: replies go to where the caller's packets come from,
//!   latched once on the first packet, whatever the SDP said.
//! - Digits from RFC 4733 events and from in-band tones; once the first
//!   RFC 4733 event arrives, in-band detection stops for the call. The call
//!   task's `DigitArbiter` then makes one press one digit across these and
//!   SIP INFO.
//! - Recording of the caller's audio, bounded.
//! - No inbound RTP for `rtp_timeout`: the call is dead.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::clip::Clip;
use super::codec::G711;
use super::dtmf::inband::InbandDetector;
use super::dtmf::rfc4733::EventReceiver;
use super::dtmf::Digit;
use super::rtp::RtpPacket;

/// Below this mean power a frame is silence: -45 dBm0 (line noise and
/// comfort noise stay under it; speech, even quiet, does not).
fn is_silence(frame: &[i16]) -> bool {
    // 0 dBm0 is 3.17 dB below a full-scale sine (G.711).
    const FLOOR_DBM0: f64 = -45.0;
    let amplitude = 32768.0 * 10f64.powf((FLOOR_DBM0 - 3.17) / 20.0);
    let floor = amplitude * amplitude / 2.0;
    if frame.is_empty() {
        return true;
    }
    let power = frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame.len() as f64;
    power < floor
}

/// Samples in one 20 ms packet at 8 kHz.
pub const PACKET_SAMPLES: usize = 160;
const PACKET_INTERVAL: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy)]
pub struct MediaConfig {
    pub codec: G711,
    /// The payload type the peer uses for the codec.
    pub payload_type: u8,
    /// The peer's telephone-event payload type.
    pub telephone_event: Option<u8>,
    pub rtp_timeout: Duration,
    /// Longest recording kept, in samples.
    pub max_recording: usize,
}

pub use super::dtmf::arbiter::DigitSource;

/// Where a call's media may go to and come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTrust {
    /// A trusted trunk or proxy (`sip_trusted`): its SBC may name another
    /// media address, which gets audio at once, until the first packet
    /// from the caller shows where it really is (latched once).
    Trusted,
    /// Anyone else, signalling from this address: audio goes only to that
    /// IP (a different `c=` is ignored) and only after the ACK proved the
    /// address asked for the call, so a forged INVITE cannot aim a stream
    /// at a victim; packets count only from that IP, latched once.
    Untrusted(std::net::IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Digit(Digit, DigitSource),
    /// The prompt queued with `play` has been sent to the end.
    PlaybackFinished,
    /// No RTP from the caller for the configured time.
    RtpTimeout,
    /// The caller's message has heard only silence for the time asked.
    MessageSilence,
}

/// What the session asks of its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutput {
    /// An RTP datagram for [`MediaSession::remote`].
    Send(Vec<u8>),
    Event(MediaEvent),
}

pub struct MediaSession {
    /// Datagrams and events not yet taken by [`MediaSession::poll_output`].
    outputs: VecDeque<MediaOutput>,
    config: MediaConfig,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    remote: Option<SocketAddr>,
    latched: bool,
    trust: MediaTrust,
    /// The IP the SDP named: a trusted peer's media comes from there.
    sdp_ip: Option<std::net::IpAddr>,
    /// The caller's ACK has arrived.
    confirmed: bool,
    start: Instant,
    packets_sent: u64,
    /// Prompts queued to play, each with how far it has been sent: the
    /// audio is shared, a call holds only its place in it.
    playout: VecDeque<(Clip, usize)>,
    playing: bool,
    events: EventReceiver,
    /// Made at the caller's first audio, and only while no RFC 4733 event
    /// has come: a call that never sends audio carries none of it.
    inband: Option<Box<InbandDetector>>,
    inband_enabled: bool,
    recording: Option<Vec<i16>>,
    /// The caller's message and its bound, while a record node listens.
    message: Option<(Vec<i16>, usize)>,
    /// While a message is recorded: how much silence ends it, and when the
    /// caller last spoke (or the message began). Time, not samples heard:
    /// a gateway that stops sending audio in silence (comfort noise, DTX)
    /// is silent too.
    message_silence: Option<(Duration, Instant)>,
    last_received: Instant,
    timed_out: bool,
    decoded: Vec<i16>,
}

impl MediaSession {
    /// A session that will send to `remote` (from the SDP) until the caller's
    /// own packets show where it really is, as `trust` allows.
    /// Its SSRC, first sequence number and timestamp come from `rng`.
    pub fn new<R: rand::Rng + ?Sized>(
        config: MediaConfig,
        remote: Option<SocketAddr>,
        trust: MediaTrust,
        now: Instant,
        rng: &mut R,
    ) -> Self {
        use rand::RngExt;
        let sdp_ip = remote.map(|r| r.ip());
        let remote = match trust {
            MediaTrust::Trusted => remote,
            MediaTrust::Untrusted(ip) => remote.filter(|r| r.ip() == ip),
        };
        Self {
            sdp_ip,
            outputs: VecDeque::new(),
            config,
            ssrc: rng.random(),
            sequence: rng.random(),
            timestamp: rng.random(),
            remote,
            latched: false,
            trust,
            confirmed: false,
            start: now,
            packets_sent: 0,
            playout: VecDeque::new(),
            playing: false,
            events: EventReceiver::new(),
            inband: None,
            inband_enabled: true,
            recording: None,
            message: None,
            message_silence: None,
            last_received: now,
            timed_out: false,
            decoded: Vec::with_capacity(PACKET_SAMPLES),
        }
    }

    pub fn remote(&self) -> Option<SocketAddr> {
        match self.trust {
            MediaTrust::Untrusted(_) if !self.confirmed => None,
            _ => self.remote,
        }
    }

    /// The caller's ACK arrived at `now`: an untrusted caller's address is
    /// proven, and the audio held until then starts, from its beginning.
    pub fn confirm(&mut self, now: Instant) {
        let held = self.holding();
        self.confirmed = true;
        self.resume_if(held, now);
    }

    /// Whether audio waits: an untrusted caller's until their ACK, and until
    /// there is somewhere to send it (a caller behind NAT names a private
    /// address; their first packet shows the real one).
    fn holding(&self) -> bool {
        matches!(self.trust, MediaTrust::Untrusted(_)) && (!self.confirmed || self.remote.is_none())
    }

    /// Starts the held audio at `now`, from where it stopped, if it was
    /// held and no longer is: the caller hears the prompt from its start.
    fn resume_if(&mut self, was_held: bool, now: Instant) {
        if was_held && !self.holding() {
            self.start = now
                .checked_sub(PACKET_INTERVAL * (self.packets_sent as u32))
                .unwrap_or(now);
        }
    }

    /// Whether the peer's address is latched (its first packet came).
    pub fn is_latched(&self) -> bool {
        self.latched
    }

    /// Our stream as it stands: its SSRC, and the sequence number and
    /// timestamp of the next packet. A bridge goes on from there, so the
    /// peer hears one stream.
    pub fn stream(&self) -> (u32, u16, u32) {
        (self.ssrc, self.sequence, self.timestamp)
    }

    /// What an RTCP sender report says about what we sent so far.
    pub fn sender_info(&self) -> super::rtcp::SenderInfo {
        super::rtcp::SenderInfo {
            ssrc: self.ssrc,
            rtp_timestamp: self.timestamp,
            packets: self.packets_sent as u32,
            octets: (self.packets_sent as u32).wrapping_mul(PACKET_SAMPLES as u32),
        }
    }

    /// Queues a prompt after whatever is playing.
    pub fn play(&mut self, clip: &Clip) {
        if !clip.is_empty() {
            self.playout.push_back((clip.clone(), 0));
        }
        self.playing = true;
    }

    /// Stops the prompt at once (barge-in).
    pub fn stop_playback(&mut self) {
        self.playout.clear();
        self.playing = false;
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    pub fn start_recording(&mut self) {
        self.recording = Some(Vec::new());
    }

    /// Starts recording the caller's message, at most `max` samples, apart
    /// from (and whatever the state of) the whole-call recording.
    pub fn start_message(&mut self, now: Instant, max: usize, end_on_silence: Option<Duration>) {
        self.message = Some((Vec::new(), max));
        self.message_silence = end_on_silence.map(|limit| (limit, now));
    }

    /// Reports (once) that the caller has been silent long enough.
    fn check_message_silence(&mut self, now: Instant) {
        if let Some((limit, since)) = self.message_silence {
            if now.saturating_duration_since(since) >= limit {
                self.message_silence = None;
                self.outputs
                    .push_back(MediaOutput::Event(MediaEvent::MessageSilence));
            }
        }
    }

    /// Ends the message and returns it.
    pub fn stop_message(&mut self) -> Vec<i16> {
        self.message_silence = None;
        self.message.take().map(|(m, _)| m).unwrap_or_default()
    }

    /// Ends the recording and returns what was heard.
    pub fn stop_recording(&mut self) -> Vec<i16> {
        self.recording.take().unwrap_or_default()
    }

    /// Whether every packet the caller sends should be taken in as soon as
    /// it can be: while they are recorded (a message or the whole call,
    /// read at every visit), while silence may end their
    /// message, and once their media is about to be declared lost (a
    /// packet waiting unread must count).
    pub fn wants_every_packet(&self, now: Instant) -> bool {
        self.recording.is_some()
            || self.message.is_some()
            || (!self.timed_out && now >= self.last_received + self.config.rtp_timeout)
    }

    /// The next datagram to send or event to report, in order.
    pub fn poll_output(&mut self) -> Option<MediaOutput> {
        self.outputs.pop_front()
    }

    /// When the next packet is due (or the inactivity timer fires); a live
    /// session always has one.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let inactive = self.last_received + self.config.rtp_timeout;
        if self.holding() {
            return Some(inactive);
        }
        let next_packet = self.start + PACKET_INTERVAL * (self.packets_sent as u32);
        Some(next_packet.min(inactive))
    }

    /// Queues every packet that is due by `now` (one datagram each, for
    /// [`MediaSession::remote`]) and the events they bring.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.check_message_silence(now);
        if !self.timed_out && now >= self.last_received + self.config.rtp_timeout {
            self.timed_out = true;
            self.outputs
                .push_back(MediaOutput::Event(MediaEvent::RtpTimeout));
        }
        // Before an untrusted caller's ACK nothing is sent, and the prompt
        // waits rather than play to nobody.
        if self.holding() {
            return;
        }
        while self.start + PACKET_INTERVAL * (self.packets_sent as u32) <= now {
            let mut datagram = Vec::with_capacity(12 + PACKET_SAMPLES);
            RtpPacket {
                // We send without pause (silence between prompts), so the
                // only talkspurt, and the only marker bit, is the first packet.
                marker: self.packets_sent == 0,
                payload_type: self.config.payload_type,
                sequence: self.sequence,
                timestamp: self.timestamp,
                ssrc: self.ssrc,
                payload: &[],
            }
            .write(&mut datagram);
            self.fill_payload(&mut datagram);
            let finished = self.playing && self.playout.is_empty();
            self.outputs.push_back(MediaOutput::Send(datagram));
            if finished {
                // After the packet that carried its last samples.
                self.playing = false;
                self.outputs
                    .push_back(MediaOutput::Event(MediaEvent::PlaybackFinished));
            }
            self.sequence = self.sequence.wrapping_add(1);
            self.timestamp = self.timestamp.wrapping_add(PACKET_SAMPLES as u32);
            self.packets_sent += 1;
        }
    }

    /// Appends one packet of prompt audio, already in the call's law, from
    /// the queued clips; silence where they run out.
    fn fill_payload(&mut self, datagram: &mut Vec<u8>) {
        let law = self.config.codec;
        let mut wanted = PACKET_SAMPLES;
        while wanted > 0 {
            let Some((clip, at)) = self.playout.front_mut() else {
                break;
            };
            let encoded = clip.encoded(law);
            let take = wanted.min(encoded.len() - *at);
            datagram.extend_from_slice(&encoded[*at..*at + take]);
            *at += take;
            wanted -= take;
            if *at == encoded.len() {
                self.playout.pop_front();
            }
        }
        datagram.resize(datagram.len() + wanted, law.silence());
    }

    /// Takes one datagram from the media socket; digits it brings are
    /// queued as events.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        // Once latched, only the caller's address counts: a stranger's
        // packets (keys, audio) are not the caller's. Before, an untrusted
        // caller latches only from the IP that signalled.
        let admitted = if self.latched {
            self.remote == Some(from)
        } else {
            match self.trust {
                // A trunk's media comes from the address its SDP named.
                MediaTrust::Trusted => self.sdp_ip.is_none_or(|ip| from.ip() == ip),
                MediaTrust::Untrusted(ip) => from.ip() == ip,
            }
        };
        if !admitted {
            return;
        }
        let Ok(packet) = RtpPacket::parse(data) else {
            return;
        };
        self.last_received = now;
        if !self.latched {
            let held = self.holding();
            self.remote = Some(from);
            self.latched = true;
            self.resume_if(held, now);
        }
        let mut events = Vec::new();
        if Some(packet.payload_type) == self.config.telephone_event {
            self.inband_enabled = false;
            self.inband = None;
            if let Some(d) = self.events.receive(&packet) {
                events.push(MediaEvent::Digit(d, DigitSource::Rfc4733));
            }
        } else if packet.payload_type == self.config.payload_type {
            self.decoded.clear();
            self.config.codec.decode(packet.payload, &mut self.decoded);
            if let Some(rec) = &mut self.recording {
                let room = self.config.max_recording.saturating_sub(rec.len());
                rec.extend(self.decoded.iter().take(room));
            }
            if let Some((message, max)) = &mut self.message {
                let room = max.saturating_sub(message.len());
                message.extend(self.decoded.iter().take(room));
            }
            if let Some((_, since)) = &mut self.message_silence {
                if !is_silence(&self.decoded) {
                    *since = now;
                }
            }
            if self.inband_enabled {
                let inband = self
                    .inband
                    .get_or_insert_with(|| Box::new(InbandDetector::new()));
                for found in inband.push(&self.decoded) {
                    events.push(MediaEvent::Digit(found.digit, DigitSource::Inband));
                }
            }
        }
        self.outputs
            .extend(events.into_iter().map(MediaOutput::Event));
        self.check_message_silence(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MediaConfig {
        MediaConfig {
            codec: G711::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            rtp_timeout: Duration::from_secs(30),
            max_recording: 8000,
        }
    }

    /// What the session queued: datagrams and events.
    fn drain(s: &mut MediaSession) -> (Vec<Vec<u8>>, Vec<MediaEvent>) {
        let (mut sent, mut events) = (Vec::new(), Vec::new());
        while let Some(output) = s.poll_output() {
            match output {
                MediaOutput::Send(d) => sent.push(d),
                MediaOutput::Event(e) => events.push(e),
            }
        }
        (sent, events)
    }

    #[test]
    fn packets_are_paced_without_drift() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(config(), None, MediaTrust::Trusted, t0, &mut rand::rng());
        // A late wake-up sends what is due, and the schedule stays on the 20 ms grid.
        s.handle_timeout(t0 + Duration::from_millis(65));
        let (out, _) = drain(&mut s);
        assert_eq!(out.len(), 4);
        assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(80)));
        let first = RtpPacket::parse(&out[0]).unwrap();
        let last = RtpPacket::parse(&out[3]).unwrap();
        assert!(first.marker);
        assert_eq!(last.sequence, first.sequence.wrapping_add(3));
        assert_eq!(last.timestamp, first.timestamp.wrapping_add(480));
        assert_eq!(last.payload.len(), 160);
        s.handle_timeout(t0 + Duration::from_secs(60));
        let (out, _) = drain(&mut s);
        assert_eq!(out.len(), 3000 - 4 + 1, "one minute is 3000 packets");
    }

    #[test]
    fn playback_finishes_and_latching_follows_the_caller() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(
            config(),
            Some("192.168.1.9:4000".parse().unwrap()),
            MediaTrust::Trusted,
            t0,
            &mut rand::rng(),
        );
        s.play(&Clip::new(vec![1000; 400]));
        s.handle_timeout(t0 + Duration::from_millis(40));
        let (_, events) = drain(&mut s);
        assert!(events.contains(&MediaEvent::PlaybackFinished));
        assert!(!s.is_playing());
        let mut caller = Vec::new();
        RtpPacket {
            marker: false,
            payload_type: 0,
            sequence: 1,
            timestamp: 1,
            ssrc: 9,
            payload: &[0xff; 160],
        }
        .write(&mut caller);
        let from: SocketAddr = "192.168.1.9:7078".parse().unwrap();
        s.handle_datagram(t0, from, &caller);
        assert_eq!(s.remote(), Some(from));
        s.handle_datagram(t0, "192.168.1.10:9999".parse().unwrap(), &caller);
        assert_eq!(s.remote(), Some(from), "latched once");
        // A trunk's call latches only to the IP its SDP named: a stranger's
        // first packet does not capture it.
        let mut s = MediaSession::new(
            config(),
            Some("192.168.1.9:4000".parse().unwrap()),
            MediaTrust::Trusted,
            t0,
            &mut rand::rng(),
        );
        s.handle_datagram(t0, "203.0.113.9:5000".parse().unwrap(), &caller);
        assert_eq!(s.remote(), Some("192.168.1.9:4000".parse().unwrap()));
        s.handle_datagram(t0, from, &caller);
        assert_eq!(s.remote(), Some(from));
    }

    /// One RFC 4733 packet: `code`'s event, ended or not.
    fn event_packet(sequence: u16, code: u8, end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let flags = if end { 0x80 | 10 } else { 10 };
        RtpPacket {
            marker: !end,
            payload_type: 101,
            sequence,
            timestamp: 8000,
            ssrc: 77,
            payload: &[code, flags, 0x03, 0x20],
        }
        .write(&mut out);
        out
    }

    fn digits(events: &[MediaEvent]) -> Vec<&MediaEvent> {
        events
            .iter()
            .filter(|e| matches!(e, MediaEvent::Digit(..)))
            .collect()
    }

    #[test]
    fn an_untrusted_caller_gets_audio_only_at_its_own_ip_and_only_after_the_ack() {
        let t0 = Instant::now();
        let caller_ip: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        // The SDP names a victim: ignored, and nothing is sent before the
        // caller's own packets arrive and the ACK has come.
        let victim: SocketAddr = "127.0.0.2:4000".parse().unwrap();
        let mut s = MediaSession::new(
            config(),
            Some(victim),
            MediaTrust::Untrusted(caller_ip),
            t0,
            &mut rand::rng(),
        );
        assert_eq!(s.remote(), None);
        s.confirm(t0);
        assert_eq!(s.remote(), None, "a c= elsewhere is never used");
        // The caller's own IP named in the SDP: used, but only after the ACK.
        let own = SocketAddr::new(caller_ip, 4000);
        let mut s = MediaSession::new(
            config(),
            Some(own),
            MediaTrust::Untrusted(caller_ip),
            t0,
            &mut rand::rng(),
        );
        assert_eq!(s.remote(), None, "not before the ACK");
        // A packet from another IP does not latch; one from the caller does.
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        s.handle_datagram(t0, stranger, &caller_packet(1, &[0; 160]));
        s.confirm(t0);
        assert_eq!(s.remote(), Some(own));
        let from: SocketAddr = SocketAddr::new(caller_ip, 7078);
        s.handle_datagram(t0, from, &caller_packet(2, &[0; 160]));
        assert_eq!(s.remote(), Some(from), "latched to the caller's packets");
    }

    #[test]
    fn an_untrusted_callers_prompt_waits_for_the_ack_and_starts_from_its_beginning() {
        let t0 = Instant::now();
        let ip: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        let mut s = MediaSession::new(
            config(),
            Some(SocketAddr::new(ip, 4000)),
            MediaTrust::Untrusted(ip),
            t0,
            &mut rand::rng(),
        );
        s.play(&Clip::new(vec![8000; 400]));
        s.handle_timeout(t0 + Duration::from_millis(300));
        assert!(drain(&mut s).0.is_empty(), "nothing before the ACK");
        s.confirm(t0 + Duration::from_millis(300));
        s.handle_timeout(t0 + Duration::from_millis(340));
        let (out, events) = drain(&mut s);
        assert_eq!(out.len(), 3, "20 ms packets from the ACK on");
        let first = RtpPacket::parse(&out[0]).unwrap();
        assert!(first.marker);
        assert!(
            first.payload.iter().all(|&b| b != 0xff),
            "the first packet carries the prompt's first samples"
        );
        assert!(events.contains(&MediaEvent::PlaybackFinished));
    }

    #[test]
    fn a_caller_behind_nat_hears_the_prompt_from_its_start_once_their_audio_arrives() {
        let t0 = Instant::now();
        let ip: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        // The SDP names a private address; the caller's packets come from
        // their public one.
        let mut s = MediaSession::new(
            config(),
            Some("192.168.0.10:4000".parse().unwrap()),
            MediaTrust::Untrusted(ip),
            t0,
            &mut rand::rng(),
        );
        s.play(&Clip::new(vec![8000; 400]));
        s.confirm(t0 + Duration::from_millis(50));
        s.handle_timeout(t0 + Duration::from_millis(500));
        assert!(drain(&mut s).0.is_empty(), "nowhere to send yet");
        let public = SocketAddr::new(ip, 31000);
        s.handle_datagram(
            t0 + Duration::from_millis(500),
            public,
            &caller_packet(1, &[0; 160]),
        );
        s.handle_timeout(t0 + Duration::from_millis(540));
        let (out, _) = drain(&mut s);
        assert_eq!(s.remote(), Some(public));
        assert_eq!(out.len(), 3);
        assert!(
            RtpPacket::parse(&out[0]).unwrap().marker,
            "the prompt from its start"
        );
    }

    #[test]
    fn a_stranger_cannot_press_keys_or_speak_in_a_call() {
        for trust in [
            MediaTrust::Trusted,
            MediaTrust::Untrusted("198.51.100.7".parse().unwrap()),
        ] {
            let t0 = Instant::now();
            let mut s = MediaSession::new(config(), None, trust, t0, &mut rand::rng());
            s.confirm(t0);
            s.start_recording();
            let caller: SocketAddr = "198.51.100.7:7078".parse().unwrap();
            s.handle_datagram(t0, caller, &caller_packet(1, &[0; 160]));
            // Another socket (even on the caller's IP) sends a digit and speech.
            for stranger in ["203.0.113.9:5000", "198.51.100.7:7079"] {
                let stranger: SocketAddr = stranger.parse().unwrap();
                s.handle_datagram(t0, stranger, &event_packet(10, 4, false));
                s.handle_datagram(t0, stranger, &event_packet(11, 4, true));
                s.handle_datagram(t0, stranger, &caller_packet(12, &[9000; 160]));
            }
            let (_, events) = drain(&mut s);
            assert!(digits(&events).is_empty(), "{trust:?}: {events:?}");
            assert_eq!(s.remote(), Some(caller), "{trust:?}");
            assert!(
                s.stop_recording().iter().all(|&x| x.abs() < 100),
                "{trust:?}: the stranger's audio is not in the call"
            );
            // The caller's own key counts.
            let mut s2 = MediaSession::new(config(), None, trust, t0, &mut rand::rng());
            s2.handle_datagram(t0, caller, &event_packet(1, 4, false));
            s2.handle_datagram(t0, caller, &event_packet(2, 4, true));
            let (_, events) = drain(&mut s2);
            assert_eq!(digits(&events).len(), 1, "{trust:?}: {events:?}");
        }
    }

    /// One caller packet of PCMU holding `samples` (160 of them).
    fn caller_packet(sequence: u16, samples: &[i16]) -> Vec<u8> {
        let mut payload = Vec::new();
        G711::Pcmu.encode(samples, &mut payload);
        let mut out = Vec::new();
        RtpPacket {
            marker: false,
            payload_type: 0,
            sequence,
            timestamp: u32::from(sequence) * 160,
            ssrc: 9,
            payload: &payload,
        }
        .write(&mut out);
        out
    }

    #[test]
    fn a_message_ends_after_the_silence_asked_for_and_speech_restarts_the_count() {
        let t0 = Instant::now();
        let from: SocketAddr = "192.168.1.9:7078".parse().unwrap();
        let mut s = MediaSession::new(config(), None, MediaTrust::Trusted, t0, &mut rand::rng());
        s.start_message(t0, 8000 * 60, Some(Duration::from_secs(1)));
        // A tone standing in for speech: about -10 dBm0.
        let speech: Vec<i16> = (0..160)
            .map(|n| (7000.0 * (n as f64 * 0.3).sin()) as i16)
            .collect();
        // Low line noise is still silence.
        let hiss: Vec<i16> = (0..160)
            .map(|n| if n % 2 == 0 { 20 } else { -20 })
            .collect();
        // One packet every 20 ms, the clock moving with them.
        let mut seq = 0u16;
        let mut feed = |s: &mut MediaSession, frame: &[i16], count: usize| {
            let mut events = Vec::new();
            for _ in 0..count {
                seq += 1;
                let now = t0 + Duration::from_millis(20) * u32::from(seq);
                s.handle_datagram(now, from, &caller_packet(seq, frame));
                events.extend(drain(s).1);
            }
            events
        };
        assert!(feed(&mut s, &speech, 10).is_empty());
        assert!(feed(&mut s, &hiss, 49).is_empty(), "0.98 s of silence");
        assert!(
            feed(&mut s, &speech, 1).is_empty(),
            "speech restarts the count"
        );
        assert!(feed(&mut s, &hiss, 49).is_empty());
        assert_eq!(feed(&mut s, &hiss, 1), [MediaEvent::MessageSilence]);
        assert!(feed(&mut s, &hiss, 100).is_empty(), "told once");
        assert_eq!(
            s.stop_message().len(),
            160 * 210,
            "the message keeps it all"
        );
        // Without a silence limit, silence never ends a message.
        // 210 packets so far.
        s.start_message(t0 + Duration::from_millis(20 * 210), 8000 * 60, None);
        assert!(feed(&mut s, &hiss, 200).is_empty());
    }

    #[test]
    fn a_gateway_that_sends_nothing_in_silence_is_silent_too() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(config(), None, MediaTrust::Trusted, t0, &mut rand::rng());
        s.start_message(t0, 8000 * 60, Some(Duration::from_secs(5)));
        s.handle_timeout(t0 + Duration::from_millis(4990));
        assert!(!drain(&mut s).1.contains(&MediaEvent::MessageSilence));
        s.handle_timeout(t0 + Duration::from_secs(5));
        assert!(drain(&mut s).1.contains(&MediaEvent::MessageSilence));
    }

    #[test]
    fn rtp_silence_times_out() {
        let t0 = Instant::now();
        let mut s = MediaSession::new(config(), None, MediaTrust::Trusted, t0, &mut rand::rng());
        s.handle_timeout(t0 + Duration::from_secs(29));
        assert!(drain(&mut s).1.is_empty());
        s.handle_timeout(t0 + Duration::from_secs(30));
        assert_eq!(drain(&mut s).1, vec![MediaEvent::RtpTimeout]);
    }
}
