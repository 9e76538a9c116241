//! One click-to-call, from the lawyer's answer to the last hang-up: the
//! lawyer hears the ticket's number, then a ringback tone while the
//! caller's phone rings; the caller hears who is calling; then the two are
//! connected through the [`Relay`] until either hangs up, the media stops,
//! or [`MAX_TALK`] passes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_domain::Language;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::relay::{End, Relay, Side, Stream};
use crate::menu::speech::Speech;
use crate::paging::Route;
use crate::service::{
    CallCommand, CallSignal, Control, Dial, DialOutcome, Happened, IvrConfig, Leg, Script,
};
use crate::sip::endpoint::EndReason;

/// The longest a bridged call is kept up (ticketing waits longer than
/// this, and the ringing, for the report).
pub const MAX_TALK: Duration = Duration::from_secs(2 * 3600);

/// Samples of one recording part: what ticketing takes in one upload
/// (8 MiB of 16-bit audio, less the WAV header), about 8 minutes; a longer
/// call is attached in several parts.
const RECORDING_PART: usize = 4_000_000;

/// A click-to-call being placed: what the lawyer's leg needs to run it.
pub struct BridgeCall {
    pub bridge_id: i64,
    pub ticket_number: String,
    pub lawyer_language: Language,
    pub caller_language: Language,
    /// Where the caller's leg goes (through the trunk).
    pub caller: Route,
    /// The endpoint task, to dial the caller.
    pub control: mpsc::Sender<Control>,
    pub caller_ring: Duration,
    /// The centre's setting, as ticketing sent it.
    pub record: bool,
    /// Where recordings go.
    pub tickets: crate::tickets::TicketsClient,
    /// The recordings being attached, for the bridge's job to wait for.
    pub uploads: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for BridgeCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeCall")
            .field("bridge_id", &self.bridge_id)
            .field("ticket_number", &self.ticket_number)
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// How the caller's leg went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerLeg {
    /// The caller picked up and was connected to the lawyer.
    Answered,
    /// Their phone did not answer: busy, no answer, a wrong number.
    NotAnswered(EndReason),
    /// Not connected for a reason that is not the caller's: the IVR or
    /// the trunk failed, or the lawyer left first. No callback attempt.
    Failed(String),
    /// Not dialled: the lawyer hung up before it was their turn.
    NotDialled,
    /// Picked up, but hung up before being connected, or sent no audio:
    /// not reached, for the callback (the next attempt is due, as after no
    /// answer).
    LeftEarly,
}

/// How a bridge went once the lawyer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    pub caller: CallerLeg,
    /// How long the two were connected.
    pub talk: Duration,
    /// Said in the report, e.g. who hung up first.
    pub detail: Option<String>,
}

impl Connected {
    fn not_connected(caller: CallerLeg, why: &str) -> Self {
        Connected {
            caller,
            talk: Duration::ZERO,
            detail: Some(why.to_owned()),
        }
    }
}

/// The ringback tone a Chinese caller knows: 450 Hz, one second on and four
/// off.
fn ringback() -> Vec<i16> {
    let mut tone: Vec<i16> = (0..8000)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * 450.0 * f64::from(n) / 8000.0;
            (6000.0 * phase.sin()) as i16
        })
        .collect();
    tone.resize(5 * 8000, 0);
    tone
}

fn prompt(config: &IvrConfig, lang: Language, name: &str) -> crate::prompts::Audio {
    crate::service::outbound_prompt(&config.prompts, lang.as_str(), name)
}

/// Plays what is queued on `call` to its end: `false` when the other side
/// hung up first.
async fn played(call: &mut crate::service::Answered) -> bool {
    loop {
        match call.step(None).await {
            Happened::PlaybackFinished => return true,
            Happened::Over => return false,
            Happened::Digit(_) | Happened::Nothing => {}
        }
    }
}

