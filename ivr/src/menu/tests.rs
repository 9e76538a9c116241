//! The default 12348 flow, every branch, timeout and retry, driven by hand:
//! no audio, no sockets, no sleeping — the clock is a variable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use hotline_domain::{HolidayCalendar, Matter, PhoneNumber, TicketKind, TicketNumber, Urgency};

use super::flow::{Action, CallInfo, Flow, FlowEvent, Input, TicketCreated, TicketDraft};
use super::load::{parse, PromptCheck};
use super::Menu;
use crate::keypad::Digit;

use super::DEFAULT_MENU;

fn menu() -> Arc<Menu> {
    Arc::new(parse(DEFAULT_MENU, "12348.toml", PromptCheck::Skip).expect("default menu is valid"))
}

/// A Saturday afternoon (closed) unless a test says otherwise.
fn saturday() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 28)
        .unwrap()
        .and_hms_opt(15, 0, 0)
        .unwrap()
}

struct Call {
    flow: Flow,
    now: Instant,
    actions: Vec<Action>,
}

impl Call {
    fn start(caller: Option<&str>) -> Self {
        Self::start_at(caller, saturday())
    }

    fn start_at(caller: Option<&str>, at: NaiveDateTime) -> Self {
        let now = Instant::now();
        let info = CallInfo {
            caller: caller.map(|c| PhoneNumber::parse(c).unwrap()),
            center: "default".into(),
            region: None,
            started_local: at,
        };
        let calendar = Arc::new(HolidayCalendar::bundled().unwrap());
        let flow = Flow::new(menu(), calendar, info, now);
        let mut call = Self {
            flow,
            now,
            actions: Vec::new(),
        };
        call.drain();
        call
    }

    fn drain(&mut self) -> Vec<Action> {
        let mut new = Vec::new();
        while let Some(a) = self.flow.poll_output() {
            new.push(a);
        }
        self.actions.extend(new.iter().cloned());
        new
    }

    /// The prompt names of the last Play action.
    fn last_played(&self) -> Vec<String> {
        self.actions
            .iter()
            .rev()
            .find_map(|a| match a {
                Action::Play(p) => Some(p.iter().map(|(l, n)| format!("{l}/{n}")).collect()),
                _ => None,
            })
            .unwrap_or_default()
    }

    fn finish_prompt(&mut self) -> Vec<Action> {
        self.now += Duration::from_millis(100);
        self.flow.handle_input(self.now, Input::PlaybackFinished);
        self.drain()
    }

    fn keys(&mut self, keys: &str) -> Vec<Action> {
        let mut out = Vec::new();
        for c in keys.chars() {
            self.now += Duration::from_millis(150);
            self.flow
                .handle_input(self.now, Input::Digit(Digit::from_char(c).unwrap()));
            out.extend(self.drain());
        }
        out
    }

    /// Listens to the prompt to its end, then presses keys.
    fn answer(&mut self, keys: &str) -> Vec<Action> {
        self.finish_prompt();
        self.keys(keys)
    }

    /// Moves the clock, firing the flow's timer if it is due.
    fn wait(&mut self, d: Duration) -> Vec<Action> {
        self.now += d;
        if self.flow.poll_timeout().is_some_and(|t| t <= self.now) {
            self.flow.handle_timeout(self.now);
        }
        self.drain()
    }

    fn created(&self) -> Option<TicketDraft> {
        self.actions.iter().find_map(|a| match a {
            Action::CreateTicket(d) => Some(d.clone()),
            _ => None,
        })
    }

    fn count(&self, want: &Action) -> usize {
        self.actions.iter().filter(|a| *a == want).count()
    }

    /// After "consultation": matter other, no document, date unknown, no
    /// preservation; the call back is next.
    fn consultation_questions(&mut self) {
        self.answer("9");
        self.answer("9");
        self.answer("*");
        self.answer("9");
    }
}

fn date_digits(days_ago: i64) -> (String, NaiveDate) {
    let d = saturday().date() - chrono::Duration::days(days_ago);
    (d.format("%Y%m%d").to_string(), d)
}

fn ticket(urgency: Option<Urgency>) -> TicketCreated {
    TicketCreated {
        number: TicketNumber::parse("1234567897")
            .unwrap_or_else(|_| TicketNumber::random(&mut rand::rng())),
        urgency,
    }
}

