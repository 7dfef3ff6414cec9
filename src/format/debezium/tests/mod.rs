//! Tests of the Debezium JSON format: golden comparisons with Debezium 3.6.3's own output, and
//! unit tests of each type mapping and option.

mod golden;
mod options;
mod oracle;
pub(crate) mod pgbin;
mod types;
