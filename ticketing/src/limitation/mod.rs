//! Limitation deadlines and urgency (Legal Aid Law art. 44): for a matter or
//! rule and an event date, the last day to act, the days left, the urgency,
//! and the articles the answer rests on. Nothing about deadlines lives
//! anywhere else; the holiday calendar comes from the domain crate.

pub mod rules;

use chrono::{Datelike, Days, Months, NaiveDate};
use hotline_domain::{Document, HolidayCalendar, Matter, Urgency};
use serde::Serialize;

pub use rules::{Period, Rule, RuleFileError, RuleTable};

/// Days-left thresholds (policy settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Thresholds {
    /// Fewer days left than this is `critical` (art. 44: fewer than 7).
    pub critical_below_days: i64,
    /// Fewer days left than this is `urgent`.
    pub urgent_below_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            critical_below_days: 7,
            urgent_below_days: 30,
        }
    }
}

/// What the deadline is computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    Matter(Matter),
    Rule(&'a str),
    /// A document the caller received (its receipt date is the event
    /// date), with the matter when known: some matters map documents to
    /// rules of their own.
    Document(Document, Option<Matter>),
}

/// What a ticket's deadline is computed from.
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketFacts<'a> {
    pub matter: Option<Matter>,
    pub document: Option<Document>,
    /// A rule chosen by id (by the menu or a correction); it decides over
    /// the document's and the matter's.
    pub rule: Option<&'a str>,
    pub event_date: Option<NaiveDate>,
    /// Preservation or advance enforcement is needed.
    pub preservation: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitationError {
    #[error("unknown rule `{0}`; `hotline limitation --list` shows the rules")]
    UnknownRule(String),
    #[error("the rule table maps no rule to the document `{0}`")]
    UnmappedDocument(Document),
    #[error("the event date {event} is after today ({today})")]
    FutureEvent { event: NaiveDate, today: NaiveDate },
    #[error("the event date {0} is out of the supported range (1900 to 2200)")]
    OutOfRange(NaiveDate),
}

/// One rule's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub rule: String,
    pub legal_basis: String,
    pub period: String,
    /// The period's plain last day, before moving past holidays.
    pub last_day: Option<NaiveDate>,
    pub deadline: Option<NaiveDate>,
    pub days_left: Option<i64>,
}

/// The answer, with every candidate rule and the warnings a lawyer must see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub deadline: Option<NaiveDate>,
    pub days_left: Option<i64>,
    pub urgency: Urgency,
    /// The rule whose deadline decides.
    pub rule: String,
    pub legal_basis: String,
    pub candidates: Vec<Candidate>,
    pub warnings: Vec<String>,
}

/// What a ticket keeps of an assessment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketUrgency {
    pub urgency: Urgency,
    pub deadline: Option<NaiveDate>,
    pub rule: Option<String>,
    pub warnings: Vec<String>,
}

/// The limitation calculator: a rule table, a holiday calendar, thresholds.
#[derive(Debug, Clone)]
pub struct Limitation {
    rules: RuleTable,
    calendar: HolidayCalendar,
    thresholds: Thresholds,
}

/// Event dates outside this range are refused, so arithmetic never overflows.
const MIN_YEAR: i32 = 1900;
const MAX_YEAR: i32 = 2200;

impl Limitation {
    pub fn new(rules: RuleTable, calendar: HolidayCalendar, thresholds: Thresholds) -> Self {
        Self {
            rules,
            calendar,
            thresholds,
        }
    }

    /// The bundled rules and calendar with the default thresholds.
    pub fn bundled() -> Result<Self, String> {
        Ok(Self::new(
            RuleTable::bundled().map_err(|e| e.to_string())?,
            HolidayCalendar::bundled().map_err(|e| e.to_string())?,
            Thresholds::default(),
        ))
    }

    pub fn rules(&self) -> &RuleTable {
        &self.rules
    }

