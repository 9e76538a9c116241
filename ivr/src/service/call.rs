//! One call's task: binds its RTP socket, answers, hands the media session
//! to the [`Pacer`] (which sends and reads its RTP), and drives the call's
//! menu [`Flow`]: digits and "prompt finished" go in, prompts, recording
//! and ticket requests come out. Ticketing calls run in tasks of their own and
//! answer through a channel, so the media never waits for the network.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use hotline_domain::PhoneNumber;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use super::call_ref::CallRef;
use super::pacer::Pacer;
use super::ports::RtpSocket;
use super::{CallCommand, CallSignal, IvrConfig};
use crate::media::dtmf::arbiter::{DigitArbiter, DigitSource, Verdict};
use crate::media::sdp::{self, Local};
use crate::media::session::{MediaConfig, MediaEvent, MediaSession, MediaTrust};
use crate::menu::{Action, CallInfo, Flow, Input};
use crate::sip::endpoint::CallKey;
use crate::tickets::{Submission, TicketsClient};

/// How long a transfer may take before the menu's fallback takes the call.
const TRANSFER_WAIT: std::time::Duration = std::time::Duration::from_secs(40);

/// Longest message kept: what one upload to ticketing holds.
const MAX_MESSAGE_SAMPLES: usize =
    hotline_domain::limits::samples(hotline_domain::limits::MAX_MESSAGE_SECS);

pub struct IncomingCall {
    pub key: CallKey,
    /// The IVR's own id of the call (not the peer's Call-ID).
    pub call_ref: CallRef,
    pub caller: Option<String>,
    pub called: Option<String>,
    pub offer: Option<String>,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// From the endpoint: seeds every random value of this call.
    pub seed: u64,
}

