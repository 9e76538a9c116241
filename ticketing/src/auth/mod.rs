//! Who may do what: bearer tokens bound to a role ([`Role`]), the
//! [`Principal`] a valid token stands for (the actor of every event it
//! causes), and the audit log of denials and personal-data reads.
//!
//! The rules per method live in [`crate::api::gate`]; the rules per ticket
//! (a lawyer's own tickets, a supervisor's center) in [`Principal`] and the
//! front door ([`crate::Ticketing::may_see`]).

pub use hotline_domain::token;

use std::fmt;

use chrono::{DateTime, Utc};

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// An IVR node: creates tickets, uploads their recordings, looks up status.
    Ivr,
    /// A duty lawyer: only tickets offered or assigned to them.
    Lawyer,
    /// A call-center supervisor: everything of their center (all centers
    /// when the token names none).
    Supervisor,
    /// Tokens, the roster, configuration; and whatever a supervisor may.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Ivr, Role::Lawyer, Role::Supervisor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ivr => "ivr",
            Role::Lawyer => "lawyer",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| format!("unknown role `{text}`: ivr, lawyer, supervisor or admin"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The holder of a valid token, as every request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: String,
    pub role: Role,
    /// The lawyer's roster id, for a lawyer's token.
    pub lawyer: Option<String>,
    /// The one center a supervisor's token covers; all when `None`.
    pub center: Option<String>,
    pub name: String,
}

impl Principal {
    /// The name in the history of every event this holder causes:
    /// `lawyer:<id>` for a lawyer, `<role>:<name>` otherwise.
    pub fn actor(&self) -> String {
        match (&self.role, &self.lawyer) {
            (Role::Lawyer, Some(id)) => format!("lawyer:{id}"),
            _ => format!("{}:{}", self.role, self.name),
        }
    }

    /// Whether this holder sees everything of `center` (supervisors of it
    /// or of every center, and admins).
    pub fn oversees(&self, center: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Supervisor => self.center.as_deref().is_none_or(|c| c == center),
            Role::Ivr | Role::Lawyer => false,
        }
    }

    /// The lawyer's id, for a lawyer's token.
    pub fn lawyer_id(&self) -> Option<&str> {
        match self.role {
            Role::Lawyer => self.lawyer.as_deref(),
            _ => None,
        }
    }
}

/// A token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub role: Role,
    pub lawyer: Option<String>,
    pub center: Option<String>,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    /// Whether it lets its holder in at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }

    pub fn principal(&self) -> Principal {
        Principal {
            token_id: self.id.clone(),
            role: self.role,
            lawyer: self.lawyer.clone(),
            center: self.center.clone(),
            name: self.name.clone(),
        }
    }
}

/// What a new token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub role: Role,
    pub lawyer: Option<String>,
    pub center: Option<String>,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a token was not let in. The messages say what to do; none tells a
/// stranger whether a token id exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no token: pass --token or set HOTLINE_TOKEN (an admin's is in <data_dir>/admin.token)"
    )]
    Missing,
    #[error("the token is malformed: {0}")]
    Malformed(#[from] token::TokenFormatError),
    #[error("the token is not valid: unknown, revoked or mistyped")]
    Invalid,
    #[error("the token expired; ask an administrator for a new one (`hotline token create`)")]
    Expired,
}

/// A name of a token's holder: in actors (`supervisor:zhang-wei`), so no
/// spaces or separators.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= 48
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}`: 1 to 48 letters, digits, '-', '_', '.' or '@'"
        ))
    }
}

/// Whether an audited action was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Allowed,
    Denied,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Allowed => "allowed",
            AuditOutcome::Denied => "denied",
        }
    }
}

/// Actions the audit log records besides denials (which carry the method).
pub mod actions {
    /// A ticket shown with its full phone numbers.
    pub const READ_NUMBERS: &str = "read-numbers";
    /// A recording's audio sent.
    pub const READ_RECORDING: &str = "read-recording";
}

/// One line of the audit log, to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    pub actor: String,
    pub token_id: Option<String>,
    pub action: String,
    pub outcome: AuditOutcome,
    pub ticket: Option<String>,
    pub recording: Option<i64>,
    pub center: Option<String>,
    pub detail: Option<String>,
}

/// One line of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub token_id: Option<String>,
    pub action: String,
    pub outcome: String,
    pub ticket: Option<String>,
    pub recording: Option<i64>,
    pub center: Option<String>,
    pub detail: Option<String>,
}

/// Which lines `audit list` wants.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub ticket: Option<String>,
    pub actor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only lines of this center (a supervisor's).
    pub center: Option<String>,
    pub after_id: Option<i64>,
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, lawyer: Option<&str>, center: Option<&str>) -> Principal {
        Principal {
            token_id: "0123456789ab".into(),
            role,
            lawyer: lawyer.map(Into::into),
            center: center.map(Into::into),
            name: "zhang".into(),
        }
    }

    #[test]
    fn actors_come_from_the_token() {
        assert_eq!(
            principal(Role::Lawyer, Some("li"), None).actor(),
            "lawyer:li"
        );
        assert_eq!(
            principal(Role::Supervisor, None, None).actor(),
            "supervisor:zhang"
        );
        assert_eq!(principal(Role::Ivr, None, None).actor(), "ivr:zhang");
    }

    #[test]
    fn a_supervisor_oversees_their_center_only() {
        let s = principal(Role::Supervisor, None, Some("shenzhen"));
        assert!(s.oversees("shenzhen"));
        assert!(!s.oversees("default"));
        assert!(principal(Role::Supervisor, None, None).oversees("default"));
        assert!(principal(Role::Admin, None, None).oversees("any"));
        assert!(!principal(Role::Lawyer, Some("li"), None).oversees("default"));
        assert!(!principal(Role::Ivr, None, None).oversees("default"));
    }

    #[test]
    fn names_fit_in_an_actor() {
        assert!(check_name("张伟").is_ok());
        assert!(check_name("night-desk.2").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a:b").is_err());
        assert!(check_name(&"x".repeat(49)).is_err());
    }
}