/// Runs the bridge on the lawyer's answered leg; the caller's leg is hung
/// up here, the lawyer's by the caller of this function.
pub async fn connect(
    mut lawyer: Leg,
    bridge: BridgeCall,
    config: &IvrConfig,
    commands: &mpsc::Sender<CallCommand>,
) -> Connected {
    let recorded: &[&str] = if bridge.record {
        &["bridge-recorded"]
    } else {
        &[]
    };
    // The lawyer hears which ticket first (and that it is recorded); the
    // caller is dialled after.
    let mut told: Vec<String> = vec!["bridge-lawyer".into()];
    told.extend(bridge.lawyer_language.digits(&bridge.ticket_number));
    told.extend(recorded.iter().map(|s| (*s).to_owned()));
    for name in &told {
        lawyer
            .call
            .session
            .play(&prompt(config, bridge.lawyer_language, name));
    }
    if !played(&mut lawyer.call).await {
        info!("the lawyer hung up before the caller was dialled");
        return Connected::not_connected(
            CallerLeg::NotDialled,
            "the lawyer hung up before the caller was dialled",
        );
    }
    let (leg_tx, leg_rx) = oneshot::channel();
    let (outcome_tx, outcome_rx) = oneshot::channel();
    let abandon = Arc::new(AtomicBool::new(false));
    let dial = Dial {
        target: bridge.caller.addr,
        uri: bridge.caller.uri.clone(),
        script: Script::Leg(leg_tx),
        ring_for: Some(bridge.caller_ring),
        outcome: outcome_tx,
        abandon: Some(abandon.clone()),
    };
    if bridge.control.send(Control::Dial(dial)).await.is_err() {
        return Connected::not_connected(
            CallerLeg::Failed("the IVR is stopping".into()),
            "the IVR is stopping",
        );
    }
    info!("click-to-call: calling the caller");
    // The lawyer hears ringback until the caller answers.
    let tone = crate::media::clip::Clip::new(ringback());
    lawyer.call.session.play(&tone);
    let mut leg_rx = leg_rx;
    let mut lawyer_gone = false;
    let answered = loop {
        tokio::select! {
            leg = &mut leg_rx => break leg.ok(),
            happened = lawyer.call.step(None), if !lawyer_gone => match happened {
                Happened::Over => {
                    info!("the lawyer hung up while the caller's phone rang");
                    lawyer_gone = true;
                    abandon.store(true, Ordering::Relaxed);
                }
                Happened::PlaybackFinished => lawyer.call.session.play(&tone),
                Happened::Digit(_) | Happened::Nothing => {}
            },
        }
    };
    let Some(mut caller) = answered else {
        let reason = match outcome_rx.await {
            Ok(DialOutcome::NotAnswered(reason)) => reason,
            _ => EndReason::Failed(500),
        };
        if lawyer_gone {
            // Given up by us, not unanswered by the caller: no attempt.
            let why = "the lawyer hung up while the caller's phone rang";
            return Connected::not_connected(CallerLeg::Failed(why.into()), why);
        }
        info!(?reason, "the caller was not reached");
        lawyer.call.session.stop_playback();
        lawyer.call.session.play(&prompt(
            config,
            bridge.lawyer_language,
            "bridge-unreachable",
        ));
        lawyer.call.until_played().await;
        return Connected {
            caller: CallerLeg::NotAnswered(reason),
            talk: Duration::ZERO,
            detail: None,
        };
    };
    if lawyer_gone {
        // Picked up just as the lawyer gave up: nobody to connect to.
        let _ = commands.send(CallCommand::Hangup(caller.key)).await;
        let why = "the caller answered after the lawyer had hung up";
        return Connected::not_connected(CallerLeg::Failed(why.into()), why);
    }
    info!("click-to-call: the caller answered");
    // The caller hears who is calling (and that it is recorded); the
    // lawyer hears silence meanwhile (the ringback stops).
    lawyer.call.session.stop_playback();
    for name in std::iter::once("bridge-caller").chain(recorded.iter().copied()) {
        caller
            .call
            .session
            .play(&prompt(config, bridge.caller_language, name));
    }
    let mut ended: Option<Connected> = None;
    while ended.is_none() {
        tokio::select! {
            happened = caller.call.step(None) => match happened {
                Happened::Over => ended = Some(Connected::not_connected(
                    CallerLeg::LeftEarly,
                    "picked up, but hung up before being connected",
                )),
                Happened::PlaybackFinished => break,
                Happened::Digit(_) | Happened::Nothing => {}
            },
            happened = lawyer.call.step(None) => if let Happened::Over = happened {
                let why = "the lawyer hung up before being connected";
                ended = Some(Connected::not_connected(CallerLeg::Failed(why.into()), why));
            },
        }
    }
    let connected = match ended {
        Some(ended) => ended,
        None => {
            let (talk, why, heard) = relay(&mut lawyer, &mut caller, &bridge, config).await;
            // Connected is not yet talked: a line that sent no audio (a
            // voicemail, a gateway without media) did not reach the caller,
            // and a lawyer who sent none did not serve them.
            let caller = if heard[1] == 0 {
                CallerLeg::LeftEarly
            } else if heard[0] == 0 {
                CallerLeg::Failed("no audio from the lawyer".into())
            } else {
                CallerLeg::Answered
            };
            Connected {
                caller,
                talk,
                detail: Some(why.to_owned()),
            }
        }
    };
    let _ = commands.send(CallCommand::Hangup(caller.key)).await;
    info!(
        talk_seconds = connected.talk.as_secs(),
        "click-to-call: disconnected"
    );
    connected
}

