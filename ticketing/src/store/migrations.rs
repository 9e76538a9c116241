//! The schema migrations of each backend, compiled into the binary. They
//! are listed here by hand: sqlx's `migrate!` macro would build sqlx's whole
//! macro toolchain (its drivers and SQLite's C source, a second time, for
//! the compiler) into every build for a handful of files. Each migration
//! gets the same version, description and checksum the macro gave it, so
//! databases migrated before keep validating; a test checks this list
//! against the folders.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::SqlStr;

/// One migration file: its version, its file name's rest (the description,
/// `_` read as a space, as sqlx names it) and its SQL.
macro_rules! migration {
    ($backend:literal, $version:literal, $file:literal, $name:literal) => {
        (
            $version,
            $name,
            include_str!(concat!("../../migrations/", $backend, "/", $file, ".sql")),
        )
    };
}

type Source = (i64, &'static str, &'static str);

const SQLITE: &[Source] = &[
    migration!("sqlite", 1, "0001_tickets", "tickets"),
    migration!("sqlite", 2, "0002_limitation", "limitation"),
    migration!("sqlite", 3, "0003_recording_keys", "recording_keys"),
    migration!("sqlite", 4, "0004_routing", "routing"),
    migration!("sqlite", 5, "0005_offer_rotation", "offer_rotation"),
    migration!("sqlite", 6, "0006_intake", "intake"),
    migration!("sqlite", 7, "0007_access", "access"),
    migration!("sqlite", 8, "0008_retention", "retention"),
    migration!("sqlite", 9, "0009_console", "console"),
    migration!("sqlite", 10, "0010_ivr_figures", "ivr_figures"),
    migration!("sqlite", 11, "0011_callbacks", "callbacks"),
    migration!("sqlite", 12, "0012_last_node", "last_node"),
    migration!("sqlite", 13, "0013_pages", "pages"),
    migration!("sqlite", 14, "0014_bridges", "bridges"),
    migration!("sqlite", 15, "0015_lawyer_load", "lawyer_load"),
    migration!("sqlite", 16, "0016_stream_lookups", "stream_lookups"),
];

const POSTGRES: &[Source] = &[
    migration!("postgres", 1, "0001_tickets", "tickets"),
    migration!("postgres", 2, "0002_limitation", "limitation"),
    migration!("postgres", 3, "0003_recording_keys", "recording_keys"),
    migration!("postgres", 4, "0004_routing", "routing"),
    migration!("postgres", 5, "0005_offer_rotation", "offer_rotation"),
    migration!("postgres", 6, "0006_intake", "intake"),
    migration!("postgres", 7, "0007_access", "access"),
    migration!("postgres", 8, "0008_retention", "retention"),
    migration!("postgres", 9, "0009_console", "console"),
    migration!("postgres", 10, "0010_ivr_figures", "ivr_figures"),
    migration!("postgres", 11, "0011_callbacks", "callbacks"),
    migration!("postgres", 12, "0012_last_node", "last_node"),
    migration!("postgres", 13, "0013_pages", "pages"),
    migration!("postgres", 14, "0014_bridges", "bridges"),
    migration!(
        "postgres",
        15,
        "0015_notify_per_statement",
        "notify_per_statement"
    ),
    migration!("postgres", 16, "0016_lawyer_load", "lawyer_load"),
    migration!("postgres", 17, "0017_stream_lookups", "stream_lookups"),
];

fn migrator(sources: &[Source]) -> Migrator {
    Migrator::with_migrations(
        sources
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Owned(name.replace('_', " ")),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

pub(super) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

pub(super) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.sql` file of a backend's folder is listed, in order, with the
    /// name its file has.
    #[test]
    fn the_lists_are_the_folders() {
        for (backend, list) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            let listed: Vec<String> = list
                .iter()
                .map(|(v, name, _)| format!("{v:04}_{name}.sql"))
                .collect();
            assert_eq!(listed, files, "{backend}");
        }
    }
}