#[test]
fn application_for_a_termination_walks_every_question_and_reads_the_number() {
    let mut c = Call::start(Some("13812345678"));
    assert_eq!(c.flow.node(), "welcome");
    assert_eq!(
        c.last_played(),
        ["zh/welcome", "zh/choose-language", "en/choose-english"]
    );
    c.answer("1"); // Mandarin
    assert_eq!(c.flow.node(), "main");
    assert_eq!(c.last_played(), ["zh/main-menu"]);
    c.answer("1"); // legal aid
    c.answer("1"); // labour
    c.answer("2"); // termination
    assert_eq!(c.flow.node(), "document");
    assert_eq!(c.last_played(), ["zh/document-menu"]);
    c.answer("9"); // no document
    assert_eq!(c.flow.node(), "date-termination");
    // The "still employed" hint belongs to the wage question only.
    assert_eq!(c.last_played(), ["zh/date-termination", "zh/date-how"]);
    let (digits, date) = date_digits(350);
    c.answer(&format!("{digits}#"));
    assert_eq!(c.flow.node(), "date-confirm");
    let played = c.last_played();
    assert_eq!(played.first().map(String::as_str), Some("zh/you-entered"));
    assert!(played.contains(&"zh/word-year".to_string()), "{played:?}");
    c.answer("1"); // confirm
    assert_eq!(c.flow.node(), "preservation");
    c.answer("9"); // neither preservation nor advance enforcement
    assert_eq!(c.flow.node(), "group");
    c.answer("9"); // none
    assert_eq!(c.flow.node(), "home-visit");
    c.answer("2"); // no home visit
    assert_eq!(c.flow.node(), "pledge");
    c.answer("1"); // pledge
    assert_eq!(c.flow.node(), "callback-confirm");
    assert_eq!(
        c.last_played(),
        [
            "zh/callback-ending",
            "zh/digit-5",
            "zh/digit-6",
            "zh/digit-7",
            "zh/digit-8",
            "zh/confirm-or-change"
        ]
    );
    c.answer("1");
    assert_eq!(c.flow.node(), "message");
    let after_prompt = c.finish_prompt();
    assert!(after_prompt.contains(&Action::StartRecording {
        end_on_silence: Some(Duration::from_secs(5))
    }));
    let end = c.keys("#");
    assert!(end.contains(&Action::StopRecording));
    let draft = c.created().expect("a ticket is asked for");
    assert_eq!(draft.kind.map(|k| k.as_str()), Some("application"));
    assert_eq!(draft.matter.map(|m| m.as_str()), Some("labor-termination"));
    assert_eq!(draft.event_date, Some(date));
    assert!(!draft.preservation && !draft.advance_enforcement);
    assert_eq!(draft.document, None);
    assert_eq!(draft.priority_group.map(|g| g.as_str()), Some("none"));
    assert!(draft.pledge_offered && !draft.hardship_waived && !draft.home_visit);
    assert_eq!(
        draft.callback_number.as_ref().map(|n| n.as_str()),
        Some("13812345678")
    );
    assert_eq!(draft.language.as_str(), "zh");
    assert!(draft.has_message);

    let t = ticket(Some(Urgency::Urgent));
    c.flow.handle_input(c.now, Input::TicketCreated(t.clone()));
    c.drain();
    let played = c.last_played();
    let digits: Vec<String> = t
        .number
        .as_str()
        .chars()
        .map(|d| format!("zh/digit-{d}"))
        .collect();
    assert_eq!(played[0], "zh/your-ticket-number");
    assert_eq!(played[1..11], digits[..]);
    assert_eq!(played[11], "zh/next-step-urgent");
    // `*` repeats, then silence says goodbye and hangs up.
    c.answer("*");
    assert_eq!(c.last_played()[1..11], digits[..]);
    c.finish_prompt();
    c.wait(Duration::from_secs(8));
    assert_eq!(c.last_played(), ["zh/goodbye"]);
    let end = c.finish_prompt();
    assert!(end.contains(&Action::Hangup));
    assert!(c.flow.is_done());
}

#[test]
fn green_channel_skips_the_group_and_pledge_and_preservation_makes_it_critical_on_the_phone() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("1");
    c.answer("3");
    assert_eq!(c.flow.node(), "document");
    c.answer("9");
    assert_eq!(c.flow.node(), "date-wages");
    assert_eq!(c.last_played(), ["zh/date-wages", "zh/date-how-wages"]);
    c.answer("*"); // still employed / don't know
    assert_eq!(c.flow.node(), "preservation");
    c.answer("1");
    assert_eq!(c.flow.node(), "callback-confirm");
    c.answer("1");
    c.finish_prompt();
    c.keys("#");
    let draft = c.created().unwrap();
    assert_eq!(draft.matter.map(|m| m.as_str()), Some("labor-wages"));
    assert_eq!(
        draft.priority_group.map(|g| g.as_str()),
        Some("migrant-worker")
    );
    assert!(draft.hardship_waived && draft.preservation);
    assert_eq!(
        draft.hardship_basis,
        Some(hotline_domain::HardshipBasis::Art42MigrantWorkers)
    );
    assert_eq!(draft.event_date, None);
    c.flow
        .handle_input(c.now, Input::TicketCreated(ticket(Some(Urgency::Critical))));
    c.drain();
    assert_eq!(c.last_played()[11], "zh/next-step-critical");
}

#[test]
fn a_judgment_received_ten_days_ago_asks_its_receipt_date_not_the_event_date() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("1"); // Mandarin
    c.answer("1"); // legal aid
    c.answer("1"); // labour
    c.answer("2"); // termination
    c.answer("1"); // a court judgment
    assert_eq!(c.flow.node(), "date-received");
    assert_eq!(c.last_played(), ["zh/date-received", "zh/date-how"]);
    let (digits, received) = date_digits(10);
    c.answer(&format!("{digits}#"));
    assert_eq!(c.flow.node(), "received-confirm");
    c.answer("2"); // enter it again
    assert_eq!(c.flow.node(), "date-received");
    c.answer(&format!("{digits}#"));
    c.answer("1"); // confirm
                   // The event-date question is skipped.
    assert_eq!(c.flow.node(), "preservation");
    c.answer("2"); // advance enforcement: wages must be paid now
    assert_eq!(c.flow.node(), "group");
    let draft = c.flow.draft();
    assert_eq!(draft.document, Some(hotline_domain::Document::Judgment));
    assert_eq!(draft.event_date, Some(received));
    assert!(draft.advance_enforcement && !draft.preservation);
}