pub async fn run(
    call: IncomingCall,
    config: Arc<IvrConfig>,
    pacer: Pacer,
    commands: mpsc::Sender<CallCommand>,
    mut signals: mpsc::Receiver<CallSignal>,
) {
    let key = call.key;
    let mut rng = StdRng::seed_from_u64(call.seed);
    let send = |command: CallCommand| {
        let commands = commands.clone();
        async move {
            // The endpoint loop only stops at shutdown; a lost command then is moot.
            let _ = commands.send(command).await;
        }
    };
    if !config.answer_delay.is_zero() {
        send(CallCommand::Ring(key)).await;
        tokio::select! {
            () = tokio::time::sleep(config.answer_delay) => {}
            signal = signals.recv() => {
                if matches!(signal, Some(CallSignal::Ended) | None) {
                    info!("caller gave up before the answer");
                    return;
                }
            }
        }
    }
    let Some(Established {
        socket,
        local,
        remote,
        mut agreed,
        confirmed,
    }) = establish(&call, &config, &send, &mut signals, &mut rng).await
    else {
        return;
    };
    let Ok(rtp_addr) = socket.local_addr() else {
        send(CallCommand::Hangup(key)).await;
        return;
    };
    let media_config = MediaConfig {
        codec: agreed.codec,
        payload_type: agreed.payload_type,
        telephone_event: agreed.telephone_event,
        rtp_timeout: config.rtp_timeout,
        max_recording: config.max_recording_samples,
    };
    let start = Instant::now();
    let trust = if config.sip_trusted.contains(call.peer.ip()) {
        MediaTrust::Trusted
    } else {
        MediaTrust::Untrusted(call.peer.ip())
    };
    let mut session = MediaSession::new(media_config, remote, trust, start.into_std(), &mut rng);
    if confirmed {
        session.confirm(start.into_std());
    }
    // The whole call is kept only where recordings are written.
    if config.recordings_dir.is_some() {
        session.start_recording();
    }
    let mut media = match pacer.attach(session, socket, agreed) {
        Ok(media) => media,
        Err(e) => {
            warn!(error = %e, "the call's RTP socket cannot be driven; hanging up");
            send(CallCommand::Hangup(key)).await;
            return;
        }
    };
    info!(codec = ?agreed.codec, rtp = %rtp_addr, "call answered");
    let board = &config.board;
    board.answered(call.call_ref.as_str());

    // The menu this call keeps to its end, even if a new one is loaded.
    let loaded = config.menus.current();
    let menu = loaded.menu.clone();
    let called = call.called.clone().unwrap_or_default();
    let center = menu.center_for(&called, call.peer.ip());
    let center_id = center.map_or_else(|| "default".to_owned(), |c| c.id.clone());
    board.center(call.call_ref.as_str(), &center_id);
    let info = CallInfo {
        caller: call
            .caller
            .as_deref()
            .and_then(|c| PhoneNumber::parse(c).ok()),
        center: center_id.clone(),
        region: center.and_then(|c| c.region),
        started_local: Utc::now()
            .with_timezone(&hotline_domain::shanghai())
            .naive_local(),
    };
    let mut flow = Flow::new(
        menu,
        config.calendar.clone(),
        info,
        Instant::now().into_std(),
    );
    let (answers_tx, mut answers) = mpsc::channel::<Input>(4);
    let mut message: Vec<i16> = Vec::new();

    let mut hung_up_by_us = false;
    let mut media_gone = false;
    // A transfer whose outcome never comes falls back after this.
    let mut transfer_deadline: Option<Instant> = None;
    // Every key the caller pressed, for the end-of-call log line.
    let mut pressed = String::new();
    // One press is one digit, however many ways the gateway reports it.
    let mut digits = DigitArbiter::new();
    // Ticket requests made on this call, for their idempotency keys.
    let mut requests: u32 = 0;
    'call: loop {
        // Carry out what the menu asked for.
        while let Some(action) = flow.poll_output() {
            match action {
                Action::Play(prompts) => {
                    media.with(|session| {
                        session.stop_playback();
                        for (lang, name) in &prompts {
                            session.play(&loaded.prompts.get(lang, name));
                        }
                    });
                    board.position(call.call_ref.as_str(), flow.node());
                }
                Action::StopPlayback => media.with(MediaSession::stop_playback),
                // The record node ends the message itself; the bound is a backstop.
                Action::StartRecording { end_on_silence } => media.with(|session| {
                    session.start_message(
                        Instant::now().into_std(),
                        MAX_MESSAGE_SAMPLES,
                        end_on_silence,
                    )
                }),
                Action::StopRecording => message = media.with(MediaSession::stop_message),
                Action::CreateTicket(draft) => {
                    // A second request on one call (after the first could
                    // not be kept) is a request of its own.
                    requests += 1;
                    let key = match requests {
                        1 => format!("{}:{}", config.node_id, call.call_ref),
                        n => format!("{}:{}:{n}", config.node_id, call.call_ref),
                    };
                    let recording = (!message.is_empty()).then(|| wav_bytes(&message));
                    // Drawn from the call's seeded generator: a replayed call
                    // proposes the same number.
                    let proposed = hotline_domain::TicketNumber::random(&mut rng);
                    let submission = Submission {
                        request: TicketsClient::request(&draft, key, &proposed),
                        proposed,
                        recording,
                    };
                    let tickets = config.tickets.clone();
                    let answers = answers_tx.clone();
                    // Its own task: it must finish even if the caller hangs up now.
                    tokio::spawn(
                        async move {
                            match tickets.submit(submission).await {
                                Ok(created) => {
                                    info!(ticket = %created.number, urgency = ?created.urgency, "ticket created for the call");
                                    let _ = answers.send(Input::TicketCreated(created)).await;
                                }
                                Err(e) => {
                                    tracing::error!(error = %e, "the request could not be kept; the caller hears the failure path");
                                    let _ = answers.send(Input::TicketFailed).await;
                                }
                            }
                        }
                        .in_current_span(),
                    );
                }
                Action::LookupTicket(number) => {
                    let tickets = config.tickets.clone();
                    let answers = answers_tx.clone();
                    tokio::spawn(async move {
                        let status = tickets.lookup(&number).await;
                        let _ = answers.send(Input::Lookup(status)).await;
                    });
                }
                Action::Transfer(uri) => {
                    info!(%uri, "transferring the call");
                    transfer_deadline = Some(Instant::now() + TRANSFER_WAIT);
                    send(CallCommand::Refer(key, uri)).await;
                }
                Action::Hangup => {
                    hung_up_by_us = true;
                    send(CallCommand::Hangup(key)).await;
                }
                Action::Metric(event) => {
                    let today = Utc::now()
                        .with_timezone(&hotline_domain::shanghai())
                        .date_naive();
                    config.metrics.record_on(today, &center_id, &event);
                }
            }
        }
        if flow.is_done() {
            break 'call;
        }
        let flow_wake = flow.poll_timeout().map(Instant::from_std);
        let mut events = Vec::new();
        tokio::select! {
            event = media.events.recv(), if !media_gone => match event {
                Some(event) => events.push(event),
                // The lane is gone (the runtime is stopping): no more audio.
                None => {
                    media_gone = true;
                    events.push(MediaEvent::RtpTimeout);
                }
            },
            () = sleep_until_some(flow_wake) => flow.handle_timeout(Instant::now().into_std()),
            () = sleep_until_some(transfer_deadline) => {
                transfer_deadline = None;
                info!("no outcome for the transfer; using the fallback");
                flow.handle_input(Instant::now().into_std(), Input::Transfer(false));
            }
            Some(answer) = answers.recv() => flow.handle_input(Instant::now().into_std(), answer),
            signal = signals.recv() => match signal {
                Some(CallSignal::Dtmf(d)) => events.push(MediaEvent::Digit(d, DigitSource::SipInfo)),
                Some(CallSignal::Reoffer(offer)) => {
                    // Hold and resume: answer the new direction, keep the codec.
                    let reply = match offer.as_deref().map(|o| sdp::parse_audio(o).and_then(|d| sdp::negotiate(&d))) {
                        Some(Ok(new)) => {
                            agreed.direction = new.direction;
                            // Multiplexing is as this offer asks (RFC 8035).
                            agreed.rtcp_mux = new.rtcp_mux;
                            agreed.rtcp_port = new.rtcp_port;
                            info!(direction = ?new.direction, "re-INVITE");
                            CallCommand::Answer(key, sdp::answer(&local, &agreed))
                        }
                        Some(Err(e)) => {
                            info!(error = %e, "re-INVITE refused");
                            CallCommand::Reject(key, 488, "Not Acceptable Here")
                        }
                        None => CallCommand::Answer(key, sdp::offer(&local)),
                    };
                    send(reply).await;
                }
                Some(CallSignal::Confirmed(_)) => {
                    media.with_now(|session| session.confirm(Instant::now().into_std()))
                }
                Some(CallSignal::Transfer(ok)) => {
                    transfer_deadline = None;
                    flow.handle_input(Instant::now().into_std(), Input::Transfer(ok));
                }
                Some(CallSignal::Ended) | None => {
                    info!(node = %flow.node(), "caller hung up");
                    flow.handle_input(Instant::now().into_std(), Input::HungUp);
                    continue 'call;
                }
            },
        }
        for event in events {
            match event {
                MediaEvent::Digit(d, source) => {
                    if digits.judge(Instant::now().into_std(), d, source) == Verdict::Duplicate {
                        let shown = if flow.collecting() { '*' } else { d.as_char() };
                        debug!(digit = %shown, source = source.as_str(), "the same press again from another source; dropped");
                        config.metrics.duplicate_digit(source);
                        continue;
                    }
                    // A key in a collect node is part of a number or a
                    // date: logged and shown as `*` (PIPL), menu keys as is.
                    let shown = if flow.collecting() { '*' } else { d.as_char() };
                    info!(digit = %shown, source = source.as_str(), node = %flow.node(), "digit");
                    board.digit(call.call_ref.as_str(), shown);
                    if pressed.len() < 64 {
                        pressed.push(d.as_char());
                    }
                    flow.handle_input(Instant::now().into_std(), Input::Digit(d));
                }
                MediaEvent::MessageSilence => {
                    info!(node = %flow.node(), "the caller stopped talking; the message ends");
                    flow.handle_input(Instant::now().into_std(), Input::Silence)
                }
                // The lane reports the end of a prompt as the caller's key
                // arrives; by then the key may have queued the next prompt.
                MediaEvent::PlaybackFinished if media.is_playing() => {}
                MediaEvent::PlaybackFinished => {
                    flow.handle_input(Instant::now().into_std(), Input::PlaybackFinished)
                }
                MediaEvent::RtpTimeout => {
                    info!(node = %flow.node(), "no RTP from the caller; hanging up");
                    send(CallCommand::Hangup(key)).await;
                    flow.handle_input(Instant::now().into_std(), Input::HungUp);
                }
            }
        }
    }
    // Let a ticket request started by the last actions reach the outbox.
    drop(answers_tx);
    info!(
        digits = %hotline_domain::phone::mask_keys(&pressed),
        node = %flow.node(),
        by = if hung_up_by_us { "ivr" } else { "caller" },
        "call ended"
    );
    save_recording(&config, &call.call_ref, media.finish()).await;
}

