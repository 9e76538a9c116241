//! Logging in and out, and who is asking. A login with a token opens a
//! session (a random id in an HttpOnly, SameSite=Strict cookie, Secure on
//! TLS; only its SHA-256 is stored) that stands for the token: revoking or
//! expiring the token ends it. Every change is a POST carrying the
//! session's CSRF secret, checked in constant time.

use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::error::WebError;
use super::layout;
use super::Console;
use crate::auth::{AuthError, Principal, Role};
use crate::reports::Lang;
use crate::service::AccessError;

pub const SESSION_COOKIE: &str = "hotline_session";
const LANG_COOKIE: &str = "hotline_lang";
/// How long a login lasts: a working day and a night shift.
const SESSION_HOURS: i64 = 14;

/// The holder of a live session, as every page sees them.
pub struct Viewer {
    pub who: Principal,
    pub csrf: String,
    pub lang: Lang,
}

impl Viewer {
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        self.lang.pick(zh, en)
    }

    /// Checks the CSRF secret a form sent.
    pub fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(WebError::Status(
                axum::http::StatusCode::FORBIDDEN,
                "the form is stale or did not come from this console (CSRF check failed); reload the page and try again".to_owned(),
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A cookie's value from the request's Cookie headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or_default()
}

impl FromRequestParts<Console> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, WebError> {
        let lang = lang_of(&parts.headers);
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or(WebError::Login)?;
        // Only well-formed ids reach the database.
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(WebError::Login);
        }
        let (who, csrf) = console.ticketing.session(id).await?;
        Ok(Viewer { who, csrf, lang })
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login_page(headers: HeaderMap) -> Markup {
    login_form(lang_of(&headers), None)
}

fn login_form(lang: Lang, error: Option<&str>) -> Markup {
    let t = |zh: &'static str, en: &'static str| lang.pick(zh, en);
    layout::bare(
        lang,
        t("登录", "Log in"),
        html! {
            main class="login" {
                h1 { "12348 " (t("法律援助热线", "legal-aid hotline")) }
                @if let Some(e) = error { p class="flash error" id="login-error" { (e) } }
                form method="post" action="/login" {
                    label for="token" { (t("访问令牌", "Access token")) }
                    input type="password" id="token" name="token" autocomplete="off" required
                        placeholder="hlt_…";
                    button type="submit" id="login" { (t("登录", "Log in")) }
                }
                p class="hint" {
                    (t("令牌由管理员用 hotline token create 生成。", "An administrator makes tokens with hotline token create."))
                }
                p { (layout::language_links(lang, "/login")) }
            }
        },
    )
}

pub async fn login(
    State(console): State<Console>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let lang = lang_of(&headers);
    let token = form.token.trim();
    let lifetime = chrono::Duration::hours(SESSION_HOURS);
    match console.ticketing.open_session(token, lifetime).await {
        Ok((id, _csrf, who)) => {
            if who.role == Role::Ivr {
                console.ticketing.close_session(&id).await?;
                return Ok(login_refused(
                    lang,
                    lang.pick(
                        "IVR 令牌不能登录控制台。",
                        "An IVR token cannot log in to the console.",
                    ),
                ));
            }
            tracing::info!(actor = %who.actor(), "console login");
            let secure = if console.options.tls.is_some() {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                SESSION_HOURS * 3600
            );
            let home = if who.role == Role::Lawyer { "/my" } else { "/" };
            let mut response = Redirect::to(home).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(response)
        }
        Err(AccessError::Auth(e)) => {
            let _ = console.gate.refuse_login(&e).await;
            let why = match e {
                AuthError::Expired => lang.pick("令牌已过期。", "The token has expired."),
                AuthError::Malformed(ref why) => {
                    return Ok(login_refused(
                        lang,
                        &format!(
                            "{} {why}",
                            lang.pick("令牌格式不对：", "That is not a whole token:")
                        ),
                    ))
                }
                _ => lang.pick("令牌无效或已被吊销。", "The token is unknown or revoked."),
            };
            Ok(login_refused(lang, why))
        }
        Err(AccessError::Store(e)) => Err(e.into()),
    }
}

fn login_refused(lang: Lang, why: &str) -> Response {
    (
        axum::http::StatusCode::UNAUTHORIZED,
        login_form(lang, Some(why)),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

pub async fn logout(
    State(console): State<Console>,
    headers: HeaderMap,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        console.ticketing.close_session(id).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("hotline_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// A path the console's own links produce: `/`, then letters, digits and
/// `/ _ - . ? = &`, never a second `/` right after the first.
fn is_console_path(path: &str) -> bool {
    path.starts_with('/')
        && !path[1..].starts_with('/')
        && path.len() <= 200
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.?=&".contains(&b))
}

#[derive(Deserialize)]
pub struct LangQuery {
    to: String,
    #[serde(default)]
    back: Option<String>,
}

/// Switches the language (a cookie) and goes back to the page.
pub async fn switch_language(Query(q): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&q.to).unwrap_or_default();
    // Only a path of this site, of the characters its own links use:
    // never an open redirect (`//host`, `/\host`, control characters).
    let back = q
        .back
        .filter(|b| is_console_path(b))
        .unwrap_or_else(|| "/".to_owned());
    let mut response = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LANG_COOKIE}={}; Path=/; SameSite=Strict; Max-Age=31536000",
        lang.code()
    )) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_console_path;

    #[test]
    fn the_language_switch_goes_back_only_to_console_pages() {
        for ok in [
            "/",
            "/tickets/1234567890",
            "/stats?from=2026-01-01&to=2026-01-31",
        ] {
            assert!(is_console_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\tevil",
            "https://evil",
            "",
            "/a b",
        ] {
            assert!(!is_console_path(bad), "{bad}");
        }
    }
}
