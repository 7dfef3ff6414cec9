//! The file a held transaction spills to once it outgrows its memory budget: created in the
//! task's `spill_dir` under a name that says whose it is, removed as soon as the transaction
//! is written and whenever it is dropped (an error, a stopped task). Files a killed process
//! left behind are removed when a later format starts (`remove_stale`).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::format::FormatError;

/// The name prefix of every spill file: `tributary-shareplex-<pid>-<n>.spill`.
const PREFIX: &str = "tributary-shareplex-";
const SUFFIX: &str = ".spill";

/// Spill files created by this process, for unique names.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A spill file, removed when dropped.
#[derive(Debug)]
pub(super) struct SpillFile {
    path: PathBuf,
    pub(super) file: File,
}

impl SpillFile {
    /// Creates a new, empty spill file in `dir`.
    pub(super) fn create(dir: &Path) -> Result<SpillFile, FormatError> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{PREFIX}{}-{n}{SUFFIX}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| spill_error(dir, &e))?;
        Ok(SpillFile { path, file })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a spill file");
        }
    }
}

/// The error for a spill that failed in `dir`.
pub(super) fn spill_error(dir: &Path, e: &io::Error) -> FormatError {
    FormatError::Spill {
        dir: dir.display().to_string(),
        reason: e.to_string(),
    }
}

/// Checks that spill files can be created in `dir` (a probe file, removed at once).
pub(super) fn check_dir(dir: &Path) -> Result<(), FormatError> {
    SpillFile::create(dir).map(drop)
}

/// Removes the spill files in `dir` of processes that no longer run (a killed task's), so that
/// repeated crashes during a large transaction do not fill the disk. Only where `/proc` tells
/// which processes run; a file whose process may still run is kept.
pub(super) fn remove_stale(dir: &Path) {
    let (Ok(entries), true) = (std::fs::read_dir(dir), Path::new("/proc/self").exists()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The process id in a spill file's name.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    rest.split_once('-')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_files_are_removed_on_drop_and_stale_ones_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let f = SpillFile::create(dir.path()).unwrap();
        let path = f.path().to_owned();
        assert!(path.exists());
        drop(f);
        assert!(!path.exists());
        // A file of a process that is gone (pid 0 never names a user process) is removed;
        // other files are left alone.
        let stale = dir.path().join(format!("{PREFIX}0-7{SUFFIX}"));
        let other = dir.path().join("tributary-shareplex-notes.txt");
        std::fs::write(&stale, b"x").unwrap();
        std::fs::write(&other, b"x").unwrap();
        let mine = SpillFile::create(dir.path()).unwrap();
        remove_stale(dir.path());
        assert!(!stale.exists());
        assert!(other.exists() && mine.path().exists());
        assert_eq!(owner_pid("tributary-shareplex-42-3.spill"), Some(42));
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let err = check_dir(Path::new("/nonexistent/tributary-spill")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/tributary-spill"), "{text}");
        assert!(
            text.contains("destination.shareplex_json.spill_dir"),
            "{text}"
        );
    }
}
