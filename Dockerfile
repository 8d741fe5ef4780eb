# Logto Bookstore: a small runtime image that holds one binary and nothing else.
#
#   docker build -t logto-bookstore .
#   docker run --rm -p 127.0.0.1:3000:3000 \
#     -e LOGTO_ENDPOINT=https://<tenant>.logto.app -e LOGTO_APP_ID=... -e LOGTO_APP_SECRET=... \
#     logto-bookstore
# (HOST=0.0.0.0 and PORT=3000 are set below; .env.example lists every setting.)
#
# The whole demo stack (Logto, PostgreSQL, Redis, this app) is in docker-compose.yml.
#
# Size (target: runtime image under 40 MB), estimated without a Docker daemon:
#   base:   gcr.io/distroless/cc-debian12 is the Debian 12 packages base-files, netbase, tzdata,
#           ca-certificates, libc6, libssl3, libgcc-s1, libgomp1 and libstdc++6, less their docs.
#           On bookworm, their files outside /usr/share/{doc,man,locale,info,lintian} add up to
#           22.8 MB (`dpkg -L` + `du -b`); their "Installed-Size" fields, docs included, to
#           25.5 MB (`apt-cache show`), an upper bound.
#   binary: 15.1 MB (15,066,640 bytes), measured by `ls -l` on a stripped release build
#           (CARGO_PROFILE_RELEASE_STRIP=symbols, as below) by the builder replay
#           (tests/deploy/builder-replay.test.mjs) on 2026-11-29.
#   total:  about 23 MB + 15.1 MB = 38 MB; the replay fails if the binary passes 17 MB.
# Templates (askama) and static assets are compiled into the binary: nothing else is copied.

# ---- builder -------------------------------------------------------------------------------
# The slim image ships gcc and libc6-dev, which `ring` (rustls' crypto) and `aws-lc-sys`
# (jsonwebtoken's ES384 verification; built with cc, no cmake needed) compile with. The app builds
# no openssl-sys or native-tls (Cargo.lock lists them only for logto-client's optional
# `native-tls` feature, which the app leaves off): TLS is rustls only (openssl-probe, pulled in
# by rustls-native-certs, only looks for certificate files), so no libssl-dev is needed.
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never

# 1. Dependencies only, in their own layer: built against a dummy lib, main and build script
#    (so the build script's dependencies are built here too), and an empty lib for each crate of
#    the workspace under crates/ (cargo resolves every member, so each manifest must be there),
#    so a change under src/, crates/, templates/ or static/ reuses this layer and recompiles just
#    our crates. `-p` builds the app and what it depends on, not the workspace's other members.
COPY Cargo.toml Cargo.lock ./
COPY crates/logto-client/Cargo.toml crates/logto-client/
COPY crates/logto-actix/Cargo.toml crates/logto-actix/
COPY crates/test-support/Cargo.toml crates/test-support/
RUN mkdir src crates/logto-client/src crates/logto-actix/src crates/test-support/src \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > build.rs \
    && touch src/lib.rs crates/logto-client/src/lib.rs crates/logto-actix/src/lib.rs \
       crates/test-support/src/lib.rs \
    && cargo build --release --locked -p logto-bookstore \
    && rm -rf src build.rs crates/logto-client/src crates/logto-actix/src crates/test-support/src

# 2. The crates themselves. `touch` makes sure cargo sees the real sources as newer than the
#    dummy build, whatever modification times the build context carries. build.rs compresses
#    the static assets. The binary is copied next to the sources (relative to WORKDIR), where
#    the runtime stage takes it from.
COPY build.rs ./
COPY src ./src
COPY crates ./crates
COPY templates ./templates
COPY static ./static
RUN touch build.rs src/main.rs src/lib.rs crates/logto-client/src/lib.rs \
    crates/logto-actix/src/lib.rs crates/test-support/src/lib.rs \
    && cargo build --release --locked -p logto-bookstore \
    && cp target/release/logto-bookstore logto-bookstore

# ---- runtime -------------------------------------------------------------------------------
# Distroless cc: glibc, libgcc, CA certificates and a `nonroot` user (uid 65532); no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /build/logto-bookstore /usr/local/bin/logto-bookstore
ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000
# The distroless base defines `nonroot` as uid/gid 65532 in its /etc/passwd. hadolint's DL3066
# is about hosts that need a numeric uid (Kubernetes runAsNonRoot): they can say 65532.
# hadolint ignore=DL3066
USER nonroot
# No shell and no curl here: the binary probes its own /healthz and exits 0 or 1.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/logto-bookstore", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/logto-bookstore"]
