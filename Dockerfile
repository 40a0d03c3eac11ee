# syntax=docker/dockerfile:1
# Multi-stage build of the static Gatehouse binary (pure-Go SQLite, no cgo) onto a distroless,
# non-root base. The build command is the same one the tests use (scripts/build.sh).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/gatehouse ./cmd/gatehouse

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /gatehouse
USER nonroot:nonroot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5556
ENTRYPOINT ["/gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/config.yaml"]
