//! The frame every page shares: the navigation for the viewer's role, the
//! language switch, the logout button, and the live region the script
//! refreshes.

use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};

use super::session::Viewer;
use crate::auth::Role;
use crate::reports::Lang;

/// A page without a session (the login page, errors).
pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 12348" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body { (body) }
        }
    }
}

/// A page of the console. `live` is the part the script refreshes when
/// the server says something changed (`None`: the page has no live part).
pub fn page(viewer: &Viewer, path: &str, title: &str, live: bool, body: Markup) -> Markup {
    let t = |zh: &'static str, en: &'static str| viewer.t(zh, en);
    let oversees = matches!(viewer.who.role, Role::Supervisor | Role::Admin);
    html! {
        (DOCTYPE)
        html lang=(viewer.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 12348" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body data-live=(if live { "1" } else { "0" }) data-role=(viewer.who.role.as_str()) {
                header class="top" {
                    span class="brand" { "12348" }
                    nav {
                        @if oversees {
                            a href="/" { (t("实时看板", "Board")) }
                            a href="/roster" { (t("值班表", "Roster")) }
                            a href="/stats" { (t("统计", "Statistics")) }
                            a href="/reports" { (t("报表", "Reports")) }
                            a href="/quality" { (t("质量评估", "Quality")) }
                        }
                        @if viewer.who.role == Role::Lawyer {
                            a href="/my" { (t("我的工作", "My work")) }
                        }
                    }
                    form method="get" action="/tickets" class="inline search" {
                        input name="number" placeholder=(t("工单编号", "Ticket number")) size="11" inputmode="numeric" aria-label=(t("查找工单", "Find a ticket"));
                    }
                    span class="who" id="who" { (viewer.who.actor()) }
                    (language_links(viewer.lang, path))
                    form method="post" action="/logout" class="inline" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        button type="submit" id="logout" { (t("退出", "Log out")) }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// 中文 | English, each leading back to `path`.
pub fn language_links(lang: Lang, path: &str) -> Markup {
    html! {
        span class="lang" {
            @if lang == Lang::Zh { b { "中文" } } @else { a href={"/lang?to=zh&back=" (path)} id="lang-zh" { "中文" } }
            " | "
            @if lang == Lang::En { b { "English" } } @else { a href={"/lang?to=en&back=" (path)} id="lang-en" { "English" } }
        }
    }
}

/// A time as China Standard Time, to the minute.
pub fn time(at: DateTime<Utc>) -> String {
    at.with_timezone(&hotline_domain::shanghai())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A duration in words: `3 min`, `2 h 5 min`, `4 d`.
pub fn span(lang: Lang, d: chrono::Duration) -> String {
    let minutes = d.num_minutes().max(0);
    let (h, m) = (minutes / 60, minutes % 60);
    match (lang, h) {
        (Lang::Zh, 0) => format!("{m} 分钟"),
        (Lang::Zh, h) if h < 48 => format!("{h} 小时 {m} 分"),
        (Lang::Zh, h) => format!("{} 天", h / 24),
        (Lang::En, 0) => format!("{m} min"),
        (Lang::En, h) if h < 48 => format!("{h} h {m} min"),
        (Lang::En, h) => format!("{} d", h / 24),
    }
}

/// The hidden CSRF field of every form.
pub fn csrf(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}
