//! Reads a menu file and validates it completely before any call uses it:
//! unknown or unreachable nodes, missing prompts in any language, keys
//! mapped twice, waiting nodes without a timeout, values that are not
//! what their field takes. Every problem is reported as `file:line: reason`,
//! all of them at once, so a center fixes a file in one pass.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// A record node ends after this much silence unless it says otherwise.
const DEFAULT_RECORD_SILENCE: Duration = Duration::from_secs(5);

use chrono::NaiveTime;
use serde::Deserialize;
use toml::Spanned;

use super::model::*;
use super::speech::{self, Speech};
use crate::keypad::Digit;
use hotline_domain::limits::MAX_MESSAGE_SECS;

/// One problem in a menu file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for MenuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// Every problem found in a menu file, in line order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MenuErrors(pub Vec<MenuError>);

impl fmt::Display for MenuErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Where prompt files are looked up during validation.
#[derive(Debug, Clone, Copy)]
pub enum PromptCheck<'a> {
    /// `dir/<language>/<name>.wav` must exist for every prompt.
    Folder(&'a Path),
    /// Every prompt must be in this loaded set.
    Loaded(&'a crate::prompts::Prompts),
    /// Skip the file check (unit tests of the engine).
    Skip,
}

/// Reads and validates the menu at `path`.
pub fn load_file(path: &Path, prompts: PromptCheck<'_>) -> Result<Menu, MenuErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        MenuErrors(vec![MenuError {
            file: file.clone(),
            line: 0,
            reason: format!("cannot read the menu file: {e}"),
        }])
    })?;
    parse(&text, &file, prompts)
}

