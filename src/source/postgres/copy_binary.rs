//! Binary COPY row parser.
