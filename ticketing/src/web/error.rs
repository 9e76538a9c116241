//! How the console answers what went wrong: the gRPC status the gate and
//! the front door speak, turned into the HTTP status a browser expects
//! (401 sends a page to the login, 403, 404, 400, 409), with a page that
//! says why.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use tonic::Code;

use crate::routing::RosterError;
use crate::service::AccessError;
use crate::StoreError;

#[derive(Debug)]
pub enum WebError {
    /// No session, or its token is no longer good: to the login page.
    Login,
    Status(StatusCode, String),
}

impl WebError {
    pub fn bad_request(why: impl Into<String>) -> Self {
        Self::Status(StatusCode::BAD_REQUEST, why.into())
    }

    pub fn conflict(why: impl Into<String>) -> Self {
        Self::Status(StatusCode::CONFLICT, why.into())
    }
}

impl From<tonic::Status> for WebError {
    fn from(s: tonic::Status) -> Self {
        let code = match s.code() {
            Code::Unauthenticated => return Self::Login,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::Status(code, s.message().to_owned())
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        tonic::Status::from(e).into()
    }
}

impl From<AccessError> for WebError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Auth(_) => Self::Login,
            AccessError::Store(e) => e.into(),
        }
    }
}

impl From<RosterError> for WebError {
    fn from(e: RosterError) -> Self {
        let code = match e {
            RosterError::UnknownLawyer(_) | RosterError::UnknownShift(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::CONFLICT,
        };
        Self::Status(code, e.to_string())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::Login => Redirect::to("/login").into_response(),
            WebError::Status(code, why) => {
                if code.is_server_error() {
                    tracing::error!(status = %code, "console: {why}");
                }
                let title = code.canonical_reason().unwrap_or("Error");
                let page = html! {
                    (maud::DOCTYPE)
                    html {
                        head {
                            meta charset="utf-8";
                            meta name="viewport" content="width=device-width, initial-scale=1";
                            title { (code.as_u16()) " " (title) }
                            link rel="stylesheet" href="/assets/console.css";
                        }
                        body {
                            main class="error" {
                                h1 { (code.as_u16()) " " (title) }
                                p id="why" { (why) }
                                p { a href="/" { "← 返回 / Back" } }
                            }
                        }
                    }
                };
                (code, page).into_response()
            }
        }
    }
}

/// A page that does not exist.
pub async fn not_found() -> WebError {
    WebError::Status(StatusCode::NOT_FOUND, "no such page".to_owned())
}

/// axum's own refusals of a malformed form or query (a missing field, a
/// number that is not one) come as plain text with 400 or 422: they get
/// the console's error page, as 400, with axum's words.
pub async fn rejections_as_pages(response: Response) -> Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(plain
        && (status == StatusCode::UNPROCESSABLE_ENTITY
            || status == StatusCode::BAD_REQUEST
            || status == StatusCode::UNSUPPORTED_MEDIA_TYPE))
    {
        return response;
    }
    let why = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => "the request could not be read".to_owned(),
    };
    // "Failed to deserialize form body: missing field `reason`" says which
    // field; the person needs only that.
    let why = match why.split_once("missing field `") {
        Some((_, rest)) => match rest.split_once('`') {
            Some(("csrf", _)) => {
                "the form did not come from this console (no CSRF field); reload the page"
                    .to_owned()
            }
            Some((field, _)) => format!("{field}: is required"),
            None => why,
        },
        None => why,
    };
    WebError::bad_request(why).into_response()
}

/// Headers every answer carries: no framing by other sites, no content
/// sniffing, nothing loaded from elsewhere, no caching of personal data.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}
