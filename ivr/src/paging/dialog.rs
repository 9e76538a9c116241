//! What a paged lawyer hears and what their keys do, as a sans-I/O state
//! machine: inputs (keys, the end of a prompt, ticketing's answer) and
//! `now` in, actions (play, stop, report the choice, hang up) out.
//!
//! The message says who is calling and why, the matter, the days left, a
//! preservation need and the ticket number, then the choices: **1** accept,
//! **2** decline, **3** hear it again. A key counts at any time (a lawyer
//! who knows the drill need not wait). With no key after the choices, the
//! message is played once more, then the call ends with no choice made.

use std::time::{Duration, Instant};

use hotline_domain::Language;

use crate::menu::speech::Speech;

/// How long the lawyer has to press a key after the choices.
pub const KEY_WAIT: Duration = Duration::from_secs(8);
/// Times the whole message is played with no key pressed.
pub const PLAYS: u32 = 2;

/// What the page is about, as ticketing sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageMessage {
    pub language: Language,
    /// `critical` or `urgent`.
    pub urgency: String,
    pub matter: Option<String>,
    pub days_left: Option<i64>,
    pub preservation: bool,
    pub ticket_number: String,
}

impl PageMessage {
    /// The prompts of the message, in order.
    pub fn prompts(&self) -> Vec<String> {
        let mut out = vec![match self.urgency.as_str() {
            "urgent" => "page-urgent".to_owned(),
            _ => "page-critical".to_owned(),
        }];
        if let Some(matter) = &self.matter {
            out.push(format!("page-matter-{matter}"));
        }
        if let Some(days) = self.days_left.filter(|d| *d >= 0) {
            out.push("page-days-left".into());
            out.extend(self.language.count(u32::try_from(days).unwrap_or(u32::MAX)));
        }
        if self.preservation {
            out.push("page-preservation".into());
        }
        out.push("page-ticket".into());
        out.extend(self.language.digits(&self.ticket_number));
        out.push("page-choices".into());
        out
    }
}

