//! pgoutput message decoder.
