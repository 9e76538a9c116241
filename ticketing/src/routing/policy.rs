//! The routing policy, without I/O: which on-duty lawyer an urgent ticket
//! is offered to, how long they have to acknowledge, and what follows a
//! missed offer. The store gathers the facts (candidates with their load)
//! and `now`; these functions decide.

use chrono::{DateTime, Duration, Utc};
use hotline_domain::{RegionCode, Urgency};

/// The routing settings (configuration), with the defaults of the design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingPolicy {
    /// Time to acknowledge a critical ticket's offer.
    pub ack_critical: Duration,
    /// Time to acknowledge an urgent or expired ticket's offer.
    pub ack_urgent: Duration,
    /// Offers per round before supervisors are alerted.
    pub max_candidates: i64,
    /// After an escalation, a new round of offers this often until someone
    /// acknowledges.
    pub repeat_every: Duration,
    /// An assigned ticket must be started (`in_progress`) within this.
    pub start_within: Duration,
    /// `hotline check` fails when an escalated ticket stays unowned longer.
    pub stuck_escalation: Duration,
    /// Voice pages to the offered lawyer's phone.
    pub paging: crate::paging::PagingPolicy,
}

impl Default for RoutingPolicy {
    fn default() -> Self {
        Self {
            ack_critical: Duration::minutes(5),
            ack_urgent: Duration::minutes(30),
            max_candidates: 3,
            repeat_every: Duration::minutes(5),
            start_within: Duration::hours(4),
            stuck_escalation: Duration::minutes(30),
            paging: crate::paging::PagingPolicy::default(),
        }
    }
}

impl RoutingPolicy {
    /// Whether tickets of this urgency are offered at once (the others wait
    /// in the queue for someone to pull).
    pub fn routes(urgency: Option<Urgency>) -> bool {
        matches!(
            urgency,
            Some(Urgency::Critical | Urgency::Urgent | Urgency::Expired)
        )
    }

    pub fn ack_window(&self, urgency: Option<Urgency>) -> Duration {
        match urgency {
            Some(Urgency::Critical) => self.ack_critical,
            _ => self.ack_urgent,
        }
    }
}

/// What the ticket needs of a lawyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub matter: Option<String>,
    pub region: Option<String>,
    pub language: String,
}

/// An on-duty lawyer as routing sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub lawyer: String,
    pub skills: Vec<String>,
    pub regions: Vec<String>,
    pub languages: Vec<String>,
    /// Open tickets and pending offers now.
    pub load: i64,
    pub capacity: i64,
    /// When the lawyer was last offered a ticket (ms), for round-robin.
    pub last_offer_at: i64,
}

/// The candidates in the order they should be asked: skill, then region,
/// then language, then least loaded, then whoever was offered longest ago.
/// Lawyers at capacity and those in `skip` (already asked this round) are
/// left out.
pub fn rank<'a>(need: &Need, candidates: &'a [Candidate], skip: &[String]) -> Vec<&'a Candidate> {
    let mut list: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.load < c.capacity && !skip.contains(&c.lawyer))
        .collect();
    let key = |c: &Candidate| {
        let skill = need
            .matter
            .as_ref()
            .is_some_and(|m| c.skills.iter().any(|s| s == m));
        let region = c.regions.is_empty()
            || need
                .region
                .as_ref()
                .is_some_and(|r| c.regions.iter().any(|x| region_covers(x, r)));
        let language = c.languages.contains(&need.language);
        (
            !skill,
            !region,
            !language,
            c.load,
            c.last_offer_at,
            c.lawyer.clone(),
        )
    };
    list.sort_by_key(|c| key(c));
    list
}

/// Whether a lawyer's region covers the ticket's, by GB/T 2260 level (see
/// `RegionCode::covers`). A code that does not parse covers only itself.
fn region_covers(lawyer: &str, ticket: &str) -> bool {
    match (RegionCode::parse(lawyer), RegionCode::parse(ticket)) {
        (Ok(l), Ok(t)) => l.covers(&t),
        _ => lawyer == ticket,
    }
}

/// What to do next for a ticket that needs a lawyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Offer {
        lawyer: String,
        ack_deadline: DateTime<Utc>,
    },
    /// Supervisors are alerted; the next round starts at `next_round`.
    Escalate {
        next_round: DateTime<Utc>,
        why: &'static str,
    },
}

