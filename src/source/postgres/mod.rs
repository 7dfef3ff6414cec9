//! PostgreSQL source: publication and slot, snapshot through COPY, stream through pgoutput.

pub mod conn;
pub mod copy_binary;
pub mod error;
pub mod frame;
pub mod pgoutput;
pub mod replication;
pub mod typemap;
