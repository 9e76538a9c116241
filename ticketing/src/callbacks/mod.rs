//! Callbacks (回电): the tickets whose callers wait for the centre to call
//! them back, by when, and what came of each attempt. Pure: the store
//! keeps the due time and the attempts; these functions decide them from
//! `now`, the centre's business hours and the holiday calendar.
//!
//! - The first callback is due, counted in business hours on working days:
//!   for a critical ticket within 30 minutes of business time, for an
//!   urgent one by the end of the working day, for the others by the end of
//!   the second working day (settings).
//! - A failed attempt (no answer, busy, wrong number, a message left) makes
//!   the next one due by the end of the next business half-day, so that
//!   attempts fall on different half-days; after failures on three
//!   different half-days the ticket is flagged for a supervisor and no
//!   further attempt is due. An answered call ends the callback.

pub mod bridge;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use hotline_domain::{HolidayCalendar, Urgency};

/// What came of one attempt to call a caller back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackOutcome {
    Answered,
    NoAnswer,
    Busy,
    WrongNumber,
    MessageLeft,
}

impl CallbackOutcome {
    pub const ALL: [CallbackOutcome; 5] = [
        CallbackOutcome::Answered,
        CallbackOutcome::NoAnswer,
        CallbackOutcome::Busy,
        CallbackOutcome::WrongNumber,
        CallbackOutcome::MessageLeft,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallbackOutcome::Answered => "answered",
            CallbackOutcome::NoAnswer => "no-answer",
            CallbackOutcome::Busy => "busy",
            CallbackOutcome::WrongNumber => "wrong-number",
            CallbackOutcome::MessageLeft => "message-left",
        }
    }

    /// The outcome named `text`; the error lists the names.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|o| o.as_str()).collect();
                format!("`{text}` is not an outcome ({})", names.join(", "))
            })
    }

    /// Whether the caller was reached.
    pub fn reached(self) -> bool {
        self == CallbackOutcome::Answered
    }
}

/// One attempt to call a caller back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAttempt {
    pub at: DateTime<Utc>,
    pub outcome: CallbackOutcome,
    pub note: String,
    pub actor: String,
}

/// A ticket whose caller waits for a call back, with its attempts.
#[derive(Debug, Clone)]
pub struct Callback {
    pub ticket: crate::tickets::Ticket,
    /// When the next attempt is due; `None` once the caller was reached or
    /// the ticket flagged.
    pub due_at: Option<DateTime<Utc>>,
    /// Not reached on three different half-days: for a supervisor.
    pub flagged: bool,
    pub attempts: Vec<CallbackAttempt>,
}

impl Callback {
    /// The number to call ([`number_to_call`]).
    pub fn phone(&self) -> Option<&hotline_domain::PhoneNumber> {
        number_to_call(
            self.ticket.callback_number.as_ref(),
            self.ticket.caller_number.as_ref(),
        )
    }
}

/// The number the centre calls back: the callback number the caller gave,
/// else the number they called from if it can be called (not an extension
/// or a trunk's placeholder); `None` when there is none.
pub fn number_to_call<'a>(
    callback: Option<&'a hotline_domain::PhoneNumber>,
    caller: Option<&'a hotline_domain::PhoneNumber>,
) -> Option<&'a hotline_domain::PhoneNumber> {
    callback.or(caller.filter(|n| n.is_callable()))
}

/// Which callbacks to list; `None` matches every one.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallbackFilter<'a> {
    pub center: Option<&'a str>,
    /// Tickets assigned to this lawyer.
    pub lawyer: Option<&'a str>,
    pub number: Option<&'a hotline_domain::TicketNumber>,
    /// Due by then (flagged ones are always listed).
    pub due_before: Option<DateTime<Utc>>,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextStep {
    /// When the next attempt is due; `None` when none is.
    pub due: Option<DateTime<Utc>>,
    /// The ticket goes to a supervisor.
    pub flag: bool,
}

