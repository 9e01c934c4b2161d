# syntax=docker/dockerfile:1
# patrol container image with Docker: static binary on distroless, non-root.
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/patrol-dev/patrol:v0.1.0 .
# Releases are built without Docker by scripts/image.sh (same layout: /patrol,
# user 65532, no shell, entrypoint ["/patrol"]); see docs/image.md.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
WORKDIR /src
# Dependencies first, for layer caching.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/patrol ./cmd/patrol

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="patrol" \
      org.opencontainers.image.description="Keeps Azure DevOps credentials alive: Entra sign-in, PAT rotation into sinks" \
      org.opencontainers.image.source="https://github.com/patrol-dev/patrol" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/patrol /patrol
# distroless nonroot: uid/gid 65532, CA certificates included, no shell.
USER 65532:65532
ENTRYPOINT ["/patrol"]
