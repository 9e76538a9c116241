//! One call walking a menu: a sans-I/O state machine. Inputs (a digit, "the
//! prompt finished", the ticket ticketing created, the time) go in through
//! [`Flow::handle_input`] and [`Flow::handle_timeout`]; actions (play these
//! prompts, stop playing, record, create a ticket, hang up) come out of
//! [`Flow::poll_output`], and [`Flow::poll_timeout`] says when to wake it.
//! It never reads a clock or touches audio, so the whole 12348 flow runs
//! in unit tests in microseconds.
//!
//! Timing follows what callers expect of a good IVR: a node's timeout starts
//! when its prompt has finished; a key pressed during a prompt stops it and
//! counts as input (barge-in); keys typed before a prompt carry over to the
//! next nodes (a bounded type-ahead buffer, cleared on invalid input).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use hotline_domain::calendar::HolidayCalendar;
use hotline_domain::{
    Matter, PhoneNumber, PriorityGroup, RegionCode, TicketKind, TicketNumber, Urgency,
};

use super::model::*;
use super::speech::{Language, Speech};
use crate::keypad::Digit;

/// Most nodes a call may pass without waiting for the caller; a menu whose
/// `set`/`branch` nodes loop forever is cut off here instead of spinning.
const MAX_INSTANT_STEPS: usize = 200;

/// What the IVR knows about a call when it starts.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// The caller's number, when the network delivered a usable one.
    pub caller: Option<PhoneNumber>,
    pub center: String,
    pub region: Option<RegionCode>,
    /// Wall-clock time in Asia/Shanghai when the call started.
    pub started_local: NaiveDateTime,
}

/// The ticket the call asks for, as gathered so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketDraft {
    pub kind: Option<TicketKind>,
    pub matter: Option<Matter>,
    pub preservation: bool,
    pub advance_enforcement: bool,
    /// A document the caller received; `event_date` is then its receipt date.
    pub document: Option<hotline_domain::Document>,
    /// A limitation rule the menu chose.
    pub rule: Option<String>,
    pub priority_group: Option<PriorityGroup>,
    pub hardship_waived: bool,
    pub hardship_basis: Option<hotline_domain::HardshipBasis>,
    pub pledge_offered: bool,
    pub home_visit: bool,
    pub mediation_preferred: bool,
    pub language: Language,
    pub event_date: Option<NaiveDate>,
    pub caller_number: Option<PhoneNumber>,
    pub callback_number: Option<PhoneNumber>,
    pub center: String,
    pub region: Option<RegionCode>,
    /// Whether a message was recorded (the driver holds the audio).
    pub has_message: bool,
    /// Where a caller who hung up before the request was complete stopped
    /// (a callback ticket's).
    pub last_node: Option<String>,
}

impl Default for TicketDraft {
    /// Nothing gathered yet, in Mandarin (menus set their own default).
    fn default() -> Self {
        Self {
            kind: None,
            matter: None,
            preservation: false,
            advance_enforcement: false,
            document: None,
            rule: None,
            priority_group: None,
            hardship_waived: false,
            hardship_basis: None,
            pledge_offered: false,
            home_visit: false,
            mediation_preferred: false,
            language: Language::Zh,
            event_date: None,
            caller_number: None,
            callback_number: None,
            center: String::new(),
            region: None,
            has_message: false,
            last_node: None,
        }
    }
}

/// The answer to a create-ticket action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketCreated {
    pub number: TicketNumber,
    /// `None` when ticketing could not be reached and the request waits in
    /// the outbox: the caller hears the number and a general next step.
    pub urgency: Option<Urgency>,
}

