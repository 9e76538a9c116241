//! Calls the IVR places: callbacks to callers and pages to duty lawyers.
//! The endpoint sends the INVITE with our offer; once answered, a task plays
//! the prompt and hangs up.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use super::{call::bind_rtp, CallCommand, CallSignal, IvrConfig};
use crate::media::sdp::{self, Local};
use crate::media::session::{MediaConfig, MediaEvent, MediaOutput, MediaSession, MediaTrust};
use crate::sip::endpoint::{CallKey, EndReason, Endpoint, Peer, Transport};

/// A call to place.
#[derive(Debug)]
pub struct Dial {
    /// Where to send the INVITE.
    pub target: SocketAddr,
    /// The request-URI, e.g. `sip:lawyer-7@10.0.0.9`.
    pub uri: String,
    /// The prompt to play once answered (language, name).
    pub prompt: (String, String),
    /// Told how the call went.
    pub outcome: oneshot::Sender<DialOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialOutcome {
    /// Answered; the prompt was played and we hung up.
    Completed,
    NotAnswered(EndReason),
}

/// A placed call waiting for its answer.
#[derive(Debug)]
pub struct Pending {
    pub key: CallKey,
    socket: UdpSocket,
    local: Local,
    prompt: (String, String),
    outcome: oneshot::Sender<DialOutcome>,
}

impl Pending {
    pub fn finish(self, outcome: DialOutcome) {
        let _ = self.outcome.send(outcome);
    }
}

/// Binds the RTP socket and sends the INVITE.
pub async fn start(
    endpoint: &mut Endpoint,
    dial: Dial,
    config: &IvrConfig,
    local_sip: SocketAddr,
) -> Option<Pending> {
    // An outbound call's own values need no replay: seeded by the system.
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let Some(socket) = bind_rtp(local_sip.ip(), config, &mut rng).await else {
        let _ = dial
            .outcome
            .send(DialOutcome::NotAnswered(EndReason::Failed(503)));
        return None;
    };
    let local = Local {
        address: config.advertise.unwrap_or(local_sip.ip()),
        port: socket.local_addr().map(|a| a.port()).unwrap_or_default(),
        session_id: u64::from(rng.random::<u32>()),
        version: 1,
    };
    let peer = Peer {
        addr: dial.target,
        transport: Transport::Udp,
    };
    let key = endpoint.dial(
        Instant::now(),
        peer,
        local_sip,
        &dial.uri,
        "12348",
        &sdp::offer(&local),
    );
    info!(uri = %hotline_domain::phone::blank_numbers(&dial.uri), "placing a call");
    Some(Pending {
        key,
        socket,
        local,
        prompt: dial.prompt,
        outcome: dial.outcome,
    })
}

/// Plays the prompt on an answered call, then hangs up.
pub async fn run(
    pending: Pending,
    answer: Option<String>,
    config: Arc<IvrConfig>,
    commands: mpsc::Sender<CallCommand>,
    mut signals: mpsc::Receiver<CallSignal>,
) {
    let key = pending.key;
    let agreed = answer
        .as_deref()
        .ok_or(sdp::SdpError::NoAudio)
        .and_then(sdp::parse_audio)
        .and_then(|a| sdp::negotiate(&a).map(|n| (a, n)));
    let Ok((description, agreed)) = agreed else {
        info!("the callee's answer is unusable; hanging up");
        let _ = commands.send(CallCommand::Hangup(key)).await;
        pending.finish(DialOutcome::NotAnswered(EndReason::Failed(488)));
        return;
    };
    let remote = description
        .address
        .filter(|a| !a.is_unspecified())
        .map(|ip| SocketAddr::new(ip, description.port));
    let mut session = MediaSession::new(
        MediaConfig {
            codec: agreed.codec,
            payload_type: agreed.payload_type,
            telephone_event: agreed.telephone_event,
            rtp_timeout: config.rtp_timeout,
            max_recording: 0,
        },
        remote,
        // We dialled this peer: its answer's address is where it wants audio.
        MediaTrust::Trusted,
        Instant::now(),
        &mut rand::rng(),
    );
    let (lang, name) = &pending.prompt;
    session.play(&config.prompts.get(lang, name));
    info!(local = ?pending.local.port, "placed call answered; playing the prompt");
    let mut buf = vec![0u8; 2048];
    loop {
        // A live session always has a next packet due.
        let wake = session
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_millis(20));
        tokio::select! {
            received = pending.socket.recv_from(&mut buf) => {
                if let Ok((n, from)) = received {
                    session.handle_datagram(Instant::now(), from, &buf[..n]);
                }
            }
            () = tokio::time::sleep_until(wake) => session.handle_timeout(Instant::now()),
            signal = signals.recv() => {
                if matches!(signal, Some(CallSignal::Ended) | None) {
                    info!("the callee hung up");
                    pending.finish(DialOutcome::Completed);
                    return;
                }
            }
        }
        let mut over = false;
        while let Some(output) = session.poll_output() {
            match output {
                MediaOutput::Send(datagram) => {
                    if let Some(to) = session.remote() {
                        let _ = pending.socket.send_to(&datagram, to).await;
                    }
                }
                MediaOutput::Event(MediaEvent::PlaybackFinished | MediaEvent::RtpTimeout) => {
                    over = true
                }
                // Outbound calls play a message; they record nothing.
                MediaOutput::Event(MediaEvent::Digit(..) | MediaEvent::MessageSilence) => {}
            }
        }
        if over {
            let _ = commands.send(CallCommand::Hangup(key)).await;
            pending.finish(DialOutcome::Completed);
            return;
        }
    }
}