#[test]
fn a_consultation_gets_the_document_and_urgency_questions_too() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("1");
    c.answer("2"); // consultation
    c.answer("1"); // labour
    c.answer("1"); // wages
    c.answer("3"); // an arbitral award, date unknown
    c.answer("*");
    assert_eq!(c.flow.node(), "preservation");
    c.answer("9");
    // No group or pledge questions for a consultation.
    assert_eq!(c.flow.node(), "callback-confirm");
    let draft = c.flow.draft();
    assert_eq!(draft.kind.map(|k| k.as_str()), Some("consultation"));
    assert_eq!(
        draft.document,
        Some(hotline_domain::Document::ArbitralAward)
    );
    assert_eq!(draft.event_date, None);
    c.answer("1");
    c.finish_prompt();
    c.keys("#");
    // Ticketing decides it is critical (an unknown receipt date): the
    // caller hears the critical next step, not the consultation one.
    c.flow
        .handle_input(c.now, Input::TicketCreated(ticket(Some(Urgency::Critical))));
    c.drain();
    assert_eq!(c.last_played()[11], "zh/next-step-critical");
}

#[test]
fn a_passed_period_is_not_announced_as_a_deadline_coming_soon() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("12");
    c.consultation_questions();
    c.answer("1");
    c.finish_prompt();
    c.keys("#");
    c.flow
        .handle_input(c.now, Input::TicketCreated(ticket(Some(Urgency::Expired))));
    c.drain();
    assert_eq!(c.last_played()[11], "zh/next-step-expired");
}

#[test]
fn work_injury_asks_whether_it_was_recognised() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("1");
    c.answer("1");
    c.answer("1");
    c.answer("3"); // work injury
    c.answer("9"); // no document
    assert_eq!(c.last_played(), ["zh/recognition-question"]);
    c.answer("1"); // recognised: the dispute is over benefits
    assert_eq!(c.flow.node(), "date-benefits");
    assert_eq!(c.flow.draft().rule.as_deref(), Some("work-injury-benefits"));
}

#[test]
fn every_one_key_question_of_the_default_menu_waits_eight_seconds() {
    for (id, node) in &menu().nodes {
        if let super::model::NodeKind::Menu { wait, .. }
        | super::model::NodeKind::Confirm { wait, .. } = &node.kind
        {
            assert!(
                wait.timeout >= Duration::from_secs(8),
                "node {id} waits {:?}",
                wait.timeout
            );
        }
    }
}

#[test]
fn a_waiver_is_recorded_only_where_the_law_gives_it() {
    // (matter keys, group key, waived, article, pledge asked)
    use hotline_domain::HardshipBasis::*;
    let cases: &[(
        &str,
        &str,
        bool,
        Option<hotline_domain::HardshipBasis>,
        bool,
    )] = &[
        ("11", "1", true, Some(Art42MigrantWorkers), false), // migrant, wages
        ("12", "1", false, None, true),                      // migrant, dismissal: no waiver
        ("2", "2", false, None, true),                       // disabled or elderly: income unknown
        ("2", "3", true, Some(Art42Assistance), false),      // military family
        ("2", "4", true, Some(Art42Assistance), false),      // subsistence allowance
        ("2", "5", false, None, true),                       // a minor: income unknown
        ("2", "6", true, Some(Art32), false),                // violence, family matter
        ("4", "6", false, None, true),                       // violence, a lease dispute
        ("2", "9", false, None, true),
    ];
    for (matter, group, waived, basis, pledge) in cases {
        let mut c = Call::start(Some("13812345678"));
        c.answer("1");
        c.answer("1");
        for k in matter.chars() {
            c.answer(&k.to_string());
        }
        c.answer("9"); // no document
        c.answer("*"); // date unknown (or none asked, for family: the key is ignored)
        if c.flow.node() == "preservation" {
            c.answer("9");
        }
        assert_eq!(c.flow.node(), "group", "{matter} {group}");
        c.answer(group);
        assert_eq!(c.flow.node(), "home-visit", "{matter} {group}");
        c.answer("2");
        assert_eq!(
            c.flow.node() == "pledge",
            *pledge,
            "{matter} {group}: at {}",
            c.flow.node()
        );
        let d = c.flow.draft();
        assert_eq!(
            (d.hardship_waived, d.hardship_basis),
            (*waived, *basis),
            "{matter} {group}"
        );
    }
}

#[test]
fn key_two_at_the_first_prompt_speaks_english_to_the_end() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("2");
    assert_eq!(c.flow.node(), "main");
    assert_eq!(c.last_played(), ["en/main-menu"]);
    c.answer("2"); // consultation
    assert_eq!(c.flow.node(), "matter");
    c.consultation_questions();
    c.answer("1");
    c.finish_prompt();
    c.keys("#");
    let draft = c.created().unwrap();
    assert_eq!(draft.language.as_str(), "en");
    assert_eq!(draft.kind.map(|k| k.as_str()), Some("consultation"));
    c.flow
        .handle_input(c.now, Input::TicketCreated(ticket(None)));
    c.drain();
    assert_eq!(c.last_played()[11], "en/next-step-consultation");
}

