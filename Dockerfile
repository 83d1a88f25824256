# One image holding infisical-syncer, infisical-webhook and certs-gen: the image scripts/build-image
# writes without Docker, for users who build with Docker. The build stage runs that same script
# (--rootfs), so both images hold the same files: the binaries, exactly the Debian 12 libraries they
# load, CA certificates, /etc/passwd and /etc/group with nonroot (65532), /tmp; no shell.
# Build: docker build --build-arg REVISION="$(git rev-parse HEAD)" \
#          --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" -t infisical-secrets-operator:0.1.0 .
# The e2e test `image` checks that this file keeps the script's root filesystem, user and entrypoint.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ meson ninja-build pkg-config ca-certificates \
      libssl-dev libcurl4-openssl-dev zlib1g-dev rapidjson-dev libspdlog-dev libfmt-dev \
      libcpp-httplib-dev libyaml-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The files' mtime in the root filesystem (the script's default is the commit time; .git is not copied).
ARG SOURCE_DATE_EPOCH=0
RUN scripts/build-image --build-dir /build --rootfs /rootfs

FROM scratch
COPY --from=build /rootfs/ /
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="infisical-secrets-operator" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
ENV PATH=/usr/local/bin:/bin
# The chart's podSecurityContext runs as this user (runAsNonRoot, read-only root filesystem).
USER 65532:65532
# The other binaries: `command:` in a Pod spec (as the chart does) or `docker run --entrypoint certs-gen`.
ENTRYPOINT ["/usr/local/bin/infisical-syncer"]
