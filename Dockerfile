# syntax=docker/dockerfile:1
#
# One build, two images:
#   docker build --target server    -t disinfox-server .
#   docker build --target connector -t disinfox-connector .
#
# server:    listens on 0.0.0.0:8080; data (the SQLite database) in the volume /data;
#            settings from DISINFOX_* variables or a TOML file given with --config.
# connector: reads /opt/disinfox/config.yml if mounted there, else OPENCTI_*, CONNECTOR_*,
#            MQ_* and DISINFOX_* variables (see config.yml.sample and the README).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p disinfox-server -p connector \
        --bin disinfox-server --bin disinfox-connector \
 && install -m 0755 target/release/disinfox-server target/release/disinfox-connector /usr/local/bin/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /opt/disinfox --create-home disinfox \
 && mkdir -p /data \
 && chown disinfox /data
WORKDIR /opt/disinfox
USER disinfox

FROM runtime AS server
COPY --from=build /usr/local/bin/disinfox-server /usr/local/bin/disinfox-server
ENV DISINFOX_LISTEN=0.0.0.0:8080 \
    DISINFOX_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["disinfox-server", "health"]
ENTRYPOINT ["disinfox-server"]
CMD ["serve"]

FROM runtime AS connector
COPY --from=build /usr/local/bin/disinfox-connector /usr/local/bin/disinfox-connector
EXPOSE 9095
ENTRYPOINT ["disinfox-connector"]