/// The apology a caller hears when their request cannot be kept a second
/// time on one call, before the IVR hangs up (the default menu also plays
/// it on the first failure).
pub const REQUEST_FAILED_PROMPT: &str = "request-failed";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Digit(Digit),
    PlaybackFinished,
    TicketCreated(TicketCreated),
    /// The request could not be kept (the outbox could not be written, or
    /// ticketing refused it for good): the caller must not wait in silence.
    TicketFailed,
    /// The LookupStatus next-step code, or `None` when no ticket has the number.
    Lookup(Option<String>),
    /// Whether the transfer succeeded.
    Transfer(bool),
    /// The caller has been silent for the record node's `silence_secs`.
    Silence,
    HungUp,
}

/// One recorded prompt: (language, name).
pub type PromptRef = (String, String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play these prompts in order, after stopping anything playing.
    Play(Vec<PromptRef>),
    StopPlayback,
    /// Start the caller's message; tell the flow (`Input::Silence`) when
    /// the caller has been silent this long.
    StartRecording {
        end_on_silence: Option<Duration>,
    },
    StopRecording,
    CreateTicket(TicketDraft),
    LookupTicket(TicketNumber),
    Transfer(String),
    Hangup,
    /// Per-node counts for the metrics.
    Metric(FlowEvent),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowEvent {
    Entered(String),
    Invalid(String),
    Timeout(String),
    /// The caller hung up while in this node.
    Abandoned(String),
    /// A caller without a usable number hung up in this node after choosing
    /// a service: nobody can call them back, so no ticket is made.
    Unreachable(String),
    /// The flow ended the call itself, in this node.
    Completed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A waiting node's prompt is playing; a key stops it.
    Prompting,
    /// A waiting node listens; the deadline is the timeout.
    Listening(Instant),
    /// A play or hang-up node's prompt is playing.
    Playing,
    RecordPrompt,
    Recording(Instant),
    AwaitTicket,
    AwaitLookup,
    AwaitTransfer,
    Done,
}

pub struct Flow {
    menu: Arc<Menu>,
    calendar: Arc<HolidayCalendar>,
    info: CallInfo,
    started: Instant,
    node: String,
    phase: Phase,
    timeouts: u32,
    invalid: u32,
    digits: String,
    type_ahead: VecDeque<Digit>,
    draft: TicketDraft,
    lookup_number: Option<TicketNumber>,
    ticket: Option<TicketCreated>,
    /// A create-ticket already failed on this call: a second failure ends
    /// the call instead of going round the failure path again.
    ticket_failed: bool,
    status: Option<String>,
    /// What a collect node without a validator took.
    collected: String,
    actions: VecDeque<Action>,
}

impl Flow {
    /// Starts a call at the menu's start node.
    pub fn new(
        menu: Arc<Menu>,
        calendar: Arc<HolidayCalendar>,
        info: CallInfo,
        now: Instant,
    ) -> Self {
        let draft = TicketDraft {
            language: menu.default_language,
            caller_number: info.caller.clone(),
            callback_number: info
                .caller
                .as_ref()
                .filter(|c| is_callback_number(c.as_str()))
                .cloned(),
            center: info.center.clone(),
            region: info.region,
            ..TicketDraft::default()
        };
        let start = menu.start.clone();
        let mut flow = Self {
            menu,
            calendar,
            info,
            started: now,
            node: start.clone(),
            phase: Phase::Playing,
            timeouts: 0,
            invalid: 0,
            digits: String::new(),
            type_ahead: VecDeque::new(),
            draft,
            lookup_number: None,
            ticket: None,
            ticket_failed: false,
            status: None,
            collected: String::new(),
            actions: VecDeque::new(),
        };
        flow.go(&start, now);
        flow
    }

    /// The node the call is in.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the call is in a node that collects digits (a number, a
    /// date): what the caller keys there is personal, and is not logged.
    pub fn collecting(&self) -> bool {
        matches!(self.kind(), NodeKind::Collect { .. })
    }

    pub fn draft(&self) -> &TicketDraft {
        &self.draft
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    pub fn poll_output(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Flow::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Listening(at) | Phase::Recording(at) => Some(at),
            _ => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Listening(at) if now >= at => self.on_timeout(now),
            Phase::Recording(at) if now >= at => {
                self.actions.push_back(Action::StopRecording);
                self.draft.has_message = true;
                let next = match self.kind() {
                    NodeKind::Record { next, .. } => next.clone(),
                    _ => return,
                };
                self.go(&next, now);
            }
            _ => {}
        }
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        if self.phase == Phase::Done {
            return;
        }
        match input {
            Input::Digit(d) => self.on_digit(d, now),
            Input::PlaybackFinished => self.on_playback_finished(now),
            Input::TicketCreated(created) if self.phase == Phase::AwaitTicket => {
                self.draft.kind.get_or_insert(TicketKind::Application);
                self.ticket = Some(created);
                if let NodeKind::CreateTicket { next, .. } = self.kind() {
                    let next = next.clone();
                    self.go(&next, now);
                }
            }
            Input::TicketFailed if self.phase == Phase::AwaitTicket => {
                let target = match self.kind() {
                    NodeKind::CreateTicket { on_failure, .. } => on_failure.clone(),
                    _ => None,
                }
                .or_else(|| self.menu.operator.clone())
                .filter(|_| !self.ticket_failed);
                self.ticket_failed = true;
                match target {
                    Some(target) => self.go(&target, now),
                    None => {
                        // No second round: the apology, then goodbye.
                        let apology = self.expand(&[PromptItem::Fixed {
                            language: None,
                            name: REQUEST_FAILED_PROMPT.to_owned(),
                        }]);
                        self.actions.push_back(Action::Play(apology));
                        self.phase = Phase::Playing;
                    }
                }
            }
            Input::Lookup(status) if self.phase == Phase::AwaitLookup => {
                let target = match self.kind() {
                    NodeKind::LookupTicket { found, not_found } => {
                        if status.is_some() {
                            found.clone()
                        } else {
                            not_found.clone()
                        }
                    }
                    _ => return,
                };
                self.status = status;
                self.go(&target, now);
            }
            Input::Transfer(ok) if self.phase == Phase::AwaitTransfer => {
                if ok {
                    self.finish_completed();
                } else if let NodeKind::Transfer { fallback, .. } = self.kind() {
                    let fallback = fallback.clone();
                    self.go(&fallback, now);
                }
            }
            Input::Silence if matches!(self.phase, Phase::Recording(_)) => {
                if let NodeKind::Record { next, .. } = self.kind().clone() {
                    self.actions.push_back(Action::StopRecording);
                    self.draft.has_message = true;
                    self.go(&next, now);
                }
            }
            Input::HungUp => {
                // A caller who hangs up while leaving a message still gets
                // a ticket: what they said so far is their request.
                let recording = matches!(self.phase, Phase::Recording(_) | Phase::RecordPrompt);
                if recording {
                    self.actions.push_back(Action::StopRecording);
                    self.draft.has_message = matches!(self.phase, Phase::Recording(_));
                    if self.ticket.is_none() {
                        self.actions
                            .push_back(Action::CreateTicket(self.draft.clone()));
                    }
                } else if self.draft.kind.is_some()
                    && self.ticket.is_none()
                    && !self.ticket_failed
                    && self.phase != Phase::AwaitTicket
                {
                    // The caller chose a service and left before the request
                    // was made: nobody is lost, the centre calls them back.
                    let callable = self.draft.callback_number.is_some()
                        || self
                            .draft
                            .caller_number
                            .as_ref()
                            .is_some_and(PhoneNumber::is_callable);
                    if callable {
                        let mut callback = self.draft.clone();
                        callback.kind = Some(TicketKind::Callback);
                        callback.last_node = Some(self.node.clone());
                        self.actions.push_back(Action::CreateTicket(callback));
                    } else {
                        self.metric(FlowEvent::Unreachable(self.node.clone()));
                    }
                }
                self.metric(FlowEvent::Abandoned(self.node.clone()));
                self.phase = Phase::Done;
            }
            _ => {}
        }
    }

    fn kind(&self) -> &NodeKind {
        // `node` always names a node of a validated menu.
        match self.menu.nodes.get(&self.node) {
            Some(n) => &n.kind,
            None => {
                const NOWHERE: &NodeKind = &NodeKind::Hangup { prompt: Vec::new() };
                NOWHERE
            }
        }
    }

    fn metric(&mut self, event: FlowEvent) {
        self.actions.push_back(Action::Metric(event));
    }

    fn finish_completed(&mut self) {
        self.metric(FlowEvent::Completed(self.node.clone()));
        self.actions.push_back(Action::Hangup);
        self.phase = Phase::Done;
    }

    /// Enters `target` and runs every node that does not wait for the caller.
    fn go(&mut self, target: &str, now: Instant) {
        let mut target = target.to_owned();
        for _ in 0..MAX_INSTANT_STEPS {
            self.node = target.clone();
            self.timeouts = 0;
            self.invalid = 0;
            self.digits.clear();
            self.metric(FlowEvent::Entered(target.clone()));
            let kind = self.kind().clone();
            match kind {
                NodeKind::Play { prompt, next } => {
                    if !self.type_ahead.is_empty() {
                        // The caller already knows where they are going.
                        target = next;
                        continue;
                    }
                    let refs = self.expand(&prompt);
                    if refs.is_empty() {
                        target = next;
                        continue;
                    }
                    self.actions.push_back(Action::Play(refs));
                    self.phase = Phase::Playing;
                    return;
                }
                NodeKind::Hangup { prompt } => {
                    self.type_ahead.clear();
                    let refs = self.expand(&prompt);
                    if refs.is_empty() {
                        self.finish_completed();
                    } else {
                        self.actions.push_back(Action::Play(refs));
                        self.phase = Phase::Playing;
                    }
                    return;
                }
                NodeKind::Menu { .. } | NodeKind::Collect { .. } | NodeKind::Confirm { .. } => {
                    self.listen(now);
                    return;
                }
                NodeKind::Record { prompt, .. } => {
                    // Keys typed earlier must not end the message early.
                    self.type_ahead.clear();
                    let refs = self.expand(&prompt);
                    self.actions.push_back(Action::Play(refs));
                    self.phase = Phase::RecordPrompt;
                    return;
                }
                NodeKind::Set { values, next } => {
                    for (field, value) in values {
                        self.set(field, value);
                    }
                    target = next;
                }
                NodeKind::CreateTicket { next, .. } => {
                    if self.ticket.is_some() {
                        target = next;
                        continue;
                    }
                    self.actions
                        .push_back(Action::CreateTicket(self.draft.clone()));
                    self.phase = Phase::AwaitTicket;
                    return;
                }
                NodeKind::LookupTicket { not_found, .. } => match self.lookup_number.clone() {
                    Some(number) => {
                        self.actions.push_back(Action::LookupTicket(number));
                        self.phase = Phase::AwaitLookup;
                        return;
                    }
                    None => target = not_found,
                },
                NodeKind::Transfer { uri, fallback } => match uri {
                    Some(uri) => {
                        self.actions.push_back(Action::Transfer(uri));
                        self.phase = Phase::AwaitTransfer;
                        return;
                    }
                    None => target = fallback,
                },
                NodeKind::Hours { open, closed } => {
                    let at = self.info.started_local
                        + chrono::Duration::from_std(now.saturating_duration_since(self.started))
                            .unwrap_or_default();
                    let is_open = self
                        .menu
                        .center(&self.info.center)
                        .is_some_and(|c| c.is_open(at, &self.calendar));
                    target = if is_open { open } else { closed };
                }
                NodeKind::Branch {
                    field,
                    cases,
                    default,
                } => {
                    let value = self.value(field);
                    target = cases.get(&value).cloned().unwrap_or(default);
                }
            }
        }
        // A loop of instant nodes: end the call rather than spin.
        tracing::warn!(node = %self.node, "menu loops without waiting for the caller; hanging up");
        self.finish_completed();
    }

    /// Starts listening in a waiting node: type-ahead first, else the prompt.
    fn listen(&mut self, now: Instant) {
        if self.type_ahead.is_empty() {
            let prompt = self.wait().prompt.clone();
            let refs = self.expand(&prompt);
            self.actions.push_back(Action::Play(refs));
            self.phase = Phase::Prompting;
            return;
        }
        let timeout = self.wait().timeout;
        self.phase = Phase::Listening(now + timeout);
        let entered = self.node.clone();
        while let Some(d) = self.type_ahead.pop_front() {
            self.take_key(d, now);
            // Once the digit moved the call on, the next node takes the rest.
            if self.node != entered || !matches!(self.phase, Phase::Listening(_)) {
                return;
            }
        }
    }

    fn wait(&self) -> &Wait {
        static NONE: std::sync::OnceLock<Wait> = std::sync::OnceLock::new();
        match self.kind() {
            NodeKind::Menu { wait, .. }
            | NodeKind::Collect { wait, .. }
            | NodeKind::Confirm { wait, .. } => wait,
            _ => NONE.get_or_init(|| Wait {
                prompt: Vec::new(),
                short_prompt: Vec::new(),
                invalid_prompt: Vec::new(),
                timeout: Duration::from_secs(5),
                max_timeouts: 1,
                max_invalid: 1,
                on_timeout: String::new(),
                on_failure: String::new(),
            }),
        }
    }

    fn on_playback_finished(&mut self, now: Instant) {
        match self.phase {
            Phase::Prompting => {
                let timeout = self.wait().timeout;
                self.phase = Phase::Listening(now + timeout);
            }
            Phase::Playing => match self.kind().clone() {
                NodeKind::Play { next, .. } => self.go(&next, now),
                _ => self.finish_completed(),
            },
            Phase::RecordPrompt => {
                if let NodeKind::Record { max, silence, .. } = self.kind() {
                    let (max, end_on_silence) = (*max, *silence);
                    self.actions
                        .push_back(Action::StartRecording { end_on_silence });
                    self.phase = Phase::Recording(now + max);
                }
            }
            _ => {}
        }
    }

    fn on_digit(&mut self, d: Digit, now: Instant) {
        match self.phase {
            Phase::Prompting => {
                self.actions.push_back(Action::StopPlayback);
                let timeout = self.wait().timeout;
                self.phase = Phase::Listening(now + timeout);
                self.take_key(d, now);
            }
            Phase::Listening(_) => self.take_key(d, now),
            Phase::Playing => {
                if let NodeKind::Play { next, .. } = self.kind().clone() {
                    self.actions.push_back(Action::StopPlayback);
                    self.push_type_ahead(d);
                    self.go(&next, now);
                }
            }
            Phase::RecordPrompt => {
                // `#` during the prompt: nothing to say after all.
                if d == Digit::Pound {
                    if let NodeKind::Record { next, .. } = self.kind().clone() {
                        self.actions.push_back(Action::StopPlayback);
                        self.go(&next, now);
                    }
                }
            }
            Phase::Recording(_) => {
                if d == Digit::Pound {
                    if let NodeKind::Record { next, .. } = self.kind().clone() {
                        self.actions.push_back(Action::StopRecording);
                        self.draft.has_message = true;
                        self.go(&next, now);
                    }
                }
            }
            Phase::AwaitTicket | Phase::AwaitLookup | Phase::AwaitTransfer => {
                self.push_type_ahead(d)
            }
            Phase::Done => {}
        }
    }

    fn push_type_ahead(&mut self, d: Digit) {
        if self.type_ahead.len() < self.menu.type_ahead {
            self.type_ahead.push_back(d);
        }
    }

    /// A key in a listening node.
    fn take_key(&mut self, d: Digit, now: Instant) {
        match self.kind().clone() {
            NodeKind::Menu {
                keys,
                repeat_key,
                operator_key,
                ..
            } => {
                if let Some(next) = keys.get(&d) {
                    self.go(next, now);
                } else if d == Digit::Star && repeat_key {
                    self.replay(false);
                } else if let (Digit::D0, true, Some(op)) =
                    (d, operator_key, self.menu.operator.clone())
                {
                    self.go(&op, now);
                } else {
                    self.invalid(now);
                }
            }
            NodeKind::Confirm { next, reenter, .. } => match d {
                Digit::D1 => self.go(&next, now),
                Digit::D2 => self.go(&reenter, now),
                Digit::Star => self.replay(false),
                _ => self.invalid(now),
            },
            NodeKind::Collect {
                field,
                inter_digit,
                special,
                terminator,
                max_digits,
                ..
            } => {
                if self.digits.is_empty() {
                    if let Some(next) = special.get(&d) {
                        // "Don't know": the field stays unset, even on re-entry.
                        self.clear(field);
                        let next = next.clone();
                        return self.go(&next, now);
                    }
                }
                if Some(d) == terminator {
                    return self.finish_collect(now);
                }
                self.digits.push(d.as_char());
                if self.digits.len() > max_digits {
                    return self.invalid(now);
                }
                self.phase = Phase::Listening(now + inter_digit);
            }
            _ => {}
        }
    }

    /// Plays the prompt again: long after `*`, short after a failure.
    fn replay(&mut self, short: bool) {
        let wait = self.wait();
        let prompt = if short {
            wait.short_prompt.clone()
        } else {
            wait.prompt.clone()
        };
        let refs = self.expand(&prompt);
        self.actions.push_back(Action::Play(refs));
        self.phase = Phase::Prompting;
    }

    fn finish_collect(&mut self, now: Instant) {
        let NodeKind::Collect {
            field,
            validator,
            min_digits,
            next,
            ..
        } = self.kind().clone()
        else {
            return;
        };
        if self.digits.len() < min_digits {
            return self.invalid(now);
        }
        let digits = std::mem::take(&mut self.digits);
        let today = self.today(now);
        let ok = match validator {
            Some(Validator::Date) => parse_date(&digits, today)
                .map(|d| self.draft.event_date = Some(d))
                .is_some(),
            Some(Validator::Phone) => {
                match PhoneNumber::parse(&digits)
                    .ok()
                    .filter(|n| is_callback_number(n.as_str()))
                {
                    Some(number) => {
                        self.draft.callback_number = Some(number);
                        true
                    }
                    None => false,
                }
            }
            Some(Validator::TicketNumber) => match TicketNumber::parse(&digits) {
                Ok(n) => {
                    self.lookup_number = Some(n);
                    true
                }
                Err(_) => false,
            },
            None => {
                self.collected = digits;
                true
            }
        };
        let _ = field;
        if ok {
            self.go(&next, now);
        } else {
            self.invalid(now);
        }
    }

    fn today(&self, now: Instant) -> NaiveDate {
        (self.info.started_local
            + chrono::Duration::from_std(now.saturating_duration_since(self.started))
                .unwrap_or_default())
        .date()
    }

    fn invalid(&mut self, now: Instant) {
        self.type_ahead.clear();
        self.digits.clear();
        self.invalid += 1;
        self.metric(FlowEvent::Invalid(self.node.clone()));
        let wait = self.wait().clone();
        if self.invalid >= wait.max_invalid {
            return self.go(&wait.on_failure, now);
        }
        let mut prompt = wait.invalid_prompt.clone();
        prompt.extend(wait.short_prompt.iter().cloned());
        let refs = self.expand(&prompt);
        self.actions.push_back(Action::Play(refs));
        self.phase = Phase::Prompting;
    }

    fn on_timeout(&mut self, now: Instant) {
        if matches!(self.kind(), NodeKind::Collect { .. }) && !self.digits.is_empty() {
            // Digits then silence: take them as if `#` had been pressed.
            return self.finish_collect(now);
        }
        self.timeouts += 1;
        self.metric(FlowEvent::Timeout(self.node.clone()));
        let wait = self.wait().clone();
        if self.timeouts >= wait.max_timeouts {
            return self.go(&wait.on_timeout, now);
        }
        self.replay(true);
    }

    /// The loader paired each field with a value of its kind; any other
    /// pairing cannot come from a loaded menu and changes nothing.
    fn set(&mut self, field: Field, value: FieldValue) {
        let d = &mut self.draft;
        match (field, value) {
            (Field::Kind, FieldValue::Kind(k)) => d.kind = Some(k),
            (Field::Matter, FieldValue::Matter(m)) => d.matter = Some(m),
            (Field::PriorityGroup, FieldValue::PriorityGroup(g)) => d.priority_group = Some(g),
            (Field::Language, FieldValue::Language(l)) => d.language = l,
            (Field::Preservation, FieldValue::Flag(b)) => d.preservation = b,
            (Field::HardshipWaived, FieldValue::Flag(b)) => d.hardship_waived = b,
            (Field::HardshipBasis, FieldValue::HardshipBasis(b)) => d.hardship_basis = Some(b),
            (Field::AdvanceEnforcement, FieldValue::Flag(b)) => d.advance_enforcement = b,
            (Field::Document, FieldValue::Document(x)) => d.document = Some(x),
            (Field::Rule, FieldValue::Rule(r)) => d.rule = Some(r),
            (Field::PledgeOffered, FieldValue::Flag(b)) => d.pledge_offered = b,
            (Field::HomeVisit, FieldValue::Flag(b)) => d.home_visit = b,
            (Field::MediationPreferred, FieldValue::Flag(b)) => d.mediation_preferred = b,
            _ => {}
        }
    }

    fn clear(&mut self, field: Field) {
        match field {
            Field::EventDate => self.draft.event_date = None,
            Field::CallbackNumber => self.draft.callback_number = None,
            Field::LookupNumber => self.lookup_number = None,
            Field::Digits => self.collected.clear(),
            _ => {}
        }
    }

    /// A field as a branch node compares it ("" when unset).
    fn value(&self, field: Field) -> String {
        let d = &self.draft;
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
        match field {
            Field::Kind => d.kind.map(|k| k.to_string()).unwrap_or_default(),
            Field::Matter => d.matter.map(|m| m.to_string()).unwrap_or_default(),
            Field::Preservation => yes_no(d.preservation),
            Field::PriorityGroup => d.priority_group.map(|g| g.to_string()).unwrap_or_default(),
            Field::HardshipWaived => yes_no(d.hardship_waived),
            Field::HardshipBasis => d.hardship_basis.map(|b| b.to_string()).unwrap_or_default(),
            Field::AdvanceEnforcement => yes_no(d.advance_enforcement),
            Field::Document => d.document.map(|x| x.to_string()).unwrap_or_default(),
            Field::Rule => d.rule.clone().unwrap_or_default(),
            Field::PledgeOffered => yes_no(d.pledge_offered),
            Field::HomeVisit => yes_no(d.home_visit),
            Field::MediationPreferred => yes_no(d.mediation_preferred),
            Field::Language => d.language.to_string(),
            Field::EventDate => d
                .event_date
                .map(|x| x.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            Field::CallbackNumber => d
                .callback_number
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            Field::LookupNumber => self
                .lookup_number
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            Field::Digits => self.collected.clone(),
            Field::CallerKnown => yes_no(
                self.info
                    .caller
                    .as_ref()
                    .is_some_and(|c| is_callback_number(c.as_str())),
            ),
            Field::Urgency => self
                .ticket
                .as_ref()
                .and_then(|t| t.urgency)
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
        }
    }

    /// Turns a prompt into the recordings to play, in the call's language.
    fn expand(&self, prompt: &[PromptItem]) -> Vec<PromptRef> {
        let rules = self.draft.language;
        let lang = rules.as_str().to_owned();
        let mut out = Vec::new();
        for item in prompt {
            let mut push = |names: Vec<String>| {
                out.extend(names.into_iter().map(|n| (lang.clone(), n)));
            };
            match item {
                PromptItem::Fixed { language, name } => match language {
                    Some(l) => out.push((l.clone(), name.clone())),
                    None => push(vec![name.clone()]),
                },
                PromptItem::Say(saying) => match saying {
                    Saying::TicketNumber => {
                        if let Some(t) = &self.ticket {
                            push(rules.digits(t.number.as_str()));
                        }
                    }
                    Saying::LookupNumber => {
                        if let Some(n) = &self.lookup_number {
                            push(rules.digits(n.as_str()));
                        }
                    }
                    Saying::EventDate => {
                        if let Some(d) = self.draft.event_date {
                            push(rules.date(d));
                        }
                    }
                    Saying::CallbackLast4 => {
                        if let Some(n) = &self.draft.callback_number {
                            push(rules.digits(n.last_four()));
                        }
                    }
                    Saying::CallbackNumber => {
                        if let Some(n) = &self.draft.callback_number {
                            push(rules.digits(n.as_str()));
                        }
                    }
                    Saying::NextStep => push(vec![format!("next-step-{}", self.next_step())]),
                    Saying::TicketStatus => {
                        if let Some(s) = &self.status {
                            push(vec![format!("status-{s}")]);
                        }
                    }
                },
            }
        }
        out
    }

    fn next_step(&self) -> &'static str {
        // A consultation with days left is as urgent as an application;
        // a normal one is promised a call back, not a decision.
        let consultation = self.draft.kind == Some(TicketKind::Consultation);
        match self.ticket.as_ref().and_then(|t| t.urgency) {
            Some(Urgency::Critical) => "critical",
            Some(Urgency::Urgent) => "urgent",
            // Never "a deadline coming soon" for a period that has passed.
            Some(Urgency::Expired) => "expired",
            Some(Urgency::Normal) if consultation => "consultation",
            Some(Urgency::Normal) => "normal",
            None if self.draft.kind == Some(TicketKind::Consultation) => "consultation",
            None if self.ticket.is_some() && self.draft.matter.is_none() => "consultation",
            None => "pending",
        }
    }
}

/// A mainland mobile (`1[3-9]` and 9 more digits) or a landline with its
/// area code (`0`, 2–3 digits of area code, 7–8 digits).
pub fn is_callback_number(n: &str) -> bool {
    hotline_domain::phone::callable(n)
}

/// YYYYMMDD: a real date, not after `today`, not before 1900.
pub fn parse_date(digits: &str, today: NaiveDate) -> Option<NaiveDate> {
    // Only the eight digits: chrono's parser alone also takes a sign or
    // whitespace inside a field ("201301\n3" read as 2013-01-03; found by
    // the event_date fuzz target).
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = NaiveDate::parse_from_str(digits, "%Y%m%d").ok()?;
    (date <= today && date >= NaiveDate::from_ymd_opt(1900, 1, 1)?).then_some(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyed_date_is_eight_digits_of_a_real_past_date() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default();
        assert_eq!(
            parse_date("20250301", today),
            NaiveDate::from_ymd_opt(2025, 3, 1)
        );
        assert_eq!(parse_date("20260302", today), Some(today));
        for refused in [
            "20260303",
            "20250230",
            "18991231",
            "2025031",
            "201301\n3",
            "+2025031",
            " 2025031",
        ] {
            assert_eq!(parse_date(refused, today), None, "{refused:?}");
        }
    }
}
