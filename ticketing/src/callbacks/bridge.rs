//! Click-to-call (回拨接通): an IVR node calls the lawyer, then the caller
//! through the outbound trunk with the centre's number as caller ID, and
//! connects the two, so the caller never sees the lawyer's number. This module
//! holds what the legs' outcomes mean; the store keeps the requests
//! (table `bridges`) and the IVR places the calls.

use super::CallbackOutcome;

/// A bridge nobody took within this is given up (`failed`): the lawyer who
/// asked is waiting at the phone, not minutes later.
pub const UNCLAIMED_TIMEOUT: chrono::Duration = chrono::Duration::minutes(2);

/// A claim not reported within this is taken back (`failed`): longer than
/// an IVR node lets a bridged call last (two hours), the ringing of both
/// legs (at most five minutes each), the prompts and the report's retries.
pub const CLAIM_TIMEOUT: chrono::Duration = chrono::Duration::minutes(150);

/// The click-to-call settings (configuration of the ticketing node, which
/// sends them with each bridge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgePolicy {
    /// Click-to-calls asked for per hour, all centres of the node together:
    /// past it the next is refused (a bound on what a mistake or a stolen
    /// token can cost in calls).
    pub calls_per_hour: u32,
    /// Record the connected call and attach it to the ticket.
    pub record: bool,
}

impl Default for BridgePolicy {
    fn default() -> Self {
        Self {
            calls_per_hour: 60,
            record: false,
        }
    }
}

/// Bridges one IVR token holds claimed and unreported at once.
pub const MAX_BRIDGING: i64 = 32;

/// Bridges a lawyer may have asked for and not yet ended at once (waiting
/// for a node, or being placed).
pub const MAX_WAITING_PER_LAWYER: i64 = 2;

/// How one leg of a bridge went, as the IVR reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegOutcome {
    Answered,
    NoAnswer,
    Busy,
    /// The trunk said the number does not exist (SIP 404, 484, 604).
    WrongNumber,
    /// Not dialled or not connected for a reason of ours or the trunk's.
    Failed,
}

impl LegOutcome {
    pub const ALL: [Self; 5] = [
        Self::Answered,
        Self::NoAnswer,
        Self::Busy,
        Self::WrongNumber,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::NoAnswer => "no-answer",
            Self::Busy => "busy",
            Self::WrongNumber => "wrong-number",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// The callback attempt a caller leg makes: none when the call never
    /// reached the caller's phone (the trunk or the IVR failed), since
    /// the caller was not tried.
    pub fn attempt(self) -> Option<CallbackOutcome> {
        match self {
            Self::Answered => Some(CallbackOutcome::Answered),
            Self::NoAnswer => Some(CallbackOutcome::NoAnswer),
            Self::Busy => Some(CallbackOutcome::Busy),
            Self::WrongNumber => Some(CallbackOutcome::WrongNumber),
            Self::Failed => None,
        }
    }
}

/// Why a click-to-call cannot be asked for.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(
        "click-to-call dials the caller through the outbound trunk, and outbound_trunk is not set"
    )]
    NoTrunk,
    #[error("lawyer `{0}` is not on the roster")]
    UnknownLawyer(String),
    #[error("lawyer `{0}` is on the roster but not active")]
    Inactive(String),
    #[error("lawyer `{lawyer}` is not of center {center}, the ticket's")]
    OtherCenter { lawyer: String, center: String },
    #[error("the number to call back ({0}) is not a mobile or a landline with its area code, which is all the trunk dials")]
    NotCallable(String),
    #[error(
        "lawyer `{0}` already has {MAX_WAITING_PER_LAWYER} click-to-calls waiting or in progress"
    )]
    TooMany(String),
    #[error("a click-to-call of ticket {0} is already waiting or in progress")]
    InProgress(String),
    #[error("{0} click-to-calls were asked for in the last hour, the limit (callback_calls_per_hour); try again later")]
    HourlyCap(u32),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leg_that_never_reached_the_caller_is_no_attempt() {
        for o in LegOutcome::ALL {
            assert_eq!(LegOutcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(LegOutcome::parse("rang"), None);
        assert_eq!(
            LegOutcome::Answered.attempt(),
            Some(CallbackOutcome::Answered)
        );
        assert_eq!(LegOutcome::Busy.attempt(), Some(CallbackOutcome::Busy));
        assert_eq!(
            LegOutcome::WrongNumber.attempt(),
            Some(CallbackOutcome::WrongNumber)
        );
        assert_eq!(LegOutcome::Failed.attempt(), None);
    }
}
