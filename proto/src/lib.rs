//! The `hotline.v1` gRPC contract, generated from `proto/hotline/v1/*.proto`.
//!
//! Every other crate uses these types, so client and server never drift apart.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod v1 {
    tonic::include_proto!("hotline.v1");
}

/// The metadata key of the bearer token: `authorization: Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// A client-side interceptor that puts the bearer token on every request.
/// Without a token, requests go out bare and the server answers
/// UNAUTHENTICATED, saying how to get one.
#[derive(Clone, Default)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

/// A token that cannot be sent in a header (a control character, say).
#[derive(Debug, thiserror::Error)]
#[error(
    "the token holds characters a header cannot carry; copy it again from `hotline token create`"
)]
pub struct UnsendableToken;

impl Bearer {
    pub fn new(token: Option<&str>) -> Result<Self, UnsendableToken> {
        match token.map(str::trim) {
            None | Some("") => Ok(Self(None)),
            Some(t) => format!("Bearer {t}")
                .parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
                .map(|mut v| {
                    // Never kept in HTTP/2's header compression tables.
                    v.set_sensitive(true);
                    Self(Some(v))
                })
                .map_err(|_| UnsendableToken),
        }
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert(AUTHORIZATION, value.clone());
        }
        Ok(request)
    }
}

/// The token of `authorization: Bearer <token>` in a request's metadata;
/// `None` when absent. A header that is there but unreadable comes back as
/// `?`, which no token matches, so the server says it is malformed.
pub fn bearer_token(metadata: &tonic::metadata::MetadataMap) -> Option<String> {
    let text = metadata.get(AUTHORIZATION)?.to_str().unwrap_or("?");
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .unwrap_or(text);
    Some(token.trim().to_owned())
}

/// A client whose every request carries the bearer token.
pub type AuthedChannel =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>;

/// How long a server lets requests in flight finish after its shutdown
/// before it closes their connections: streams (a lawyer's offers, a
/// supervisor's events, live calls) never end on their own.
pub const STREAM_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The encoded file descriptor set of `hotline.v1`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hotline_descriptor");
