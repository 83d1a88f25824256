// The Infisical client: token sharing, project lookup, secrets fetch with ETag and single flight.
#include "infisical/client.h"

#include <fmt/format.h>

#include "core/json.h"

namespace ifo::infisical {

namespace {

std::string trim_base(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

// The wiring of one call: the host's transport, the login context and the identity's cache key.
struct Client::Session {
  Session(Client& c, const HostConfig& host, const AuthConfig& a)
      : base_url(trim_base(host.base_url)),
        transport(c.transport_for(host)),
        infisical{*transport, c.metrics_, c.clock_, c.options_.connect_timeout, c.options_.request_timeout,
                  c.options_.max_response_bytes},
        cloud{*c.cloud_transport_, c.metrics_, c.clock_, c.options_.connect_timeout, c.options_.request_timeout,
              c.options_.max_response_bytes},
        ctx{infisical, base_url, cloud, c.cloud_env_, c.aws_, c.clock_},
        auth(a),
        token_key(base_url + "|" + cache_identity(a)),
        display(display_identity(a)) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  std::string base_url;
  std::shared_ptr<Transport> transport;
  HttpCall infisical;
  HttpCall cloud;
  LoginContext ctx;
  const AuthConfig& auth;
  std::string token_key;
  std::string display;
  Token token;
};

Client::Client(ClientOptions options, const core::Clock& clock, CloudEnv cloud_env, std::shared_ptr<spdlog::logger> logger,
               TransportFactory factory, std::shared_ptr<Transport> cloud_transport)
    : options_(std::move(options)),
      clock_(clock),
      cloud_env_(std::move(cloud_env)),
      log_(std::move(logger)),
      factory_(std::move(factory)),
      cloud_transport_(std::move(cloud_transport)),
      aws_(cloud_env_, clock_),
      tokens_(clock_, metrics_, log_, options_.token_cache) {
  if (!factory_) {
    std::string ua = options_.user_agent;
    factory_ = [ua](const std::string&, const std::string& ca_pem) {
      net::TlsOptions tls;
      tls.ca_pem = ca_pem;
      return std::make_shared<CurlTransport>(tls, ua);
    };
  }
  if (!cloud_transport_) {
    net::TlsOptions tls;
    tls.ca_pem = cloud_env_.ca_pem;
    cloud_transport_ = std::make_shared<CurlTransport>(tls, options_.user_agent);
  }
}

Client::~Client() = default;

void Client::close_idle_connections() {
  std::vector<std::shared_ptr<Transport>> transports;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, t] : transports_) transports.push_back(t);
  }
  for (const auto& t : transports) t->close_idle();
}

std::shared_ptr<Transport> Client::transport_for(const HostConfig& host) {
  std::string key = trim_base(host.base_url) + "|" + sha256_hex(host.ca_pem);
  std::lock_guard lock(mu_);
  auto& t = transports_[key];
  if (!t) t = factory_(trim_base(host.base_url), host.ca_pem);
  return t;
}

namespace {

Token get_token(TokenCache& tokens, const std::string& key, const std::string& display, const AuthConfig& auth,
                const LoginContext& ctx) {
  TokenCache::RenewFn renew;
  if (!std::holds_alternative<ServiceTokenAuth>(auth))
    renew = [&](const std::string& t) { return renew_token(ctx, t, display); };
  return tokens.get(key, display, [&] { return login(auth, ctx); }, renew);
}

}  // namespace

Token Client::token(const HostConfig& host, const AuthConfig& auth) {
  Session s(*this, host, auth);
  return get_token(tokens_, s.token_key, s.display, auth, s.ctx);
}

net::Response Client::authed_get(Session& s, net::Request request, const std::string& endpoint, const std::string& what,
                                 bool secrets_route) {
  for (int attempt = 0;; ++attempt) {
    net::Request req = request;
    req.headers.emplace_back("Authorization", "Bearer " + s.token.access_token);
    req.headers.emplace_back("Accept", "application/json");
    auto r = s.infisical.send(std::move(req), endpoint, what);
    if (r.status == 401 && attempt == 0 && !std::holds_alternative<ServiceTokenAuth>(s.auth)) {
      // The token was revoked or expired early: log in again once, never in a loop.
      tokens_.invalidate(s.token_key, s.token.access_token);
      s.token = get_token(tokens_, s.token_key, s.display, s.auth, s.ctx);
      continue;
    }
    if ((r.status >= 200 && r.status < 300) || r.status == 304) return r;
    throw error_from_response(what, r, secrets_route, clock_.wall_now(), {s.token.access_token})
        .with_endpoint(endpoint);
  }
}

