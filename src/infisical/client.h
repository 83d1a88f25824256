// The Infisical client: shared tokens per identity, project lookup, and the secrets fetch with ETags,
// single flight per scope and deterministic merging. Thread safe; one instance per process.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "infisical/auth.h"
#include "infisical/cloud_env.h"
#include "infisical/errors.h"
#include "infisical/metrics.h"
#include "infisical/rate_limit.h"
#include "infisical/secrets.h"
#include "infisical/single_flight.h"
#include "infisical/token_cache.h"
#include "infisical/transport.h"

namespace ifo::infisical {

struct HostConfig {
  std::string base_url;  // "https://app.infisical.com/api" (a trailing '/' is ignored)
  std::string ca_pem;    // tls.caRef: trust these CAs for this host; empty: the system store
};

struct SecretsScope {
  std::string project_id;    // either this ...
  std::string project_slug;  // ... or this (resolved to an id and cached); service tokens need neither
  std::string environment;
  std::string path = "/";
  bool recursive = false;
  // Non-empty: only this secret of the folder (GET /v3/secrets/raw/{secretName}, imports searched too),
  // as upstream reads it: never with If-None-Match, so the result has no ETag.
  std::string secret_name = {};
};

struct FetchOptions {
  // The ETag this caller last saw; when the data still has it the result says not_modified.
  std::string known_etag;
  // Serve a result fetched less than this long ago without asking the server (0: always ask).
  std::chrono::seconds max_age{0};
};

struct SecretsResult {
  bool not_modified = false;  // the data still has the caller's known_etag
  std::map<std::string, std::string> secrets;  // always filled, also when not_modified
  std::string etag;                            // the server's ETag of this data (may be empty)
  std::vector<std::string> warnings;           // merge warnings (duplicate keys, hidden values)
  std::string project_id;
  // The rate limiter's headers on the answer this call received; none when it was served without a
  // request of its own (from memory, or by a concurrent caller's request).
  std::optional<RateLimitAdvice> rate_limit;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  TokenCacheOptions token_cache;
  std::chrono::seconds project_cache_ttl{1800};
  // Bounds on what a server (any hostAPI) can make the syncer hold: the largest answer body read, and
  // the most secrets one scope may hold. A managed Secret holds at most 1 MiB, so neither bounds a
  // usable scope; both fail the fetch with kInvalidResponse naming the limit.
  std::size_t max_response_bytes = 4 << 20;
  std::size_t max_keys_per_scope = 10000;
  std::string user_agent = net::HttpClient::default_user_agent();
};

class Client {
 public:
  // `factory` makes one transport per (host, CA); empty: libcurl. `logger` may be null (no logging).
  Client(ClientOptions options, const core::Clock& clock, CloudEnv cloud_env, std::shared_ptr<spdlog::logger> logger,
         TransportFactory factory = {}, std::shared_ptr<Transport> cloud_transport = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A usable access token for this identity (logs in or renews when needed). Throws ApiError.
  Token token(const HostConfig& host, const AuthConfig& auth);

  // Lists the secrets of a scope with imports, references expanded and (optionally) sub-folders; or the
  // one secret the scope names.
  // Concurrent calls for the same (host, identity, scope) share one HTTP request. Throws ApiError.
  SecretsResult fetch_secrets(const HostConfig& host, const AuthConfig& auth, const SecretsScope& scope,
                              const FetchOptions& options = {});

  Metrics& metrics() { return metrics_; }

  // Closes each Infisical host's idle connections: after a burst of concurrent requests (the syncer's
  // start-up warm-up) that will not come again.
  void close_idle_connections();

 private:
  struct Snapshot {
    std::string etag;
    MergedSecrets merged;
    std::string project_id;
    core::Clock::time_point fetched_at;  // monotonic
    std::optional<RateLimitAdvice> rate_limit;  // on the answer that made this snapshot
  };
  struct ProjectEntry {
    std::string id;
    core::Clock::time_point resolved_at;  // monotonic
  };
  struct Session;  // per-call wiring: transports, token getter

  std::shared_ptr<Transport> transport_for(const HostConfig& host);
  std::shared_ptr<const Snapshot> fetch_scope(Session& s, const SecretsScope& scope, const std::string& key);
  std::string resolve_project(Session& s, const std::string& slug);
  net::Response authed_get(Session& s, net::Request request, const std::string& endpoint, const std::string& what,
                           bool secrets_route);

  ClientOptions options_;
  const core::Clock& clock_;
  CloudEnv cloud_env_;
  std::shared_ptr<spdlog::logger> log_;
  TransportFactory factory_;
  Metrics metrics_;
  std::shared_ptr<Transport> cloud_transport_;
  AwsCredentialProvider aws_;
  TokenCache tokens_;

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Transport>> transports_;
  std::map<std::string, std::shared_ptr<const Snapshot>> snapshots_;
  std::map<std::string, ProjectEntry> projects_;
  SingleFlight<std::shared_ptr<const Snapshot>> fetches_;
  SingleFlight<std::string> project_lookups_;
};

}  // namespace ifo::infisical
