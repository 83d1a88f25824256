// infisical-sim server: route plumbing (counters, latency, rate limits, fault injection, ETags), the
// Infisical API routes, token issue/renew/validation and the admin endpoint. The auth-method
// verifiers and cloud endpoints live in sim_auth.cpp.
#include "infisical_sim.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <stdexcept>
#include <thread>

#include "core/base64.h"
#include "core/jwt.h"
#include "sim_impl.h"
#include "tls_cert.h"

namespace ifo::sim {

// ---------------------------------------------------------------------------------------------
// Digests

std::string sha1_base64(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha1(), nullptr);
  return core::base64_encode(std::string_view(reinterpret_cast<const char*>(md), n));
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return hex_encode(std::string_view(reinterpret_cast<const char*>(md), n));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &n);
  return std::string(reinterpret_cast<const char*>(md), n);
}

// ---------------------------------------------------------------------------------------------
// Impl basics

int64_t InfisicalSim::Impl::now_ms() const {
  auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  return wall.count() + clock_offset_ms.load();
}

bool InfisicalSim::Impl::sleep_ms(int64_t ms) {
  std::unique_lock<std::mutex> lock(stop_mu);
  return !stop_cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping; });
}

std::string InfisicalSim::Impl::client_ip(const httplib::Request& req) {
  // trustProxy is on in the real server: X-Forwarded-For decides the address that is rate limited.
  std::string xff = req.get_header_value("X-Forwarded-For");
  if (!xff.empty()) {
    auto comma = xff.find(',');
    std::string first = xff.substr(0, comma);
    first.erase(0, first.find_first_not_of(' '));
    first.erase(first.find_last_not_of(' ') + 1);
    if (!first.empty()) return first;
  }
  return req.remote_addr;
}

std::string InfisicalSim::Impl::identity_hint(const httplib::Request& req) {
  std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) != 0) return kAnonymous;
  std::string token = auth.substr(7);
  if (token.rfind("st.", 0) == 0) {
    auto dot = token.find('.', 3);
    return "service-token:" + token.substr(3, dot == std::string::npos ? std::string::npos : dot - 3);
  }
  auto parts = core::jwt_decode_unverified(token);
  if (!parts) return kAnonymous;
  auto doc = core::parse_json(parts->claims_json);
  if (!doc) return kAnonymous;
  return core::string_or(**doc, "identityId", kAnonymous);
}

void InfisicalSim::Impl::route(httplib::Server& server, const std::string& method, const std::string& pattern,
                               const std::string& label, const std::string& group, Handler handler) {
  auto wrapped = [this, label, group, handler](const httplib::Request& req, httplib::Response& res) {
    Ctx ctx;
    ctx.route = label;
    ctx.identity = identity_hint(req);
    serve(req, res, ctx, group, handler);
  };
  if (method == "GET")
    server.Get(pattern, wrapped);
  else if (method == "POST")
    server.Post(pattern, wrapped);
  else if (method == "PUT")
    server.Put(pattern, wrapped);
  else if (method == "DELETE")
    server.Delete(pattern, wrapped);
}

