//! tributary: migrates databases into Apache Kafka.
//!
//! ```text
//!  source (snapshot + stream) ──► pipeline runner ──► format ──► sink (Kafka)
//!                ▲                     │  acks (durable watermark)
//!                └──── confirm ◄── checkpoint store ◄┘
//! ```
//! A source position is confirmed upstream only after every event before it is durable in the
//! sink and the checkpoint that records it is persisted.

pub mod checkpoint;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod definition;
pub mod error;
pub mod event;
pub mod failpoint;
pub mod filter;
pub mod format;
pub mod metrics;
pub mod pipeline;
pub mod position;
pub mod precheck;
pub mod registry;
pub mod route;
pub mod schema;
pub mod sink;
pub mod source;
pub mod task;
pub mod topic;
pub mod value;

pub use error::error_chain;