#[test]
fn no_key_within_eight_seconds_after_the_welcome_means_mandarin() {
    let mut c = Call::start(None);
    // The timeout only starts once the prompt has finished.
    assert!(c.flow.poll_timeout().is_none());
    c.wait(Duration::from_secs(30));
    assert_eq!(c.flow.node(), "welcome");
    c.finish_prompt();
    c.wait(Duration::from_millis(7900));
    assert_eq!(c.flow.node(), "welcome");
    c.wait(Duration::from_millis(200));
    assert_eq!(c.flow.node(), "main");
    assert_eq!(c.last_played(), ["zh/main-menu"]);
    assert!(c.count(&Action::Metric(FlowEvent::Timeout("welcome".into()))) == 1);
}

#[test]
fn a_key_during_a_prompt_stops_it_and_counts() {
    let mut c = Call::start(None);
    let out = c.keys("2");
    assert_eq!(out[0], Action::StopPlayback);
    assert_eq!(c.flow.node(), "main");
    assert_eq!(c.last_played(), ["en/main-menu"]);
}

#[test]
fn keys_pressed_fast_skip_the_prompts_they_answer() {
    let mut c = Call::start(None);
    // 1 (Mandarin), 1 (legal aid), 1 (labour) during the welcome prompt.
    c.keys("111");
    assert_eq!(c.flow.node(), "labor");
    assert_eq!(c.last_played(), ["zh/labor-menu"]);
}

#[test]
fn keys_typed_during_an_announcement_carry_over_to_the_next_node() {
    let mut c = Call::start(None);
    c.answer("14");
    let unknown = TicketNumber::random(&mut rand::rng());
    c.answer(&format!("{}#", unknown.as_str()));
    c.flow.handle_input(c.now, Input::Lookup(None));
    c.drain();
    assert_eq!(c.flow.node(), "not-found");
    // The caller types the next number while "not found" is still playing.
    let other = TicketNumber::random(&mut rand::rng());
    c.keys(&format!("{}#", other.as_str()));
    assert!(c.actions.contains(&Action::LookupTicket(other)));
    // The progress prompt was not played a second time.
    let prompts = c
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Play(p) if p.iter().any(|(_, n)| n == "progress-enter")))
        .count();
    assert_eq!(prompts, 1);
}

#[test]
fn an_invalid_key_clears_the_type_ahead_and_plays_the_short_prompt() {
    let mut c = Call::start(None);
    c.answer("1");
    // 7 is invalid in the main menu; the 1 typed after it must not count.
    c.keys("7");
    assert_eq!(c.last_played(), ["zh/invalid-key", "zh/main-menu"]);
    assert_eq!(c.flow.node(), "main");
    c.keys("7");
    c.keys("7");
    // Three invalid keys: the operator node, closed on a Saturday afternoon.
    assert_eq!(c.flow.node(), "operator-closed");
    assert_eq!(c.last_played(), ["zh/operator-closed"]);
    c.finish_prompt();
    assert_eq!(c.flow.node(), "callback-enter");
    assert_eq!(
        c.count(&Action::Metric(FlowEvent::Invalid("main".into()))),
        3
    );
}

#[test]
fn star_repeats_and_zero_reaches_the_operator_in_business_hours() {
    let monday = NaiveDate::from_ymd_opt(2026, 11, 30)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let mut c = Call::start_at(Some("13812345678"), monday);
    c.answer("1");
    c.answer("*");
    assert_eq!(c.last_played(), ["zh/main-menu"]);
    assert_eq!(c.flow.node(), "main");
    c.answer("0");
    // No transfer URI in the default menu: the caller leaves a message.
    assert_eq!(c.flow.node(), "operator-unavailable");
    assert!(c.actions.contains(&Action::Metric(FlowEvent::Entered(
        "operator-transfer".into()
    ))));
    c.finish_prompt();
    assert_eq!(c.flow.node(), "callback-confirm");
}

#[test]
fn a_holiday_is_closed_even_at_ten_in_the_morning() {
    let national_day = NaiveDate::from_ymd_opt(2026, 10, 1)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let mut c = Call::start_at(None, national_day);
    c.answer("1");
    c.answer("0");
    assert_eq!(c.flow.node(), "operator-closed");
}

#[test]
fn dates_in_the_future_or_not_real_are_refused_and_asked_again() {
    let mut c = Call::start(None);
    c.answer("1");
    c.answer("1");
    c.answer("3"); // personal injury
    c.answer("9"); // no document
    assert_eq!(c.flow.node(), "date-harm");
    c.answer("20261201#"); // after the call's date
    assert_eq!(c.last_played(), ["zh/invalid-date", "zh/date-how"]);
    c.answer("20250230#"); // no such day
    assert_eq!(c.flow.node(), "date-harm");
    c.answer("2025#"); // too short
    assert_eq!(
        c.count(&Action::Metric(FlowEvent::Invalid("date-harm".into()))),
        3
    );
    // After three tries the date stays unknown and the call goes on.
    assert_eq!(c.flow.node(), "preservation");
    assert_eq!(c.flow.draft().event_date, None);
}

