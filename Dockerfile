# syntax=docker/dockerfile:1
# Multi-stage build of the static Gatehouse binary (pure-Go SQLite, no cgo) onto a distroless,
# non-root base. The build command is the same one the tests use (scripts/build.sh).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/gatehouse ./cmd/gatehouse
# /data (the SQLite file's home) must belong to the non-root user on every builder: a WORKDIR
# or VOLUME the final stage creates itself is owned by root under the classic builder and some
# others, and distroless has no shell to chown it. So it is made here and copied with its owner.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0750 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="Gatehouse" \
      org.opencontainers.image.description="Federation broker: OpenID Connect provider and SAML IdP in front of LDAP, SAML, OIDC/OAuth2 and local users" \
      org.opencontainers.image.source="https://github.com/gatehouse-id/gatehouse" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/gatehouse /gatehouse
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5556 5558
# distroless has no shell or curl: the binary checks itself. With an admin listener, pass
# --config (or --url http://127.0.0.1:5558/readyz) in your own HEALTHCHECK or compose file.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/gatehouse", "healthcheck", "--config", "/etc/gatehouse/config.yaml"]
ENTRYPOINT ["/gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/config.yaml"]