/// The hour the morning half-day ends and the afternoon begins.
fn noon() -> NaiveTime {
    NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// Opening spans of a working day, in China Standard Time, in order and
/// not overlapping: `09:00-12:00,13:30-17:30`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours(Vec<(NaiveTime, NaiveTime)>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("business hours `{text}`: {reason} (expected spans like 09:00-12:00,13:30-17:30)")]
pub struct BadHours {
    pub text: String,
    pub reason: String,
}

impl Default for BusinessHours {
    fn default() -> Self {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
        Self(vec![(t(9, 0), t(12, 0)), (t(13, 30), t(17, 30))])
    }
}

impl FromStr for BusinessHours {
    type Err = BadHours;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| BadHours {
            text: text.to_owned(),
            reason,
        };
        let mut spans = Vec::new();
        for span in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (from, to) = span
                .split_once('-')
                .ok_or_else(|| bad(format!("`{span}` is not FROM-TO")))?;
            let time = |s: &str| {
                NaiveTime::parse_from_str(s.trim(), "%H:%M")
                    .map_err(|_| bad(format!("`{}` is not a time (HH:MM)", s.trim())))
            };
            let (from, to) = (time(from)?, time(to)?);
            if from >= to {
                return Err(bad(format!("`{span}` ends before it starts")));
            }
            if spans.last().is_some_and(|&(_, end)| from < end) {
                return Err(bad(format!(
                    "`{span}` overlaps or comes before the span before it"
                )));
            }
            spans.push((from, to));
        }
        if spans.is_empty() {
            return Err(bad("no opening span".to_owned()));
        }
        Ok(Self(spans))
    }
}

impl fmt::Display for BusinessHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spans: Vec<String> = self
            .0
            .iter()
            .map(|(a, b)| format!("{}-{}", a.format("%H:%M"), b.format("%H:%M")))
            .collect();
        f.write_str(&spans.join(","))
    }
}

