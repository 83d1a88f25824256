// infisical-sim internals shared by infisical_sim.cpp (plumbing, API, admin) and sim_auth.cpp (auth
// methods, cloud endpoints). Not part of the library's interface.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>

#include "core/jwt.h"
#include "infisical_sim.h"
#include "sim_http.h"
#include "sim_model.h"
#include "tls_cert.h"

namespace ifo::sim {

inline constexpr const char* kAnonymous = "anonymous";
// Key ids the sim signs with while playing Microsoft's and Google's token issuers.
inline constexpr const char* kAzureKid = "sim-azure-key";
inline constexpr const char* kGoogleKid = "sim-google-oauth-key";

struct CallerIdentity {
  std::string arn;
  std::string account;
  std::string user_id;
};

// An STS error as STS reports it (HTTP status, Code, Message).
struct StsError {
  int status;
  std::string code;
  std::string message;
};

struct AccessToken {
  std::string id;
  std::string identity_id;
  std::string auth_method;
  int64_t created_ms = 0;
  int64_t last_renewed_ms = 0;
  int64_t ttl = 0;
  int64_t max_ttl = 0;
  bool revoked = false;
};

struct Principal {
  std::string identity_id;
  Identity* identity = nullptr;
  ServiceToken* service_token = nullptr;
};

struct Fault {
  int status = 500;
  int64_t remaining = -1;  // -1: until cleared
  std::string message;
  std::string error;
  int64_t retry_after_s = 0;  // > 0: sent as Retry-After (a 429 from the real server always has one)
};

enum class RateLimitMode { kOff, k429, k500 };

struct RateLimitConfig {
  RateLimitMode mode = RateLimitMode::k429;
  bool by_identity = false;
  std::map<std::string, int64_t> limits;  // group ("secrets", "reads", "writes") or route label -> per minute
};

struct RateWindow {
  int64_t start_ms = 0;
  int64_t count = 0;
};

// Per-request context: which route label and which identity the counters attribute it to.
struct Ctx {
  std::string route;
  std::string identity;
};

// Issued cloud OAuth tokens (GCP access tokens) and IMDSv2 session tokens.
struct BearerGrant {
  std::string subject;  // service account email, or "imds"
  int64_t expires_ms = 0;
};

struct InfisicalSim::Impl {
  static constexpr size_t kServerThreads = 64;  // connections served at once, per listening port
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, Ctx&)>;

  SimOptions opts;
  mutable std::mutex mu;  // guards everything below except the atomics and the stop flag
  Model model;
  IdSource ids;
  std::map<std::string, AccessToken> tokens;
  core::RsaKeyPair key;
  std::string admin_token;
  std::string ca_pem;
  std::atomic<int64_t> clock_offset_ms{0};
  std::map<std::string, int64_t> latency_ms;
  std::map<std::string, Fault> faults;
  RateLimitConfig rate_limit;
  std::map<std::string, RateWindow> rate_windows;
  Counters counters;
  int64_t in_flight = 0;                            // API requests in progress now
  std::map<std::string, BearerGrant> cloud_grants;  // GCP OAuth access tokens, IMDSv2 tokens
  std::map<std::string, AwsPrincipal> aws_sessions;  // temporary credentials by access key id
  std::vector<std::string> web_identity_keys;         // extra PEM keys trusted for AssumeRoleWithWebIdentity
  core::JsonDoc empty_object_doc{rapidjson::kObjectType};
  const core::JsonValue& empty_object = empty_object_doc;

  TlsMaterial tls;  // HTTPS mode: kept so the API listener can come back with the same certificate
  std::unique_ptr<httplib::Server> api;
  std::unique_ptr<httplib::Server> cloud;
  bool api_down = false;  // take_api_down() closed the API port
  std::thread api_thread;
  std::thread cloud_thread;
  int api_port = 0;
  int cloud_port = 0;

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;

  // A configured API server (HTTPS with `tls` when opts.tls) with every API and admin route.
  std::unique_ptr<httplib::Server> new_api_server();
  static void configure_server(httplib::Server& s);
  int64_t now_ms() const;
  bool sleep_ms(int64_t ms);  // false when the server is stopping
  static std::string client_ip(const httplib::Request& req);
  static std::string identity_hint(const httplib::Request& req);

  void route(httplib::Server& server, const std::string& method, const std::string& pattern, const std::string& label,
             const std::string& group, Handler handler);
  // The latency added to `route` ("*": every route without its own); 0 removes it.
  void set_latency(const std::string& route, int64_t ms);
  void serve(const httplib::Request& req, httplib::Response& res, Ctx& ctx, const std::string& group, const Handler& handler);
  bool apply_rate_limit(const httplib::Request& req, httplib::Response& res, const Ctx& ctx, const std::string& group);
  void apply_seed_rate_limits(const std::string& seed_json);

  std::string issue_token(const Identity& identity, const std::string& auth_method);
  std::optional<std::string> token_expired(const AccessToken& t) const;
  std::optional<Principal> authenticate(const httplib::Request& req, httplib::Response& res);
  bool may_read(const Principal& p, const Project& project) const;

  void add_api_routes(httplib::Server& s);
  void add_admin_routes(httplib::Server& s);
  void add_cloud_routes(httplib::Server& s);
  void list_secrets(const httplib::Request& req, httplib::Response& res);
  void get_secret(const httplib::Request& req, httplib::Response& res);
  // The project a secrets read names (a service token's own, or workspaceId/workspaceSlug) after the
  // permission checks; fills q from the query (a single-scope service token overrides env and path).
  // nullptr when an error was sent. Call with mu held.
  Project* read_scope(const httplib::Request& req, httplib::Response& res, const Principal& principal, RawQuery& q);
  std::string render_counters() const;

  std::variant<CallerIdentity, StsError> verify_sigv4(const std::string& method, const std::string& path,
                                                      const std::string& query,
                                                      const std::map<std::string, std::string>& headers,
                                                      const std::string& body);
  AwsPrincipal issue_aws_session(const std::string& arn, const std::string& user_id);

  void login_universal(const httplib::Request& req, httplib::Response& res, Ctx& ctx);
  void login_ldap(const httplib::Request& req, httplib::Response& res, Ctx& ctx);
  void login_kubernetes(const httplib::Request& req, httplib::Response& res, Ctx& ctx);
  void login_aws(const httplib::Request& req, httplib::Response& res, Ctx& ctx);
  void login_azure(const httplib::Request& req, httplib::Response& res, Ctx& ctx);
  void login_gcp(const httplib::Request& req, httplib::Response& res, Ctx& ctx);
};

}  // namespace ifo::sim
