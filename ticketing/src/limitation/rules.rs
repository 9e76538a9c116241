//! The rule table: limitation periods with their legal basis, and which rules
//! govern each matter. Data, not code, so a center can correct it.

use std::collections::BTreeMap;
use std::path::Path;

use hotline_domain::{Document, Matter};
use serde::Deserialize;

/// The rule table shipped with this version.
pub const BUNDLED: &str = include_str!("../../data/limitation-rules.toml");
const BUNDLED_NAME: &str = "ticketing/data/limitation-rules.toml (bundled)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Days(u32),
    Months(u32),
    Years(u32),
    /// No limitation applies (support payments, Civil Code art. 196).
    None,
}

impl Period {
    /// Whether the period is one year or shorter (unknown dates are urgent then).
    pub fn at_most_a_year(self) -> bool {
        match self {
            Period::Days(d) => d <= 366,
            Period::Months(m) => m <= 12,
            Period::Years(y) => y <= 1,
            Period::None => false,
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: u32| if n == 1 { "" } else { "s" };
        match *self {
            Period::Days(n) => write!(f, "{n} day{}", plural(n)),
            Period::Months(n) => write!(f, "{n} month{}", plural(n)),
            Period::Years(n) => write!(f, "{n} year{}", plural(n)),
            Period::None => f.write_str("none"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub period: Period,
    pub starts: String,
    pub legal_basis: String,
    pub notes: String,
    /// A Civil Code period: never more than 20 years after the harm (art. 188).
    pub civil: bool,
    /// What to examine once the period has passed.
    pub if_expired: String,
    /// Shown whenever the rule is a candidate.
    pub warning: Option<String>,
}

/// What a lawyer is told of a passed period when the rule file says nothing.
const DEFAULT_IF_EXPIRED: &str =
    "the computed period has ended: examine whether it was suspended, interrupted or extended";

#[derive(Debug, Clone)]
pub struct RuleTable {
    rules: Vec<Rule>,
    matters: BTreeMap<Matter, Vec<usize>>,
    documents: BTreeMap<Document, Vec<usize>>,
    documents_by_matter: BTreeMap<(Matter, Document), Vec<usize>>,
}

/// A rule file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct RuleFileError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    rule: Vec<RuleFile>,
    matters: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    documents: BTreeMap<String, Vec<String>>,
    #[serde(default, rename = "documents-by-matter")]
    documents_by_matter: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: String,
    days: Option<u32>,
    months: Option<u32>,
    years: Option<u32>,
    none: Option<bool>,
    starts: String,
    legal_basis: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    civil: bool,
    if_expired: Option<String>,
    warning: Option<String>,
}

impl RuleTable {
    pub fn bundled() -> Result<Self, RuleFileError> {
        Self::parse(BUNDLED, BUNDLED_NAME)
    }

    pub fn load(path: &Path) -> Result<Self, RuleFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| RuleFileError {
            file: path.display().to_string(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, file: &str) -> Result<Self, RuleFileError> {
        let fail = |needle: Option<&str>, offset: Option<usize>, reason: String| {
            // A needle may begin with the newline before its line.
            let offset = offset.or_else(|| {
                needle.and_then(|n| text.find(n).map(|i| i + usize::from(n.starts_with('\n'))))
            });
            RuleFileError {
                file: file.to_owned(),
                line: offset.map_or(0, |o| text[..o.min(text.len())].matches('\n').count() + 1),
                reason,
            }
        };
        let parsed: File = toml::from_str(text)
            .map_err(|e| fail(None, e.span().map(|s| s.start), e.message().to_owned()))?;
        let mut rules = Vec::new();
        for r in parsed.rule {
            let at = format!("\"{}\"", r.id);
            let period = match (r.days, r.months, r.years, r.none) {
                (Some(d), None, None, None) if d > 0 => Period::Days(d),
                (None, Some(m), None, None) if m > 0 => Period::Months(m),
                (None, None, Some(y), None) if y > 0 => Period::Years(y),
                (None, None, None, Some(true)) => Period::None,
                _ => {
                    return Err(fail(
                        Some(&at),
                        None,
                        format!(
                            "rule `{}` needs exactly one of days, months, years (above 0) or none = true",
                            r.id
                        ),
                    ))
                }
            };
            let id_ok = !r.id.is_empty()
                && r.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !id_ok {
                return Err(fail(
                    Some(&at),
                    None,
                    format!("rule id `{}` must be lower-case words joined by -", r.id),
                ));
            }
            if rules.iter().any(|x: &Rule| x.id == r.id) {
                return Err(fail(
                    Some(&at),
                    None,
                    format!("rule `{}` is defined twice", r.id),
                ));
            }
            if r.legal_basis.trim().is_empty() {
                return Err(fail(
                    Some(&at),
                    None,
                    format!("rule `{}` has no legal basis", r.id),
                ));
            }
            rules.push(Rule {
                id: r.id,
                period,
                starts: r.starts,
                legal_basis: r.legal_basis,
                notes: r.notes,
                civil: r.civil,
                if_expired: r
                    .if_expired
                    .unwrap_or_else(|| DEFAULT_IF_EXPIRED.to_owned()),
                warning: r.warning,
            });
        }
        let resolve = |at: &str, owner: &str, ids: Vec<String>| {
            if ids.is_empty() {
                return Err(fail(Some(at), None, format!("{owner} lists no rule")));
            }
            ids.into_iter()
                .map(|id| {
                    rules.iter().position(|r| r.id == id).ok_or_else(|| {
                        fail(Some(at), None, format!("{owner} names unknown rule `{id}`"))
                    })
                })
                .collect::<Result<Vec<usize>, _>>()
        };
        let mut matters = BTreeMap::new();
        for (name, ids) in parsed.matters {
            let at = format!("\n{name} =");
            let matter = Matter::parse(&name).map_err(|e| fail(Some(&at), None, e.to_string()))?;
            matters.insert(matter, resolve(&at, &format!("matter `{name}`"), ids)?);
        }
        let mut documents = BTreeMap::new();
        for (name, ids) in parsed.documents {
            let at = format!("\n{name} =");
            let document =
                Document::parse(&name).map_err(|e| fail(Some(&at), None, e.to_string()))?;
            documents.insert(document, resolve(&at, &format!("document `{name}`"), ids)?);
        }
        let mut documents_by_matter = BTreeMap::new();
        for (matter_name, table) in parsed.documents_by_matter {
            let at = format!("[documents-by-matter.{matter_name}]");
            let matter =
                Matter::parse(&matter_name).map_err(|e| fail(Some(&at), None, e.to_string()))?;
            for (name, ids) in table {
                let document =
                    Document::parse(&name).map_err(|e| fail(Some(&at), None, e.to_string()))?;
                let owner = format!("document `{name}` of matter `{matter_name}`");
                documents_by_matter.insert((matter, document), resolve(&at, &owner, ids)?);
            }
        }
        // The phone asks for these documents: one without rules would fall
        // back to the matter's years-long period and hide a 15-day one.
        if let Some(missing) = Document::ALL.iter().find(|d| !documents.contains_key(d)) {
            return Err(fail(
                Some("[documents]"),
                None,
                format!("document `{missing}` has no rules"),
            ));
        }
        if let Some(missing) = Matter::ALL.iter().find(|m| !matters.contains_key(m)) {
            return Err(fail(
                Some("[matters]"),
                None,
                format!("matter `{missing}` has no rules"),
            ));
        }
        Ok(Self {
            rules,
            matters,
            documents,
            documents_by_matter,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The rules that govern a matter (at least one, checked at load).
    pub fn for_matter(&self, matter: Matter) -> Vec<&Rule> {
        self.matters
            .get(&matter)
            .map(|indices| indices.iter().map(|&i| &self.rules[i]).collect())
            .unwrap_or_default()
    }

    /// The rules a received document is governed by: the matter's own
    /// mapping for that document if it has one, else the document's. `None`
    /// when the table maps the document to nothing.
    pub fn for_document(&self, document: Document, matter: Option<Matter>) -> Option<Vec<&Rule>> {
        let indices = matter
            .and_then(|m| self.documents_by_matter.get(&(m, document)))
            .or_else(|| self.documents.get(&document))?;
        Some(indices.iter().map(|&i| &self.rules[i]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_table_loads_and_maps_every_matter() {
        let table = RuleTable::bundled().unwrap();
        assert_eq!(table.rules().len(), 25);
        for d in Document::ALL {
            assert!(table.for_document(*d, None).is_some(), "{d}");
        }
        for m in Matter::ALL {
            assert!(!table.for_matter(*m).is_empty(), "{m}");
        }
        let land: Vec<_> = table
            .for_matter(Matter::LandExpropriation)
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(land, ["admin-reconsideration", "admin-litigation"]);
        assert_eq!(table.rule("support-payments").unwrap().period, Period::None);
    }

    /// Every document mapped to the test tables' one rule.
    const DOCUMENTS: &str = "[documents]\njudgment = [\"r\"]\nruling = [\"r\"]\narbitral-award = [\"r\"]\nadministrative-decision = [\"r\"]\nreconsideration-decision = [\"r\"]\n";

    #[test]
    fn a_table_that_leaves_a_document_without_rules_is_refused() {
        let mut matters = vec!["labor-wages = [\"r\"]".to_owned()];
        for m in Matter::ALL.iter().skip(1) {
            matters.push(format!("{m} = [\"r\"]"));
        }
        let text = format!(
            "[[rule]]\nid = \"r\"\nyears = 1\nstarts = \"x\"\nlegal_basis = \"y\"\n\n[matters]\n{}\n",
            matters.join("\n")
        );
        let err = RuleTable::parse(&text, "rules.toml").unwrap_err();
        assert!(
            err.reason.contains("document `judgment` has no rules"),
            "{err}"
        );
        RuleTable::parse(&format!("{text}\n{DOCUMENTS}"), "rules.toml").unwrap();
    }

    #[test]
    fn broken_tables_are_refused_with_line_and_reason() {
        let base = |rule: &str, matters: &str| {
            format!(
                "[[rule]]\n{rule}\nstarts = \"x\"\nlegal_basis = \"y\"\n\n[matters]\n{matters}\n\n{DOCUMENTS}"
            )
        };
        let all = |first: &str| {
            let mut lines = vec![first.to_owned()];
            for m in Matter::ALL.iter().skip(1) {
                lines.push(format!("{m} = [\"r\"]"));
            }
            lines.join("\n")
        };
        let ok = base("id = \"r\"\nyears = 1", &all("labor-wages = [\"r\"]"));
        RuleTable::parse(&ok, "rules.toml").unwrap();

        let cases = [
            (
                base(
                    "id = \"r\"\nyears = 1\ndays = 3",
                    &all("labor-wages = [\"r\"]"),
                ),
                2,
                "exactly one of",
            ),
            (
                base("id = \"r\"\nyears = 0", &all("labor-wages = [\"r\"]")),
                2,
                "exactly one of",
            ),
            (
                base("id = \"r\"\nyears = 1", &all("labor-wages = [\"nope\"]")),
                8,
                "unknown rule `nope`",
            ),
            (
                base("id = \"r\"\nyears = 1", &all("labour = [\"r\"]")),
                8,
                "unknown matter `labour`",
            ),
            (
                base("id = \"r\"\nyears = 1", "family = [\"r\"]"),
                7,
                "has no rules",
            ),
            (
                base("id = \"R 1\"\nyears = 1", &all("labor-wages = [\"r\"]")),
                2,
                "lower-case",
            ),
            (
                base("id = \"r\"\nyears = -1", &all("labor-wages = [\"r\"]")),
                3,
                "",
            ),
        ];
        for (text, line, reason) in cases {
            let err = RuleTable::parse(&text, "rules.toml").unwrap_err();
            assert_eq!(
                (err.line, err.file.as_str()),
                (line, "rules.toml"),
                "{err}\n{text}"
            );
            assert!(err.reason.contains(reason), "{err}");
        }
    }
}
