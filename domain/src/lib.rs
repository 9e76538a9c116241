//! Domain types shared by the IVR and the ticketing service.
//!
//! Every value that crosses a process boundary (a gRPC field, a CLI argument,
//! a keyed-in digit string) is parsed into one of these types at the edge, so
//! the rest of the code never handles an unchecked string.

pub mod names;
pub mod phone;
pub mod region;
pub mod ticket_number;

pub use names::{Language, Matter, PriorityGroup, TicketKind, TicketState, UnknownName, Urgency};
pub use phone::{PhoneNumber, PhoneNumberError};
pub use region::{RegionCode, RegionCodeError};
pub use ticket_number::{TicketNumber, TicketNumberError};
