//! Charts drawn as SVG on the server: horizontal bars, one per label, with
//! the value written at the bar's end. No script, so they print and show in
//! a PDF exactly as on screen.

use maud::{html, Markup};

/// The bars' colour; tests look for it in printed pages.
pub const BAR_COLOUR: &str = "#1f6feb";

const WIDTH: u32 = 560;
const LABEL_WIDTH: u32 = 190;
const ROW: u32 = 24;

/// A bar chart of `rows` (label, value), titled `title`.
pub fn bars(title: &str, rows: &[(String, f64)], unit: &str) -> Markup {
    let max = rows.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let height = ROW * (rows.len() as u32).max(1) + 8;
    let bar_space = f64::from(WIDTH - LABEL_WIDTH - 70);
    html! {
        figure class="chart" {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
                width=(WIDTH) height=(height) viewBox={"0 0 " (WIDTH) " " (height)} {
                @if rows.is_empty() {
                    text x="4" y="18" font-size="13" fill="#666" { "—" }
                }
                @for (i, (label, value)) in rows.iter().enumerate() {
                    @let y = 4 + ROW * i as u32;
                    @let w = if max > 0.0 { (value / max * bar_space).max(1.0) } else { 1.0 };
                    text x=(LABEL_WIDTH - 6) y=(y + 15) font-size="13" text-anchor="end" fill="#222" { (label) }
                    rect x=(LABEL_WIDTH) y=(y + 2) width=(format!("{w:.1}")) height=(ROW - 6) fill=(BAR_COLOUR) {}
                    text x=(format!("{:.1}", f64::from(LABEL_WIDTH) + w + 6.0)) y=(y + 15) font-size="13" fill="#222" {
                        (format_value(*value)) (unit)
                    }
                }
            }
        }
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