/// Where a leg's media goes, and whom it is taken from: where its session
/// sent (the SDP's address, or where its packets came from once latched).
/// Until latched, packets count only from the SDP's IP, and the first one
/// latches the port (symmetric RTP, as the media session does).
struct Peer {
    to: Option<SocketAddr>,
    latched: bool,
}

impl Peer {
    fn of(leg: &Leg) -> Peer {
        Peer {
            to: leg.call.session.remote(),
            latched: leg.call.session.is_latched(),
        }
    }

    fn admit(&mut self, from: SocketAddr) -> bool {
        match self.to {
            Some(to) if self.latched => to == from,
            Some(to) if to.ip() != from.ip() => false,
            _ => {
                self.to = Some(from);
                self.latched = true;
                true
            }
        }
    }
}

fn stream_of(leg: &Leg) -> Stream {
    let (ssrc, sequence, timestamp) = leg.call.session.stream();
    Stream {
        ssrc,
        sequence,
        timestamp,
    }
}

/// Relays media between the legs until one ends; how long they talked, why
/// it ended, and the audio packets heard from the lawyer and the caller.
async fn relay(
    lawyer: &mut Leg,
    caller: &mut Leg,
    bridge: &BridgeCall,
    config: &IvrConfig,
) -> (Duration, &'static str, [u64; 2]) {
    let mut relay = Relay::new(
        [
            (lawyer.format, stream_of(lawyer)),
            (caller.format, stream_of(caller)),
        ],
        config.rtp_timeout,
        MAX_TALK,
        Instant::now(),
    );
    if bridge.record {
        // Room past a part's size: a packet that fills one is kept whole.
        relay = relay.record(RECORDING_PART + 8000);
    }
    let mut peers = [Peer::of(lawyer), Peer::of(caller)];
    let mut parts = 0u32;
    let (mut a, mut b) = ([0u8; 2048], [0u8; 2048]);
    let why = loop {
        let wake = tokio::time::Instant::from_std(relay.poll_timeout());
        let (side, from, len) = tokio::select! {
            received = lawyer.call.socket.recv_from(&mut a) => match received {
                Ok((n, from)) => (Side::Lawyer, from, n),
                Err(_) => continue,
            },
            received = caller.call.socket.recv_from(&mut b) => match received {
                Ok((n, from)) => (Side::Caller, from, n),
                Err(_) => continue,
            },
            signal = lawyer.call.signals.recv() => match signal {
                Some(CallSignal::Ended) | None => break "the lawyer hung up",
                // Keys by SIP INFO are not passed on: RFC 4733 is.
                Some(_) => continue,
            },
            signal = caller.call.signals.recv() => match signal {
                Some(CallSignal::Ended) | None => break "the caller hung up",
                Some(_) => continue,
            },
            () = tokio::time::sleep_until(wake) => match relay.handle_timeout(Instant::now()) {
                Some(End::Silent(Side::Lawyer)) => break "no audio from the lawyer",
                Some(End::Silent(Side::Caller)) => break "no audio from the caller",
                Some(End::LongestCall) => break "the longest call allowed",
                None => continue,
            },
        };
        let index = usize::from(side == Side::Caller);
        let datagram = if side == Side::Lawyer {
            &a[..len]
        } else {
            &b[..len]
        };
        // RTCP shares the port (ours says a=rtcp): a report, or a stray one
        // of a neighbouring call, neither latches a leg nor counts as audio.
        if crate::media::rtp::RtpPacket::parse(datagram).is_err() || !peers[index].admit(from) {
            continue;
        }
        let Some(out) = relay.forward(side, datagram, Instant::now()) else {
            continue;
        };
        let (socket, to) = match side {
            Side::Lawyer => (&caller.call.socket, peers[1].to),
            Side::Caller => (&lawyer.call.socket, peers[0].to),
        };
        if let Some(to) = to {
            let _ = socket.send_to(&out, to).await;
        }
        if bridge.record && relay.recorded() >= RECORDING_PART {
            parts += 1;
            attach(bridge, config, relay.take_recording(), parts);
        }
    };
    let talk = relay.talk(Instant::now());
    if bridge.record {
        let rest = relay.take_recording();
        if !rest.is_empty() {
            parts += 1;
            attach(bridge, config, rest, parts);
        }
    }
    let (l, c) = (relay.counts(Side::Lawyer), relay.counts(Side::Caller));
    info!(
        lawyer_audio = l.audio,
        lawyer_events = l.events,
        caller_audio = c.audio,
        caller_events = c.events,
        dropped = l.dropped + c.dropped,
        "relayed"
    );
    (talk, why, [l.audio, c.audio])
}