/// Parses and validates menu text; `file` names it in messages.
pub fn parse(text: &str, file: &str, prompts: PromptCheck<'_>) -> Result<Menu, MenuErrors> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
        MenuErrors(vec![MenuError {
            file: file.to_owned(),
            line,
            reason: e.message().trim().to_owned(),
        }])
    })?;
    let mut v = Checker {
        text,
        file,
        errors: Vec::new(),
        frontline_worker: raw.menu.frontline_worker.unwrap_or(false),
    };
    let menu = v.build(raw, prompts);
    if v.errors.is_empty() {
        if let Some(menu) = menu {
            return Ok(menu);
        }
    }
    v.errors.sort_by_key(|e| e.line);
    v.errors.dedup();
    Err(MenuErrors(v.errors))
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|t| t.bytes().filter(|&b| b == b'\n').count() + 1)
        .unwrap_or(1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    menu: RawHeader,
    #[serde(default)]
    centers: BTreeMap<String, Spanned<RawCenter>>,
    nodes: BTreeMap<String, Spanned<RawNode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    start: Spanned<String>,
    languages: Spanned<Vec<String>>,
    default_language: Option<Spanned<String>>,
    operator: Option<Spanned<String>>,
    type_ahead: Option<usize>,
    /// Lets a set node use the 2020 group `frontline-worker`.
    frontline_worker: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCenter {
    region: Option<Spanned<String>>,
    #[serde(default)]
    called: Vec<String>,
    #[serde(default)]
    sources: Vec<Spanned<String>>,
    #[serde(default)]
    working_day_hours: Vec<Spanned<String>>,
    #[serde(default)]
    rest_day_hours: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNode {
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    prompt: Option<Vec<Spanned<String>>>,
    short_prompt: Option<Vec<Spanned<String>>>,
    invalid_prompt: Option<Vec<Spanned<String>>>,
    next: Option<Spanned<String>>,
    keys: Option<BTreeMap<String, Spanned<String>>>,
    special: Option<BTreeMap<String, Spanned<String>>>,
    timeout_secs: Option<Spanned<f64>>,
    inter_digit_secs: Option<Spanned<f64>>,
    max_timeouts: Option<u32>,
    max_invalid: Option<u32>,
    on_timeout: Option<Spanned<String>>,
    on_failure: Option<Spanned<String>>,
    repeat_key: Option<bool>,
    operator_key: Option<bool>,
    field: Option<Spanned<String>>,
    validator: Option<Spanned<String>>,
    min_digits: Option<usize>,
    max_digits: Option<usize>,
    terminator: Option<Spanned<String>>,
    max_secs: Option<Spanned<f64>>,
    silence_secs: Option<Spanned<f64>>,
    set: Option<BTreeMap<String, Spanned<String>>>,
    reenter: Option<Spanned<String>>,
    found: Option<Spanned<String>>,
    not_found: Option<Spanned<String>>,
    fallback: Option<Spanned<String>>,
    open: Option<Spanned<String>>,
    closed: Option<Spanned<String>>,
    default: Option<Spanned<String>>,
    cases: Option<BTreeMap<String, Spanned<String>>>,
    uri: Option<Spanned<String>>,
}

/// The keys every node that waits for the caller takes.
const WAIT_KEYS: [&str; 8] = [
    "prompt",
    "short_prompt",
    "invalid_prompt",
    "timeout_secs",
    "max_timeouts",
    "max_invalid",
    "on_timeout",
    "on_failure",
];

/// The optional keys a node type takes besides `type`, and whether it also
/// takes [`WAIT_KEYS`]; `None` for an unknown type.
fn allowed(kind: &str) -> Option<(&'static [&'static str], bool)> {
    Some(match kind {
        "play" => (&["prompt", "next"], false),
        "menu" => (&["keys", "repeat_key", "operator_key"], true),
        "collect" => (
            &[
                "field",
                "validator",
                "min_digits",
                "max_digits",
                "terminator",
                "inter_digit_secs",
                "special",
                "next",
            ],
            true,
        ),
        "confirm" => (&["next", "reenter"], true),
        "record" => (&["prompt", "max_secs", "silence_secs", "next"], false),
        "set" => (&["set", "next"], false),
        "create-ticket" => (&["next", "on_failure"], false),
        "lookup-ticket" => (&["found", "not_found"], false),
        "transfer" => (&["uri", "fallback"], false),
        "hours" => (&["open", "closed"], false),
        "branch" => (&["field", "cases", "default"], false),
        "hangup" => (&["prompt"], false),
        _ => return None,
    })
}

const NODE_TYPES: &str =
    "play, menu, collect, confirm, record, set, create-ticket, lookup-ticket, transfer, hours, branch, hangup";

impl RawNode {
    /// The optional keys present, by name (to refuse those a type does not take).
    fn present(&self) -> Vec<(&'static str, Option<usize>)> {
        fn at<T>(s: &Option<Spanned<T>>) -> Option<usize> {
            s.as_ref().map(|s| s.span().start)
        }
        let mut out = Vec::new();
        let mut add = |name, present: bool, at: Option<usize>| {
            if present {
                out.push((name, at));
            }
        };
        add("prompt", self.prompt.is_some(), first(&self.prompt));
        add(
            "short_prompt",
            self.short_prompt.is_some(),
            first(&self.short_prompt),
        );
        add(
            "invalid_prompt",
            self.invalid_prompt.is_some(),
            first(&self.invalid_prompt),
        );
        add("next", self.next.is_some(), at(&self.next));
        add("keys", self.keys.is_some(), first_value(&self.keys));
        add(
            "special",
            self.special.is_some(),
            first_value(&self.special),
        );
        add(
            "timeout_secs",
            self.timeout_secs.is_some(),
            at(&self.timeout_secs),
        );
        add(
            "inter_digit_secs",
            self.inter_digit_secs.is_some(),
            at(&self.inter_digit_secs),
        );
        add("max_timeouts", self.max_timeouts.is_some(), None);
        add("max_invalid", self.max_invalid.is_some(), None);
        add(
            "on_timeout",
            self.on_timeout.is_some(),
            at(&self.on_timeout),
        );
        add(
            "on_failure",
            self.on_failure.is_some(),
            at(&self.on_failure),
        );
        add("repeat_key", self.repeat_key.is_some(), None);
        add("operator_key", self.operator_key.is_some(), None);
        add("field", self.field.is_some(), at(&self.field));
        add("validator", self.validator.is_some(), at(&self.validator));
        add("min_digits", self.min_digits.is_some(), None);
        add("max_digits", self.max_digits.is_some(), None);
        add(
            "terminator",
            self.terminator.is_some(),
            at(&self.terminator),
        );
        add("max_secs", self.max_secs.is_some(), at(&self.max_secs));
        add(
            "silence_secs",
            self.silence_secs.is_some(),
            at(&self.silence_secs),
        );
        add("set", self.set.is_some(), first_value(&self.set));
        add("reenter", self.reenter.is_some(), at(&self.reenter));
        add("found", self.found.is_some(), at(&self.found));
        add("not_found", self.not_found.is_some(), at(&self.not_found));
        add("fallback", self.fallback.is_some(), at(&self.fallback));
        add("open", self.open.is_some(), at(&self.open));
        add("closed", self.closed.is_some(), at(&self.closed));
        add("default", self.default.is_some(), at(&self.default));
        add("cases", self.cases.is_some(), first_value(&self.cases));
        add("uri", self.uri.is_some(), at(&self.uri));
        out
    }
}

fn first(list: &Option<Vec<Spanned<String>>>) -> Option<usize> {
    list.as_ref()?.first().map(|s| s.span().start)
}

fn first_value(map: &Option<BTreeMap<String, Spanned<String>>>) -> Option<usize> {
    map.as_ref()?.values().next().map(|s| s.span().start)
}

struct Checker<'a> {
    text: &'a str,
    file: &'a str,
    errors: Vec<MenuError>,
    /// `[menu] frontline_worker`: whether the 2020 group may be set.
    frontline_worker: bool,
}

