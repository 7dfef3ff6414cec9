//! Debezium JSON envelope (`shared/spec/FORMATS.md`, "Debezium JSON").