void InfisicalSim::Impl::serve(const httplib::Request& req, httplib::Response& res, Ctx& ctx, const std::string& group,
                               const Handler& handler) {
  struct InFlight {
    Impl& sim;
    explicit InFlight(Impl& s) : sim(s) {
      std::lock_guard<std::mutex> lock(sim.mu);
      sim.counters.max_in_flight = std::max(sim.counters.max_in_flight, ++sim.in_flight);
    }
    ~InFlight() {
      std::lock_guard<std::mutex> lock(sim.mu);
      --sim.in_flight;
    }
  } in_flight(*this);
  int64_t latency = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = latency_ms.find(ctx.route);
    if (it == latency_ms.end()) it = latency_ms.find("*");
    if (it != latency_ms.end()) latency = it->second;
  }
  if (latency > 0 && !sleep_ms(latency)) {
    send_error(res, 503, "Server is shutting down", "ServiceUnavailable");
    return;
  }

  bool handled = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!group.empty()) handled = apply_rate_limit(req, res, ctx, group);
    if (!handled) {
      auto it = faults.find(ctx.route);
      if (it == faults.end()) it = faults.find("*");
      if (it != faults.end() && it->second.remaining != 0) {
        if (it->second.remaining > 0) --it->second.remaining;
        if (it->second.retry_after_s > 0) res.set_header("Retry-After", std::to_string(it->second.retry_after_s));
        send_error(res, it->second.status, it->second.message, it->second.error);
        handled = true;
      }
    }
  }
  if (!handled) {
    try {
      handler(req, res, ctx);
    } catch (const std::exception& e) {
      // Never echo request content: it may hold credentials.
      send_error(res, 500, "Something went wrong", "InternalServerError");
    }
    // @fastify/etag: every 200 carries a strong ETag over the body; If-None-Match answers 304.
    if (res.status == 200 && !res.body.empty() && !res.has_header("ETag")) {
      std::string etag = "\"" + sha1_base64(res.body) + "\"";
      res.set_header("ETag", etag);
      if (req.get_header_value("If-None-Match") == etag) {
        res.status = 304;
        res.body.clear();
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu);
  counters.by_route[ctx.route] += 1;
  counters.by_route_status[ctx.route + " " + std::to_string(res.status)] += 1;
  counters.by_identity[ctx.identity][ctx.route] += 1;
  counters.total += 1;
}

bool InfisicalSim::Impl::apply_rate_limit(const httplib::Request& req, httplib::Response& res, const Ctx& ctx,
                                          const std::string& group) {
  if (rate_limit.mode == RateLimitMode::kOff) return false;
  int64_t limit = 0;
  if (auto it = rate_limit.limits.find(ctx.route); it != rate_limit.limits.end())
    limit = it->second;
  else if (auto g = rate_limit.limits.find(group); g != rate_limit.limits.end())
    limit = g->second;
  if (limit <= 0) return false;
  std::string who = rate_limit.by_identity && ctx.identity != kAnonymous ? "id:" + ctx.identity : "ip:" + client_ip(req);
  auto& window = rate_windows[ctx.route + "|" + who];
  int64_t now = now_ms();
  if (window.start_ms == 0 || now - window.start_ms >= 60000) {
    window.start_ms = now;
    window.count = 0;
  }
  // @fastify/rate-limit: a fixed window per route and client that starts with the first request after
  // the previous one expired; every request counts, refused ones too (the store increments before it
  // compares), so a client that keeps asking only keeps the window spent.
  window.count += 1;
  // Whole seconds until the window ends, rounded up (Math.ceil(ttl / 1000)).
  int64_t reset_s = std::max<int64_t>(1, (window.start_ms + 60000 - now + 999) / 1000);
  // Set before the handler runs, so every answer of the route carries them: 200, 304 and errors alike.
  res.set_header("x-ratelimit-limit", std::to_string(limit));
  res.set_header("x-ratelimit-remaining", std::to_string(std::max<int64_t>(0, limit - window.count)));
  res.set_header("x-ratelimit-reset", std::to_string(reset_s));
  if (window.count <= limit) return false;
  // The refusal adds retry-after (the same seconds) whatever the status it ends up with.
  res.set_header("retry-after", std::to_string(reset_s));
  if (rate_limit.mode == RateLimitMode::k429) {
    send_error(res, 429, "Rate limit exceeded. Please try again in " + std::to_string(reset_s) + " seconds",
               "RateLimitExceeded");
  } else {
    // The OSS build of 2024-10 throws the limiter's error past its error mapping: a generic 500, but
    // the headers the limiter had already set stay on it.
    send_error(res, 500, "Something went wrong", "InternalServerError");
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Tokens

std::string InfisicalSim::Impl::issue_token(const Identity& identity, const std::string& auth_method) {
  AccessToken t;
  t.id = ids.uuid();
  t.identity_id = identity.id;
  t.auth_method = auth_method;
  t.created_ms = now_ms();
  t.ttl = identity.access_token_ttl;
  t.max_ttl = identity.access_token_max_ttl;
  JsonObject claims;
  claims.str("identityId", identity.id)
      .str("identityAccessTokenId", t.id)
      .str("authTokenType", "identityAccessToken")
      .num("iat", t.created_ms / 1000);
  if (t.max_ttl > 0) claims.num("exp", t.created_ms / 1000 + t.max_ttl);
  auto jwt = core::jwt_sign_rs256(claims.done(), key.private_pem);
  if (!jwt) throw std::runtime_error("signing an access token failed: " + jwt.error());
  tokens[t.id] = t;
  return JsonObject()
      .str("accessToken", *jwt)
      .num("expiresIn", t.ttl)
      .num("accessTokenMaxTTL", t.max_ttl)
      .str("tokenType", "Bearer")
      .done();
}

// Checks TTL and max TTL the way the real server's validation does; the error is the real message.
std::optional<std::string> InfisicalSim::Impl::token_expired(const AccessToken& t) const {
  int64_t now = now_ms();
  if (t.ttl > 0) {
    int64_t base = t.last_renewed_ms != 0 ? t.last_renewed_ms : t.created_ms;
    if (now > base + t.ttl * 1000) return std::string("Failed to renew MI access token due to TTL expiration");
  }
  if (t.max_ttl > 0 && now > t.created_ms + t.max_ttl * 1000)
    return std::string("Failed to renew MI access token due to Max TTL expiration");
  return std::nullopt;
}

std::optional<Principal> InfisicalSim::Impl::authenticate(const httplib::Request& req, httplib::Response& res) {
  std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) != 0 || auth.size() <= 7) {
    send_error(res, 401, "Token missing", "UnauthorizedError");
    return std::nullopt;
  }
  std::string token = auth.substr(7);
  Principal p;
  if (token.rfind("st.", 0) == 0) {
    // st.<id>.<secret>[.<key>]: the server reads the first three parts.
    std::vector<std::string> parts;
    size_t start = 0;
    while (parts.size() < 4) {
      size_t dot = token.find('.', start);
      parts.push_back(token.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (parts.size() < 3 || parts[1].empty() || parts[2].empty()) {
      send_error(res, 401, "Invalid service token", "UnauthorizedError");
      return std::nullopt;
    }
    ServiceToken* st = model.service_token_by_id(parts[1]);
    if (st == nullptr) {
      send_error(res, 404, "Service token with ID '" + parts[1] + "' not found", "NotFound");
      return std::nullopt;
    }
    if (st->expires_at_ms != 0 && now_ms() > st->expires_at_ms) {
      send_error(res, 403, "Service token has expired", "PermissionDenied");
      return std::nullopt;
    }
    if (st->secret != parts[2]) {
      send_error(res, 401, "Invalid service token", "UnauthorizedError");
      return std::nullopt;
    }
    p.service_token = st;
    p.identity_id = "service-token:" + st->id;
    return p;
  }
  auto verified = core::jwt_verify_rs256(token, key.public_pem);
  if (!verified) {
    send_error(res, 403, "The provided access token is malformed or invalid. Please check the token and try again.",
               "TokenError");
    return std::nullopt;
  }
  auto claims = core::parse_json(verified->claims_json);
  std::string token_id = claims ? core::string_or(**claims, "identityAccessTokenId", "") : "";
  auto it = tokens.find(token_id);
  if (it == tokens.end() || it->second.revoked) {
    send_error(res, 401, "Failed to authorize revoked access token, access token is revoked", "UnauthorizedError");
    return std::nullopt;
  }
  if (auto expired = token_expired(it->second)) {
    tokens.erase(it);
    send_error(res, 401, *expired, "UnauthorizedError");
    return std::nullopt;
  }
  p.identity = model.identity_by_id(it->second.identity_id);
  if (p.identity == nullptr) {
    send_error(res, 401, "Identity of the access token no longer exists", "UnauthorizedError");
    return std::nullopt;
  }
  p.identity_id = p.identity->id;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Infisical API routes

void InfisicalSim::Impl::add_api_routes(httplib::Server& s) {
  route(s, "POST", "/api/v1/auth/universal-auth/login", "POST /api/v1/auth/universal-auth/login", "writes",
        [this](const httplib::Request& req, httplib::Response& res, Ctx& ctx) { login_universal(req, res, ctx); });
  route(s, "POST", "/api/v1/auth/ldap-auth/login", "POST /api/v1/auth/ldap-auth/login", "writes",
        [this](const httplib::Request& req, httplib::Response& res, Ctx& ctx) { login_ldap(req, res, ctx); });
  route(s, "POST", "/api/v1/auth/kubernetes-auth/login", "POST /api/v1/auth/kubernetes-auth/login", "writes",
        [this](const httplib::Request& req, httplib::Response& res, Ctx& ctx) { login_kubernetes(req, res, ctx); });
  route(s, "POST", "/api/v1/auth/aws-auth/login", "POST /api/v1/auth/aws-auth/login", "writes",
        [this](const httplib::Request& req, httplib::Response& res, Ctx& ctx) { login_aws(req, res, ctx); });
  route(s, "POST", "/api/v1/auth/azure-auth/login", "POST /api/v1/auth/azure-auth/login", "writes",
        [this](const httplib::Request& req, httplib::Response& res, Ctx& ctx) { login_azure(req, res, ctx); });
  route(s, "POST", "/api/v1/auth/gcp-auth/login", "POST /api/v1/auth/gcp-auth/login", "writes",
        [this](const httplib::Request& req, httplib::Response& res, Ctx& ctx) { login_gcp(req, res, ctx); });

  route(s, "POST", "/api/v1/auth/token/renew", "POST /api/v1/auth/token/renew", "writes",
        [this](const httplib::Request& req, httplib::Response& res, Ctx& ctx) {
          auto body = json_body(req, res);
          if (!body) return;
          auto token = core::get_string(*body, "accessToken");
          if (!token) return send_validation_failure(res, "accessToken");
          std::lock_guard<std::mutex> lock(mu);
          auto verified = core::jwt_verify_rs256(*token, key.public_pem);
          if (!verified) return send_error(res, 403, "The provided access token is malformed or invalid. Please check the token and try again.", "TokenError");
          auto claims = core::parse_json(verified->claims_json);
          std::string token_id = claims ? core::string_or(**claims, "identityAccessTokenId", "") : "";
          auto it = tokens.find(token_id);
          if (it == tokens.end() || it->second.revoked) return send_error(res, 401, "Unauthorized", "UnauthorizedError");
          AccessToken& t = it->second;
          ctx.identity = t.identity_id;
          if (auto expired = token_expired(t)) {
            tokens.erase(it);
            return send_error(res, 401, *expired, "UnauthorizedError");
          }
          int64_t now = now_ms();
          if (t.max_ttl > 0 && now + t.ttl * 1000 > t.created_ms + t.max_ttl * 1000) {
            tokens.erase(it);
            return send_error(res, 401, "Failed to renew MI access token past its Max TTL expiration", "UnauthorizedError");
          }
          t.last_renewed_ms = now;
          send_json(res, 200,
                    JsonObject()
                        .str("accessToken", *token)
                        .num("expiresIn", t.ttl)
                        .num("accessTokenMaxTTL", t.max_ttl)
                        .str("tokenType", "Bearer")
                        .done());
        });

  route(s, "POST", "/api/v1/auth/token/revoke", "POST /api/v1/auth/token/revoke", "writes",
        [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
          auto body = json_body(req, res);
          if (!body) return;
          auto token = core::get_string(*body, "accessToken");
          if (!token) return send_validation_failure(res, "accessToken");
          std::lock_guard<std::mutex> lock(mu);
          auto verified = core::jwt_verify_rs256(*token, key.public_pem);
          if (!verified) return send_error(res, 403, "The provided access token is malformed or invalid. Please check the token and try again.", "TokenError");
          auto claims = core::parse_json(verified->claims_json);
          auto it = tokens.find(claims ? core::string_or(**claims, "identityAccessTokenId", "") : "");
          if (it != tokens.end()) it->second.revoked = true;
          send_json(res, 200, JsonObject().str("message", "Successfully revoked access token").done());
        });

  route(s, "GET", R"(/api/v2/workspace/([^/]+))", "GET /api/v2/workspace/{slug}", "reads",
        [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
          std::lock_guard<std::mutex> lock(mu);
          auto principal = authenticate(req, res);
          if (!principal) return;
          std::string slug = req.matches[1];
          Project* p = model.project_by_slug(slug);
          if (p == nullptr) return send_error(res, 404, "Project with slug '" + slug + "' not found", "NotFound");
          if (!may_read(*principal, *p)) return send_error(res, 403, "You are not allowed to read on workspace", "PermissionDenied");
          send_json(res, 200, render_project(*p));
        });

  route(s, "GET", "/api/v3/secrets/raw", "GET /api/v3/secrets/raw", "secrets",
        [this](const httplib::Request& req, httplib::Response& res, Ctx&) { list_secrets(req, res); });
  route(s, "GET", R"(/api/v3/secrets/raw/([^/]+))", "GET /api/v3/secrets/raw/{secretName}", "secrets",
        [this](const httplib::Request& req, httplib::Response& res, Ctx&) { get_secret(req, res); });

  route(s, "GET", "/api/v2/service-token", "GET /api/v2/service-token", "reads",
        [this](const httplib::Request& req, httplib::Response& res, Ctx&) {
          std::lock_guard<std::mutex> lock(mu);
          auto principal = authenticate(req, res);
          if (!principal) return;
          if (principal->service_token == nullptr)
            return send_error(res, 401, "Failed to authenticate: this route needs a service token", "UnauthorizedError");
          const ServiceToken& st = *principal->service_token;
          rapidjson::StringBuffer buf;
          JsonWriter w(buf);
          w.StartObject();
          auto kv = [&](const char* k, const std::string& v) {
            w.Key(k);
            w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
          };
          kv("id", st.id);
          kv("_id", st.id);
          kv("name", st.name);
          kv("workspace", st.project_id);
          kv("projectId", st.project_id);
          kv("environment", st.scopes.front().environment);
          kv("secretPath", st.scopes.front().secret_path);
          w.Key("scopes");
          w.StartArray();
          for (const auto& sc : st.scopes) {
            w.StartObject();
            kv("environment", sc.environment);
            kv("secretPath", sc.secret_path);
            w.EndObject();
          }
          w.EndArray();
          w.Key("permissions");
          w.StartArray();
          w.String("read");
          w.EndArray();
          // The E2EE-era fields: present so old clients parse, meaningless here.
          kv("encryptedKey", "");
          kv("iv", "");
          kv("tag", "");
          w.Key("expiresAt");
          if (st.expires_at_ms != 0)
            w.String(iso_time(st.expires_at_ms).c_str());
          else
            w.Null();
          kv("createdAt", st.created_at);
          kv("updatedAt", st.created_at);
          w.EndObject();
          send_json(res, 200, std::string(buf.GetString(), buf.GetSize()));
        });
}

bool InfisicalSim::Impl::may_read(const Principal& p, const Project& project) const {
  if (p.service_token != nullptr) return p.service_token->project_id == project.id;
  if (p.identity == nullptr) return false;
  const auto& ids_ = p.identity->project_ids;
  return std::find(ids_.begin(), ids_.end(), project.id) != ids_.end();
}

namespace {

bool path_matches_scope(const std::string& scope, const std::string& path) {
  std::string s = scope;
  if (s.size() >= 3 && s.compare(s.size() - 3, 3, "/**") == 0) {
    std::string base = normalize_path(s.substr(0, s.size() - 3));
    return base == "/" || path == base || path.rfind(base + "/", 0) == 0;
  }
  if (s.size() >= 2 && s.compare(s.size() - 2, 2, "/*") == 0) {
    std::string base = normalize_path(s.substr(0, s.size() - 2));
    if (path == base) return true;
    std::string prefix = base == "/" ? "/" : base + "/";
    return path.rfind(prefix, 0) == 0 && path.find('/', prefix.size()) == std::string::npos;
  }
  return normalize_path(s) == path;
}

bool has_glob(const std::string& s) { return s.find('*') != std::string::npos; }

}  // namespace

Project* InfisicalSim::Impl::read_scope(const httplib::Request& req, httplib::Response& res, const Principal& principal,
                                       RawQuery& q) {
  std::string workspace_id = query(req, "workspaceId");
  std::string workspace_slug = query(req, "workspaceSlug");
  q.environment = query(req, "environment");
  q.secret_path = normalize_path(req.has_param("secretPath") ? query(req, "secretPath") : "/");
  q.recursive = query(req, "recursive") == "true";
  q.include_imports = query(req, "include_imports") == "true";
  q.expand = query(req, "expandSecretReferences") == "true";

  Project* project = nullptr;
  if (principal.service_token != nullptr) {
    const ServiceToken& st = *principal.service_token;
    project = model.project_by_id(st.project_id);
    // A token with one non-glob scope reads exactly that scope, whatever the query says.
    if (st.scopes.size() == 1 && !has_glob(st.scopes[0].secret_path)) {
      q.environment = st.scopes[0].environment;
      q.secret_path = normalize_path(st.scopes[0].secret_path);
    }
    if (q.environment.empty()) {
      send_error(res, 400, "Missing workspace id or environment", "BadRequest");
      return nullptr;
    }
    bool allowed = false;
    for (const auto& sc : st.scopes)
      if (sc.environment == q.environment && path_matches_scope(sc.secret_path, q.secret_path)) allowed = true;
    if (!allowed) {
      send_error(res, 403, "You are not allowed to read on secrets", "PermissionDenied");
      return nullptr;
    }
  } else {
    if (!workspace_id.empty()) {
      project = model.project_by_id(workspace_id);
      if (project == nullptr) {
        send_error(res, 404, "Project with ID '" + workspace_id + "' not found", "NotFound");
        return nullptr;
      }
    } else if (!workspace_slug.empty()) {
      project = model.project_by_slug(workspace_slug);
      if (project == nullptr) {
        send_error(res, 500, "Something went wrong", "Failed to find project by slug");
        return nullptr;
      }
    }
    if (project == nullptr || q.environment.empty()) {
      send_error(res, 400, "Missing workspace id or environment", "BadRequest");
      return nullptr;
    }
    if (!may_read(principal, *project)) {
      send_error(res, 403, "You are not allowed to read on secrets", "PermissionDenied");
      return nullptr;
    }
  }
  if (project == nullptr) send_error(res, 404, "Project not found", "NotFound");
  return project;
}

void InfisicalSim::Impl::list_secrets(const httplib::Request& req, httplib::Response& res) {
  std::lock_guard<std::mutex> lock(mu);
  auto principal = authenticate(req, res);
  if (!principal) return;
  RawQuery q;
  Project* project = read_scope(req, res, *principal, q);
  if (project == nullptr) return;
  send_json(res, 200, render_secrets_raw(*project, q));
}

void InfisicalSim::Impl::get_secret(const httplib::Request& req, httplib::Response& res) {
  std::lock_guard<std::mutex> lock(mu);
  auto principal = authenticate(req, res);
  if (!principal) return;
  RawQuery q;
  Project* project = read_scope(req, res, *principal, q);
  if (project == nullptr) return;
  // Personal overrides belong to users; a machine identity reads the shared secret (type=shared).
  std::string type = req.has_param("type") ? query(req, "type") : "shared";
  if (type != "shared" && type != "personal") return send_validation_failure(res, "type", "'shared' | 'personal'");
  auto body = type == "shared" ? render_secret_raw(*project, q, std::string(req.matches[1])) : std::nullopt;
  if (!body) return send_error(res, 404, "Secret not found", "NotFound");
  send_json(res, 200, *body);
}

// ---------------------------------------------------------------------------------------------
// Universal auth

void InfisicalSim::Impl::login_universal(const httplib::Request& req, httplib::Response& res, Ctx& ctx) {
  auto body = json_body(req, res);
  if (!body) return;
  auto client_id = core::get_string(*body, "clientId");
  if (!client_id) return send_validation_failure(res, "clientId");
  auto client_secret = core::get_string(*body, "clientSecret");
  if (!client_secret) return send_validation_failure(res, "clientSecret");
  std::lock_guard<std::mutex> lock(mu);
  Identity* id = model.identity_by_client_id(*client_id);
  if (id == nullptr) return send_error(res, 404, "No identity with specified client ID was found", "NotFound");
  ctx.identity = id->id;
  if (id->universal->client_secret != *client_secret) return send_error(res, 401, "Invalid credentials", "UnauthorizedError");
  send_json(res, 200, issue_token(*id, "universal-auth"));
}

// ---------------------------------------------------------------------------------------------
// LDAP auth: the real server binds to the identity's directory with the username and password; a
// failed bind is 401 "LDAP authentication failed".

void InfisicalSim::Impl::login_ldap(const httplib::Request& req, httplib::Response& res, Ctx& ctx) {
  auto body = json_body(req, res);
  if (!body) return;
  for (const char* f : {"identityId", "username", "password"})
    if (!core::get_string(*body, f)) return send_validation_failure(res, f);
  std::string identity_id = *core::get_string(*body, "identityId");
  std::lock_guard<std::mutex> lock(mu);
  Identity* id = model.identity_by_id(identity_id);
  if (id == nullptr || !id->ldap)
    return send_error(res, 404, "LDAP auth method not found for identity, did you configure LDAP auth?", "NotFound");
  ctx.identity = id->id;
  if (id->ldap->username != *core::get_string(*body, "username") || id->ldap->password != *core::get_string(*body, "password"))
    return send_error(res, 401, "LDAP authentication failed", "UnauthorizedError");
  send_json(res, 200, issue_token(*id, "ldap-auth"));
}

// ---------------------------------------------------------------------------------------------
// Admin endpoint

namespace {

std::string str_or(const core::JsonValue& v, const char* name, const char* fallback = "") {
  return core::string_or(v, name, fallback);
}

}  // namespace

void InfisicalSim::Impl::add_admin_routes(httplib::Server& s) {
  auto admin = [this](auto fn) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Bearer " + admin_token)
        return send_error(res, 401, "admin endpoints need Authorization: Bearer <admin token>", "Unauthorized");
      std::shared_ptr<core::JsonDoc> body;
      if (req.method != "GET") {
        body = json_body(req, res);
        if (!body) return;
      }
      try {
        fn(req, res, body ? static_cast<const core::JsonValue&>(*body) : empty_object);
      } catch (const std::exception& e) {
        send_error(res, 400, e.what(), "BadRequest");
      }
    };
  };
  auto need = [](const core::JsonValue& v, const char* name) {
    auto s = core::get_string(v, name);
    if (!s || s->empty()) throw std::runtime_error(std::string("missing string field \"") + name + "\"");
    return *s;
  };
  auto project_env = [this, need](const core::JsonValue& b, const char* env_field) {
    std::string slug = need(b, "project");
    Project* p = model.project_by_slug(slug);
    if (p == nullptr) p = model.project_by_id(slug);
    if (p == nullptr) throw std::runtime_error("unknown project \"" + slug + "\"");
    std::string env_slug = need(b, env_field);
    Environment* env = p->env(env_slug);
    if (env == nullptr) throw std::runtime_error("unknown environment \"" + env_slug + "\" in project \"" + slug + "\"");
    return std::pair<Project*, Environment*>(p, env);
  };

  s.Post("/sim/secrets", admin([this, need, project_env](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    std::lock_guard<std::mutex> lock(mu);
    auto [p, env] = project_env(b, "environment");
    std::string key = need(b, "key");
    auto value = core::get_string(b, "value");
    if (!value) throw std::runtime_error("missing string field \"value\"");
    int64_t v = ifo::sim::set_secret(*p, *env, str_or(b, "path", "/"), key, *value, str_or(b, "comment"), str_or(b, "type", "shared"), ids, now_ms());
    send_json(res, 200, JsonObject().str("key", key).num("version", v).done());
  }));
  auto delete_handler = admin([this, need, project_env](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    std::lock_guard<std::mutex> lock(mu);
    auto [p, env] = project_env(b, "environment");
    bool deleted = ifo::sim::delete_secret(*env, str_or(b, "path", "/"), need(b, "key"));
    send_json(res, deleted ? 200 : 404, JsonObject().boolean("deleted", deleted).done());
  });
  s.Delete("/sim/secrets", delete_handler);
  s.Post("/sim/secrets/delete", delete_handler);
  s.Post("/sim/imports", admin([this, need, project_env](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    std::lock_guard<std::mutex> lock(mu);
    auto [p, env] = project_env(b, "environment");
    std::string src_slug = need(b, "importEnvironment");
    if (p->env(src_slug) == nullptr) throw std::runtime_error("unknown importEnvironment \"" + src_slug + "\"");
    Folder& f = ensure_folder(*env, str_or(b, "path", "/"), ids);
    SecretImport imp{ids.uuid(), src_slug, normalize_path(str_or(b, "importPath", "/"))};
    f.imports.push_back(imp);
    send_json(res, 200, JsonObject().str("id", imp.id).num("position", static_cast<int64_t>(f.imports.size())).done());
  }));
  s.Post("/sim/latency", admin([this](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    auto ms = core::get_int(b, "ms");
    if (!ms || *ms < 0) throw std::runtime_error("\"ms\" must be a non-negative integer");
    std::string r = str_or(b, "route", "*");
    set_latency(r, *ms);
    send_json(res, 200, JsonObject().str("route", r).num("ms", *ms).done());
  }));
  s.Post("/sim/errors", admin([this](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    auto status = core::get_int(b, "status");
    if (!status || (*status != 0 && (*status < 400 || *status > 599)))
      throw std::runtime_error("\"status\" must be 0 (clear) or 400..599");
    std::lock_guard<std::mutex> lock(mu);
    std::string r = str_or(b, "route", "*");
    if (*status == 0) {
      faults.erase(r);
    } else {
      Fault f;
      f.status = static_cast<int>(*status);
      f.remaining = core::get_int(b, "count").value_or(-1);
      f.message = str_or(b, "message", "Something went wrong");
      f.error = str_or(b, "error", *status >= 500 ? "InternalServerError" : "Error");
      auto retry_after = core::get_int(b, "retryAfter");
      if (core::member(b, "retryAfter") && (!retry_after || *retry_after < 1 || *retry_after > 86400))
        throw std::runtime_error("\"retryAfter\" must be seconds between 1 and 86400");
      f.retry_after_s = retry_after.value_or(0);
      faults[r] = f;
    }
    send_json(res, 200, JsonObject().str("route", r).num("status", *status).done());
  }));
  s.Post("/sim/rate-limit", admin([this](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    std::lock_guard<std::mutex> lock(mu);
    std::string mode = str_or(b, "mode", "429");
    if (mode == "429")
      rate_limit.mode = RateLimitMode::k429;
    else if (mode == "500")
      rate_limit.mode = RateLimitMode::k500;
    else if (mode == "off")
      rate_limit.mode = RateLimitMode::kOff;
    else
      throw std::runtime_error("\"mode\" must be \"429\", \"500\" or \"off\"");
    std::string by = str_or(b, "by", "ip");
    if (by != "ip" && by != "identity") throw std::runtime_error("\"by\" must be \"ip\" or \"identity\"");
    rate_limit.by_identity = by == "identity";
    if (const auto* limits = core::member(b, "limits"); limits != nullptr && limits->IsObject()) {
      for (rapidjson::SizeType mi = 0; mi < limits->MemberCount(); ++mi) {
      auto it = limits->MemberBegin() + mi;
        if (!it->value.IsInt64()) throw std::runtime_error("limits must be integers per minute");
        rate_limit.limits[it->name.GetString()] = it->value.GetInt64();
      }
    }
    rate_windows.clear();
    send_json(res, 200, JsonObject().str("mode", mode).str("by", by).done());
  }));
  s.Get("/sim/counters", admin([this](const httplib::Request&, httplib::Response& res, const core::JsonValue&) {
    std::lock_guard<std::mutex> lock(mu);
    send_json(res, 200, render_counters());
  }));
  s.Post("/sim/counters/reset", admin([this](const httplib::Request&, httplib::Response& res, const core::JsonValue&) {
    std::lock_guard<std::mutex> lock(mu);
    counters = Counters{};
    rate_windows.clear();
    send_json(res, 200, "{}");
  }));
  s.Post("/sim/clock", admin([this](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    auto secs = core::get_int(b, "advanceSeconds");
    if (!secs || *secs < 0) throw std::runtime_error("\"advanceSeconds\" must be a non-negative integer");
    clock_offset_ms += *secs * 1000;
    send_json(res, 200, JsonObject().num("offsetSeconds", clock_offset_ms.load() / 1000).done());
  }));
  s.Post("/sim/kubernetes", admin([this](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    std::lock_guard<std::mutex> lock(mu);
    model.kubernetes.host = str_or(b, "host");
    model.kubernetes.ca_cert = str_or(b, "caCert");
    model.kubernetes.token_reviewer_jwt = str_or(b, "tokenReviewerJwt");
    send_json(res, 200, "{}");
  }));
  s.Post("/sim/identities", admin([this, need](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    std::lock_guard<std::mutex> lock(mu);
    std::string id = need(b, "id");
    Identity* ident = model.identity_by_id(id);
    if (ident == nullptr) throw std::runtime_error("unknown identity \"" + id + "\"");
    if (auto ttl = core::get_int(b, "accessTokenTTL")) ident->access_token_ttl = *ttl;
    if (auto max = core::get_int(b, "accessTokenMaxTTL")) ident->access_token_max_ttl = *max;
    if (auto secret = core::get_string(b, "clientSecret"); secret && ident->universal) ident->universal->client_secret = *secret;
    send_json(res, 200, JsonObject().str("id", id).num("accessTokenTTL", ident->access_token_ttl).num("accessTokenMaxTTL", ident->access_token_max_ttl).done());
  }));
  s.Post("/sim/reshuffle", admin([this](const httplib::Request&, httplib::Response& res, const core::JsonValue&) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& p : model.projects)
      for (auto& e : p.environments)
        for (auto& [path, f] : e.folders)
          for (auto& sec : f.secrets) sec.id = ids.uuid();
    send_json(res, 200, "{}");
  }));
  s.Post("/sim/aws/web-identity-keys", admin([this, need](const httplib::Request&, httplib::Response& res, const core::JsonValue& b) {
    std::string pem = need(b, "publicKeyPem");
    std::lock_guard<std::mutex> lock(mu);
    web_identity_keys.push_back(pem);
    send_json(res, 200, "{}");
  }));
  s.Get("/sim/keys", admin([this](const httplib::Request&, httplib::Response& res, const core::JsonValue&) {
    send_json(res, 200, JsonObject().str("signingPublicKeyPem", key.public_pem).str("caPem", ca_pem).done());
  }));
}