/// Waits until `at`, or forever when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The caller's message as a WAV file (8 kHz mono 16-bit), and its length.
pub(crate) fn wav_bytes(samples: &[i16]) -> (Vec<u8>, i64) {
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    // Writing to memory cannot fail for lack of space; a failure leaves
    // whatever was written, which the upload's size shows.
    if let Ok(mut writer) = hound::WavWriter::new(std::io::Cursor::new(&mut bytes), spec) {
        for &s in samples {
            if writer.write_sample(s).is_err() {
                break;
            }
        }
        let _ = writer.finalize();
    }
    (bytes, samples.len() as i64 / 8)
}

struct Established {
    socket: RtpSocket,
    local: Local,
    remote: Option<SocketAddr>,
    agreed: sdp::Negotiated,
    /// The ACK already came (it carried the answer to our offer).
    confirmed: bool,
}

/// Binds the call's RTP socket and completes offer/answer: with the
/// caller's offer in the INVITE, we answer in the 200; without one, our
/// offer goes in the 200 and the caller's answer comes in the ACK.
async fn establish<F, Fut>(
    call: &IncomingCall,
    config: &IvrConfig,
    send: &F,
    signals: &mut mpsc::Receiver<CallSignal>,
    rng: &mut StdRng,
) -> Option<Established>
where
    F: Fn(CallCommand) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let key = call.key;
    let Some(socket) = config.rtp_ports.bind(call.local.ip(), rng).await else {
        warn!(
            leased = config.rtp_ports.leased(),
            "no free RTP port; refusing the call"
        );
        send(CallCommand::Reject(key, 503, "Service Unavailable")).await;
        return None;
    };
    let port = socket.local_addr().map(|a| a.port()).unwrap_or_default();
    let local = Local {
        address: config.advertise.unwrap_or(call.local.ip()),
        port,
        session_id: u64::from(rng.random::<u32>()),
        version: 1,
    };
    let mut confirmed = false;
    let (description, agreed) = match &call.offer {
        Some(offer) => {
            match sdp::parse_audio(offer).and_then(|o| sdp::negotiate(&o).map(|a| (o, a))) {
                Ok((description, agreed)) => {
                    send(CallCommand::Answer(key, sdp::answer(&local, &agreed))).await;
                    (description, agreed)
                }
                Err(e) => {
                    info!(error = %e, "offer refused");
                    send(CallCommand::Reject(key, 488, "Not Acceptable Here")).await;
                    return None;
                }
            }
        }
        None => {
            send(CallCommand::Answer(key, sdp::offer(&local))).await;
            let answer = loop {
                match tokio::time::timeout(ACK_WAIT, signals.recv()).await {
                    Ok(Some(CallSignal::Confirmed(sdp))) => break sdp,
                    Ok(Some(CallSignal::Ended)) | Ok(None) | Err(_) => return None,
                    Ok(Some(_)) => continue,
                }
            };
            match answer
                .as_deref()
                .ok_or(sdp::SdpError::NoAudio)
                .and_then(sdp::parse_audio)
                .and_then(|a| sdp::negotiate(&a).map(|n| (a, n)))
            {
                Ok(pair) => {
                    confirmed = true;
                    pair
                }
                Err(e) => {
                    info!(error = %e, "the answer in the ACK is unusable; hanging up");
                    send(CallCommand::Hangup(key)).await;
                    return None;
                }
            }
        }
    };
    let remote = match (description.address, description.port) {
        (Some(ip), port) if port != 0 && !ip.is_unspecified() => Some(SocketAddr::new(ip, port)),
        (None, port) if port != 0 => Some(SocketAddr::new(call.peer.ip(), port)),
        _ => None,
    };
    Some(Established {
        socket,
        local,
        remote,
        agreed,
        confirmed,
    })
}

