//! `hotline.v1.ReportService`: the period's report (CSV or printable HTML)
//! and the quality-review sample, for `hotline supervisor report|sample`.
//! The documents are the web console's own.

use chrono::NaiveDate;
use hotline_proto::v1 as pb;
use hotline_proto::v1::report_service_server::ReportService;
use tonic::{Request, Response, Status};

use super::convert::field_error;
use super::gate::{Gate, Method};
use crate::reports::{html_page, Lang};
use crate::service::Ticketing;
use crate::stats::ivr::{MenuNodeDay, NodeCounts};
use crate::stats::Period;

/// The most tickets per lawyer a sample may ask for.
const MAX_PER_LAWYER: u32 = 1000;
/// The most calls an IVR node's report lists (it counts them all).
const MAX_CALLS_LISTED: usize = 200;
/// The most (day, center, node) rows one report carries.
const MAX_NODE_ROWS: usize = 5000;
/// The longest center or menu node id.
const MAX_ID_LEN: usize = 64;

pub struct ReportApi {
    ticketing: Ticketing,
    gate: Gate,
}

impl ReportApi {
    pub fn new(ticketing: Ticketing, gate: Gate) -> Self {
        Self { ticketing, gate }
    }
}

fn date(field: &str, text: &str) -> Result<NaiveDate, Status> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| field_error(field, &format!("`{text}` is not a date (YYYY-MM-DD)")))
}

fn period(from: &str, to: &str) -> Result<Period, Status> {
    Period::new(date("from", from)?, date("to", to)?).map_err(|e| field_error("to", &e.to_string()))
}

#[tonic::async_trait]
impl ReportService for ReportApi {
    async fn report(
        &self,
        request: Request<pb::ReportRequest>,
    ) -> Result<Response<pb::ReportDocument>, Status> {
        let who = self.gate.admit(&request, Method::Report).await?;
        let req = request.into_inner();
        let period = period(&req.from, &req.to)?;
        let lang = match req.language.as_deref() {
            None | Some("") => Lang::Zh,
            Some(l) => Lang::parse(l).ok_or_else(|| field_error("language", "zh or en"))?,
        };
        let html = match req.format.as_str() {
            "csv" => false,
            "html" => true,
            other => return Err(field_error("format", &format!("`{other}`: csv or html"))),
        };
        let center = self
            .gate
            .center_for(&who, Method::Report, req.center)
            .await?;
        let report = self.ticketing.report(&period, center.as_deref()).await?;
        let (content_type, content) = if html {
            (
                "text/html; charset=utf-8",
                html_page(&report, lang).into_string().into_bytes(),
            )
        } else {
            let csv = report
                .to_csv()
                .map_err(|e| Status::internal(format!("cannot write the CSV: {e}")))?;
            ("text/csv; charset=utf-8", csv.into_bytes())
        };
        Ok(Response::new(pb::ReportDocument {
            content_type: content_type.to_owned(),
            content,
        }))
    }

    async fn quality_sample(
        &self,
        request: Request<pb::QualitySampleRequest>,
    ) -> Result<Response<pb::QualitySampleResponse>, Status> {
        let who = self.gate.admit(&request, Method::QualitySample).await?;
        let req = request.into_inner();
        let period = period(&req.from, &req.to)?;
        if req.per_lawyer == 0 || req.per_lawyer > MAX_PER_LAWYER {
            return Err(field_error(
                "per_lawyer",
                &format!("1 to {MAX_PER_LAWYER} tickets per lawyer"),
            ));
        }
        let center = self
            .gate
            .center_for(&who, Method::QualitySample, req.center)
            .await?;
        let drawn = self
            .ticketing
            .quality_sample(
                &period,
                center.as_deref(),
                req.per_lawyer as usize,
                req.seed,
            )
            .await?;
        Ok(Response::new(pb::QualitySampleResponse {
            tickets: drawn
                .into_iter()
                .map(|(number, lawyer)| pb::SampledTicket {
                    lawyer,
                    number: number.to_string(),
                })
                .collect(),
        }))
    }

    async fn publish_ivr_figures(
        &self,
        request: Request<pb::IvrFigures>,
    ) -> Result<Response<pb::IvrFiguresReceipt>, Status> {
        self.gate.admit(&request, Method::PublishIvrFigures).await?;
        let req = request.into_inner();
        let rows = ivr_rows(&req)?;
        self.ticketing
            .publish_ivr_figures(
                &req.ivr_node,
                &req.boot,
                req.calls_in_progress,
                req.calls,
                &rows,
            )
            .await?;
        Ok(Response::new(pb::IvrFiguresReceipt {}))
    }
}

/// An IVR node's report, checked field by field.
fn ivr_rows(req: &pb::IvrFigures) -> Result<Vec<MenuNodeDay>, Status> {
    let id_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if !id_ok(&req.ivr_node) {
        return Err(field_error(
            "ivr_node",
            "1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    if req.boot.len() != 32 || !req.boot.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(field_error("boot", "32 hex digits"));
    }
    if req.calls.len() > MAX_CALLS_LISTED {
        return Err(field_error(
            "calls",
            &format!("at most {MAX_CALLS_LISTED} calls listed"),
        ));
    }
    // The board shows these fields as text: bounded, no control characters.
    for (i, c) in req.calls.iter().enumerate() {
        for (name, value) in [
            ("call_id", &c.call_id),
            ("caller", &c.caller),
            ("called", &c.called),
            ("state", &c.state),
            ("position", &c.position),
            ("sip_call_id", &c.sip_call_id),
            ("center", &c.center),
        ] {
            if value.len() > MAX_ID_LEN || value.chars().any(char::is_control) {
                return Err(field_error(
                    &format!("calls[{i}].{name}"),
                    "at most 64 bytes, no control characters",
                ));
            }
        }
    }
    if req.nodes.len() > MAX_NODE_ROWS {
        return Err(field_error(
            "nodes",
            &format!("at most {MAX_NODE_ROWS} rows"),
        ));
    }
    req.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let day = NaiveDate::parse_from_str(&n.date, "%Y-%m-%d").map_err(|_| {
                field_error(
                    &format!("nodes[{i}].date"),
                    &format!("`{}` is not a date (YYYY-MM-DD)", n.date),
                )
            })?;
            if !id_ok(&n.center) {
                return Err(field_error(
                    &format!("nodes[{i}].center"),
                    "1 to 64 letters, digits, '-', '_' or '.'",
                ));
            }
            // A menu node's id is the menu author's: any text, bounded.
            if n.node.is_empty()
                || n.node.len() > MAX_ID_LEN
                || n.node.chars().any(char::is_control)
            {
                return Err(field_error(
                    &format!("nodes[{i}].node"),
                    "1 to 64 bytes, no control characters",
                ));
            }
            Ok(MenuNodeDay {
                day,
                center: n.center.clone(),
                node: n.node.clone(),
                counts: NodeCounts {
                    entered: n.entered,
                    completed: n.completed,
                    abandoned: n.abandoned,
                    invalid: n.invalid,
                    timeouts: n.timeouts,
                },
            })
        })
        .collect()
}
