//! Voice paging of duty lawyers, the IVR node's side: it subscribes to
//! ticketing's page stream (`RoutingService/TakePages`, each page claimed
//! for this node alone), dials the lawyer, plays the message and takes
//! their key ([`dialog`], sans-I/O), and reports the outcome
//! (`ReportPage`). Only what ticketing sends from the roster is dialled —
//! a plain `sip:` URI, or a phone number through the configured outbound
//! trunk — and each is checked again here before a call is placed.

pub mod dialog;
mod pager;

pub use dialog::{Choice, PageAction, PageDialog, PageInput, PageMessage};
pub(crate) use pager::{detail, not_answered, take};
pub use pager::{resolve, run, PagerConfig, Route, RouteError};

use hotline_proto::v1 as pb;

/// A page being dialled: what to say, and how to tell ticketing the choice.
#[derive(Clone)]
pub struct PageCall {
    pub page_id: i64,
    pub node: String,
    pub message: PageMessage,
    pub tickets: crate::tickets::TicketsClient,
}

impl PageCall {
    /// Reports the lawyer's key; `Some(decided)`, or `None` when ticketing
    /// could not be reached.
    pub async fn report(&self, choice: Choice) -> Option<bool> {
        let outcome = match choice {
            Choice::Accept => "accepted",
            Choice::Decline => "declined",
        };
        let report = pb::PageReport {
            page_id: self.page_id,
            node: self.node.clone(),
            outcome: outcome.to_owned(),
            detail: Some("key pressed".to_owned()),
            permanent: false,
        };
        match self.tickets.report_page(report).await {
            Ok(receipt) => Some(receipt.decided),
            Err(status) => {
                tracing::warn!(page = self.page_id, error = %status.message(), "the lawyer's choice could not be reported");
                None
            }
        }
    }
}

impl std::fmt::Debug for PageCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCall")
            .field("page_id", &self.page_id)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}