#[test]
fn confirm_two_enters_the_date_again() {
    let mut c = Call::start(None);
    c.answer("111");
    c.keys("3"); // work injury
    c.answer("9"); // no document
    assert_eq!(c.flow.node(), "recognition");
    c.answer("2"); // not recognised yet
    c.answer("20260101#");
    assert_eq!(c.flow.node(), "date-confirm");
    c.answer("2");
    // The same question again (through the recognition question).
    assert_eq!(c.flow.node(), "recognition");
    c.answer("2");
    assert_eq!(c.flow.node(), "date-injury");
    c.answer("20260102#");
    c.answer("1");
    assert_eq!(
        c.flow.draft().event_date,
        NaiveDate::from_ymd_opt(2026, 1, 2)
    );
}

#[test]
fn digits_then_silence_are_taken_as_if_pound_was_pressed() {
    let mut c = Call::start(None);
    c.answer("1");
    c.answer("4");
    let number = TicketNumber::random(&mut rand::rng());
    c.answer(number.as_str());
    let out = c.wait(Duration::from_secs(7));
    assert!(out.contains(&Action::LookupTicket(number)));
}

#[test]
fn a_wrong_check_digit_is_refused_without_a_lookup() {
    let mut c = Call::start(None);
    c.answer("1");
    c.answer("4");
    let good = TicketNumber::random(&mut rand::rng());
    let mut bad = good.as_str().to_string();
    let last = bad.pop().unwrap();
    bad.push(if last == '9' {
        '0'
    } else {
        (last as u8 + 1) as char
    });
    c.answer(&format!("{bad}#"));
    assert_eq!(c.last_played(), ["zh/check-number", "zh/progress-enter"]);
    assert!(!c
        .actions
        .iter()
        .any(|a| matches!(a, Action::LookupTicket(_))));
    c.answer(&format!("{}#", good.as_str()));
    assert!(c.actions.contains(&Action::LookupTicket(good.clone())));
    c.flow
        .handle_input(c.now, Input::Lookup(Some("decision-pending".into())));
    c.drain();
    let played = c.last_played();
    assert_eq!(played[0], "zh/ticket-status");
    assert_eq!(played[11], "zh/status-decision-pending");
}

#[test]
fn an_unknown_number_says_so_and_asks_again() {
    let mut c = Call::start(None);
    c.answer("14");
    let n = TicketNumber::random(&mut rand::rng());
    c.answer(&format!("{}#", n.as_str()));
    c.flow.handle_input(c.now, Input::Lookup(None));
    c.drain();
    assert_eq!(c.flow.node(), "not-found");
    c.finish_prompt();
    assert_eq!(c.flow.node(), "progress");
}

#[test]
fn an_anonymous_caller_enters_a_number_which_must_be_a_real_phone_number() {
    let mut c = Call::start(None);
    c.answer("1");
    c.answer("2");
    c.consultation_questions();
    assert_eq!(c.flow.node(), "callback-enter");
    c.answer("12345678901#"); // not a mobile (12…)
    assert_eq!(c.last_played(), ["zh/invalid-phone", "zh/callback-enter"]);
    c.answer("01012345678#"); // Beijing landline
    assert_eq!(c.flow.node(), "message");
    assert_eq!(
        c.flow.draft().callback_number.as_ref().map(|n| n.as_str()),
        Some("01012345678")
    );
}

#[test]
fn a_caller_who_hangs_up_during_the_message_still_gets_a_ticket() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("12");
    c.consultation_questions();
    assert_eq!(c.flow.node(), "callback-confirm");
    c.answer("1");
    c.finish_prompt();
    c.now += Duration::from_secs(20);
    c.flow.handle_input(c.now, Input::HungUp);
    let out = c.drain();
    assert_eq!(out[0], Action::StopRecording);
    assert!(matches!(&out[1], Action::CreateTicket(d) if d.has_message));
    assert!(out.contains(&Action::Metric(FlowEvent::Abandoned("message".into()))));
}

#[test]
fn a_caller_who_hangs_up_after_choosing_a_service_is_a_callback_ticket() {
    // Mandarin, apply, a family matter, then gone in the document menu.
    let mut c = Call::start(Some("13812345678"));
    c.answer("112");
    assert_eq!(c.flow.node(), "document");
    c.flow.handle_input(c.now, Input::HungUp);
    c.drain();
    let draft = c.created().expect("a callback ticket");
    assert_eq!(draft.kind, Some(TicketKind::Callback));
    assert_eq!(draft.last_node.as_deref(), Some("document"));
    assert_eq!(draft.matter, Some(Matter::Family));
    assert_eq!(
        draft.caller_number.as_ref().map(|n| n.as_str()),
        Some("13812345678")
    );

    // Nobody to call back: counted in the node, no ticket.
    let mut c = Call::start(None);
    c.answer("112");
    c.flow.handle_input(c.now, Input::HungUp);
    c.drain();
    assert!(c.created().is_none());
    assert_eq!(
        c.count(&Action::Metric(FlowEvent::Unreachable("document".into()))),
        1
    );

    // Before choosing a service (the main menu): nothing to call back about.
    let mut c = Call::start(Some("13812345678"));
    c.answer("1");
    assert_eq!(c.flow.node(), "main");
    c.flow.handle_input(c.now, Input::HungUp);
    c.drain();
    assert!(c.created().is_none());
    assert_eq!(
        c.count(&Action::Metric(FlowEvent::Unreachable("main".into()))),
        0
    );
}