    pub fn calendar(&self) -> &HolidayCalendar {
        &self.calendar
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Assesses a claim. `event_date` is `None` when the caller does not know
    /// it (or, for unpaid wages, is still employed).
    pub fn assess(
        &self,
        selection: Selection<'_>,
        event_date: Option<NaiveDate>,
        today: NaiveDate,
        preservation: bool,
    ) -> Result<Assessment, LimitationError> {
        let rules: Vec<&Rule> = match selection {
            Selection::Matter(m) => self.rules.for_matter(m),
            Selection::Rule(id) => vec![self
                .rules
                .rule(id)
                .ok_or_else(|| LimitationError::UnknownRule(id.chars().take(64).collect()))?],
            Selection::Document(d, matter) => self
                .rules
                .for_document(d, matter)
                .ok_or(LimitationError::UnmappedDocument(d))?,
        };
        let mut warnings = Vec::new();
        if let Some(event) = event_date {
            if !(MIN_YEAR..=MAX_YEAR).contains(&event.year()) {
                return Err(LimitationError::OutOfRange(event));
            }
            if event > today {
                return Err(LimitationError::FutureEvent { event, today });
            }
        }

        let mut candidates = Vec::new();
        for rule in &rules {
            let mut candidate = Candidate {
                rule: rule.id.clone(),
                legal_basis: rule.legal_basis.clone(),
                period: rule.period.to_string(),
                last_day: None,
                deadline: None,
                days_left: None,
            };
            if let Some(last_day) = event_date.and_then(|e| last_day(rule.period, e)) {
                let (deadline, covered) = self
                    .calendar
                    .first_working_day_from(last_day)
                    .unwrap_or((last_day, false));
                if !covered {
                    warnings.push(format!(
                        "the holiday calendar has no {}: the deadline under {} was computed with weekends only",
                        last_day.year(),
                        rule.id
                    ));
                }
                if deadline != last_day {
                    let why = self.calendar.holiday(last_day).unwrap_or("a rest day");
                    warnings.push(format!(
                        "the last day {last_day} under {} falls on {why}; it moves to the next working day, {deadline}",
                        rule.id
                    ));
                }
                candidate.last_day = Some(last_day);
                candidate.deadline = Some(deadline);
                candidate.days_left = Some((deadline - today).num_days());
            }
            candidates.push(candidate);
            if let Some(w) = &rule.warning {
                warnings.push(w.clone());
            }
        }

        // The earliest deadline not yet passed decides; if all have passed,
        // the latest of them (the one that passed most recently).
        let dated = || candidates.iter().filter(|c| c.deadline.is_some());
        let decisive = dated()
            .filter(|c| c.days_left >= Some(0))
            .min_by_key(|c| c.deadline)
            .or_else(|| dated().max_by_key(|c| c.deadline))
            .or_else(|| candidates.first());
        let (rule, legal_basis, deadline, days_left) = match decisive {
            Some(c) => (
                c.rule.clone(),
                c.legal_basis.clone(),
                c.deadline,
                c.days_left,
            ),
            None => (String::new(), String::new(), None, None),
        };

        let decisive_rule = rules.iter().find(|r| r.id == rule);
        if let (Some(r), Some(deadline)) = (decisive_rule, deadline) {
            // The event date is when the caller learned of the harm; the
            // harm itself may be older, and art. 188 ends every civil claim
            // 20 years after it.
            if let Some(before) = r
                .civil
                .then(|| deadline.checked_sub_months(Months::new(240)))
            {
                let before = before.map_or_else(|| "-".to_owned(), |d| d.to_string());
                warnings.push(format!(
                    "a civil claim ends 20 years after the harm itself (Civil Code art. 188): if the harm happened before {before}, the claim ended earlier"
                ));
            }
        }
        let document_date_unknown =
            matches!(selection, Selection::Document(..)) && event_date.is_none();
        let has_period = rules.iter().any(|r| r.period != Period::None);
        if !has_period {
            warnings.push(format!("no limitation period applies ({legal_basis})"));
        } else if document_date_unknown {
            let periods: Vec<String> = rules.iter().map(|r| r.period.to_string()).collect();
            warnings.push(format!(
                "the document's receipt date is unknown: its period ({}) may be about to end, so the case is treated as about to expire; ask for the date at once",
                periods.join(" or ")
            ));
        } else if event_date.is_none() {
            warnings.push(
                "the event date is unknown, so no deadline was computed; ask for it at the callback"
                    .to_owned(),
            );
            if selection == Selection::Matter(Matter::LaborWages) {
                warnings.push(
                    "for unpaid wages the period runs from the end of employment; while the caller is still employed it has not started (Labour Dispute Mediation and Arbitration Law art. 27)"
                        .to_owned(),
                );
            }
        }
        let short_period = rules.iter().any(|r| r.period.at_most_a_year());
        let urgency = classify(
            preservation || (document_date_unknown && has_period),
            days_left,
            short_period,
            has_period,
            self.thresholds,
        );
        if days_left.is_some_and(|d| d < 0) {
            if let Some(r) = decisive_rule {
                warnings.push(r.if_expired.clone());
            }
        }
        Ok(Assessment {
            deadline,
            days_left,
            urgency,
            rule,
            legal_basis,
            candidates,
            warnings,
        })
    }

    /// What a ticket stores: the assessment of its facts on `today`. The
    /// chosen rule decides over the document, the document over the matter.
    /// A ticket with none of them has no deadline; preservation still makes
    /// it critical. Never fails: an impossible date or rule (refused at the
    /// API edge) yields no deadline and a warning.
    pub fn assess_ticket(&self, facts: TicketFacts<'_>, today: NaiveDate) -> TicketUrgency {
        let selection = match (facts.rule, facts.document, facts.matter) {
            (Some(rule), _, _) => Selection::Rule(rule),
            (None, Some(d), m) if self.rules.for_document(d, m).is_some() => {
                Selection::Document(d, m)
            }
            (None, _, Some(m)) => Selection::Matter(m),
            (None, _, None) => {
                return TicketUrgency {
                    urgency: classify(facts.preservation, None, false, false, self.thresholds),
                    deadline: None,
                    rule: None,
                    warnings: vec!["no matter yet, so no limitation deadline".to_owned()],
                };
            }
        };
        match self.assess(selection, facts.event_date, today, facts.preservation) {
            Ok(a) => TicketUrgency {
                urgency: a.urgency,
                deadline: a.deadline,
                rule: (!a.rule.is_empty()).then_some(a.rule),
                warnings: a.warnings,
            },
            Err(e) => TicketUrgency {
                urgency: classify(facts.preservation, None, true, true, self.thresholds),
                deadline: None,
                rule: None,
                warnings: vec![format!("no deadline computed: {e}")],
            },
        }
    }

    /// Legal Aid Law art. 43: a decision is due 7 days after the application.
    pub fn decision_due(&self, applied: NaiveDate) -> NaiveDate {
        self.day_period_end(applied, 7)
    }

    /// Legal Aid Law art. 43: a lawyer is assigned within 3 days of the decision.
    pub fn assignment_due(&self, accepted: NaiveDate) -> NaiveDate {
        self.day_period_end(accepted, 3)
    }

    fn day_period_end(&self, start: NaiveDate, days: u32) -> NaiveDate {
        let last = last_day(Period::Days(days), start).unwrap_or(start);
        self.calendar
            .first_working_day_from(last)
            .map_or(last, |(d, _)| d)
    }
}

/// The plain last day of a period that runs from `event` (Civil Code arts.
/// 200–202): the event day is not counted, so a day period ends `n` days
/// later; a month or year period ends on the corresponding day of the final
/// month, or on its last day when there is no such day (chrono clamps).
pub fn last_day(period: Period, event: NaiveDate) -> Option<NaiveDate> {
    match period {
        Period::Days(n) => event.checked_add_days(Days::new(u64::from(n))),
        Period::Months(n) => event.checked_add_months(Months::new(n)),
        Period::Years(n) => event.checked_add_months(Months::new(n.checked_mul(12)?)),
        Period::None => None,
    }
}

/// The design's order: preservation, then expired, then by days left; with
/// no deadline, a period of a year or less is urgent.
pub fn classify(
    preservation: bool,
    days_left: Option<i64>,
    short_period: bool,
    has_period: bool,
    t: Thresholds,
) -> Urgency {
    if preservation {
        return Urgency::Critical;
    }
    match days_left {
        Some(d) if d < 0 => Urgency::Expired,
        Some(d) if d < t.critical_below_days => Urgency::Critical,
        Some(d) if d < t.urgent_below_days => Urgency::Urgent,
        Some(_) => Urgency::Normal,
        None if has_period && short_period => Urgency::Urgent,
        None => Urgency::Normal,
    }
}
