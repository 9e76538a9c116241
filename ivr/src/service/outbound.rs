//! Calls the IVR places: a recorded message, a page to a duty lawyer
//! ([`crate::paging`]), or the two legs of a click-to-call
//! ([`crate::bridge`]). The endpoint sends the INVITE with our offer; once
//! answered, a task runs the call's script: plays the prompt and hangs up,
//! plays the page and takes the lawyer's key, or connects the legs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use super::ports::RtpSocket;
use super::{CallCommand, CallSignal, IvrConfig};
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
    /// What happens once answered.
    pub script: Script,
    /// Given up (CANCEL) when not answered within this; by default the
    /// INVITE transaction's own timeout.
    pub ring_for: Option<std::time::Duration>,
    /// Told how the call went.
    pub outcome: oneshot::Sender<DialOutcome>,
    /// Set to give up a call still ringing (CANCEL), e.g. when the other
    /// leg of a bridge hung up.
    pub abandon: Option<Arc<AtomicBool>>,
}

/// What an answered outbound call does.
#[derive(Debug)]
pub enum Script {
    /// Plays one prompt (language, name) and hangs up.
    Message((String, String)),
    /// Pages a duty lawyer: the message, then their key.
    Page(Box<crate::paging::PageCall>),
    /// The lawyer's leg of a click-to-call: tells them, dials the caller,
    /// and connects the two.
    Bridge(Box<crate::bridge::BridgeCall>),
    /// The caller's leg of a click-to-call: handed, answered, to the
    /// lawyer's leg, which hangs it up when done.
    Leg(oneshot::Sender<Leg>),
}

/// An answered leg handed to a bridge.
#[derive(Debug)]
pub struct Leg {
    pub key: CallKey,
    pub call: Answered,
    pub format: crate::bridge::LegFormat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialOutcome {
    /// Answered; the prompt was played and we hung up.
    Completed,
    /// A page was answered; the lawyer's choice, if they made one, and
    /// whether ticketing took it during the call.
    Paged(Option<(crate::paging::Choice, bool)>),
    /// The lawyer's leg of a bridge was answered: how the caller's went.
    Bridged(crate::bridge::Connected),
    NotAnswered(EndReason),
}

/// A placed call waiting for its answer.
#[derive(Debug)]
pub struct Pending {
    pub key: CallKey,
    socket: RtpSocket,
    local: Local,
    script: Script,
    /// When to stop ringing.
    pub ring_until: Option<Instant>,
    abandon: Option<Arc<AtomicBool>>,
    outcome: oneshot::Sender<DialOutcome>,
}

impl Pending {
    /// Whether to stop ringing now.
    pub fn give_up(&self, now: Instant) -> bool {
        self.ring_until.is_some_and(|t| t <= now)
            || self
                .abandon
                .as_ref()
                .is_some_and(|a| a.load(Ordering::Relaxed))
    }

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
    let Some(socket) = config.rtp_ports.bind(local_sip.ip(), &mut rng).await else {
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
        script: dial.script,
        ring_until: dial.ring_for.map(|d| Instant::now() + d),
        abandon: dial.abandon,
        outcome: dial.outcome,
    })
}

/// Runs the script of an answered call, then hangs up.
pub async fn run(
    pending: Pending,
    answer: Option<String>,
    config: Arc<IvrConfig>,
    commands: mpsc::Sender<CallCommand>,
    signals: mpsc::Receiver<CallSignal>,
) {
    let key = pending.key;
    let commands = &commands;
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
    info!(local = ?pending.local.port, "placed call answered");
    let Pending {
        socket,
        script,
        outcome,
        ..
    } = pending;
    let result = match script {
        Script::Message((lang, name)) => {
            session.play(&config.prompts.get(&lang, &name));
            let mut call = Answered {
                socket,
                session,
                signals,
            };
            call.until_played().await;
            DialOutcome::Completed
        }
        Script::Page(page) => {
            let mut call = Answered {
                socket,
                session,
                signals,
            };
            DialOutcome::Paged(call.page(&page, &config).await)
        }
        Script::Bridge(bridge) => {
            let lawyer = leg(key, socket, session, signals, &agreed);
            DialOutcome::Bridged(crate::bridge::connect(lawyer, *bridge, &config, commands).await)
        }
        Script::Leg(hand_over) => {
            let _ = outcome.send(DialOutcome::Completed);
            // The bridge hangs up its legs; one that is gone already (the
            // lawyer hung up meanwhile) cannot take this one.
            if let Err(leg) = hand_over.send(leg(key, socket, session, signals, &agreed)) {
                let _ = commands.send(CallCommand::Hangup(leg.key)).await;
            }
            return;
        }
    };
    let _ = commands.send(CallCommand::Hangup(key)).await;
    let _ = outcome.send(result);
}

/// An answered call as a leg of a bridge.
fn leg(
    key: CallKey,
    socket: RtpSocket,
    session: MediaSession,
    signals: mpsc::Receiver<CallSignal>,
    agreed: &sdp::Negotiated,
) -> Leg {
    Leg {
        key,
        call: Answered {
            socket,
            session,
            signals,
        },
        format: crate::bridge::LegFormat {
            codec: agreed.codec,
            payload_type: agreed.payload_type,
            telephone_event: agreed.telephone_event,
        },
    }
}

