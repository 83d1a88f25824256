# One image holding infisical-syncer, infisical-webhook and certs-gen, built from Debian 12 packages.
# Build: docker build -t infisical-secrets-operator:0.1.0 .

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ meson ninja-build pkg-config cmake \
      libssl-dev libcurl4-openssl-dev rapidjson-dev libspdlog-dev libfmt-dev \
      libcpp-httplib-dev libyaml-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release --wrap-mode=nofallback -Dtests=disabled -Dprefix=/usr/local \
 && ninja -C /build infisical-syncer infisical-webhook certs-gen \
 && install -D -m 0755 /build/src/syncer/infisical-syncer /out/infisical-syncer \
 && install -D -m 0755 /build/src/webhook/infisical-webhook /out/infisical-webhook \
 && install -D -m 0755 /build/certs-gen/certs-gen /out/certs-gen

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libcurl4 libspdlog1.10 libfmt9 libcpp-httplib0.11 libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
# The chart's podSecurityContext runs as this user (runAsNonRoot, read-only root filesystem).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/infisical-syncer"]
