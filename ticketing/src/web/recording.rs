//! A ticket's recording for the browser's `<audio>` element: the same rules
//! as `GetRecording` (the centre, or the lawyer the case is assigned to;
//! every read in the audit log), answered with byte ranges (RFC 9110
//! §14), which browsers use to seek and to learn the duration.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::WebError;
use super::session::Viewer;
use super::Console;
use crate::api::gate::Method;
use crate::auth::Role;
use crate::StoreError;

pub async fn audio(
    State(console): State<Console>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let who = &viewer.who;
    console.gate.allow(who, Method::GetRecording).await?;
    let id: i64 =
        id.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
            WebError::Status(StatusCode::NOT_FOUND, "no such recording".to_owned())
        })?;
    let gate = &console.gate;
    let denied = |ticket| {
        let why = format!("recording {id} is not of a ticket assigned to them");
        async move { WebError::from(gate.deny(who, Method::GetRecording, ticket, &why).await) }
    };
    let (info, number, audio) = match console.ticketing.recording_audio(id).await {
        Ok(found) => found,
        Err(StoreError::RecordingNotFound(_)) if who.role == Role::Lawyer => {
            return Err(denied(None).await)
        }
        Err(e) => return Err(e.into()),
    };
    if who.role == Role::Lawyer {
        let ticket = console.ticketing.ticket(&number).await?;
        if ticket.assigned_lawyer.as_deref() != who.lawyer_id() {
            return Err(denied(Some(&ticket)).await);
        }
    }
    let ticket = console
        .gate
        .ticket(who, Method::GetRecording, &number)
        .await?;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| parse_range(r, audio.len() as u64));
    // Every answer that carries audio is a read, and is written down
    // first: a playback is a few range requests, each in the log.
    if !matches!(range, Some(None)) {
        console.gate.audit_read(who, &[&ticket], Some(id)).await?;
    }
    let total = audio.len() as u64;
    let mut response = match range {
        None => (StatusCode::OK, audio).into_response(),
        Some(Some((start, end))) => {
            let part = audio
                .get(start as usize..=end as usize)
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            let mut r = (StatusCode::PARTIAL_CONTENT, part).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{total}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        Some(None) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&info.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// What a Range header asks of `len` bytes: `None` to ignore it (another
/// unit, or not well formed: RFC 9110 says answer the whole file),
/// `Some(None)` when it cannot be satisfied (416), `Some(Some((a, b)))` the
/// inclusive offsets of `bytes=A-B`, `bytes=A-` or `bytes=-N`. Several
/// ranges are answered with the first (browsers ask for one).
fn parse_range(text: &str, len: u64) -> Option<Option<(u64, u64)>> {
    let spec = text
        .trim()
        .strip_prefix("bytes=")?
        .split(',')
        .next()?
        .trim();
    let (a, b) = spec.split_once('-')?;
    let number = |t: &str| t.trim().parse::<u64>().ok();
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n = number(n)?;
            if n == 0 || len == 0 {
                return Some(None);
            }
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (number(a)?, len.saturating_sub(1)),
        (a, b) => {
            let (a, b) = (number(a)?, number(b)?);
            if b < a {
                return None;
            }
            (a, b.min(len.saturating_sub(1)))
        }
    };
    Some((len > 0 && start <= end && start < len).then_some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_as_browsers_send_them() {
        assert_eq!(parse_range("bytes=0-", 100), Some(Some((0, 99))));
        assert_eq!(parse_range("bytes=10-19", 100), Some(Some((10, 19))));
        assert_eq!(parse_range("bytes=90-200", 100), Some(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Some((90, 99))));
        assert_eq!(parse_range("bytes=0-0,5-6", 100), Some(Some((0, 0))));
        // Cannot be satisfied: 416.
        assert_eq!(parse_range("bytes=100-", 100), Some(None));
        assert_eq!(parse_range("bytes=-0", 100), Some(None));
        assert_eq!(parse_range("bytes=0-", 0), Some(None));
        // Not well formed, or another unit: ignored (the whole file).
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=x-", 100), None);
    }
}
