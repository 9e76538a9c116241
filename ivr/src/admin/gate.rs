//! Who may use the IVR admin API: the same bearer tokens as ticketing,
//! checked by ticketing (`AccessService.WhoAmI`), which holds them. The IVR
//! keeps no tokens of its own; it remembers a positive answer for
//! [`REMEMBER`], so a revoked token still reaches the live-call board of an
//! IVR node for at most that long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_proto::v1 as pb;
use hotline_proto::v1::access_service_client::AccessServiceClient;
use hotline_proto::Bearer;
use sha2::{Digest, Sha256};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// How long a token ticketing vouched for is taken without asking again.
pub const REMEMBER: Duration = Duration::from_secs(30);
/// Remembered tokens at most; past it the memory starts over.
const REMEMBERED: usize = 1024;

/// Roles that may read the board (calls, events, metrics).
pub const READERS: &[&str] = &["supervisor", "admin"];
/// Roles that may change the IVR (reload the menu).
pub const ADMINS: &[&str] = &["admin"];

/// What ticketing said of a token, and when.
#[derive(Debug, Clone)]
struct Vouched {
    role: String,
    actor: String,
    at: Instant,
}

#[derive(Clone)]
pub struct AdminGate {
    ticketing: Channel,
    /// By the SHA-256 of the token (the IVR keeps no token in clear).
    vouched: Arc<Mutex<HashMap<[u8; 32], Vouched>>>,
}

impl std::fmt::Debug for AdminGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminGate").finish_non_exhaustive()
    }
}

impl AdminGate {
    /// Checks tokens with the ticketing service at `url` (connected lazily).
    pub fn new(url: &str) -> Result<Self, tonic::transport::Error> {
        Ok(Self::with_endpoint(Endpoint::from_shared(url.to_owned())?))
    }

    /// The same over `endpoint` (with TLS, when ticketing serves it).
    pub fn with_endpoint(endpoint: Endpoint) -> Self {
        Self::with_channel(
            endpoint
                .connect_timeout(Duration::from_secs(2))
                .connect_lazy(),
        )
    }

    /// The same over `channel` (one ticketing node or several, see
    /// [`crate::tickets::nodes::channel`]).
    pub fn with_channel(ticketing: Channel) -> Self {
        Self {
            ticketing,
            vouched: Arc::default(),
        }
    }

    /// The actor of the request's token, if its role is one of `roles`; a
    /// refusal of a valid token for `method` is written into ticketing's
    /// audit log (`AccessService.RecordDenial`), as ticketing's own are.
    pub async fn admit<T>(
        &self,
        request: &Request<T>,
        method: &str,
        roles: &[&str],
    ) -> Result<String, Status> {
        let Some(token) = bearer(request) else {
            return Err(Status::unauthenticated(
                "no token: pass --token or set HOTLINE_TOKEN (an admin's is in <data_dir>/admin.token)",
            ));
        };
        let (role, actor) = self.who(&token).await?;
        if roles.contains(&role.as_str()) {
            Ok(actor)
        } else {
            let why = format!(
                "a {role} token may not call {method} on the IVR admin API (allowed: {})",
                roles.join(", ")
            );
            self.record_denial(&token, method, &why).await;
            Err(Status::permission_denied(format!(
                "permission denied: {why}"
            )))
        }
    }

    /// Asks ticketing to write the refusal down; a failure is logged, and
    /// the caller is refused all the same.
    async fn record_denial(&self, token: &str, method: &str, why: &str) {
        let Ok(bearer) = Bearer::new(Some(token)) else {
            return;
        };
        let mut access = AccessServiceClient::with_interceptor(self.ticketing.clone(), bearer);
        let mut request = Request::new(pb::RecordDenialRequest {
            action: format!("/hotline.v1.IvrAdmin/{method}"),
            detail: why.to_owned(),
        });
        request.set_timeout(Duration::from_secs(3));
        if let Err(e) = access.record_denial(request).await {
            tracing::warn!(error = %e.message(), method, "cannot write a denial to the audit log");
        }
    }

    /// Whether the token a stream was opened with still has one of `roles`;
    /// its task asks every [`REMEMBER`], so a revoked token's stream ends.
    pub async fn still_valid(&self, token: &str, roles: &[&str]) -> Result<(), Status> {
        let (role, _) = self.who(token).await?;
        if roles.contains(&role.as_str()) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "the stream ends: a {role} token may not watch the board"
            )))
        }
    }

    /// The request's bearer token.
    pub fn token<T>(request: &Request<T>) -> Option<String> {
        bearer(request)
    }

    async fn who(&self, token: &str) -> Result<(String, String), Status> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(v) = self.remembered(&key) {
            if v.at.elapsed() < REMEMBER {
                return Ok((v.role, v.actor));
            }
        }
        let bearer =
            Bearer::new(Some(token)).map_err(|e| Status::unauthenticated(e.to_string()))?;
        let mut access = AccessServiceClient::with_interceptor(self.ticketing.clone(), bearer);
        let mut request = Request::new(pb::WhoAmIRequest {});
        request.set_timeout(Duration::from_secs(3));
        let who = match access.who_am_i(request).await {
            Ok(who) => who.into_inner(),
            Err(s) if matches!(s.code(), Code::Unauthenticated | Code::PermissionDenied) => {
                return Err(s)
            }
            Err(s) => {
                return Err(Status::unavailable(format!(
                    "ticketing, which checks tokens, did not answer: {}",
                    s.message()
                )))
            }
        };
        if let Ok(mut vouched) = self.vouched.lock() {
            if vouched.len() >= REMEMBERED {
                vouched.clear();
            }
            vouched.insert(
                key,
                Vouched {
                    role: who.role.clone(),
                    actor: who.actor.clone(),
                    at: Instant::now(),
                },
            );
        }
        Ok((who.role, who.actor))
    }

    fn remembered(&self, key: &[u8; 32]) -> Option<Vouched> {
        self.vouched.lock().ok()?.get(key).cloned()
    }
}

fn bearer<T>(request: &Request<T>) -> Option<String> {
    hotline_proto::bearer_token(request.metadata())
}