impl Checker<'_> {
    fn error(&mut self, offset: usize, reason: impl Into<String>) {
        self.errors.push(MenuError {
            file: self.file.to_owned(),
            line: line_of(self.text, offset),
            reason: reason.into(),
        });
    }

    fn build(&mut self, raw: RawFile, prompts: PromptCheck<'_>) -> Option<Menu> {
        let header_at = raw.menu.start.span().start;
        let languages = raw.menu.languages.get_ref().clone();
        if languages.is_empty() {
            self.error(
                raw.menu.languages.span().start,
                "`languages` lists no language",
            );
        }
        for l in &languages {
            if speech::Language::parse(l).is_err() {
                self.error(
                    raw.menu.languages.span().start,
                    format!("language `{l}` has no speech rules; use zh or en"),
                );
            }
        }
        let default_language = match &raw.menu.default_language {
            Some(l) if !languages.contains(l.get_ref()) => {
                self.error(
                    l.span().start,
                    format!("default language `{}` is not in `languages`", l.get_ref()),
                );
                l.get_ref().clone()
            }
            Some(l) => l.get_ref().clone(),
            None => languages.first().cloned().unwrap_or_default(),
        };

        let mut nodes = BTreeMap::new();
        for (id, raw_node) in &raw.nodes {
            if let Some(node) = self.node(id, raw_node, &languages) {
                nodes.insert(id.clone(), node);
            }
        }
        let centers = self.centers(&raw.centers);

        // References: every node named anywhere must exist.
        let known: BTreeSet<&String> = raw.nodes.keys().collect();
        let check_ref = |v: &mut Self, r: &Spanned<String>| {
            if !known.contains(r.get_ref()) {
                v.error(r.span().start, format!("unknown node `{}`", r.get_ref()));
            }
        };
        check_ref(self, &raw.menu.start);
        if let Some(op) = &raw.menu.operator {
            check_ref(self, op);
        }
        for raw_node in raw.nodes.values() {
            for r in references(raw_node.get_ref()) {
                check_ref(self, r);
            }
        }

        // Keys: `*` and `0` are taken in one-key menus unless turned off.
        for (id, raw_node) in &raw.nodes {
            let n = raw_node.get_ref();
            if n.kind.as_ref().map(|k| k.get_ref().as_str()) != Some("menu") {
                continue;
            }
            if let Some(keys) = &n.keys {
                if n.repeat_key.unwrap_or(true) {
                    if let Some(target) = keys.get("*") {
                        self.error(target.span().start, format!("node `{id}`: key * is mapped twice: here and to repeat the prompt (set repeat_key = false to use it)"));
                    }
                }
                if n.operator_key.unwrap_or(true) && raw.menu.operator.is_some() {
                    if let Some(target) = keys.get("0") {
                        self.error(target.span().start, format!("node `{id}`: key 0 is mapped twice: here and to the operator (set operator_key = false to use it)"));
                    }
                }
            }
        }

        // Reachability from the start node.
        if let Some(menu_start) = nodes.get(raw.menu.start.get_ref()).map(|n| n.id.clone()) {
            let mut seen = BTreeSet::new();
            let mut queue = VecDeque::from([menu_start]);
            let operator = raw.menu.operator.as_ref().map(|o| o.get_ref().clone());
            while let Some(id) = queue.pop_front() {
                if !seen.insert(id.clone()) {
                    continue;
                }
                let Some(node) = nodes.get(&id) else {
                    // A node refused above still leads where its file says,
                    // so the nodes after it are not reported as unreached.
                    if let Some(raw_node) = raw.nodes.get(&id) {
                        for next in references(raw_node.get_ref()) {
                            queue.push_back(next.get_ref().clone());
                        }
                    }
                    continue;
                };
                for (_, next) in node.kind.edges() {
                    queue.push_back(next);
                }
                if let (NodeKind::Menu { operator_key, .. }, Some(op)) = (&node.kind, &operator) {
                    if *operator_key {
                        queue.push_back(op.clone());
                    }
                }
            }
            for (id, raw_node) in &raw.nodes {
                if !seen.contains(id) && nodes.contains_key(id) {
                    self.error(
                        raw_node.span().start,
                        format!(
                            "node `{id}` is never reached from the start node `{}`",
                            raw.menu.start.get_ref()
                        ),
                    );
                }
            }
        }

        // Prompt files, in every language the menu speaks.
        let has = |lang: &str, name: &str| match prompts {
            PromptCheck::Folder(dir) => dir.join(lang).join(format!("{name}.wav")).is_file(),
            PromptCheck::Loaded(set) => set.has(lang, name),
            PromptCheck::Skip => true,
        };
        if !matches!(prompts, PromptCheck::Skip) {
            for raw_node in raw.nodes.values() {
                let n = raw_node.get_ref();
                for list in [&n.prompt, &n.short_prompt, &n.invalid_prompt]
                    .into_iter()
                    .flatten()
                {
                    for item in list {
                        let Some(PromptItem::Fixed { language, name }) =
                            parse_prompt_item(item.get_ref())
                        else {
                            continue;
                        };
                        let langs = match &language {
                            Some(l) => vec![l.clone()],
                            None => languages.clone(),
                        };
                        for lang in langs {
                            if !has(&lang, &name) {
                                self.error(
                                    item.span().start,
                                    format!("prompt `{name}` has no {lang} recording ({lang}/{name}.wav is missing)"),
                                );
                            }
                        }
                    }
                }
            }
            // The apology a caller hears when their request cannot be kept
            // is the IVR's own, not named by the menu: needed wherever a
            // request is made.
            let creates = nodes
                .values()
                .any(|n| matches!(n.kind, NodeKind::CreateTicket { .. }));
            for lang in languages.iter().filter(|_| creates) {
                let name = super::flow::REQUEST_FAILED_PROMPT;
                if !has(lang, name) {
                    self.error(
                        header_at,
                        format!("prompt `{name}`, the apology when a request cannot be kept, has no {lang} recording ({lang}/{name}.wav is missing)"),
                    );
                }
            }
            for lang in &languages {
                let Ok(rules) = speech::Language::parse(lang) else {
                    continue;
                };
                for name in rules.required_prompts() {
                    if !has(lang, &name) {
                        self.error(
                            header_at,
                            format!("prompt `{name}`, needed to read numbers and dates, has no {lang} recording ({lang}/{name}.wav is missing)"),
                        );
                    }
                }
            }
        }

        if !self.errors.is_empty() {
            return None;
        }
        Some(Menu {
            file: self.file.to_owned(),
            start: raw.menu.start.get_ref().clone(),
            // Every language was checked above; keep the parsed values.
            languages: languages
                .iter()
                .filter_map(|l| speech::Language::parse(l).ok())
                .collect(),
            default_language: speech::Language::parse(&default_language)
                .unwrap_or(speech::Language::Zh),
            operator: raw.menu.operator.map(|o| o.into_inner()),
            type_ahead: raw.menu.type_ahead.unwrap_or(16),
            nodes,
            centers,
        })
    }

    fn node(&mut self, id: &str, spanned: &Spanned<RawNode>, languages: &[String]) -> Option<Node> {
        let at = spanned.span().start;
        let n = spanned.get_ref();
        let Some(kind) = &n.kind else {
            self.error(
                at,
                format!("node `{id}` has no `type`; one of {NODE_TYPES}"),
            );
            return None;
        };
        let kind_at = kind.span().start;
        let type_name = kind.get_ref().as_str();
        let Some((own, waits)) = allowed(type_name) else {
            self.error(
                kind_at,
                format!("node `{id}` has unknown type `{type_name}`; one of {NODE_TYPES}"),
            );
            return None;
        };
        for (name, pos) in n.present() {
            let takes = own.contains(&name) || (waits && WAIT_KEYS.contains(&name));
            if !takes {
                self.error(
                    pos.unwrap_or(kind_at),
                    format!("node `{id}`: `{name}` does not apply to a {type_name} node"),
                );
            }
        }
        let before = self.errors.len();
        let need = |v: &mut Self, field: &Option<Spanned<String>>, name: &str| -> String {
            match field {
                Some(s) => s.get_ref().clone(),
                None => {
                    v.error(
                        kind_at,
                        format!("node `{id}`: a {type_name} node needs `{name}`"),
                    );
                    String::new()
                }
            }
        };
        let prompt = |v: &mut Self, list: &Option<Vec<Spanned<String>>>| -> Prompt {
            v.prompt(list.as_deref().unwrap_or_default(), languages)
        };
        let node_kind = match type_name {
            "play" => NodeKind::Play {
                prompt: prompt(self, &n.prompt),
                next: need(self, &n.next, "next"),
            },
            "menu" => {
                let wait = self.wait(id, n, kind_at, languages);
                let mut keys = BTreeMap::new();
                for (key, target) in n.keys.iter().flatten() {
                    match single_digit(key) {
                        Some(d) => {
                            keys.insert(d, target.get_ref().clone());
                        }
                        None => self.error(
                            target.span().start,
                            format!("node `{id}`: `{key}` is not a key; keys are 0-9, * and #"),
                        ),
                    }
                }
                if n.keys.is_none() {
                    self.error(kind_at, format!("node `{id}`: a menu node needs `keys`"));
                }
                NodeKind::Menu {
                    wait,
                    keys,
                    repeat_key: n.repeat_key.unwrap_or(true),
                    operator_key: n.operator_key.unwrap_or(true),
                }
            }
            "collect" => {
                let wait = self.wait(id, n, kind_at, languages);
                let field_name = need(self, &n.field, "field");
                let field = Field::parse(&field_name);
                let validator = match &n.validator {
                    Some(v) => match Validator::parse(v.get_ref()) {
                        Some(x) => Some(x),
                        None => {
                            self.error(
                                v.span().start,
                                format!("node `{id}`: unknown validator `{}`; one of date, phone, ticket-number", v.get_ref()),
                            );
                            None
                        }
                    },
                    None => None,
                };
                let field = match field {
                    Some(f) if f.collectable() => {
                        if validator.is_some() && validator != f.collector() {
                            let at = n
                                .validator
                                .as_ref()
                                .map(|v| v.span().start)
                                .unwrap_or(kind_at);
                            self.error(at, format!("node `{id}`: field `{field_name}` is checked by another validator"));
                        }
                        f
                    }
                    _ => {
                        if !field_name.is_empty() {
                            let at = n.field.as_ref().map(|v| v.span().start).unwrap_or(kind_at);
                            self.error(at, format!("node `{id}`: `{field_name}` cannot be collected as digits; one of event_date, callback_number, lookup_number, digits"));
                        }
                        Field::EventDate
                    }
                };
                let terminator = match &n.terminator {
                    None => Some(Digit::Pound),
                    Some(t) if t.get_ref().is_empty() => None,
                    Some(t) => match single_digit(t.get_ref()) {
                        Some(d) => Some(d),
                        None => {
                            self.error(
                                t.span().start,
                                format!("node `{id}`: terminator `{}` is not a key", t.get_ref()),
                            );
                            None
                        }
                    },
                };
                let mut special = BTreeMap::new();
                for (key, target) in n.special.iter().flatten() {
                    match single_digit(key) {
                        Some(d) if Some(d) == terminator => self.error(
                            target.span().start,
                            format!("node `{id}`: key {key} is mapped twice: as the terminator and as a special key"),
                        ),
                        Some(d) => {
                            special.insert(d, target.get_ref().clone());
                        }
                        None => self.error(
                            target.span().start,
                            format!("node `{id}`: `{key}` is not a key; keys are 0-9, * and #"),
                        ),
                    }
                }
                let min_digits = n.min_digits.unwrap_or(1);
                let max_digits = n.max_digits.unwrap_or(20);
                if min_digits == 0 || min_digits > max_digits || max_digits > 32 {
                    self.error(
                        kind_at,
                        format!("node `{id}`: need 1 <= min_digits <= max_digits <= 32"),
                    );
                }
                let inter_digit = match &n.inter_digit_secs {
                    Some(s) => self.duration(id, s, "inter_digit_secs"),
                    None => Duration::from_secs(5),
                };
                NodeKind::Collect {
                    wait,
                    field,
                    validator: validator.or(field.collector()),
                    min_digits,
                    max_digits,
                    terminator,
                    inter_digit,
                    special,
                    next: need(self, &n.next, "next"),
                }
            }
            "confirm" => NodeKind::Confirm {
                wait: self.wait(id, n, kind_at, languages),
                next: need(self, &n.next, "next"),
                reenter: need(self, &n.reenter, "reenter"),
            },
            "record" => {
                let max = match &n.max_secs {
                    Some(s) if *s.get_ref() > f64::from(MAX_MESSAGE_SECS) => {
                        self.error(
                            s.span().start,
                            format!(
                                "node `{id}`: `max_secs` is at most {MAX_MESSAGE_SECS} seconds, \
                                 the longest message one upload to ticketing holds"
                            ),
                        );
                        Duration::ZERO
                    }
                    Some(s) => self.duration(id, s, "max_secs"),
                    None => {
                        self.error(kind_at, format!("node `{id}`: a record node waits for the caller and needs `max_secs`"));
                        Duration::ZERO
                    }
                };
                // Like Asterisk's Record and Twilio's <Record>: a caller who
                // stops talking without pressing `#` is done. 0 turns it off.
                let silence = match &n.silence_secs {
                    Some(s) if *s.get_ref() == 0.0 => None,
                    Some(s) if !(*s.get_ref() > 0.0 && *s.get_ref() <= 3600.0) => {
                        self.error(
                            s.span().start,
                            format!(
                                "node `{id}`: `silence_secs` is 0 (never end on silence) or more \
                                 than 0 and at most 3600 seconds"
                            ),
                        );
                        None
                    }
                    Some(s) => Some(self.duration(id, s, "silence_secs")),
                    None => Some(DEFAULT_RECORD_SILENCE),
                };
                NodeKind::Record {
                    prompt: prompt(self, &n.prompt),
                    max,
                    silence,
                    next: need(self, &n.next, "next"),
                }
            }
            "set" => {
                let mut values = Vec::new();
                for (name, value) in n.set.iter().flatten() {
                    match Field::parse(name) {
                        Some(f) if f.settable() => match parse_value(f, value.get_ref()) {
                            Ok(FieldValue::PriorityGroup(hotline_domain::PriorityGroup::FrontlineWorker))
                                if !self.frontline_worker =>
                            {
                                self.error(
                                    value.span().start,
                                    format!("node `{id}`: `frontline-worker` is a 2020 group, kept only behind `frontline_worker = true` in [menu]"),
                                )
                            }
                            Ok(parsed) => values.push((f, parsed)),
                            Err(why) => {
                                self.error(value.span().start, format!("node `{id}`: {why}"))
                            }
                        },
                        Some(_) => self.error(
                            value.span().start,
                            format!("node `{id}`: `{name}` is not set by a set node"),
                        ),
                        None => self.error(
                            value.span().start,
                            format!("node `{id}`: unknown field `{name}`"),
                        ),
                    }
                }
                if n.set.as_ref().is_none_or(|s| s.is_empty()) {
                    self.error(
                        kind_at,
                        format!("node `{id}`: a set node needs `set` with at least one field"),
                    );
                }
                NodeKind::Set {
                    values,
                    next: need(self, &n.next, "next"),
                }
            }
            "create-ticket" => NodeKind::CreateTicket {
                next: need(self, &n.next, "next"),
                on_failure: n.on_failure.as_ref().map(|s| s.get_ref().clone()),
            },
            "lookup-ticket" => NodeKind::LookupTicket {
                found: need(self, &n.found, "found"),
                not_found: need(self, &n.not_found, "not_found"),
            },
            "transfer" => NodeKind::Transfer {
                uri: n
                    .uri
                    .as_ref()
                    .map(|u| u.get_ref().clone())
                    .filter(|u| !u.is_empty()),
                fallback: need(self, &n.fallback, "fallback"),
            },
            "hours" => NodeKind::Hours {
                open: need(self, &n.open, "open"),
                closed: need(self, &n.closed, "closed"),
            },
            "branch" => {
                let field_name = need(self, &n.field, "field");
                let field = Field::parse(&field_name).unwrap_or_else(|| {
                    if !field_name.is_empty() {
                        let at = n.field.as_ref().map(|v| v.span().start).unwrap_or(kind_at);
                        self.error(at, format!("node `{id}`: unknown field `{field_name}`"));
                    }
                    Field::Kind
                });
                let cases = n
                    .cases
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                    .collect();
                NodeKind::Branch {
                    field,
                    cases,
                    default: need(self, &n.default, "default"),
                }
            }
            "hangup" => NodeKind::Hangup {
                prompt: prompt(self, &n.prompt),
            },
            _ => return None,
        };
        (self.errors.len() == before).then(|| Node {
            id: id.to_owned(),
            line: line_of(self.text, kind_at),
            kind: node_kind,
        })
    }

    fn wait(&mut self, id: &str, n: &RawNode, kind_at: usize, languages: &[String]) -> Wait {
        let timeout = match &n.timeout_secs {
            Some(s) => self.duration(id, s, "timeout_secs"),
            None => {
                self.error(
                    kind_at,
                    format!("node `{id}` waits for the caller but has no `timeout_secs`"),
                );
                Duration::ZERO
            }
        };
        let prompt = self.prompt(n.prompt.as_deref().unwrap_or_default(), languages);
        if prompt.is_empty() {
            self.error(
                kind_at,
                format!("node `{id}` waits for the caller but has no `prompt`"),
            );
        }
        let short_prompt = match &n.short_prompt {
            Some(p) => self.prompt(p, languages),
            None => prompt.clone(),
        };
        let on_failure = n.on_failure.as_ref().map(|s| s.get_ref().clone());
        let on_timeout = n.on_timeout.as_ref().map(|s| s.get_ref().clone());
        if on_failure.is_none() {
            self.error(kind_at, format!("node `{id}` waits for the caller but has no `on_failure` (where a caller goes after too many invalid inputs)"));
        }
        let on_failure = on_failure.unwrap_or_default();
        Wait {
            prompt,
            short_prompt,
            invalid_prompt: self.prompt(n.invalid_prompt.as_deref().unwrap_or_default(), languages),
            timeout,
            max_timeouts: n.max_timeouts.unwrap_or(3).max(1),
            max_invalid: n.max_invalid.unwrap_or(3).max(1),
            on_timeout: on_timeout.unwrap_or_else(|| on_failure.clone()),
            on_failure,
        }
    }

    fn duration(&mut self, id: &str, s: &Spanned<f64>, name: &str) -> Duration {
        let secs = *s.get_ref();
        if !(secs > 0.0 && secs <= 3600.0) {
            self.error(
                s.span().start,
                format!("node `{id}`: `{name}` must be more than 0 and at most 3600 seconds"),
            );
            return Duration::ZERO;
        }
        Duration::from_secs_f64(secs)
    }

    fn prompt(&mut self, items: &[Spanned<String>], languages: &[String]) -> Prompt {
        let mut out = Vec::new();
        for item in items {
            match parse_prompt_item(item.get_ref()) {
                Some(PromptItem::Fixed {
                    language: Some(l), ..
                }) if !languages.contains(&l) => self.error(
                    item.span().start,
                    format!(
                        "prompt `{}` names language `{l}`, which the menu does not speak",
                        item.get_ref()
                    ),
                ),
                Some(p) => out.push(p),
                None => {
                    let names: Vec<_> = Saying::ALL
                        .iter()
                        .map(|(n, _)| format!("{{{n}}}"))
                        .collect();
                    self.error(
                        item.span().start,
                        format!(
                            "`{}` is not a prompt name nor one of {}",
                            item.get_ref(),
                            names.join(", ")
                        ),
                    )
                }
            }
        }
        out
    }

    fn centers(&mut self, raw: &BTreeMap<String, Spanned<RawCenter>>) -> Vec<Center> {
        let mut out = Vec::new();
        for (id, c) in raw {
            let c = c.get_ref();
            let region = match &c.region {
                Some(r) => match hotline_domain::RegionCode::parse(r.get_ref()) {
                    Ok(code) => Some(code),
                    Err(e) => {
                        self.error(r.span().start, format!("center `{id}`: region: {e}"));
                        None
                    }
                },
                None => None,
            };
            let mut sources = Vec::new();
            for s in &c.sources {
                match s.get_ref().parse() {
                    Ok(ip) => sources.push(ip),
                    Err(_) => self.error(
                        s.span().start,
                        format!("center `{id}`: `{}` is not an IP address", s.get_ref()),
                    ),
                }
            }
            let working_day_hours = self.hours(id, &c.working_day_hours);
            let rest_day_hours = self.hours(id, &c.rest_day_hours);
            out.push(Center {
                id: id.clone(),
                region,
                called: c.called.clone(),
                sources,
                working_day_hours,
                rest_day_hours,
            });
        }
        if out.is_empty() {
            out.push(Center {
                id: "default".into(),
                region: None,
                called: Vec::new(),
                sources: Vec::new(),
                working_day_hours: Vec::new(),
                rest_day_hours: Vec::new(),
            });
        }
        out
    }

    fn hours(&mut self, id: &str, ranges: &[Spanned<String>]) -> Vec<(NaiveTime, NaiveTime)> {
        let mut out = Vec::new();
        for r in ranges {
            let parsed = r.get_ref().split_once('-').and_then(|(a, b)| {
                let a = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
                // `24:00` closes at the end of the day.
                let b = match b.trim() {
                    "24:00" => NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999)?,
                    b => NaiveTime::parse_from_str(b, "%H:%M").ok()?,
                };
                (a < b).then_some((a, b))
            });
            match parsed {
                Some(range) => out.push(range),
                None => self.error(
                    r.span().start,
                    format!(
                        "center `{id}`: hours `{}` are not HH:MM-HH:MM with the start first",
                        r.get_ref()
                    ),
                ),
            }
        }
        out
    }
}

