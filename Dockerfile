# syntax=docker/dockerfile:1
# Sésame: one static binary, the front end embedded, no shell in the image.

# 1. Front-end assets (htmx, CSS, JS) built from package-lock.json.
FROM node:22-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend ./frontend
RUN npm run build

# 2. The binary: `make build`, the same command whose output the browser tests drive.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=assets /src/frontend/dist ./frontend/dist
RUN go tool templ generate && make build && mkdir -p /out/data

# 3. Runtime: distroless, non-root, nothing but the binary.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/sesame /usr/local/bin/sesame
COPY --from=build --chown=65532:65532 /out/data /data
ENV SESAME_ADDR=:8080 \
    SESAME_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/sesame", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sesame"]
