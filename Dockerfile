# syntax=docker/dockerfile:1
# Build stage: compile dependencies first (cached while only src/ changes), then the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
# (benches/cognito.rs is declared in Cargo.toml, so a stub must exist for cargo to read it.)
RUN mkdir src benches && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > benches/cognito.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src src
COPY migrations migrations
COPY templates templates
COPY static static
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Run stage: glibc and CA roots only (no libpq: Postgres is spoken by tokio-postgres), as non-root.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /app/target/release/gatehouse /usr/local/bin/gatehouse
ENV BIND=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
USER nonroot
ENTRYPOINT ["/usr/local/bin/gatehouse"]
# Runs pending migrations (RUN_MIGRATIONS=true by default), then serves.
CMD ["serve"]
