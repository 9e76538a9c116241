//! The hotline's case service.
//!
//! Tickets and their append-only history live in [`store`] (SQLite or
//! PostgreSQL), the lifecycle rules in [`tickets`], and the gRPC surface in
//! [`api`]; [`server::run`] ties them to a listener.

pub mod api;
pub mod auth;
pub mod callbacks;
pub mod clock;
pub mod limitation;
pub mod paging;
pub mod quality;
pub mod reports;
pub mod retention;
pub mod routing;
pub mod server;
pub mod service;
pub mod stats;
pub mod store;
pub mod tickets;
pub mod web;

pub use clock::{Clock, ManualClock, SystemClock};
pub use service::Ticketing;
pub use store::{Store, StoreError};