impl serde::Serialize for BusinessHours {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for BusinessHours {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The callback settings (configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackPolicy {
    pub hours: BusinessHours,
    /// Business time within which a critical ticket's caller is called.
    pub critical_within: Duration,
    /// Working days within which a normal ticket's caller is called (the
    /// day of creation is the first, when it is created before closing).
    pub normal_working_days: u32,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        Self {
            hours: BusinessHours::default(),
            critical_within: Duration::minutes(30),
            normal_working_days: 2,
        }
    }
}

fn local(at: DateTime<Utc>) -> NaiveDateTime {
    at.with_timezone(&hotline_domain::shanghai()).naive_local()
}

fn instant(at: NaiveDateTime) -> DateTime<Utc> {
    match hotline_domain::shanghai().from_local_datetime(&at).single() {
        Some(t) => t.with_timezone(&Utc),
        // China Standard Time has no gaps or folds.
        None => Utc.from_utc_datetime(&at),
    }
}

/// The morning (`false`) or afternoon (`true`) of a local instant: the
/// unit "different half-days" counts in.
pub fn half_day(at: DateTime<Utc>) -> (NaiveDate, bool) {
    let t = local(at);
    (t.date(), t.time() >= noon())
}

/// The working days from `from` on (looking ten years ahead at most).
fn working_days(
    calendar: &HolidayCalendar,
    from: NaiveDate,
) -> impl Iterator<Item = NaiveDate> + '_ {
    from.iter_days()
        .take(3660)
        .filter(move |d| calendar.day(*d).working)
}

impl CallbackPolicy {
    /// The opening spans from `at` on, as local times: the rest of the
    /// span `at` is in, then every later span of every working day.
    fn spans_from<'a>(
        &'a self,
        calendar: &'a HolidayCalendar,
        at: NaiveDateTime,
    ) -> impl Iterator<Item = (NaiveDateTime, NaiveDateTime)> + 'a {
        working_days(calendar, at.date())
            .flat_map(move |day| {
                self.hours
                    .0
                    .iter()
                    .map(move |&(a, b)| (day.and_time(a), day.and_time(b)))
            })
            .filter(move |&(_, end)| end > at)
            .map(move |(start, end)| (start.max(at), end))
    }

    /// `business` of opening time after `at`.
    fn after_business_time(
        &self,
        calendar: &HolidayCalendar,
        at: NaiveDateTime,
        business: Duration,
    ) -> Option<NaiveDateTime> {
        let mut left = business;
        for (start, end) in self.spans_from(calendar, at) {
            if end - start >= left {
                return Some(start + left);
            }
            left -= end - start;
        }
        None
    }

    /// The close of the `n`th working day (1 = the first) counted from the
    /// first span that is still open at or after `at`.
    fn close_of_working_day(
        &self,
        calendar: &HolidayCalendar,
        at: NaiveDateTime,
        n: u32,
    ) -> Option<NaiveDateTime> {
        let close = self.hours.0.last()?.1;
        let first = self.spans_from(calendar, at).next()?.0.date();
        working_days(calendar, first)
            .nth(n.max(1) as usize - 1)
            .map(|d| d.and_time(close))
    }

    /// When the first callback of a ticket of `urgency` created at
    /// `created` is due. `None` only when the calendar runs out.
    pub fn first_due(
        &self,
        urgency: Option<Urgency>,
        created: DateTime<Utc>,
        calendar: &HolidayCalendar,
    ) -> Option<DateTime<Utc>> {
        let at = local(created);
        let due = match urgency {
            Some(Urgency::Critical) => self.after_business_time(calendar, at, self.critical_within),
            // Expired is routed and spoken like urgent: the caller may
            // still have a remedy, and should hear so today.
            Some(Urgency::Urgent | Urgency::Expired) => self.close_of_working_day(calendar, at, 1),
            _ => self.close_of_working_day(calendar, at, self.normal_working_days),
        };
        due.map(instant)
    }

    /// When the next attempt is due after one that failed at `failed_at`:
    /// the end of the next business half-day after the one it fell in.
    /// Opening spans are cut at noon into half-days, so a span across
    /// noon (08:30-17:30) has a morning and an afternoon like two spans.
    pub fn next_due(
        &self,
        failed_at: DateTime<Utc>,
        calendar: &HolidayCalendar,
    ) -> Option<DateTime<Utc>> {
        let at = local(failed_at);
        let failed_half = (at.date(), at.time() >= noon());
        let pieces = |day: NaiveDate| {
            self.hours.0.iter().flat_map(move |&(a, b)| {
                let am = (a < noon())
                    .then(|| (day, false, day.and_time(a), day.and_time(b.min(noon()))));
                let pm =
                    (b > noon()).then(|| (day, true, day.and_time(a.max(noon())), day.and_time(b)));
                am.into_iter().chain(pm)
            })
        };
        // The first half-day with opening time after the failed one's.
        let (day, pm) = working_days(calendar, at.date())
            .flat_map(pieces)
            .find(|&(day, pm, _, end)| (day, pm) > failed_half && end > at)
            .map(|(day, pm, _, _)| (day, pm))?;
        pieces(day)
            .filter(|&(_, p, _, _)| p == pm)
            .map(|(_, _, _, end)| end)
            .max()
            .map(instant)
    }
}

impl CallbackPolicy {
    /// What follows failed attempts at `failures` (the last one now), the
    /// next attempt having been due at `due`: failures on three different
    /// half-days go to a supervisor; otherwise the next attempt is due by
    /// the end of the next business half-day, or at `due` if that is later
    /// (a failure never makes a callback more pressing).
    pub fn after_failures(
        &self,
        failures: &[DateTime<Utc>],
        due: Option<DateTime<Utc>>,
        calendar: &HolidayCalendar,
    ) -> NextStep {
        if needs_supervisor(failures) {
            return NextStep {
                due: None,
                flag: true,
            };
        }
        let next = failures.last().and_then(|t| self.next_due(*t, calendar));
        NextStep {
            due: next.max(due),
            flag: false,
        }
    }
}

/// Whether failed attempts at these times call for a supervisor: failures
/// on three different half-days.
pub fn needs_supervisor(failures: &[DateTime<Utc>]) -> bool {
    let mut halves: Vec<_> = failures.iter().map(|t| half_day(*t)).collect();
    halves.sort();
    halves.dedup();
    halves.len() >= 3
}

#[cfg(test)]
mod tests;
