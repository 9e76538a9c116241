//! Domain types shared by the IVR and the ticketing service.
//!
//! Every value that crosses a process boundary (a gRPC field, a CLI argument,
//! a keyed-in digit string) is parsed into one of these types at the edge, so
//! the rest of the code never handles an unchecked string.

pub mod calendar;
pub mod limits;
pub mod names;
pub mod phone;
pub mod region;
pub mod sip_uri;
pub mod ticket_number;
pub mod token;

pub use calendar::{CalendarError, HolidayCalendar};
pub use names::{
    Document, HardshipBasis, Language, Matter, PriorityGroup, TicketKind, TicketState, UnknownName,
    Urgency,
};
pub use phone::{PhoneNumber, PhoneNumberError};
pub use region::{RegionCode, RegionCodeError, RegionLevel};
pub use sip_uri::{SipUri, SipUriError};
pub use ticket_number::{TicketNumber, TicketNumberError};

/// The offset of Asia/Shanghai: UTC+8 all year (China has kept no daylight
/// saving time since 1991), so a fixed offset gives its calendar dates.
pub fn shanghai() -> chrono::FixedOffset {
    const EIGHT_HOURS: i32 = 8 * 3600;
    match chrono::FixedOffset::east_opt(EIGHT_HOURS) {
        Some(offset) => offset,
        None => unreachable!("UTC+8 is a valid offset"),
    }
}

/// An instant as people read it: in Asia/Shanghai, to the second
/// (`2026-03-02T10:00:00+08:00`). Notes, errors and listings all use it, so
/// one screen never mixes zones or precisions.
pub fn shown_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&shanghai())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}