/// How long an answered call waits for the caller's ACK (64·T1).
const ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(32);

/// Writes what the caller said to `<recordings_dir>/<call>.wav` (8 kHz
/// mono 16-bit), when recording is configured. The name is the IVR's own
/// id of the call, so no two calls share a file whatever their Call-IDs.
async fn save_recording(config: &IvrConfig, call: &CallRef, audio: Vec<i16>) {
    let Some(dir) = config.recordings_dir.clone() else {
        return;
    };
    if audio.is_empty() {
        return;
    }
    let name = call.as_str();
    let path = dir.join(format!("{name}.wav"));
    let seconds = audio.len() as f64 / 8000.0;
    let written = tokio::task::spawn_blocking(move || -> Result<std::path::PathBuf, String> {
        // A caller's voice is personal information: readable by the
        // service's user only (0700 folder, 0600 file).
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        let mut file = std::fs::OpenOptions::new();
        file.write(true).read(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
            std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
        }
        folder.create(&dir).map_err(|e| e.to_string())?;
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let opened = file.open(&path).map_err(|e| e.to_string())?;
        let mut writer = hound::WavWriter::new(std::io::BufWriter::new(opened), spec)
            .map_err(|e| e.to_string())?;
        for sample in audio {
            writer.write_sample(sample).map_err(|e| e.to_string())?;
        }
        writer.finalize().map_err(|e| e.to_string())?;
        Ok(path)
    })
    .await;
    match written {
        Ok(Ok(path)) => info!(path = %path.display(), seconds, "recording saved"),
        Ok(Err(e)) => warn!(error = %e, "recording not saved"),
        Err(e) => warn!(error = %e, "recording not saved"),
    }
}

#[cfg(test)]
mod tests {
    use hotline_domain::limits::{MAX_MESSAGE_SECS, MAX_RECORDING_BYTES};

    /// The longest message the IVR keeps, written as it uploads it, is an
    /// upload ticketing accepts: size and duration.
    #[test]
    fn the_longest_message_is_an_upload_ticketing_accepts() {
        let (wav, ms) = super::wav_bytes(&vec![0; super::MAX_MESSAGE_SAMPLES]);
        assert!(wav.len() <= MAX_RECORDING_BYTES, "{} bytes", wav.len());
        assert_eq!(ms, i64::from(MAX_MESSAGE_SECS) * 1000);
    }
}