/// The next step after `attempts` offers in this round: the best remaining
/// candidate while the round has room, otherwise an escalation.
pub fn next_step(
    policy: &RoutingPolicy,
    urgency: Option<Urgency>,
    attempts: i64,
    best: Option<&Candidate>,
    now: DateTime<Utc>,
) -> Step {
    let escalate = |why| Step::Escalate {
        next_round: now + policy.repeat_every,
        why,
    };
    if attempts >= policy.max_candidates {
        return escalate("every candidate of the round missed the offer");
    }
    match best {
        Some(c) => Step::Offer {
            lawyer: c.lawyer.clone(),
            ack_deadline: now + policy.ack_window(urgency),
        },
        None if attempts == 0 => escalate("no matching lawyer is on duty"),
        None => escalate("no other lawyer is on duty"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lawyer(id: &str, skills: &[&str], regions: &[&str], load: i64, last: i64) -> Candidate {
        Candidate {
            lawyer: id.into(),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            languages: vec!["zh".into()],
            load,
            capacity: 3,
            last_offer_at: last,
        }
    }

    fn need() -> Need {
        Need {
            matter: Some("labor-wages".into()),
            region: Some("110108".into()),
            language: "zh".into(),
        }
    }

    fn ids(list: Vec<&Candidate>) -> Vec<&str> {
        list.iter().map(|c| c.lawyer.as_str()).collect()
    }

    #[test]
    fn skill_beats_region_beats_language_beats_load_beats_round_robin() {
        let candidates = vec![
            lawyer("family-here", &["family"], &["110108"], 0, 0),
            lawyer("wages-elsewhere", &["labor-wages"], &["440300"], 0, 0),
            lawyer("wages-here-busy", &["labor-wages"], &["110108"], 2, 0),
            lawyer(
                "wages-here-idle-recent",
                &["labor-wages"],
                &["110108"],
                0,
                900,
            ),
            lawyer(
                "wages-here-idle-long-ago",
                &["labor-wages"],
                &["110108"],
                0,
                100,
            ),
            lawyer("wages-beijing", &["labor-wages"], &["110000"], 1, 0),
        ];
        assert_eq!(
            ids(rank(&need(), &candidates, &[])),
            [
                "wages-here-idle-long-ago",
                "wages-here-idle-recent",
                "wages-beijing",
                "wages-here-busy",
                "wages-elsewhere",
                "family-here"
            ]
        );
    }

    #[test]
    fn a_municipality_lawyer_is_not_a_match_in_the_neighbouring_provinces() {
        let candidates = vec![
            lawyer("chongqing", &["labor-wages"], &["500000"], 0, 0),
            lawyer("sichuan", &["labor-wages"], &["510000"], 1, 0),
        ];
        let mut need = need();
        for (ticket, first) in [
            ("510100", "sichuan"),
            ("520102", "chongqing"), // neither covers Guizhou: least loaded first
            ("500101", "chongqing"),
        ] {
            need.region = Some(ticket.into());
            assert_eq!(ids(rank(&need, &candidates, &[]))[0], first, "{ticket}");
        }
        need.region = Some("510100".into());
        let sichuan_covers = |c: &Candidate| c.regions.iter().any(|r| region_covers(r, "510100"));
        assert!(!sichuan_covers(&candidates[0]));
        assert!(sichuan_covers(&candidates[1]));
    }

    #[test]
    fn full_lawyers_and_those_already_asked_are_skipped() {
        let mut full = lawyer("full", &["labor-wages"], &[], 3, 0);
        full.capacity = 3;
        let candidates = vec![
            full,
            lawyer("asked", &["labor-wages"], &[], 0, 0),
            lawyer("free", &[], &[], 0, 0),
        ];
        assert_eq!(ids(rank(&need(), &candidates, &["asked".into()])), ["free"]);
    }

    #[test]
    fn a_missed_round_escalates_and_nobody_on_duty_escalates_at_once() {
        let policy = RoutingPolicy::default();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let c = lawyer("a", &[], &[], 0, 0);
        assert_eq!(
            next_step(&policy, Some(Urgency::Critical), 0, Some(&c), now),
            Step::Offer {
                lawyer: "a".into(),
                ack_deadline: now + Duration::minutes(5)
            }
        );
        assert_eq!(
            next_step(&policy, Some(Urgency::Expired), 1, Some(&c), now),
            Step::Offer {
                lawyer: "a".into(),
                ack_deadline: now + Duration::minutes(30)
            }
        );
        assert!(matches!(
            next_step(&policy, Some(Urgency::Urgent), 3, Some(&c), now),
            Step::Escalate { next_round, .. } if next_round == now + Duration::minutes(5)
        ));
        assert!(matches!(
            next_step(&policy, Some(Urgency::Urgent), 0, None, now),
            Step::Escalate {
                why: "no matching lawyer is on duty",
                ..
            }
        ));
    }
}