/// The lawyer's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Accept,
    Decline,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageInput {
    /// A key, from RFC 4733, SIP INFO or in-band.
    Key(char),
    /// Everything queued has been played.
    PlaybackFinished,
    /// Ticketing's answer to the reported choice: `Some(true)` when it
    /// decided the offer, `Some(false)` when the offer was no longer open,
    /// `None` when ticketing could not be reached.
    Decided(Option<bool>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageAction {
    /// Queue these prompts.
    Play(Vec<String>),
    /// Cut what is playing short.
    StopPlayback,
    /// Tell ticketing the choice; answer with [`PageInput::Decided`].
    Report(Choice),
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The message is playing (`plays` times so far).
    Speaking {
        plays: u32,
    },
    /// The message has played; a key is awaited until the deadline.
    Waiting {
        plays: u32,
        until: Instant,
    },
    /// The choice went to ticketing.
    Reporting(Choice),
    /// The last words are playing; then the call ends.
    Closing,
    Done,
}

/// One answered page call.
#[derive(Debug)]
pub struct PageDialog {
    message: Vec<String>,
    state: State,
    choice: Option<Choice>,
}

impl PageDialog {
    /// The call was answered: the message starts.
    pub fn answered(message: &PageMessage) -> (Self, Vec<PageAction>) {
        let prompts = message.prompts();
        let dialog = Self {
            message: prompts.clone(),
            state: State::Speaking { plays: 1 },
            choice: None,
        };
        (dialog, vec![PageAction::Play(prompts)])
    }

    /// The choice the lawyer made, if any (reported or not).
    pub fn choice(&self) -> Option<Choice> {
        self.choice
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// When [`PageDialog::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { until, .. } => Some(until),
            _ => None,
        }
    }

    pub fn handle(&mut self, input: PageInput, now: Instant) -> Vec<PageAction> {
        match (self.state, input) {
            (State::Speaking { .. } | State::Waiting { .. }, PageInput::Key(key)) => {
                self.key(key, now)
            }
            (State::Speaking { plays }, PageInput::PlaybackFinished) => {
                self.state = State::Waiting {
                    plays,
                    until: now + KEY_WAIT,
                };
                Vec::new()
            }
            (State::Reporting(choice), PageInput::Decided(decided)) => {
                let last = match (choice, decided) {
                    (Choice::Accept, Some(true)) => "page-accepted",
                    (Choice::Decline, Some(true)) => "page-declined",
                    (_, Some(false)) => "page-closed",
                    (_, None) => "page-unrecorded",
                };
                self.state = State::Closing;
                vec![PageAction::Play(vec![last.to_owned()])]
            }
            (State::Closing, PageInput::PlaybackFinished) => {
                self.state = State::Done;
                vec![PageAction::Hangup]
            }
            // Keys after the choice, a stray end of playback: nothing.
            _ => Vec::new(),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Vec<PageAction> {
        match self.state {
            State::Waiting { plays, until } if now >= until => {
                if plays < PLAYS {
                    self.state = State::Speaking { plays: plays + 1 };
                    vec![PageAction::Play(self.message.clone())]
                } else {
                    self.state = State::Done;
                    vec![PageAction::Hangup]
                }
            }
            _ => Vec::new(),
        }
    }

    fn key(&mut self, key: char, _now: Instant) -> Vec<PageAction> {
        let plays = match self.state {
            State::Speaking { plays } | State::Waiting { plays, .. } => plays,
            _ => return Vec::new(),
        };
        let choice = match key {
            '1' => Choice::Accept,
            '2' => Choice::Decline,
            '3' => {
                // From the top; asking again does not use up a play.
                self.state = State::Speaking { plays };
                return vec![
                    PageAction::StopPlayback,
                    PageAction::Play(self.message.clone()),
                ];
            }
            // Any other key: the choices again, right away.
            _ => {
                self.state = State::Speaking { plays };
                return vec![
                    PageAction::StopPlayback,
                    PageAction::Play(vec!["page-choices".to_owned()]),
                ];
            }
        };
        self.choice = Some(choice);
        self.state = State::Reporting(choice);
        vec![PageAction::StopPlayback, PageAction::Report(choice)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> PageMessage {
        PageMessage {
            language: Language::En,
            urgency: "critical".into(),
            matter: Some("labor-wages".into()),
            days_left: Some(3),
            preservation: true,
            ticket_number: "2611000017".into(),
        }
    }

    fn play(names: &[&str]) -> PageAction {
        PageAction::Play(names.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn the_message_names_the_matter_days_preservation_and_ticket() {
        let prompts = message().prompts();
        assert_eq!(
            prompts,
            [
                "page-critical",
                "page-matter-labor-wages",
                "page-days-left",
                "digit-3",
                "page-preservation",
                "page-ticket",
                "digit-2",
                "digit-6",
                "digit-1",
                "digit-1",
                "digit-0",
                "digit-0",
                "digit-0",
                "digit-0",
                "digit-1",
                "digit-7",
                "page-choices",
            ]
        );
        let plain = PageMessage {
            urgency: "urgent".into(),
            matter: None,
            days_left: None,
            preservation: false,
            ..message()
        };
        assert_eq!(plain.prompts()[..2], ["page-urgent", "page-ticket"]);
    }

    #[test]
    fn key_1_reports_acceptance_and_says_so_then_hangs_up() {
        let t0 = Instant::now();
        let (mut d, first) = PageDialog::answered(&message());
        assert_eq!(first, [PageAction::Play(message().prompts())]);
        // Pressed while the message plays: it stops at once.
        assert_eq!(
            d.handle(PageInput::Key('1'), t0),
            [PageAction::StopPlayback, PageAction::Report(Choice::Accept)]
        );
        // A second key while ticketing answers changes nothing.
        assert!(d.handle(PageInput::Key('2'), t0).is_empty());
        assert_eq!(
            d.handle(PageInput::Decided(Some(true)), t0),
            [play(&["page-accepted"])]
        );
        assert_eq!(
            d.handle(PageInput::PlaybackFinished, t0),
            [PageAction::Hangup]
        );
        assert!(d.is_done());
        assert_eq!(d.choice(), Some(Choice::Accept));
    }

    #[test]
    fn key_2_declines_and_an_offer_already_gone_is_said_so() {
        let t0 = Instant::now();
        let (mut d, _) = PageDialog::answered(&message());
        d.handle(PageInput::PlaybackFinished, t0);
        assert_eq!(
            d.handle(PageInput::Key('2'), t0),
            [
                PageAction::StopPlayback,
                PageAction::Report(Choice::Decline)
            ]
        );
        assert_eq!(
            d.handle(PageInput::Decided(Some(false)), t0),
            [play(&["page-closed"])]
        );
        let (mut d, _) = PageDialog::answered(&message());
        d.handle(PageInput::Key('2'), t0);
        assert_eq!(
            d.handle(PageInput::Decided(None), t0),
            [play(&["page-unrecorded"])]
        );
    }

    #[test]
    fn key_3_repeats_and_silence_repeats_once_then_ends() {
        let t0 = Instant::now();
        let (mut d, _) = PageDialog::answered(&message());
        assert_eq!(
            d.handle(PageInput::Key('3'), t0),
            [PageAction::StopPlayback, play_message()]
        );
        assert_eq!(
            d.handle(PageInput::Key('7'), t0),
            [PageAction::StopPlayback, play(&["page-choices"])]
        );
        d.handle(PageInput::PlaybackFinished, t0);
        assert_eq!(d.poll_timeout(), Some(t0 + KEY_WAIT));
        assert!(d.handle_timeout(t0 + KEY_WAIT / 2).is_empty());
        let t1 = t0 + KEY_WAIT;
        assert_eq!(d.handle_timeout(t1), [play_message()]);
        d.handle(PageInput::PlaybackFinished, t1);
        assert_eq!(d.handle_timeout(t1 + KEY_WAIT), [PageAction::Hangup]);
        assert!(d.is_done());
        assert_eq!(d.choice(), None);
    }

    fn play_message() -> PageAction {
        PageAction::Play(message().prompts())
    }
}
