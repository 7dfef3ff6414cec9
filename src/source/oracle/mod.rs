//! The Oracle source (issue 9): changes read from the redo logs through LogMiner, a snapshot
//! read `AS OF SCN`, checkpoints in SCNs. `source::OracleSource` is the `Source`; each piece
//! sits behind its own module:
//!
//! ```text
//!  source: check (dictionary) ─► create (snapshot SCN S, mining start) ─► run:
//!     ├─ schema phase: dictionary ─► CREATE TABLE definitions
//!     ├─ snapshot: every table AS OF SCN S, tables in parallel sessions
//!     └─ stream:
//!          session (the connection trait; real client, scripted stand-in)
//!             └─► miner: LogMiner sessions over bounded SCN windows ──► LogMinerRow
//!                    └─► assemble: transactions in commit order (rollbacks dropped, spilled)
//!                           └─► decode: rows of a committed transaction into changes and DDL
//!                                  ├─ redo: SQL_REDO text parsed into typed row images
//!                                  └─ lob: LOB and XMLType rows assembled into their values
//! ```
//! `logminer` and `table` hold the types the pieces share; `dictionary` turns the data
//! dictionary into tables; `types` maps Oracle column types to the PostgreSQL types (IvorySQL's
//! names) the pipeline and formats know.

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
