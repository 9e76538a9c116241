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
use crate::stats::Period;

/// The most tickets per lawyer a sample may ask for.
const MAX_PER_LAWYER: u32 = 1000;

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
}
