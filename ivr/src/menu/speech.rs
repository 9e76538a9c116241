//! How each language reads numbers and dates from per-digit and per-word
//! prompts: ticket and phone numbers digit by digit; dates as year, month
//! and day in the order and words the language uses.

use chrono::{Datelike, NaiveDate};

pub use hotline_domain::Language;

/// The speech rules of a [`Language`]: which prompts read out numbers and
/// dates, and in what order.
pub trait Speech: Copy {
    /// Every prompt the rules below can ask for in this language.
    fn required_prompts(self) -> Vec<String>;
    /// A number keyed on a phone, one prompt per digit.
    fn digits(self, number: &str) -> Vec<String>;
    /// A count (days left): 十二 in Mandarin up to 99; digit by digit
    /// otherwise and in English, which has no number words recorded.
    fn count(self, n: u32) -> Vec<String>;
    /// A date as the language says it.
    fn date(self, date: NaiveDate) -> Vec<String>;
}

impl Speech for Language {
    fn required_prompts(self) -> Vec<String> {
        let mut out: Vec<String> = (0..10).map(|d| format!("digit-{d}")).collect();
        match self {
            Language::Zh => {
                out.extend((0..10).map(|d| format!("count-{d}")));
                out.extend(["word-ten", "word-year", "word-month", "word-day"].map(String::from));
            }
            Language::En => {
                out.extend((1..=12).map(|m| format!("month-{m}")));
                out.extend((1..=31).map(|d| format!("ordinal-{d}")));
            }
        }
        out.extend(NEXT_STEPS.iter().map(|s| format!("next-step-{s}")));
        out.extend(STATUSES.iter().map(|s| format!("status-{s}")));
        out
    }

    fn digits(self, number: &str) -> Vec<String> {
        number
            .chars()
            .filter_map(|c| c.to_digit(10))
            .map(|d| format!("digit-{d}"))
            .collect()
    }

    fn count(self, n: u32) -> Vec<String> {
        match self {
            Language::Zh if (1..=99).contains(&n) => zh_number(n),
            _ => self.digits(&n.to_string()),
        }
    }

    /// A date: 二〇二六年十一月二十八日 / November twenty-eighth, two zero two six.
    fn date(self, date: NaiveDate) -> Vec<String> {
        let year = format!("{:04}", date.year());
        match self {
            Language::Zh => {
                let mut out: Vec<String> = year
                    .chars()
                    .filter_map(|c| c.to_digit(10))
                    .map(|d| format!("count-{d}"))
                    .collect();
                out.push("word-year".into());
                out.extend(zh_number(date.month()));
                out.push("word-month".into());
                out.extend(zh_number(date.day()));
                out.push("word-day".into());
                out
            }
            Language::En => {
                let mut out = vec![
                    format!("month-{}", date.month()),
                    format!("ordinal-{}", date.day()),
                ];
                out.extend(self.digits(&year));
                out
            }
        }
    }
}

/// The next steps the result node can announce (`next-step-*` prompts).
pub const NEXT_STEPS: &[&str] = &[
    "critical",
    "urgent",
    "expired",
    "normal",
    "consultation",
    "pending",
];

/// The progress answers of LookupStatus (`status-*` prompts).
pub const STATUSES: &[&str] = &[
    "materials-awaited",
    "decision-pending",
    "provisional",
    "awaiting-lawyer",
    "lawyer-assigned",
    "in-progress",
    "closed",
    "rejected",
    "message-received",
    // Not a LookupStatus code: ticketing could not be reached.
    "unavailable",
];

/// 1–99 in Chinese counting words: 十, 十一, 二十, 二十八.
fn zh_number(n: u32) -> Vec<String> {
    let (tens, units) = (n / 10, n % 10);
    let mut out = Vec::new();
    if tens > 1 {
        out.push(format!("count-{tens}"));
    }
    if tens >= 1 {
        out.push("word-ten".into());
    }
    if units > 0 || tens == 0 {
        out.push(format!("count-{units}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_dates_read_year_digits_then_month_and_day_numbers() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(
            Language::Zh.date(d).join(" "),
            "count-2 count-0 count-2 count-6 word-year word-ten count-1 word-month count-2 word-ten count-8 word-day"
        );
        let d = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
        assert_eq!(
            Language::Zh.date(d).join(" "),
            "count-2 count-0 count-2 count-5 word-year word-ten word-month count-1 word-day"
        );
        assert_eq!(zh_number(20).join(" "), "count-2 word-ten");
        assert_eq!(zh_number(30).join(" "), "count-3 word-ten");
    }

    #[test]
    fn english_dates_read_month_ordinal_and_year_digits() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            Language::En.date(d).join(" "),
            "month-3 ordinal-1 digit-2 digit-0 digit-2 digit-6"
        );
    }

    #[test]
    fn every_prompt_a_rule_asks_for_is_required() {
        for lang in [Language::Zh, Language::En] {
            let required = lang.required_prompts();
            let mut day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
            while day.year() == 2024 {
                for p in lang.date(day) {
                    assert!(required.contains(&p), "{p} missing for {lang:?}");
                }
                day = day.succ_opt().unwrap();
            }
            for p in lang.digits("0123456789") {
                assert!(required.contains(&p));
            }
        }
    }
}