/// Attaches part `part` of the recording to the ticket, in the background;
/// one ticketing does not take is kept on this node.
fn attach(bridge: &BridgeCall, config: &IvrConfig, samples: Vec<i16>, part: u32) {
    let tickets = bridge.tickets.clone();
    let number = bridge.ticket_number.clone();
    let key = format!("{}:bridge:{}:{part}", config.node_id, bridge.bridge_id);
    let file = format!("bridge-{number}-{}-{part}.wav", bridge.bridge_id);
    let fallback = config.recordings_dir.clone();
    let upload = tokio::spawn(async move {
        let (wav, duration_ms) = crate::service::wav_bytes(&samples);
        match tickets
            .attach_recording(&number, &key, &wav, duration_ms)
            .await
        {
            Ok(()) => {
                info!(
                    part,
                    "the bridged call's recording is attached to the ticket"
                );
                return;
            }
            Err(status) => {
                warn!(part, error = %status.message(), "ticketing did not take the bridged call's recording")
            }
        }
        // Kept on this node rather than lost.
        match fallback {
            Some(dir) => {
                let path = dir.join(file);
                match tokio::fs::write(&path, &wav).await {
                    Ok(()) => {
                        warn!(path = %path.display(), "the bridged call's recording is kept on this node")
                    }
                    Err(e) => warn!(error = %e, "the bridged call's recording is lost"),
                }
            }
            None => warn!("recordings_dir is not set: the bridged call's recording is lost"),
        }
    });
    if let Ok(mut uploads) = bridge.uploads.lock() {
        uploads.push(upload);
    }
}
