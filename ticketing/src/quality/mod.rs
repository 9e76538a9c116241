//! Quality review (案件质量评估): a reproducible random sample of each
//! lawyer's closed tickets, reviewers' scores against the rubric, and the
//! scores per lawyer.
//!
//! The sample is drawn by hashing: each ticket gets the SHA-256 of the seed
//! and its number, and each lawyer's tickets are taken in that order. The
//! same seed and the same tickets give the same sample on any machine and
//! any version, and a ticket closed later does not change who else is drawn.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hotline_domain::TicketNumber;
use sha2::{Digest, Sha256};

/// The rubric: each criterion is scored 1 (poor) to 5 (excellent).
pub const RUBRIC: [(&str, &str, &str); 4] = [
    ("accuracy", "法律意见准确", "Legal advice accurate"),
    ("timeliness", "响应及时", "Timely response"),
    (
        "communication",
        "沟通与服务态度",
        "Communication and manner",
    ),
    ("documentation", "记录完整规范", "Record complete"),
];

/// One review's scores, 1 to 5 each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scores {
    pub accuracy: u8,
    pub timeliness: u8,
    pub communication: u8,
    pub documentation: u8,
}

impl Scores {
    /// The scores in [`RUBRIC`] order.
    pub fn values(&self) -> [u8; 4] {
        [
            self.accuracy,
            self.timeliness,
            self.communication,
            self.documentation,
        ]
    }

    /// Checks each is 1 to 5; the error names the criterion.
    pub fn check(&self) -> Result<(), String> {
        for ((name, _, _), v) in RUBRIC.iter().zip(self.values()) {
            if !(1..=5).contains(&v) {
                return Err(format!("{name}: a score is 1 to 5, not {v}"));
            }
        }
        Ok(())
    }

    pub fn total(&self) -> u32 {
        self.values().iter().map(|v| u32::from(*v)).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    pub reviewer: String,
    pub scores: Scores,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: i64,
    pub ticket: TicketNumber,
    pub lawyer: String,
    pub reviewer: String,
    pub scores: Scores,
    pub comment: String,
    pub reviewed_at: DateTime<Utc>,
}

/// Up to `per_lawyer` of each lawyer's `closed` tickets (number, lawyer),
/// drawn with `seed`; sorted by lawyer, then in draw order.
pub fn sample(
    closed: &[(TicketNumber, String)],
    per_lawyer: usize,
    seed: u64,
) -> Vec<(TicketNumber, String)> {
    let mut by_lawyer: BTreeMap<&str, Vec<([u8; 32], &TicketNumber)>> = BTreeMap::new();
    for (number, lawyer) in closed {
        let mut hash = Sha256::new();
        hash.update(seed.to_be_bytes());
        hash.update(number.to_string().as_bytes());
        by_lawyer
            .entry(lawyer.as_str())
            .or_default()
            .push((hash.finalize().into(), number));
    }
    let mut drawn = Vec::new();
    for (lawyer, mut tickets) in by_lawyer {
        tickets.sort();
        drawn.extend(
            tickets
                .into_iter()
                .take(per_lawyer)
                .map(|(_, n)| (n.clone(), lawyer.to_owned())),
        );
    }
    drawn
}

/// A lawyer's reviews in a period: how many and the mean of each criterion
/// and of the total.
#[derive(Debug, Clone, PartialEq)]
pub struct LawyerScores {
    pub lawyer: String,
    pub reviews: usize,
    /// Means in [`RUBRIC`] order.
    pub means: [f64; 4],
    pub mean_total: f64,
}

/// Scores per lawyer, by lawyer id.
pub fn per_lawyer(reviews: &[Review]) -> Vec<LawyerScores> {
    let mut by_lawyer: BTreeMap<&str, Vec<&Review>> = BTreeMap::new();
    for r in reviews {
        by_lawyer.entry(r.lawyer.as_str()).or_default().push(r);
    }
    by_lawyer
        .into_iter()
        .map(|(lawyer, rs)| {
            let n = rs.len() as f64;
            let mut means = [0.0; 4];
            for r in &rs {
                for (m, v) in means.iter_mut().zip(r.scores.values()) {
                    *m += f64::from(v) / n;
                }
            }
            LawyerScores {
                lawyer: lawyer.to_owned(),
                reviews: rs.len(),
                means,
                mean_total: rs.iter().map(|r| f64::from(r.scores.total())).sum::<f64>() / n,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::SeedableRng;

    fn closed(n: usize) -> Vec<(TicketNumber, String)> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        (0..n)
            .map(|i| (TicketNumber::random(&mut rng), format!("lawyer-{}", i % 3)))
            .collect()
    }

    #[test]
    fn the_same_seed_draws_the_same_sample() {
        let tickets = closed(30);
        let a = sample(&tickets, 4, 7);
        assert_eq!(a, sample(&tickets, 4, 7));
        assert_eq!(a.len(), 12);
        assert_ne!(a, sample(&tickets, 4, 8), "another seed, another draw");
        // Each lawyer's own tickets, at most 4 each.
        for (number, lawyer) in &a {
            assert!(tickets.contains(&(number.clone(), lawyer.clone())));
        }
    }

    #[test]
    fn a_new_closed_ticket_does_not_reshuffle_the_others() {
        let tickets = closed(31);
        let before = sample(&tickets[..30], 30, 1);
        let new = tickets[30].0.clone();
        let after = sample(&tickets, 30, 1);
        let without_new: Vec<_> = after.into_iter().filter(|(n, _)| *n != new).collect();
        assert_eq!(without_new, before);
    }

    #[test]
    fn scores_are_checked_by_criterion() {
        let s = Scores {
            accuracy: 5,
            timeliness: 0,
            communication: 3,
            documentation: 4,
        };
        assert_eq!(
            s.check().unwrap_err(),
            "timeliness: a score is 1 to 5, not 0"
        );
    }
}
