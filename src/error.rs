//! Error rendering shared by every module: an error and its causes on one line.
//!
//! Errors are classified where their cause is known (`source::ErrorClass`); this only renders
//! them for the one `error:` line an operator sees.

/// The error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
