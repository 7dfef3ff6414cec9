//! Named fail points for fault-injection tests (cargo feature `failpoints`, the `fail` crate).
//!
//! Each point sits where a crash would test a durability rule. Without the feature the macro
//! expands to nothing. With it, a point does nothing until configured: in-process with
//! `fail::cfg(NAME, "return")` (the surrounding function returns an `Injected` error, as if the
//! process died there), or for a child process with `FAILPOINTS=NAME=pause` (the process
//! stops there until a test SIGKILLs it). A point read through `hold` is released by the test
//! instead: `FAILPOINTS=NAME=return(PATH)` holds the process there until PATH exists.

/// Records are durable in the sink; the checkpoint holding them is not saved yet.
pub const RUNNER_AFTER_DURABLE: &str = "runner.after_durable";
/// The checkpoint is saved; the source has not been told yet.
pub const RUNNER_AFTER_SAVE: &str = "runner.after_save";
/// An event of an open transaction was handed to the sink; the transaction goes on.
pub const RUNNER_IN_TRANSACTION: &str = "runner.in_transaction";
/// The names a first start creates are saved; nothing is created yet.
pub const TASK_AFTER_PLAN: &str = "task.after_plan";
/// The first start created its slot (and publications); nothing about it is saved yet.
pub const TASK_AFTER_CREATE: &str = "task.after_create";

/// The schema phase has its definitions and has not compared them with the catalog yet (a test
/// holds it here with `return(PATH)`, see `hold`, to change a table meanwhile).
pub const SOURCE_SCHEMA_PHASE: &str = "source.schema_phase";

/// Holds the caller while fail point `name` is configured `return(PATH)`: writes `PATH.held`,
/// then waits until `PATH` exists. A test waits for the first file, changes the world at that
/// known moment, and creates the second to let the process go on (where `pause` needs a
/// SIGKILL and `sleep` a guess).
#[cfg(feature = "failpoints")]
pub async fn hold(name: &'static str) {
    let Some(path) = fail::eval(name, |arg| arg).flatten() else {
        return;
    };
    let release = std::path::PathBuf::from(&path);
    if let Err(e) = std::fs::write(format!("{path}.held"), b"") {
        tracing::warn!(failpoint = name, error = %e, "cannot write the held file");
    }
    tracing::info!(failpoint = name, release = %path, "held at a fail point until the release file exists");
    while !release.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An error injected at a fail point: the test's stand-in for a crash there.
#[derive(Debug, Clone, thiserror::Error)]
#[error("fail point {0} was hit")]
pub struct Injected(pub &'static str);

/// `failpoint!(NAME)` in a function returning `Result<_, E>` where `E: From<Injected>`.
#[macro_export]
#[doc(hidden)]
macro_rules! failpoint {
    ($name:expr) => {
        #[cfg(feature = "failpoints")]
        {
            fail::fail_point!($name, |_| {
                Err($crate::failpoint::Injected($name).into())
            });
        }
    };
}
