//! PostgreSQL source: publication and slot, snapshot through COPY, stream through pgoutput.

pub mod copy_binary;
pub mod pgoutput;