std::string InfisicalSim::Impl::render_counters() const {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("total");
  w.Int64(counters.total);
  w.Key("maxInFlight");
  w.Int64(counters.max_in_flight);
  w.Key("byRoute");
  w.StartObject();
  for (const auto& [r, n] : counters.by_route) {
    w.Key(r.c_str());
    w.Int64(n);
  }
  w.EndObject();
  w.Key("byRouteStatus");
  w.StartObject();
  for (const auto& [r, n] : counters.by_route_status) {
    w.Key(r.c_str());
    w.Int64(n);
  }
  w.EndObject();
  w.Key("byIdentity");
  w.StartObject();
  for (const auto& [id, routes] : counters.by_identity) {
    w.Key(id.c_str());
    w.StartObject();
    for (const auto& [r, n] : routes) {
      w.Key(r.c_str());
      w.Int64(n);
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

InfisicalSim::InfisicalSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

InfisicalSim::~InfisicalSim() { stop(); }

void InfisicalSim::Impl::configure_server(httplib::Server& s) {
  // The real server takes as many connections as its clients open. httplib's default pool is eight
  // threads on a small machine, and a keep-alive connection holds its thread until it idles out, so
  // a ninth client would wait for up to the keep-alive timeout: a client asking for many scopes at once
  // would look no faster than one asking eight at a time.
  s.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  s.set_keep_alive_timeout(2);
  s.set_tcp_nodelay(true);  // otherwise Nagle + delayed ACK add ~40 ms to small responses
  s.set_read_timeout(10, 0);
  s.set_payload_max_length(4 * 1024 * 1024);
}

std::unique_ptr<httplib::Server> InfisicalSim::Impl::new_api_server() {
  std::unique_ptr<httplib::Server> s;
  if (opts.tls) s = testing::make_tls_server(tls);
  else s = std::make_unique<httplib::Server>();
  configure_server(*s);
  add_api_routes(*s);
  add_admin_routes(*s);
  return s;
}

std::unique_ptr<InfisicalSim> InfisicalSim::start(const SimOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->opts = options;
  auto model = parse_seed(options.seed_json, impl->ids, impl->now_ms());
  if (!model) throw std::runtime_error(model.error());
  impl->model = std::move(model).value();
  impl->key = core::generate_rsa_keypair();
  impl->admin_token = options.admin_token.empty() ? "sim-admin-" + impl->ids.hex(16) : options.admin_token;
  impl->rate_limit.limits = {{"secrets", 40}, {"reads", 60}, {"writes", 200}};
  impl->apply_seed_rate_limits(options.seed_json);

  if (options.tls) impl->tls = make_self_signed_tls(options.host);
  impl->ca_pem = impl->tls.ca_pem;
  impl->api = impl->new_api_server();
  impl->cloud = std::make_unique<httplib::Server>();
  Impl::configure_server(*impl->cloud);
  impl->add_cloud_routes(*impl->cloud);

  auto bind = [&](httplib::Server& s, int port) {
    if (port == 0) return s.bind_to_any_port(options.host);
    return s.bind_to_port(options.host.c_str(), port) ? port : -1;
  };
  impl->api_port = bind(*impl->api, options.api_port);
  if (impl->api_port <= 0) throw std::runtime_error("cannot bind the API port on " + options.host);
  impl->cloud_port = bind(*impl->cloud, options.cloud_port);
  if (impl->cloud_port <= 0) throw std::runtime_error("cannot bind the cloud port on " + options.host);
  Impl* raw = impl.get();
  impl->api_thread = std::thread([raw] { raw->api->listen_after_bind(); });
  impl->cloud_thread = std::thread([raw] { raw->cloud->listen_after_bind(); });
  // cpp-httplib 0.11 has no readiness wait; a stop() before the accept loop runs would be lost, so
  // poll (bounded) until both loops are running.
  for (int i = 0; i < 500 && !(impl->api->is_running() && impl->cloud->is_running()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return std::unique_ptr<InfisicalSim>(new InfisicalSim(std::move(impl)));
}

void InfisicalSim::stop() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->stop_mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  impl_->api->stop();
  impl_->cloud->stop();
  if (impl_->api_thread.joinable()) impl_->api_thread.join();
  if (impl_->cloud_thread.joinable()) impl_->cloud_thread.join();
}

void InfisicalSim::take_api_down() {
  if (impl_->api_down) return;
  impl_->api->stop();
  if (impl_->api_thread.joinable()) impl_->api_thread.join();
  impl_->api_down = true;
}

void InfisicalSim::bring_api_up() {
  if (!impl_->api_down) return;
  auto server = impl_->new_api_server();
  if (!server->bind_to_port(impl_->opts.host.c_str(), impl_->api_port))
    throw std::runtime_error("cannot bind the API port " + std::to_string(impl_->api_port) + " again on " + impl_->opts.host);
  impl_->api = std::move(server);
  Impl* raw = impl_.get();
  impl_->api_thread = std::thread([raw] { raw->api->listen_after_bind(); });
  for (int i = 0; i < 500 && !impl_->api->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  impl_->api_down = false;
}

int InfisicalSim::api_port() const { return impl_->api_port; }
int InfisicalSim::cloud_port() const { return impl_->cloud_port; }
std::string InfisicalSim::api_url() const {
  return std::string(impl_->opts.tls ? "https://" : "http://") + impl_->opts.host + ":" + std::to_string(impl_->api_port) + "/api";
}
std::string InfisicalSim::cloud_url() const { return "http://" + impl_->opts.host + ":" + std::to_string(impl_->cloud_port); }
const std::string& InfisicalSim::ca_pem() const { return impl_->ca_pem; }
const std::string& InfisicalSim::admin_token() const { return impl_->admin_token; }
const std::string& InfisicalSim::signing_private_key_pem() const { return impl_->key.private_pem; }
const std::string& InfisicalSim::signing_public_key_pem() const { return impl_->key.public_pem; }

void InfisicalSim::set_secret(const std::string& project_slug, const std::string& environment, const std::string& path,
                              const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Project* p = impl_->model.project_by_slug(project_slug);
  if (p == nullptr) throw std::runtime_error("unknown project " + project_slug);
  Environment* env = p->env(environment);
  if (env == nullptr) throw std::runtime_error("unknown environment " + environment);
  ifo::sim::set_secret(*p, *env, path, key, value, "", "shared", impl_->ids, impl_->now_ms());
}

bool InfisicalSim::delete_secret(const std::string& project_slug, const std::string& environment, const std::string& path,
                                 const std::string& key) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Project* p = impl_->model.project_by_slug(project_slug);
  Environment* env = p != nullptr ? p->env(environment) : nullptr;
  return env != nullptr && ifo::sim::delete_secret(*env, path, key);
}

void InfisicalSim::set_kubernetes(const std::string& host, const std::string& ca_pem, const std::string& reviewer_token) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->model.kubernetes = KubernetesDefaults{host, ca_pem, reviewer_token};
}

void InfisicalSim::advance_clock(int64_t seconds) { impl_->clock_offset_ms += seconds * 1000; }

Counters InfisicalSim::counters() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->counters;
}

void InfisicalSim::set_latency(const std::string& route, int64_t ms) {
  impl_->set_latency(route, ms);
}

void InfisicalSim::Impl::set_latency(const std::string& route, int64_t ms) {
  std::lock_guard<std::mutex> lock(mu);
  if (ms <= 0)
    latency_ms.erase(route);
  else
    latency_ms[route] = ms;
}

void InfisicalSim::reset_counters() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->counters = Counters{};
  impl_->rate_windows.clear();
}

void InfisicalSim::Impl::apply_seed_rate_limits(const std::string& seed_json) {
  auto doc = core::parse_json(seed_json);
  if (!doc) return;
  const core::JsonValue* rl = core::member(**doc, "rateLimits");
  if (rl == nullptr || !rl->IsObject()) return;
  std::string mode = core::string_or(*rl, "mode", "429");
  if (mode == "500")
    rate_limit.mode = RateLimitMode::k500;
  else if (mode == "off")
    rate_limit.mode = RateLimitMode::kOff;
  else if (mode == "429")
    rate_limit.mode = RateLimitMode::k429;
  else
    throw std::runtime_error("seed: $.rateLimits.mode: must be \"429\", \"500\" or \"off\"");
  rate_limit.by_identity = core::string_or(*rl, "by", "ip") == "identity";
  if (const auto* limits = core::member(*rl, "limits"); limits != nullptr && limits->IsObject()) {
    for (rapidjson::SizeType mi = 0; mi < limits->MemberCount(); ++mi) {
      auto it = limits->MemberBegin() + mi;
      if (!it->value.IsInt64()) throw std::runtime_error(std::string("seed: $.rateLimits.limits.") + it->name.GetString() + ": must be an integer");
      rate_limit.limits[it->name.GetString()] = it->value.GetInt64();
    }
  }
}

}  // namespace ifo::sim