#[test]
fn the_message_ends_by_itself_after_two_minutes() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("12");
    c.consultation_questions();
    assert_eq!(c.flow.node(), "callback-confirm");
    c.answer("1");
    c.finish_prompt();
    let out = c.wait(Duration::from_secs(121));
    assert_eq!(out[0], Action::StopRecording);
    assert!(c.created().is_some());
}

#[test]
fn a_caller_who_stops_talking_without_pound_is_done_after_the_silence() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("12");
    c.consultation_questions();
    assert_eq!(c.flow.node(), "callback-confirm");
    c.answer("1");
    c.finish_prompt();
    c.now += Duration::from_secs(12);
    // The media says the caller has been silent for the node's 5 s.
    c.flow.handle_input(c.now, Input::Silence);
    let out = c.drain();
    assert_eq!(out[0], Action::StopRecording);
    assert!(c.created().is_some_and(|d| d.has_message));
    // Silence outside a message means nothing.
    let mut c = Call::start(Some("13812345678"));
    c.flow.handle_input(c.now, Input::Silence);
    assert!(c.drain().is_empty());
}

#[test]
fn silence_secs_is_read_per_record_node_and_zero_turns_it_off() {
    for (line, want) in [
        ("silence_secs = 2.5", Some(Duration::from_millis(2500))),
        ("silence_secs = 0", None),
        ("", Some(Duration::from_secs(5))),
    ] {
        let text = DEFAULT_MENU.replace("max_secs = 120\n", &format!("max_secs = 120\n{line}\n"));
        let menu = parse(&text, "m.toml", PromptCheck::Skip).unwrap();
        match &menu.nodes["message"].kind {
            super::model::NodeKind::Record { silence, .. } => assert_eq!(*silence, want, "{line}"),
            other => panic!("{other:?}"),
        }
    }
    let text = DEFAULT_MENU.replace("max_secs = 120\n", "max_secs = 120\nsilence_secs = -1\n");
    let err = parse(&text, "m.toml", PromptCheck::Skip)
        .unwrap_err()
        .to_string();
    assert!(err.contains("silence_secs"), "{err}");
    assert!(
        !err.contains("never reached"),
        "the nodes after a refused one are still reached: {err}"
    );
}

#[test]
fn timeouts_in_the_main_menu_replay_the_short_prompt_then_reach_the_operator() {
    let mut c = Call::start(None);
    c.answer("1");
    for _ in 0..2 {
        c.finish_prompt();
        c.wait(Duration::from_secs(8));
        assert_eq!(c.flow.node(), "main");
        assert_eq!(c.last_played(), ["zh/main-menu"]);
    }
    c.finish_prompt();
    c.wait(Duration::from_secs(8));
    assert_eq!(c.flow.node(), "operator-closed");
    assert_eq!(
        c.count(&Action::Metric(FlowEvent::Timeout("main".into()))),
        3
    );
}

#[test]
fn every_node_of_the_default_menu_is_entered_by_some_walk() {
    // The walks of the tests above, plus the rest, cover the whole menu.
    let menu = menu();
    // Each key is answered after its prompt: language, service, matter…
    let mut walks: Vec<String> = [
        "11119*9", "11129*9", "111391*9", "111392*9", "11299", "1139*9", "1149*9", "11519*9",
        "11529*9", "1169*9", "1199*9", "139*1",
    ]
    .iter()
    .map(|w| (*w).to_owned())
    .collect();
    // Every document, its receipt date unknown, each urgency answer.
    for (document, urgency) in ["1", "2", "3", "4", "5"]
        .iter()
        .zip(["1", "2", "9", "1", "2"])
    {
        walks.push(format!("119{document}*{urgency}"));
    }
    // Every group, with and without a home visit, then the pledge or not.
    for group in ["1", "2", "3", "4", "5", "6", "9"] {
        walks.push(format!("11119*9{group}11"));
        walks.push(format!("11119*9{group}22"));
    }
    // Violence in a family matter: no hardship condition (art. 32).
    walks.push("1129962".to_owned());
    let mut seen = std::collections::BTreeSet::new();
    for keys in &walks {
        let mut c = Call::start(Some("13812345678"));
        for k in keys.chars() {
            c.answer(&k.to_string());
        }
        for a in &c.actions {
            if let Action::Metric(FlowEvent::Entered(n)) = a {
                seen.insert(n.clone());
            }
        }
    }
    for id in menu.nodes.keys() {
        let reached_elsewhere = [
            "english",
            "green-channel",
            "consult",
            "progress",
            "lookup",
            "status",
            "not-found",
            "operator",
            "operator-transfer",
            "operator-unavailable",
            "operator-closed",
            "create",
            "request-failed",
            "result",
            "goodbye",
            "message",
            "date-confirm",
            "received-confirm",
            "date-again",
            "leave-message",
            "callback-enter",
        ];
        assert!(
            seen.contains(id) || reached_elsewhere.contains(&id.as_str()),
            "no walk enters {id}; entered: {seen:?}"
        );
    }
}