fn single_digit(key: &str) -> Option<Digit> {
    let mut chars = key.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    Digit::from_char(c)
}

/// `name`, `lang:name` or `{saying}`.
pub(crate) fn parse_prompt_item(text: &str) -> Option<PromptItem> {
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        return Saying::ALL
            .iter()
            .find(|(n, _)| *n == inner)
            .map(|(_, s)| PromptItem::Say(*s));
    }
    let (language, name) = match text.split_once(':') {
        Some((l, n)) => (Some(l.to_owned()), n),
        None => (None, text),
    };
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    ok.then(|| PromptItem::Fixed {
        language,
        name: name.to_owned(),
    })
}

/// What `value` is for `field`, or why `field` cannot hold it.
fn parse_value(field: Field, value: &str) -> Result<FieldValue, String> {
    use hotline_domain::{Matter, PriorityGroup, TicketKind};
    let yes_no = || match value {
        "yes" => Ok(FieldValue::Flag(true)),
        "no" => Ok(FieldValue::Flag(false)),
        _ => Err(format!("`{}` takes yes or no, not `{value}`", field.name())),
    };
    match field {
        Field::Kind => TicketKind::parse(value)
            .map(FieldValue::Kind)
            .map_err(|e| e.to_string()),
        Field::Matter => Matter::parse(value)
            .map(FieldValue::Matter)
            .map_err(|e| e.to_string()),
        Field::PriorityGroup => PriorityGroup::parse(value)
            .map(FieldValue::PriorityGroup)
            .map_err(|e| e.to_string()),
        Field::Language => speech::Language::parse(value)
            .map(FieldValue::Language)
            .map_err(|_| format!("language `{value}` is not zh or en")),
        Field::Document => hotline_domain::Document::parse(value)
            .map(FieldValue::Document)
            .map_err(|e| e.to_string()),
        Field::HardshipBasis => hotline_domain::HardshipBasis::parse(value)
            .map(FieldValue::HardshipBasis)
            .map_err(|e| e.to_string()),
        Field::Rule => {
            let ok = !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if ok {
                Ok(FieldValue::Rule(value.to_owned()))
            } else {
                Err(format!(
                    "`rule` takes a limitation rule id (lower-case words joined by -), not `{value}`"
                ))
            }
        }
        Field::Preservation
        | Field::AdvanceEnforcement
        | Field::HardshipWaived
        | Field::PledgeOffered
        | Field::HomeVisit
        | Field::MediationPreferred => yes_no(),
        _ => Err(format!("`{}` is not set by a set node", field.name())),
    }
}

/// The node references a raw node holds, with their positions.
fn references(n: &RawNode) -> Vec<&Spanned<String>> {
    let mut out: Vec<&Spanned<String>> = [
        &n.next,
        &n.on_timeout,
        &n.on_failure,
        &n.reenter,
        &n.found,
        &n.not_found,
        &n.fallback,
        &n.open,
        &n.closed,
        &n.default,
    ]
    .into_iter()
    .flatten()
    .collect();
    for map in [&n.keys, &n.special, &n.cases].into_iter().flatten() {
        out.extend(map.values());
    }
    out
}
