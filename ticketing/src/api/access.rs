//! `hotline.v1.AccessService`: who a token is, tokens made, listed and
//! revoked by admins, and the audit log for supervisors.

use chrono::{DateTime, Utc};
use hotline_proto::v1 as pb;
use hotline_proto::v1::access_service_server::AccessService;
use tonic::{Request, Response, Status};
use tracing::info;

use super::convert::field_error;
use super::gate::{Gate, Method};
use super::routing::instant;
use crate::auth::{
    check_name, AuditFilter, AuditOutcome, NewAudit, NewToken, Principal, Role, TokenRecord,
};
use crate::service::Ticketing;

/// The gRPC path prefix of the IVR admin API, whose refusals ticketing
/// writes down for it.
const IVR_ADMIN_PATH: &str = "/hotline.v1.IvrAdmin/";

/// The longest a token may be made to last: ten years.
const MAX_EXPIRY_SECS: i64 = 10 * 366 * 86_400;
const DEFAULT_AUDIT_LIMIT: u32 = 500;

pub struct AccessApi {
    ticketing: Ticketing,
    gate: Gate,
}

impl AccessApi {
    pub fn new(ticketing: Ticketing, gate: Gate) -> Self {
        Self { ticketing, gate }
    }
}

fn shown(t: DateTime<Utc>) -> String {
    hotline_domain::shown_time(t)
}

fn principal_to_pb(p: &Principal) -> pb::Principal {
    pb::Principal {
        token_id: p.token_id.clone(),
        role: p.role.to_string(),
        lawyer: p.lawyer.clone(),
        center: p.center.clone(),
        name: p.name.clone(),
        actor: p.actor(),
    }
}

fn token_to_pb(t: &TokenRecord, now: DateTime<Utc>) -> pb::Token {
    let status = if t.revoked_at.is_some() {
        "revoked"
    } else if t.active(now) {
        "active"
    } else {
        "expired"
    };
    pb::Token {
        id: t.id.clone(),
        role: t.role.to_string(),
        lawyer: t.lawyer.clone(),
        center: t.center.clone(),
        name: t.name.clone(),
        created_at: shown(t.created_at),
        created_by: t.created_by.clone(),
        expires_at: t.expires_at.map(shown),
        revoked_at: t.revoked_at.map(shown),
        status: status.to_owned(),
    }
}