std::string Client::resolve_project(Session& s, const std::string& slug) {
  std::string key = s.token_key + "|" + slug;
  {
    std::lock_guard lock(mu_);
    auto it = projects_.find(key);
    if (it != projects_.end() && clock_.now() - it->second.resolved_at < options_.project_cache_ttl) return it->second.id;
  }
  return project_lookups_.run(key, [&] {
    std::string what = fmt::format("project lookup of slug {} ({})", slug, s.display);
    net::Request req;
    req.url = s.base_url + "/v2/workspace/" + net::url_encode(slug);
    auto r = authed_get(s, req, "GET /v2/workspace/{slug}", what, false);
    auto doc = core::parse_json(r.body);
    std::string id;
    if (doc.ok() && (*doc)->IsObject()) {
      id = core::string_or(**doc, "id", core::string_or(**doc, "_id", ""));
      // Some versions wrap it: {"workspace": {...}}.
      if (id.empty())
        if (const auto* w = core::member(**doc, "workspace"); w != nullptr) id = core::string_or(*w, "id", "");
    }
    if (id.empty()) throw ApiError(ErrorKind::kInvalidResponse, what + ": the answer has no project id");
    std::lock_guard lock(mu_);
    projects_[key] = ProjectEntry{id, clock_.now()};
    return id;
  });
}

