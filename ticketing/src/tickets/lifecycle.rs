//! The ticket lifecycle: which moves are legal, and what each one needs.
//!
//! ```text
//! consultation ─┬─► accepted ─► assigned ─► in_progress ─► closed
//! application  ─┤       └──────────────────────────────────► closed (withdrawn, …)
//!               ├─► rejected (with a reason, art. 43)
//! consultation ─┴─► closed (answered on the phone)
//! application ──► provisional ─┬─► accepted (the lawyer stays) ─► assigned
//!   (art. 44)                  ├─► rejected (provisional aid ends)
//!                              └─► closed (withdrawn)
//! ```
//!
//! `provisional` is aid given first under Legal Aid Law art. 44 (a critical
//! application a duty lawyer took): it is not the centre's decision, which
//! follows. A rejected or closed ticket never moves again; a new request is
//! a new ticket.

use hotline_domain::TicketState::{self, *};

/// A requested move, with what the target state needs.
#[derive(Debug, Clone, Default)]
pub struct Move {
    pub reason: Option<String>,
    /// Legal Aid Law art. 43: when a lawyer must be assigned, set on acceptance.
    pub assignment_due: Option<chrono::NaiveDate>,
    pub outcome: Option<String>,
    pub lawyer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("the ticket is `{from}`; it cannot move to `{to}` (from `{from}` it can move to: {allowed})")]
    Illegal {
        from: TicketState,
        to: TicketState,
        allowed: String,
    },
    #[error("moving to `{0}` needs a {1}")]
    Missing(TicketState, &'static str),
    #[error("the ticket is `provisional` (aid given first, Legal Aid Law art. 44): it cannot move to `{0}` before the centre decides; once it is `accepted`, the lawyer who took it is assigned and can start")]
    DecisionFirst(TicketState),
    #[error("the ticket is `{0}`: materials are received only for an `application` or `provisional` ticket")]
    NoApplication(TicketState),
    #[error("the ticket is `{0}`: its caller is no longer called back")]
    CallbackOver(TicketState),
    #[error("the ticket has no number to call back (neither a callback number nor a caller number that can be called)")]
    NoNumberToCall,
}

/// The states a ticket may move to from `from`.
pub fn next_states(from: TicketState) -> &'static [TicketState] {
    match from {
        Consultation | Callback => &[Accepted, Rejected, Closed],
        Application => &[Provisional, Accepted, Rejected],
        Provisional => &[Accepted, Rejected, Closed],
        Accepted => &[Assigned, Closed],
        Assigned => &[InProgress, Closed],
        InProgress => &[Closed],
        Rejected | Closed => &[],
    }
}

/// Checks a move from `from` to `to`. Returns the name of the missing
/// argument when the move is legal but incomplete.
pub fn check(from: TicketState, to: TicketState, mv: &Move) -> Result<(), LifecycleError> {
    if from == Provisional && matches!(to, Assigned | InProgress) {
        return Err(LifecycleError::DecisionFirst(to));
    }
    if !next_states(from).contains(&to) {
        let allowed = next_states(from)
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>();
        return Err(LifecycleError::Illegal {
            from,
            to,
            allowed: if allowed.is_empty() {
                "nothing, it is final".to_owned()
            } else {
                allowed.join(", ")
            },
        });
    }
    let missing = match to {
        Rejected if mv.reason.is_none() => Some("reason"),
        Closed if mv.outcome.is_none() => Some("outcome"),
        Assigned | Provisional if mv.lawyer.is_none() => Some("lawyer"),
        _ => None,
    };
    match missing {
        Some(what) => Err(LifecycleError::Missing(to, what)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv() -> Move {
        Move {
            assignment_due: None,
            reason: Some("r".into()),
            outcome: Some("settled".into()),
            lawyer: Some("L1".into()),
        }
    }

    #[test]
    fn the_happy_path_of_an_application_is_legal() {
        let path = [Application, Accepted, Assigned, InProgress, Closed];
        for pair in path.windows(2) {
            assert_eq!(check(pair[0], pair[1], &mv()), Ok(()), "{pair:?}");
        }
    }

    #[test]
    fn final_states_never_move() {
        for from in [Rejected, Closed] {
            for to in TicketState::ALL {
                let err = check(from, *to, &mv()).unwrap_err();
                assert!(err.to_string().contains("nothing, it is final"), "{err}");
            }
        }
    }

    #[test]
    fn illegal_moves_name_the_current_state() {
        let err = check(Application, InProgress, &mv()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the ticket is `application`; it cannot move to `in_progress` \
             (from `application` it can move to: `provisional`, `accepted`, `rejected`)"
        );
    }

    #[test]
    fn moves_that_need_an_argument_say_which() {
        let none = Move::default();
        assert_eq!(
            check(Application, Rejected, &none),
            Err(LifecycleError::Missing(Rejected, "reason"))
        );
        assert_eq!(
            check(InProgress, Closed, &none),
            Err(LifecycleError::Missing(Closed, "outcome"))
        );
        assert_eq!(
            check(Accepted, Assigned, &none),
            Err(LifecycleError::Missing(Assigned, "lawyer"))
        );
        assert_eq!(check(Application, Accepted, &none), Ok(()));
        assert_eq!(
            check(Application, Provisional, &none),
            Err(LifecycleError::Missing(Provisional, "lawyer"))
        );
    }

    #[test]
    fn provisional_aid_is_followed_by_the_decision() {
        for to in [Accepted, Rejected, Closed] {
            assert_eq!(check(Provisional, to, &mv()), Ok(()), "{to}");
        }
        for to in [Application, Assigned, InProgress, Consultation] {
            assert!(check(Provisional, to, &mv()).is_err(), "{to}");
        }
        let err = check(Provisional, InProgress, &mv()).unwrap_err();
        assert!(
            err.to_string().contains("before the centre decides"),
            "{err}"
        );
        assert!(check(Consultation, Provisional, &mv()).is_err());
    }
}
