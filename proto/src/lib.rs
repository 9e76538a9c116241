//! The `hotline.v1` gRPC contract, generated from `proto/hotline/v1/*.proto`.
//!
//! Every other crate uses these types, so client and server never drift apart.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod v1 {
    tonic::include_proto!("hotline.v1");
}

/// The encoded file descriptor set of `hotline.v1`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hotline_descriptor");
