//! PostgreSQL source: publication and slot, snapshot through COPY, stream through pgoutput.
//!
//! ```text
//!  setup (preflight → publication → slot + exported snapshot)
//!     │
//!     ├─► snapshot: N connections × COPY (FORMAT binary) ─┐
//!     └─► stream: START_REPLICATION → pgoutput decoder ───┴─► one ordered channel → pipeline
//! ```

mod added;
pub mod adopt;
pub mod catalog;
pub mod chunk;
pub mod conn;
pub mod copy_binary;
pub mod ddl;
pub mod definition;
pub mod error;
pub mod frame;
pub mod health;
pub mod identity;
pub mod join;
mod oracle_port;
pub mod pgoutput;
pub mod replication;
pub mod resolve;
pub mod run;
pub mod setup;
pub mod slot;
pub mod snapshot;
mod source;
pub mod spool;
pub mod stream;
pub mod takeover;
pub mod timeline;
pub mod typemap;

pub use resolve::resolve_tables;
pub use source::PgSource;