std::shared_ptr<const Client::Snapshot> Client::fetch_scope(Session& s, const SecretsScope& scope,
                                                           const std::string& key) {
  s.token = get_token(tokens_, s.token_key, s.display, s.auth, s.ctx);
  std::string project_id = scope.project_id;
  bool from_slug = false;
  if (std::holds_alternative<ServiceTokenAuth>(s.auth)) {
    project_id = s.token.project_id;
  } else if (project_id.empty()) {
    if (scope.project_slug.empty())
      throw ApiError(ErrorKind::kInvalidConfig, "secrets fetch: the scope names neither a project id nor a project slug");
    project_id = resolve_project(s, scope.project_slug);
    from_slug = true;
  }
  std::string path = normalize_secret_path(scope.path);
  const bool single = !scope.secret_name.empty();
  std::string what = single ? fmt::format("fetch of secret {} from project {} environment {} path {} ({} {})",
                                          scope.secret_name, project_id, scope.environment, path, method_name(s.auth),
                                          s.display)
                            : fmt::format("secrets fetch of project {} environment {} path {}{} ({} {})", project_id,
                                          scope.environment, path, scope.recursive ? " (recursive)" : "",
                                          method_name(s.auth), s.display);

  std::shared_ptr<const Snapshot> previous;
  {
    std::lock_guard lock(mu_);
    if (auto it = snapshots_.find(key); it != snapshots_.end()) previous = it->second;
  }
  net::Request req;
  if (single) {
    req.url = fmt::format(
        "{}/v3/secrets/raw/{}?workspaceId={}&environment={}&secretPath={}&expandSecretReferences=true"
        "&include_imports=true&type=shared",
        s.base_url, net::url_encode(scope.secret_name), net::url_encode(project_id), net::url_encode(scope.environment),
        net::url_encode(path));
  } else {
    req.url = fmt::format(
        "{}/v3/secrets/raw?workspaceId={}&environment={}&secretPath={}&expandSecretReferences=true&include_imports=true"
        "&recursive={}",
        s.base_url, net::url_encode(project_id), net::url_encode(scope.environment), net::url_encode(path),
        scope.recursive ? "true" : "false");
    if (previous && !previous->etag.empty() && previous->project_id == project_id)
      req.headers.emplace_back("If-None-Match", previous->etag);
  }

  ++metrics_.secrets_fetches;
  const std::string endpoint = secrets_endpoint(single);
  net::Response r;
  try {
    r = authed_get(s, req, endpoint, what, true);
  } catch (const ApiError& e) {
    if (from_slug && (e.kind() == ErrorKind::kNotFound || e.kind() == ErrorKind::kForbidden)) {
      std::lock_guard lock(mu_);  // the slug may now name another project: look it up again next time
      projects_.erase(s.token_key + "|" + scope.project_slug);
    }
    if (log_) log_->warn("secrets fetch failed project={} env={} path={} error=\"{}\"", project_id, scope.environment, path, e.what());
    throw;
  }
  auto now = clock_.now();
  // Success or not, the answer says how much of the route's budget is left: the caller paces by it.
  std::optional<RateLimitAdvice> rate_limit = parse_rate_limit(r, clock_.wall_now());
  if (rate_limit) rate_limit->endpoint = endpoint;
  if (r.status == 304 && previous) {
    ++metrics_.secrets_not_modified;
    auto snap = std::make_shared<Snapshot>(*previous);
    snap->fetched_at = now;
    snap->rate_limit = rate_limit;
    std::lock_guard lock(mu_);
    snapshots_[key] = snap;
    if (log_) log_->debug("secrets not modified project={} env={} path={}", project_id, scope.environment, path);
    return snap;
  }
  if (r.status != 200)
    throw ApiError(ErrorKind::kInvalidResponse, fmt::format("{}: unexpected HTTP {}", what, r.status), static_cast<int>(r.status));
  auto parsed = single ? parse_single_secret_response(r.body) : parse_secrets_response(r.body);
  if (!parsed.ok()) throw ApiError(ErrorKind::kInvalidResponse, fmt::format("{}: {}", what, parsed.error()), 200);
  auto snap = std::make_shared<Snapshot>();
  snap->merged = merge_secrets(*parsed);
  if (snap->merged.values.size() > options_.max_keys_per_scope)
    throw ApiError(ErrorKind::kInvalidResponse,
                   fmt::format("{}: the scope holds {} secrets, more than the limit of {} "
                               "(--infisical-max-keys-per-scope)",
                               what, snap->merged.values.size(), options_.max_keys_per_scope),
                   200);
  // A single secret is read the way upstream reads it, without ETag: its data is compared every time.
  if (!single) snap->etag = r.header("etag").value_or("");
  snap->project_id = project_id;
  snap->fetched_at = now;
  snap->rate_limit = rate_limit;
  for (const auto& w : snap->merged.warnings)
    if (log_) log_->warn("project={} env={} path={}: {}", project_id, scope.environment, path, w);
  if (log_)
    log_->debug("secrets fetched project={} env={} path={} keys={}", project_id, scope.environment, path,
                snap->merged.values.size());
  std::lock_guard lock(mu_);
  snapshots_[key] = snap;
  return snap;
}

SecretsResult Client::fetch_secrets(const HostConfig& host, const AuthConfig& auth, const SecretsScope& scope,
                                    const FetchOptions& options) {
  Session s(*this, host, auth);
  std::string key = fmt::format("{}|{}|{}|{}|{}|{}|{}", s.token_key, scope.project_id, scope.project_slug,
                                scope.environment, normalize_secret_path(scope.path), scope.recursive,
                                scope.secret_name);
  std::shared_ptr<const Snapshot> snap;
  bool asked = false;  // this call sent the request (not served from memory or by another caller's)
  if (options.max_age.count() > 0) {
    std::lock_guard lock(mu_);
    auto it = snapshots_.find(key);
    if (it != snapshots_.end() && clock_.now() - it->second->fetched_at < options.max_age) {
      snap = it->second;
      ++metrics_.secrets_cache_served;
    }
  }
  if (!snap) {
    bool shared = false;
    snap = fetches_.run(key, [&] { return fetch_scope(s, scope, key); }, &shared);
    if (shared) ++metrics_.secrets_shared;
    asked = !shared;
  }
  SecretsResult out;
  out.secrets = snap->merged.values;
  out.warnings = snap->merged.warnings;
  out.etag = snap->etag;
  out.project_id = snap->project_id;
  out.not_modified = !options.known_etag.empty() && options.known_etag == snap->etag;
  if (asked) out.rate_limit = snap->rate_limit;
  return out;
}

}  // namespace ifo::infisical
