//! The menu as the engine uses it: nodes with typed fields, every reference
//! already checked. Built only by [`super::load`], so a `Menu` in hand is valid.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveTime;

use hotline_domain::{Language, Matter, PriorityGroup, RegionCode, TicketKind};

use crate::keypad::Digit;

/// A whole call flow: its nodes, languages and centers.
#[derive(Debug, Clone)]
pub struct Menu {
    /// Where the menu came from, for messages.
    pub file: String,
    pub start: String,
    pub languages: Vec<Language>,
    pub default_language: Language,
    /// The node `0` leads to in one-key menus, when set.
    pub operator: Option<String>,
    /// Most digits kept when typed ahead of a prompt.
    pub type_ahead: usize,
    pub nodes: BTreeMap<String, Node>,
    pub centers: Vec<Center>,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    /// 1-based line of the node in its file.
    pub line: usize,
    pub kind: NodeKind,
}

/// One thing a prompt says: a fixed recording or a value read out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptItem {
    /// `name` (in the call's language) or `lang:name` (always in `lang`).
    Fixed {
        language: Option<String>,
        name: String,
    },
    Say(Saying),
}

/// Values a prompt can read out, written `{name}` in a menu file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saying {
    /// The ticket number, digit by digit.
    TicketNumber,
    /// The event date as year, month, day.
    EventDate,
    /// The last four digits of the callback number.
    CallbackLast4,
    /// The callback number, digit by digit.
    CallbackNumber,
    /// The next step for the urgency ticketing returned.
    NextStep,
    /// The state of a looked-up ticket and what happens next.
    TicketStatus,
    /// The number that was looked up, digit by digit.
    LookupNumber,
}

impl Saying {
    pub const ALL: &'static [(&'static str, Saying)] = &[
        ("ticket_number", Saying::TicketNumber),
        ("event_date", Saying::EventDate),
        ("callback_last4", Saying::CallbackLast4),
        ("callback_number", Saying::CallbackNumber),
        ("next_step", Saying::NextStep),
        ("ticket_status", Saying::TicketStatus),
        ("lookup_number", Saying::LookupNumber),
    ];
}

pub type Prompt = Vec<PromptItem>;

/// What every node that waits for the caller has: FreeSWITCH's greet-long,
/// greet-short, invalid sound, timeout and failure limits.
#[derive(Debug, Clone)]
pub struct Wait {
    pub prompt: Prompt,
    /// Played instead of `prompt` after a timeout or an invalid input.
    pub short_prompt: Prompt,
    /// Played before the short prompt after an invalid input.
    pub invalid_prompt: Prompt,
    /// Silence after the prompt has finished that counts as a timeout.
    pub timeout: Duration,
    pub max_timeouts: u32,
    pub max_invalid: u32,
    /// Where the call goes after `max_timeouts` timeouts.
    pub on_timeout: String,
    /// Where the call goes after `max_invalid` invalid inputs.
    pub on_failure: String,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Play {
        prompt: Prompt,
        next: String,
    },
    /// One key leads to the next node.
    Menu {
        wait: Wait,
        keys: BTreeMap<Digit, String>,
        /// `*` plays the long prompt again.
        repeat_key: bool,
        /// `0` goes to the menu's operator node.
        operator_key: bool,
    },
    /// Several digits into a field.
    Collect {
        wait: Wait,
        field: Field,
        validator: Option<Validator>,
        min_digits: usize,
        max_digits: usize,
        terminator: Option<Digit>,
        inter_digit: Duration,
        /// A key pressed first that leads elsewhere, leaving the field unset.
        special: BTreeMap<Digit, String>,
        next: String,
    },
    /// Reads back what was entered: 1 confirms, 2 enters it again.
    Confirm {
        wait: Wait,
        next: String,
        reenter: String,
    },
    /// The caller's message, after the prompt and a tone, until `#`, the
    /// longest message, or `silence` without speech.
    Record {
        prompt: Prompt,
        max: Duration,
        silence: Option<Duration>,
        next: String,
    },
    Set {
        values: Vec<(Field, FieldValue)>,
        next: String,
    },
    CreateTicket {
        next: String,
        /// Where the caller goes when the request cannot be kept (an
        /// apology, then the operator); the menu's operator node when unset.
        on_failure: Option<String>,
    },
    LookupTicket {
        found: String,
        not_found: String,
    },
    /// Hands the call to a person (SIP REFER); `fallback` when that fails.
    Transfer {
        uri: Option<String>,
        fallback: String,
    },
    /// The center's business hours, with the holiday calendar.
    Hours {
        open: String,
        closed: String,
    },
    Branch {
        field: Field,
        cases: BTreeMap<String, String>,
        default: String,
    },
    Hangup {
        prompt: Prompt,
    },
}