#[tonic::async_trait]
impl AccessService for AccessApi {
    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let who = self.gate.admit(&request, Method::WhoAmI).await?;
        Ok(Response::new(principal_to_pb(&who)))
    }

    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreatedToken>, Status> {
        let who = self.gate.admit(&request, Method::CreateToken).await?;
        let r = request.into_inner();
        let role = Role::parse(r.role.trim()).map_err(|e| field_error("role", &e))?;
        let lawyer = r
            .lawyer
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty());
        let lawyer = match (role, lawyer) {
            (Role::Lawyer, None) => {
                return Err(field_error("lawyer", "a lawyer's token names the lawyer"))
            }
            (Role::Lawyer, Some(id)) => {
                let known = self.ticketing.lawyers().await?.iter().any(|l| l.id == id);
                if !known {
                    return Err(field_error(
                        "lawyer",
                        &format!("`{id}` is not on the roster (`hotline roster list`)"),
                    ));
                }
                Some(id)
            }
            (_, Some(_)) => return Err(field_error("lawyer", "only a lawyer's token names one")),
            (_, None) => None,
        };
        let center = r
            .center
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if center.is_some() && role != Role::Supervisor {
            return Err(field_error(
                "center",
                "only a supervisor's token is limited to a center",
            ));
        }
        let name = match r
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
        {
            Some(n) => n,
            None => lawyer.clone().unwrap_or_else(|| role.to_string()),
        };
        check_name(&name).map_err(|e| field_error("name", &e))?;
        let expires_at = match r.expires_in_seconds.unwrap_or(0) {
            0 => None,
            s if (1..=MAX_EXPIRY_SECS).contains(&s) => {
                Some(self.ticketing.now() + chrono::Duration::seconds(s))
            }
            _ => {
                return Err(field_error(
                    "expires_in_seconds",
                    "must be 1 second to 10 years, or 0 for never",
                ))
            }
        };
        let new = NewToken {
            role,
            lawyer,
            center,
            name,
            expires_at,
        };
        let (secret, record) = self.ticketing.create_token(&new, &who.actor()).await?;
        info!(token = %record.id, role = %record.role, by = %who.actor(), "token created");
        Ok(Response::new(pb::CreatedToken {
            token: Some(token_to_pb(&record, self.ticketing.now())),
            secret,
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        self.gate.admit(&request, Method::ListTokens).await?;
        let now = self.ticketing.now();
        let tokens = self.ticketing.tokens().await?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: tokens.iter().map(|t| token_to_pb(t, now)).collect(),
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        let who = self.gate.admit(&request, Method::RevokeToken).await?;
        let id = request.get_ref().id.trim().to_owned();
        if !crate::auth::token::is_id(&id) {
            return Err(field_error(
                "id",
                "a token id is 12 hex digits, as `hotline token list` shows",
            ));
        }
        let record = self
            .ticketing
            .revoke_token(&id, &who.actor())
            .await?
            .ok_or_else(|| Status::not_found(format!("no token has the id {id}")))?;
        info!(token = %record.id, by = %who.actor(), "token revoked");
        Ok(Response::new(token_to_pb(&record, self.ticketing.now())))
    }

    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let who = self.gate.admit(&request, Method::ListAudit).await?;
        let r = request.into_inner();
        if r.after_id < 0 {
            return Err(field_error("after_id", "must be 0 or an audit line's id"));
        }
        let limit = match r.limit {
            0 => DEFAULT_AUDIT_LIMIT,
            n if n <= 10_000 => n,
            _ => return Err(field_error("limit", "at most 10000")),
        };
        let filter = AuditFilter {
            ticket: r.ticket.filter(|t| !t.trim().is_empty()),
            actor: r.actor.filter(|a| !a.trim().is_empty()),
            from: r.from.as_deref().map(|t| instant("from", t)).transpose()?,
            to: r.to.as_deref().map(|t| instant("to", t)).transpose()?,
            center: who.center.clone().filter(|_| who.role == Role::Supervisor),
            after_id: (r.after_id > 0).then_some(r.after_id),
            limit: i64::from(limit),
        };
        let entries = self.ticketing.audit_log(&filter).await?;
        Ok(Response::new(pb::ListAuditResponse {
            entries: entries
                .into_iter()
                .map(|e| pb::AuditEntry {
                    id: e.id,
                    at: shown(e.at),
                    actor: e.actor,
                    token_id: e.token_id,
                    action: e.action,
                    outcome: e.outcome,
                    ticket: e.ticket,
                    recording: e.recording,
                    center: e.center,
                    detail: e.detail,
                })
                .collect(),
        }))
    }

    async fn record_denial(
        &self,
        request: Request<pb::RecordDenialRequest>,
    ) -> Result<Response<pb::RecordDenialResponse>, Status> {
        let who = self.gate.admit(&request, Method::RecordDenial).await?;
        let r = request.into_inner();
        // Only refusals by an IVR node's admin API are written this way;
        // the rest of the audit log is ticketing's own.
        let method = r
            .action
            .strip_prefix(IVR_ADMIN_PATH)
            .filter(|m| {
                !m.is_empty() && m.len() <= 64 && m.bytes().all(|b| b.is_ascii_alphabetic())
            })
            .ok_or_else(|| field_error("action", &format!("must be {IVR_ADMIN_PATH}<Method>")))?;
        if r.detail.chars().count() > 500 {
            return Err(field_error("detail", "at most 500 characters"));
        }
        let entry = NewAudit {
            actor: who.actor(),
            token_id: Some(who.token_id.clone()),
            action: format!("{IVR_ADMIN_PATH}{method}"),
            outcome: AuditOutcome::Denied,
            ticket: None,
            recording: None,
            center: who.center.clone(),
            detail: Some(r.detail),
        };
        self.gate.write_denial(entry).await;
        Ok(Response::new(pb::RecordDenialResponse {}))
    }
}
