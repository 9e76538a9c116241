//! The `hotline.v1` gRPC contract, generated from `proto/hotline/v1/*.proto`.
//!
//! Every other crate uses these types, so client and server never drift apart.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod v1 {
    tonic::include_proto!("hotline.v1");
}

/// Metadata key naming who acts, until bearer tokens carry the identity.
/// Part of the contract: clients set it, ticketing reads it.
pub const ACTOR_HEADER: &str = "x-hotline-actor";

/// How long a server lets requests in flight finish after its shutdown
/// before it closes their connections: streams (a lawyer's offers, a
/// supervisor's events, live calls) never end on their own.
pub const STREAM_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The encoded file descriptor set of `hotline.v1`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hotline_descriptor");
