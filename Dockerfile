# The tributary binary in a small Debian image (docker-compose.yml builds it for its workers).
# protoc comes vendored with the build, and librdkafka is compiled from source and linked
# statically (rdkafka's libz, ssl and zstd features), so the runtime needs only OpenSSL's
# shared library and CA certificates.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tributary \
    && cp target/release/tributary /usr/local/bin/tributary

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/tributary /usr/local/bin/tributary
ENTRYPOINT ["tributary"]
