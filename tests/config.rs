//! Every configuration key can be set by its environment variable and by
//! its flag, as the real binary reads them (`hotline serve --print-config`).
//! The README's table is checked against the same list in `src/config.rs`.

// A test that unwraps fails with the value it did not expect: that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use hotline::config::KEYS;

/// `hotline serve --print-config` with no `HOTLINE_*` variable of the
/// caller's, in an empty directory (no `hotline.toml`).
fn print_config(dir: &std::path::Path) -> Command {
    let mut command = common::bare_hotline(dir);
    command.args(["serve", "--print-config"]);
    command
}

/// Each key's printed value, as text.
fn printed(out: &std::process::Output) -> toml::Table {
    assert!(out.status.success(), "{}", common::stderr(out));
    toml::from_str(&common::stdout(out)).expect("--print-config prints TOML")
}

fn value_text(table: &toml::Table, key: &str) -> Option<String> {
    table.get(key).map(|v| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

#[test]
fn every_key_can_be_set_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = print_config(dir.path());
    for key in KEYS {
        command.env(key.env, key.example);
    }
    let table = printed(&command.output().unwrap());
    for key in KEYS {
        assert_eq!(
            value_text(&table, key.name).as_deref(),
            Some(key.example),
            "{} from {}",
            key.name,
            key.env
        );
    }
}

#[test]
fn every_key_can_be_set_by_its_flag_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = print_config(dir.path());
    for key in KEYS {
        command.env(key.env, key.example);
    }
    // The flags give the defaults back where there are defaults.
    for key in KEYS.iter().filter(|k| k.has_default) {
        command.arg(key.flag()).arg(key.default);
    }
    let table = printed(&command.output().unwrap());
    for key in KEYS.iter().filter(|k| k.has_default) {
        assert_eq!(
            value_text(&table, key.name).as_deref(),
            Some(key.default),
            "{} by {}",
            key.name,
            key.flag()
        );
    }
}

#[test]
fn with_nothing_set_every_default_applies() {
    let dir = tempfile::tempdir().unwrap();
    let table = printed(&print_config(dir.path()).output().unwrap());
    for key in KEYS.iter().filter(|k| k.has_default) {
        assert_eq!(
            value_text(&table, key.name).as_deref(),
            Some(key.default),
            "{}",
            key.name
        );
    }
    // Keys without a default are absent, except the database, which is
    // shown as the SQLite file it resolves to.
    assert_eq!(table.get("menu"), None);
    assert_eq!(table.get("prompts_dir"), None);
    assert_eq!(
        value_text(&table, "database_url").as_deref(),
        Some("sqlite://hotline-data/hotline.db?mode=rwc")
    );
}

#[test]
fn a_bad_value_names_its_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = print_config(dir.path())
        .env("HOTLINE_MAX_CALLS", "many")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(err.contains("--max-calls"), "{err}");
}

#[test]
fn a_bad_configuration_file_is_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hotline.toml"), "# hotline\nmax_call = 5\n").unwrap();
    let out = print_config(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("hotline.toml:2: unknown field `max_call`"),
        "{err}"
    );
}
