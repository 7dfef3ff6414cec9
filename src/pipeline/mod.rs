//! The pipeline: source items → format → sink, with progress built only from durability.

pub mod commit;
pub mod gate;
pub mod in_flight;
pub mod latency;
pub mod phase;
mod position_header;
pub mod progress;
pub mod runner;
pub mod stats;
pub mod throttle;