/// The words of every prompt, from prompts.tsv: (language, name, written).
fn prompt_texts() -> Vec<(String, String, String)> {
    let tsv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts/prompts.tsv");
    std::fs::read_to_string(tsv)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "{l}");
            (cols[0].to_owned(), cols[1].to_owned(), cols[3].to_owned())
        })
        .collect()
}

#[test]
fn callers_hear_a_registration_number_a_recording_notice_and_polite_errors() {
    let texts = prompt_texts();
    for (language, name, text) in &texts {
        // 受理 means the centre accepted the application: before that the
        // number is a registration number (登记编号).
        assert!(!text.contains("受理编号"), "{language}/{name}: {text}");
    }
    let text = |language: &str, name: &str| {
        texts
            .iter()
            .find(|(l, n, _)| l == language && n == name)
            .map(|(_, _, t)| t.clone())
            .unwrap_or_else(|| panic!("no {language}/{name}"))
    };
    // Personal Information Protection Law art. 17: told before recording.
    assert!(text("zh", "welcome").contains("录音"));
    assert!(text("zh", "welcome").contains("12348公共法律服务热线"));
    assert!(text("en", "welcome").contains("recorded"));
    assert!(text("zh", "your-ticket-number").contains("登记编号"));
    for error in [
        "invalid-key",
        "invalid-date",
        "invalid-phone",
        "not-found",
        "request-failed",
    ] {
        assert!(text("zh", error).starts_with("对不起"), "zh/{error}");
        assert!(text("en", error).starts_with("Sorry"), "en/{error}");
    }
    // No jargon: advance enforcement and preservation in plain words.
    assert!(!text("zh", "preservation-question").contains("先予执行"));
    assert!(!text("zh", "labor-menu").contains("解除劳动关系"));
}

#[test]
fn the_default_menu_has_every_prompt_it_names_in_both_languages() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts");
    let menu = parse(DEFAULT_MENU, "12348.toml", PromptCheck::Folder(&dir));
    assert!(
        menu.is_ok(),
        "{}",
        menu.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

#[test]
fn a_prompt_folder_without_the_apology_is_refused() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts");
    let dir = tempfile::tempdir().unwrap();
    for lang in ["zh", "en"] {
        std::fs::create_dir(dir.path().join(lang)).unwrap();
        for entry in std::fs::read_dir(repo.join(lang)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() != "request-failed.wav" || lang == "en" {
                std::fs::copy(entry.path(), dir.path().join(lang).join(entry.file_name())).unwrap();
            }
        }
    }
    // The default menu names it; a menu that does not still needs it.
    let text = DEFAULT_MENU
        .replace("on_failure = \"request-failed\"\n", "")
        .replace("prompt = [\"request-failed\"]", "prompt = [\"goodbye\"]");
    assert!(!text.contains("\"request-failed\""));
    let err = parse(&text, "m.toml", PromptCheck::Folder(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("zh/request-failed.wav is missing"), "{err}");
}

#[test]
fn an_application_waiting_in_the_outbox_hears_a_general_next_step() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("13");
    c.answer("9");
    c.answer("*");
    c.answer("9");
    assert_eq!(c.flow.node(), "callback-confirm");
    c.answer("1");
    c.finish_prompt();
    c.keys("#");
    assert!(c.created().is_some());
    // Ticketing was unreachable: the proposed number, no urgency yet.
    c.flow
        .handle_input(c.now, Input::TicketCreated(ticket(None)));
    c.drain();
    assert_eq!(c.last_played()[11], "zh/next-step-pending");
}

#[test]
fn a_request_that_cannot_be_kept_gets_an_apology_and_a_person_not_silence() {
    let mut c = Call::start(Some("13812345678"));
    c.answer("13");
    c.answer("9");
    c.answer("*");
    c.answer("9");
    assert_eq!(c.flow.node(), "callback-confirm");
    c.answer("1");
    c.finish_prompt();
    c.keys("#");
    assert!(c.created().is_some());
    // The outbox could not be written (or ticketing refused the request).
    c.flow.handle_input(c.now, Input::TicketFailed);
    c.drain();
    assert_eq!(c.flow.node(), "request-failed");
    assert_eq!(c.last_played(), ["zh/request-failed"]);
    // Then the operator: closed on a Saturday, so a message.
    c.finish_prompt();
    assert_eq!(c.flow.node(), "operator-closed");
    // ... a message for a call back, and a second request.
    c.finish_prompt();
    c.answer("1");
    c.finish_prompt();
    c.keys("#");
    let requests = c
        .actions
        .iter()
        .filter(|a| matches!(a, Action::CreateTicket(_)))
        .count();
    assert_eq!(requests, 2, "node {}", c.flow.node());
    // A second failure on the same call ends it with the apology instead
    // of going round again.
    c.flow.handle_input(c.now, Input::TicketFailed);
    c.drain();
    assert_eq!(c.last_played(), ["zh/request-failed"]);
    let out = c.finish_prompt();
    assert_eq!(out.last(), Some(&Action::Hangup));
    assert!(c.flow.is_done());
}

