//! Named fail points for fault-injection tests (cargo feature `failpoints`, the `fail` crate).
//!
//! Each point sits where a crash would test a durability rule. Without the feature the macro
//! expands to nothing. With it, a point does nothing until configured: in-process with
//! `fail::cfg(NAME, "return")` (the surrounding function returns an `Injected` error, as if the
//! process died there), or for a child process with `FAILPOINTS=NAME=pause` (the process
//! stops there until a test SIGKILLs it). A point read through `hold` is released by the test
//! instead: `FAILPOINTS=NAME=return(PATH)`, PATH a FIFO, holds the process there until the
//! test writes to PATH and closes it.

/// Records are durable in the sink; the checkpoint holding them is not saved yet.
pub const RUNNER_AFTER_DURABLE: &str = "runner.after_durable";
/// Exactly-once: records of the open Kafka transaction are sent; neither their checkpoint
/// record nor the commit is.
pub const RUNNER_BEFORE_COMMIT: &str = "runner.before_commit";
/// Exactly-once: the Kafka transaction holding the records and their checkpoint committed;
/// the store does not hold that checkpoint yet.
pub const RUNNER_AFTER_COMMIT: &str = "runner.after_commit";
/// The same moment as `RUNNER_AFTER_COMMIT`, held (`hold`) for a test that SIGKILLs the
/// process there.
pub const RUNNER_COMMIT_HELD: &str = "runner.commit_held";
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

/// A chunked snapshot is about to read its next group of chunks, the stream at a transaction
/// boundary (a test holds it here with `return(PATH)` to change the table meanwhile).
pub const SOURCE_CHUNK_GROUP: &str = "source.chunk_group";

/// A chunk group's ranges are read, some by other workers (exactly-once: theirs committed in
/// Kafka); the group's end is not sent yet (a test holds the owner here with `return(PATH)`
/// and SIGKILLs it).
pub const SOURCE_LANES_READ: &str = "source.lanes_read";

/// A snapshot lane committed a range (exactly-once); its answer is not sent yet. `return`
/// answers an error instead, as if the answer were lost on the way.
pub const LANE_AFTER_COMMIT: &str = "lane.after_commit";

/// A snapshot lane read a range (exactly-once); its transaction is not committed. `return`
/// answers an error instead, leaving the transaction open, as a lane that died there would.
pub const LANE_BEFORE_COMMIT: &str = "lane.before_commit";

/// Holds the caller while fail point `name` is configured `return(PATH)`, PATH a FIFO the test
/// made: writes `PATH.held`, then reads PATH to its end, which blocks until the test has opened
/// it for writing and closed it. A test waits for the first file, changes the world at that
/// known moment, and writes to the FIFO to let the process go on (where `pause` needs a
/// SIGKILL and `sleep` a guess). Nothing polls.
#[cfg(feature = "failpoints")]
pub async fn hold(name: &'static str) {
    let Some(path) = fail::eval(name, |arg| arg).flatten() else {
        return;
    };
    if let Err(e) = std::fs::write(format!("{path}.held"), b"") {
        tracing::warn!(failpoint = name, error = %e, "cannot write the held file");
    }
    tracing::info!(failpoint = name, release = %path, "held at a fail point until the FIFO is written and closed");
    let fifo = path.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::open(fifo)?, &mut buf)
    })
    .await;
    if !matches!(read, Ok(Ok(_))) {
        tracing::warn!(failpoint = name, release = %path, "cannot read the release FIFO: not held");
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