/// An outbound call's prompt (a page, a bridge): the node's own
/// recording, or the embedded one when a centre's prompts folder (made
/// before these calls existed) has none.
pub(crate) fn outbound_prompt(
    prompts: &crate::prompts::Prompts,
    lang: &str,
    name: &str,
) -> crate::prompts::Audio {
    static EMBEDDED: std::sync::OnceLock<crate::prompts::Prompts> = std::sync::OnceLock::new();
    if prompts.has(lang, name) {
        return prompts.get(lang, name);
    }
    EMBEDDED
        .get_or_init(|| crate::prompts::Prompts::embedded().unwrap_or_default())
        .get(lang, name)
}

/// What an answered call's script works with.
pub struct Answered {
    /// Its place in the RTP port range is held while the call is.
    pub socket: RtpSocket,
    pub session: MediaSession,
    pub signals: mpsc::Receiver<CallSignal>,
}

impl std::fmt::Debug for Answered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answered")
            .field("socket", &self.socket.local_addr().ok())
            .finish_non_exhaustive()
    }
}

/// What happened while the call waited.
pub enum Happened {
    Digit(char),
    PlaybackFinished,
    /// Hung up by the other side, or the media stopped.
    Over,
    Nothing,
}

impl Answered {
    /// Plays what is queued to its end (or until the callee hangs up).
    pub async fn until_played(&mut self) {
        loop {
            match self.step(None).await {
                Happened::PlaybackFinished | Happened::Over => return,
                Happened::Digit(_) | Happened::Nothing => {}
            }
        }
    }

    /// Runs a page: its message and the lawyer's key.
    async fn page(
        &mut self,
        page: &crate::paging::PageCall,
        config: &IvrConfig,
    ) -> Option<(crate::paging::Choice, bool)> {
        use crate::paging::{PageAction, PageDialog, PageInput};
        let mut reported = false;
        let lang = page.message.language.to_string();
        let (mut dialog, mut actions) = PageDialog::answered(&page.message);
        loop {
            let mut inputs = Vec::new();
            for action in std::mem::take(&mut actions) {
                match action {
                    PageAction::Play(names) => {
                        for name in names {
                            self.session
                                .play(&outbound_prompt(&config.prompts, &lang, &name));
                        }
                    }
                    PageAction::StopPlayback => self.session.stop_playback(),
                    PageAction::Report(choice) => {
                        info!(?choice, "the lawyer chose");
                        let decided = page.report(choice).await;
                        reported = decided.is_some();
                        inputs.push(PageInput::Decided(decided));
                    }
                    PageAction::Hangup => return dialog.choice().map(|c| (c, reported)),
                }
            }
            for input in inputs {
                actions.extend(dialog.handle(input, Instant::now()));
            }
            if !actions.is_empty() {
                continue;
            }
            if dialog.is_done() {
                return dialog.choice().map(|c| (c, reported));
            }
            let happened = self.step(dialog.poll_timeout()).await;
            let now = Instant::now();
            actions = match happened {
                Happened::Digit(key) => dialog.handle(PageInput::Key(key), now),
                Happened::PlaybackFinished => dialog.handle(PageInput::PlaybackFinished, now),
                Happened::Over => return dialog.choice().map(|c| (c, reported)),
                Happened::Nothing => dialog.handle_timeout(now),
            };
        }
    }

    /// Waits for the next thing to happen on the call (or `deadline`),
    /// sending the audio due meanwhile.
    pub async fn step(&mut self, deadline: Option<Instant>) -> Happened {
        let mut buf = [0u8; 2048];
        loop {
            // A live session always has a next packet due.
            let mut wake = self
                .session
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + std::time::Duration::from_millis(20));
            if let Some(deadline) = deadline {
                wake = wake.min(deadline);
            }
            let mut happened = Happened::Nothing;
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = received {
                        self.session.handle_datagram(Instant::now(), from, &buf[..n]);
                    }
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    self.session.handle_timeout(Instant::now());
                }
                signal = self.signals.recv() => match signal {
                    Some(CallSignal::Dtmf(digit)) => happened = Happened::Digit(digit.as_char()),
                    Some(CallSignal::Ended) | None => {
                        info!("the callee hung up");
                        return Happened::Over;
                    }
                    Some(_) => {}
                },
            }
            while let Some(output) = self.session.poll_output() {
                match output {
                    MediaOutput::Send(datagram) => {
                        if let Some(to) = self.session.remote() {
                            let _ = self.socket.send_to(&datagram, to).await;
                        }
                    }
                    MediaOutput::Event(MediaEvent::Digit(digit, _)) => {
                        happened = Happened::Digit(digit.as_char());
                    }
                    MediaOutput::Event(MediaEvent::PlaybackFinished) => {
                        if matches!(happened, Happened::Nothing) {
                            happened = Happened::PlaybackFinished;
                        }
                    }
                    MediaOutput::Event(MediaEvent::RtpTimeout) => return Happened::Over,
                    // Outbound calls record nothing.
                    MediaOutput::Event(MediaEvent::MessageSilence) => {}
                }
            }
            if !matches!(happened, Happened::Nothing) {
                return happened;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Happened::Nothing;
            }
        }
    }
}
