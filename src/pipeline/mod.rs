//! The pipeline: source items → format → sink, with progress built only from durability.

pub mod progress;
pub mod runner;
pub mod stats;
pub mod throttle;
