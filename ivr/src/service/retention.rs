//! Retention of the IVR node's whole-call recordings (PIPL): each call's
//! recording of the caller (`<recordings_dir>/<call>.wav`) is removed once
//! it is older than the configured number of days. A recording that
//! matters to a case reaches ticketing as the message recording, which
//! ticketing keeps by its own rule.
//!
//! The pass takes `now` as an input (tests move it; the task passes the
//! wall clock) and logs each removal; the task runs it at start and hourly.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

/// How often the task looks for recordings past their time.
const EVERY: Duration = Duration::from_secs(3600);

/// Removes the `.wav` files directly in `dir` last written more than
/// `keep` before `now`; returns what it removed. A missing folder holds
/// nothing; a file that cannot be removed is logged and left for the next
/// pass.
pub fn remove_expired(
    dir: &Path,
    keep: Duration,
    now: SystemTime,
) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "wav") {
            continue;
        }
        let metadata = entry.metadata()?;
        if !metadata.is_file() {
            continue;
        }
        let written = metadata.modified()?;
        let age = now.duration_since(written).unwrap_or(Duration::ZERO);
        if age <= keep {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                info!(
                    file = %path.display(),
                    age_days = age.as_secs() / 86_400,
                    "call recording removed: past its retention"
                );
                removed.push(path);
            }
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot remove an expired call recording")
            }
        }
    }
    Ok(removed)
}

/// Runs [`remove_expired`] at start and hourly until `stop` completes.
pub async fn run(dir: PathBuf, keep: Duration, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let pass_dir = dir.clone();
        let pass =
            tokio::task::spawn_blocking(move || remove_expired(&pass_dir, keep, SystemTime::now()))
                .await;
        match pass {
            Ok(Ok(removed)) if !removed.is_empty() => {
                info!(
                    removed = removed.len(),
                    "call recording retention pass done"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                warn!(dir = %dir.display(), error = %e, "call recording retention pass failed")
            }
            Err(e) => warn!(error = %e, "call recording retention pass failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = &mut stop => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn recordings_go_after_their_days_and_nothing_else_goes() {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("c-1.wav");
        let other = dir.path().join("notes.txt");
        std::fs::write(&wav, b"RIFF").unwrap();
        std::fs::write(&other, b"keep me").unwrap();
        let written = std::fs::metadata(&wav).unwrap().modified().unwrap();
        let keep = 30 * DAY;

        // Day 30 (to the second): still kept.
        assert!(remove_expired(dir.path(), keep, written + keep)
            .unwrap()
            .is_empty());
        assert!(wav.exists());
        // A second later it is gone; the other file stays.
        let removed =
            remove_expired(dir.path(), keep, written + keep + Duration::from_secs(1)).unwrap();
        assert_eq!(removed, vec![wav.clone()]);
        assert!(!wav.exists());
        assert!(other.exists());
        // A folder not made yet holds nothing to remove.
        assert!(remove_expired(&dir.path().join("none"), keep, written)
            .unwrap()
            .is_empty());
    }
}