impl NodeKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Play { .. } => "play",
            NodeKind::Menu { .. } => "menu",
            NodeKind::Collect { .. } => "collect",
            NodeKind::Confirm { .. } => "confirm",
            NodeKind::Record { .. } => "record",
            NodeKind::Set { .. } => "set",
            NodeKind::CreateTicket { .. } => "create-ticket",
            NodeKind::LookupTicket { .. } => "lookup-ticket",
            NodeKind::Transfer { .. } => "transfer",
            NodeKind::Hours { .. } => "hours",
            NodeKind::Branch { .. } => "branch",
            NodeKind::Hangup { .. } => "hangup",
        }
    }

    /// Every node this one can lead to, as (label, node), for the graph
    /// and the reachability check.
    pub fn edges(&self) -> Vec<(String, String)> {
        let wait_edges = |w: &Wait, out: &mut Vec<(String, String)>| {
            out.push(("timeout".into(), w.on_timeout.clone()));
            out.push(("invalid".into(), w.on_failure.clone()));
        };
        let mut out: Vec<(String, String)> = Vec::new();
        match self {
            NodeKind::Play { next, .. }
            | NodeKind::Record { next, .. }
            | NodeKind::Set { next, .. } => out.push((String::new(), next.clone())),
            NodeKind::CreateTicket { next, on_failure } => {
                out.push((String::new(), next.clone()));
                if let Some(failure) = on_failure {
                    out.push(("failure".into(), failure.clone()));
                }
            }
            NodeKind::Menu { wait, keys, .. } => {
                for (k, n) in keys {
                    out.push((k.as_char().to_string(), n.clone()));
                }
                wait_edges(wait, &mut out);
            }
            NodeKind::Collect {
                wait,
                special,
                next,
                ..
            } => {
                out.push(("digits".into(), next.clone()));
                for (k, n) in special {
                    out.push((k.as_char().to_string(), n.clone()));
                }
                wait_edges(wait, &mut out);
            }
            NodeKind::Confirm {
                wait,
                next,
                reenter,
            } => {
                out.push(("1".into(), next.clone()));
                out.push(("2".into(), reenter.clone()));
                wait_edges(wait, &mut out);
            }
            NodeKind::LookupTicket { found, not_found } => {
                out.push(("found".into(), found.clone()));
                out.push(("not found".into(), not_found.clone()));
            }
            NodeKind::Transfer { fallback, .. } => out.push(("failed".into(), fallback.clone())),
            NodeKind::Hours { open, closed } => {
                out.push(("open".into(), open.clone()));
                out.push(("closed".into(), closed.clone()));
            }
            NodeKind::Branch { cases, default, .. } => {
                for (v, n) in cases {
                    out.push((format!("={v}"), n.clone()));
                }
                out.push(("else".into(), default.clone()));
            }
            NodeKind::Hangup { .. } => {}
        }
        out
    }
}

/// A value a `set` node gives a ticket field, parsed when the menu loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Kind(TicketKind),
    Matter(Matter),
    PriorityGroup(PriorityGroup),
    Language(Language),
    Document(hotline_domain::Document),
    HardshipBasis(hotline_domain::HardshipBasis),
    /// A limitation rule id (lower-case words joined by `-`); ticketing
    /// checks it against its rule table.
    Rule(String),
    /// `yes` or `no`.
    Flag(bool),
}

/// The facts a call gathers, by the names used in menu files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Kind,
    Matter,
    Preservation,
    PriorityGroup,
    HardshipWaived,
    HardshipBasis,
    PledgeOffered,
    AdvanceEnforcement,
    Document,
    /// A limitation rule chosen by the menu (`work-injury-benefits`).
    Rule,
    HomeVisit,
    MediationPreferred,
    Language,
    EventDate,
    CallbackNumber,
    LookupNumber,
    /// Any digits, kept for the call only (test and survey menus).
    Digits,
    /// Read-only: "yes" when the caller's number is a usable callback number.
    CallerKnown,
    /// Read-only: the urgency ticketing returned.
    Urgency,
}

