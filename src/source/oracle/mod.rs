//! The Oracle source (issue 9): changes read from the redo logs through LogMiner, a snapshot
//! read `AS OF SCN`, checkpoints in SCNs. Built in pieces, each behind its own module:
//!
//! ```text
//!  session (the connection trait; real client, scripted stand-in)
//!     └─► miner: LogMiner sessions over bounded SCN windows ──► LogMinerRow
//!            └─► assemble: transactions in commit order (rollbacks dropped, spilled past a budget)
//!                   └─► decode: rows of a committed transaction into changes and DDL
//!                          ├─ redo: SQL_REDO text parsed into typed row images of an OraTable
//!                          └─ lob: LOB and XMLType rows assembled into the values they write
//! ```
//! `logminer` and `table` hold the types the pieces share; `types` maps Oracle column types to the
//! PostgreSQL types (IvorySQL's names) the pipeline and formats know. Not yet wired into a `Source`.

pub mod assemble;
pub mod decode;
pub mod dictionary;
pub mod lob;
pub mod logminer;
pub mod miner;
pub mod redo;
pub mod session;
pub mod snapshot;
pub mod source;
pub mod stream;
pub mod table;
pub mod types;