#[test]
fn the_operator_key_transfers_in_business_hours_and_falls_back_when_refused() {
    let text = DEFAULT_MENU.replace("uri = \"\"", "uri = \"sip:operator@10.0.0.9\"");
    let monday = NaiveDate::from_ymd_opt(2026, 11, 30)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let start = |text: &str| {
        let menu = Arc::new(parse(text, "m.toml", PromptCheck::Skip).unwrap());
        let info = CallInfo {
            caller: None,
            center: "default".into(),
            region: None,
            started_local: monday,
        };
        let calendar = Arc::new(HolidayCalendar::bundled().unwrap());
        let now = Instant::now();
        let mut call = Call {
            flow: Flow::new(menu, calendar, info, now),
            now,
            actions: Vec::new(),
        };
        call.drain();
        call
    };
    let mut c = start(&text);
    c.answer("1");
    c.answer("0");
    assert!(c
        .actions
        .contains(&Action::Transfer("sip:operator@10.0.0.9".into())));
    c.flow.handle_input(c.now, Input::Transfer(true));
    let out = c.drain();
    assert!(
        out.contains(&Action::Hangup),
        "transferred: the IVR leaves the call"
    );
    assert!(out.contains(&Action::Metric(FlowEvent::Completed(
        "operator-transfer".into()
    ))));

    let mut c = start(&text);
    c.answer("1");
    c.answer("0");
    c.flow.handle_input(c.now, Input::Transfer(false));
    c.drain();
    assert_eq!(c.flow.node(), "operator-unavailable");
}

#[test]
fn calls_map_to_centers_by_called_number_then_trunk_then_default() {
    let text = DEFAULT_MENU.replace(
        "[centers.default]",
        "[centers.haidian]\nregion = \"110108\"\ncalled = [\"12348001\"]\n\n\
         [centers.trunk-a]\nregion = \"310000\"\nsources = [\"10.1.2.3\"]\n\n[centers.default]",
    );
    let menu = parse(&text, "m.toml", PromptCheck::Skip).unwrap();
    let other: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    let trunk: std::net::IpAddr = "10.1.2.3".parse().unwrap();
    let haidian = menu.center_for("12348001", trunk).unwrap();
    assert_eq!(
        (
            haidian.id.as_str(),
            haidian.region.as_ref().map(|r| r.as_str())
        ),
        ("haidian", Some("110108"))
    );
    assert_eq!(menu.center_for("12348", trunk).unwrap().id, "trunk-a");
    let fallback = menu.center_for("12348", other).unwrap();
    assert_eq!(
        (
            fallback.id.as_str(),
            fallback.region.as_ref().map(|r| r.as_str())
        ),
        ("default", None)
    );

    let bad = DEFAULT_MENU.replace("[centers.default]", "[centers.default]\nregion = \"11010\"");
    let errors = parse(&bad, "m.toml", PromptCheck::Skip).unwrap_err();
    let line = DEFAULT_MENU
        .lines()
        .position(|l| l == "[centers.default]")
        .unwrap()
        + 2;
    assert!(
        errors
            .to_string()
            .contains(&format!("m.toml:{line}: center `default`: region")),
        "{errors}"
    );
}

#[test]
fn a_message_longer_than_one_upload_is_refused_at_load() {
    let line = DEFAULT_MENU
        .lines()
        .position(|l| l == "max_secs = 120")
        .unwrap()
        + 1;
    let bad = DEFAULT_MENU.replace("max_secs = 120", "max_secs = 3600");
    let errors = parse(&bad, "m.toml", PromptCheck::Skip).unwrap_err();
    assert!(
        errors.to_string().contains(&format!(
            "m.toml:{line}: node `message`: `max_secs` is at most {} seconds",
            hotline_domain::limits::MAX_MESSAGE_SECS
        )),
        "{errors}"
    );
}

#[test]
fn the_2020_frontline_group_needs_its_menu_setting() {
    let with_group = DEFAULT_MENU
        .replace(
            "[nodes.group-none]",
            "[nodes.group-frontline]\ntype = \"set\"\nset = { priority_group = \"frontline-worker\" }\nnext = \"home-visit\"\n\n[nodes.group-none]",
        )
        .replace(
            "\"9\" = \"group-none\"",
            "\"7\" = \"group-frontline\", \"9\" = \"group-none\"",
        );
    assert!(with_group.contains("\"7\" = \"group-frontline\""));
    let errors = parse(&with_group, "m.toml", PromptCheck::Skip).unwrap_err();
    assert!(
        errors.to_string().contains("frontline_worker = true"),
        "{errors}"
    );
    let allowed = with_group.replace(
        "type_ahead = 16",
        "type_ahead = 16\nfrontline_worker = true",
    );
    parse(&allowed, "m.toml", PromptCheck::Skip).unwrap();
    // `veteran` is the group's former name: a menu still using it is told
    // the names there are.
    let old = DEFAULT_MENU.replace(
        "priority_group = \"military\"",
        "priority_group = \"veteran\"",
    );
    let errors = parse(&old, "m.toml", PromptCheck::Skip).unwrap_err();
    assert!(errors.to_string().contains("military"), "{errors}");
}
