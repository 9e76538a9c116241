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

/// The node configurations shipped in `deploy/` pass every start-up check
/// with only their host paths swapped for this machine's (a certificate
/// made by `--dev-tls` for the TLS files, a token file, a data directory):
/// what `--check-config` tells an operator before the first start. Their
/// addresses are the example's and cannot be bound here, so that part is
/// left to the loopback deployment test (`tests/kamailio.rs`). The check
/// is no formality: a plaintext admin API off loopback, a key given as the
/// CA, or a database the store cannot open is refused with its reason.
#[test]
fn the_shipped_node_configurations_pass_the_start_up_checks() {
    let dir = tempfile::tempdir().unwrap();
    let made = common::bare_hotline(dir.path())
        .args(["serve", "--dev-tls", "--check-config"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", common::stderr(&made));
    let tls = dir.path().join("hotline-data/dev-tls");
    let token = dir.path().join("ivr.token");
    std::fs::write(&token, "an-ivr-token\n").unwrap();
    let data = dir.path().join("data");
    let host_paths = [
        ("/etc/hotline/tls/ca.pem", tls.join("cert.pem")),
        ("/etc/hotline/tls/ticketing.pem", tls.join("cert.pem")),
        ("/etc/hotline/tls/ticketing.key", tls.join("key.pem")),
        ("/etc/hotline/ivr.token", token),
        ("/var/lib/hotline", data),
    ];
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let check = |role: &str, text: &str| {
        let file = dir.path().join(format!("{role}.toml"));
        std::fs::write(&file, text).unwrap();
        common::bare_hotline(dir.path())
            .args([role, "--check-config", "--config"])
            .arg(&file)
            .output()
            .unwrap()
    };
    for role in ["ivr", "ticketing"] {
        let mut text = std::fs::read_to_string(deploy.join(format!("{role}.toml"))).unwrap();
        for (shipped, here) in &host_paths {
            text = text.replace(
                &format!("\"{shipped}\""),
                &format!("{:?}", here.display().to_string()),
            );
        }
        // Every other value is as shipped: no path of the example's host
        // is left for the check to stumble on, or to skip.
        assert!(
            !text.contains("\"/etc/") && !text.contains("\"/var/"),
            "{text}"
        );
        let out = check(role, &text);
        assert!(
            out.status.success(),
            "deploy/{role}.toml: {}",
            common::stderr(&out)
        );
        assert!(
            common::stdout(&out).contains("passes every start-up check"),
            "{}",
            common::stdout(&out)
        );
        // Mistakes an operator makes in such a file, each refused with
        // its reason (exit 2) before anything is bound.
        let ca = tls.join("cert.pem").display().to_string();
        let key = tls.join("key.pem").display().to_string();
        let mistakes: &[(&str, &str, &str)] = match role {
            "ivr" => &[
                (
                    "admin_listen = \"127.0.0.1:50052\"",
                    "admin_listen = \"10.0.0.11:50052\"",
                    "admin_listen 10.0.0.11:50052 is not loopback",
                ),
                (&ca, &key, "is not a CA certificate"),
            ],
            _ => &[(
                "postgres://hotline@10.0.2.1/hotline",
                "mysql://hotline@10.0.2.1/hotline",
                "unsupported database URL",
            )],
        };
        for (right, wrong, reason) in mistakes {
            let broken = text.replace(right, wrong);
            assert_ne!(broken, text, "deploy/{role}.toml has no `{right}`");
            let out = check(role, &broken);
            assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
            assert!(
                common::stderr(&out).contains(reason),
                "{reason}: {}",
                common::stderr(&out)
            );
        }
    }
}