impl Field {
    pub const ALL: &'static [(&'static str, Field)] = &[
        ("kind", Field::Kind),
        ("matter", Field::Matter),
        ("preservation", Field::Preservation),
        ("priority_group", Field::PriorityGroup),
        ("hardship_waived", Field::HardshipWaived),
        ("hardship_basis", Field::HardshipBasis),
        ("pledge_offered", Field::PledgeOffered),
        ("advance_enforcement", Field::AdvanceEnforcement),
        ("document", Field::Document),
        ("rule", Field::Rule),
        ("home_visit", Field::HomeVisit),
        ("mediation_preferred", Field::MediationPreferred),
        ("language", Field::Language),
        ("event_date", Field::EventDate),
        ("callback_number", Field::CallbackNumber),
        ("lookup_number", Field::LookupNumber),
        ("digits", Field::Digits),
        ("caller_known", Field::CallerKnown),
        ("urgency", Field::Urgency),
    ];

    pub fn parse(name: &str) -> Option<Field> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Whether a `set` node may write it (the others come from the caller or ticketing).
    pub fn settable(self) -> bool {
        !matches!(
            self,
            Field::EventDate
                | Field::CallbackNumber
                | Field::LookupNumber
                | Field::Digits
                | Field::CallerKnown
                | Field::Urgency
        )
    }

    /// The validator a `collect` node must use for this field, if it can collect it.
    pub fn collector(self) -> Option<Validator> {
        match self {
            Field::EventDate => Some(Validator::Date),
            Field::CallbackNumber => Some(Validator::Phone),
            Field::LookupNumber => Some(Validator::TicketNumber),
            _ => None,
        }
    }

    /// Whether a `collect` node can fill it.
    pub fn collectable(self) -> bool {
        self.collector().is_some() || self == Field::Digits
    }
}

/// How collected digits are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    /// YYYYMMDD, a real date, not in the future.
    Date,
    /// A mainland mobile (`1[3-9]` + 9 digits) or a landline with area code.
    Phone,
    /// Ten digits with a valid check digit.
    TicketNumber,
}

impl Validator {
    pub fn parse(name: &str) -> Option<Validator> {
        match name {
            "date" => Some(Validator::Date),
            "phone" => Some(Validator::Phone),
            "ticket-number" => Some(Validator::TicketNumber),
            _ => None,
        }
    }
}

/// A legal-aid center: which calls reach it and when it is open.
#[derive(Debug, Clone)]
pub struct Center {
    pub id: String,
    /// GB/T 2260 division code given to its tickets.
    pub region: Option<RegionCode>,
    /// Request-URI users (called numbers) that reach it; empty with no
    /// sources means "every call not matched elsewhere".
    pub called: Vec<String>,
    /// Trunk source addresses (IP) that reach it.
    pub sources: Vec<std::net::IpAddr>,
    /// Opening hours on working days and on rest days (weekends, holidays).
    pub working_day_hours: Vec<(NaiveTime, NaiveTime)>,
    pub rest_day_hours: Vec<(NaiveTime, NaiveTime)>,
}

impl Menu {
    /// The limitation rules set nodes choose, with their node and line:
    /// ticketing must know each one, or the requests that carry it are
    /// refused.
    pub fn chosen_rules(&self) -> Vec<(&str, usize, &str)> {
        let mut out = Vec::new();
        for node in self.nodes.values() {
            if let NodeKind::Set { values, .. } = &node.kind {
                for (_, value) in values {
                    if let FieldValue::Rule(rule) = value {
                        out.push((node.id.as_str(), node.line, rule.as_str()));
                    }
                }
            }
        }
        out
    }

    /// The center a call belongs to: by called number, then by trunk
    /// source, then the first center with neither (the default).
    pub fn center_for(&self, called: &str, source: std::net::IpAddr) -> Option<&Center> {
        self.centers
            .iter()
            .find(|c| c.called.iter().any(|n| n == called))
            .or_else(|| self.centers.iter().find(|c| c.sources.contains(&source)))
            .or_else(|| {
                self.centers
                    .iter()
                    .find(|c| c.called.is_empty() && c.sources.is_empty())
            })
    }

    pub fn center(&self, id: &str) -> Option<&Center> {
        self.centers.iter().find(|c| c.id == id)
    }
}

impl Center {
    /// Whether the center is open at `at` (Asia/Shanghai wall time): working
    /// days (make-up working days included) use the working-day hours, rest
    /// days and public holidays the rest-day hours.
    pub fn is_open(
        &self,
        at: chrono::NaiveDateTime,
        calendar: &hotline_domain::calendar::HolidayCalendar,
    ) -> bool {
        let hours = if calendar.day(at.date()).working {
            &self.working_day_hours
        } else {
            &self.rest_day_hours
        };
        let time = at.time();
        hours.iter().any(|(from, to)| *from <= time && time < *to)
    }
}
