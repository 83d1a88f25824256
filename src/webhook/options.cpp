// Flag parsing for infisical-webhook.
#include "webhook/options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

#include "core/constants.h"
#include "core/flags.h"
#include "core/logging.h"
#include "core/text.h"

namespace ifo::webhook {

std::string usage() {
  return R"(infisical-webhook: admission webhook for InfisicalSecrets and auto-reload workloads.

Usage: infisical-webhook --tls-cert-file FILE --tls-private-key-file FILE [flags]

  --tls-cert-file FILE            serving certificate (PEM; reloaded when the file changes)
  --tls-private-key-file FILE     its private key (PEM)
  --port N                        HTTPS port for AdmissionReviews (default 9443; 0 = any free port)
  --health-port N                 plain HTTP port for /healthz, /readyz, /metrics (default 8081; 0 = any)
  --bind-address ADDR             address both listeners bind (default 0.0.0.0)
  --kubeconfig FILE               kubeconfig (default: in-cluster service account, else $KUBECONFIG)
  --cross-namespace-policy P      deny | authorize | allow (default authorize: a SubjectAccessReview
                                  for the requesting user decides references into other namespaces;
                                  unless allow, the user also needs create serviceaccounts/token for
                                  a kubernetesAuth ServiceAccount of the resource's own namespace)
  --operator-namespace NS         the operator's namespace (default infisical-operator-system)
  --workers N                     event-loop threads serving HTTPS, each serving many connections (default 4)
  --cert-reload-interval DURATION how often the certificate files are checked (default 2s)
  --max-connections-per-ip N      HTTPS connections one source address may hold; more are closed at
                                  accept (default 64)
  --max-buffered-request-bytes N  request bytes buffered across all HTTPS connections; a request that
                                  does not fit is answered 503 (default 67108864, 64 MiB; the body
                                  limit is the API server's 3 MiB)
  --shutdown-grace DURATION       on SIGTERM, /readyz answers 503 and HTTPS keeps serving this long
                                  before the listener closes (default 0s)
  --authorization-cache-ttl DUR   how long SubjectAccessReview answers, grants, ServiceAccounts and
                                  the infisical-config host are reused (default 1s)
  --authorization-timeout DUR     a SubjectAccessReview the API server has not answered within this
                                  denies the request ("could not verify"); keep it below the webhook
                                  configuration's timeoutSeconds (default 3s; at most 29s)
  --max-pending-authorizations N  distinct SubjectAccessReviews waiting for the API server; a request
                                  needing one more is denied at once (default 64)
  --log-level LEVEL               debug | info | warn | error; trace = debug, warning = warn (default info)
  --log-format FORMAT             text | json (default text)
  --help, --version

Trust boundary (the syncer's flags, same defaults; docs/security.md):
  --cross-namespace-references M  grant: a reference into another namespace needs an
                                  InfisicalReferenceGrant there, and Kubernetes auth needs the
                                  ServiceAccount's opt-in annotation (default); allow: neither is
                                  needed (the upstream operator's behaviour)
  --allowed-hosts a,b             hosts a spec's hostAPI may name ("*.example.com" for subdomains, "*"
                                  for any; the infisical-config host is always allowed; empty: only it)
                                  (default app.infisical.com,us.infisical.com,eu.infisical.com)
  --allow-insecure-http BOOL      true | false: let a spec's hostAPI use http:// (default false)

Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when serving fails, 2 for wrong usage.
)";
}

namespace {

core::Result<std::chrono::milliseconds> parse_ms_duration(const std::string& text) {
  using R = core::Result<std::chrono::milliseconds>;
  long long n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || n < 0 || n > 86400000) return R::fail(fmt::format("invalid duration {:?}", text));
  std::string unit(p, text.data() + text.size());
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s") return std::chrono::milliseconds(n * 1000);
  if (unit == "m") return std::chrono::milliseconds(n * 60000);
  return R::fail(fmt::format("invalid duration {:?} (use ms, s or m, e.g. 2s)", text));
}

// "a, b,,c" -> {"a", "b", "c"}
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = core::trim(std::string_view(text).substr(start, comma - start));
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

}  // namespace

core::Result<Options> parse_options(const std::vector<std::string>& args) {
  using R = core::Result<Options>;
  Options o;
  o.operator_namespace = std::string(core::kDefaultOperatorNamespace);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") { o.help = true; return o; }
    if (arg == "--version") { o.version = true; return o; }
    auto next = core::next_flag(args, i);
    if (!next) return R::fail(next.error());
    const std::string& flag = next->name;
    const std::string& value = next->value;
    const bool has_value = next->has_value;
    // An empty allow-list is a choice (only the infisical-config host), so "--allowed-hosts=" is one.
    if (!has_value || (value.empty() && flag != "--allowed-hosts"))
      return R::fail(fmt::format("flag {} needs a value", flag));
    auto port = [&](int& into, int min) -> std::string {
      int n = -1;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < min || n > 65535)
        return fmt::format("flag {}: {:?} is not a port number", flag, value);
      into = n;
      return {};
    };
    std::string err;
    if (flag == "--tls-cert-file") o.tls_cert_file = value;
    else if (flag == "--tls-private-key-file") o.tls_key_file = value;
    else if (flag == "--port") err = port(o.server.port, 0);
    else if (flag == "--health-port") err = port(o.server.health_port, 0);
    else if (flag == "--bind-address") o.server.bind_address = value;
    else if (flag == "--kubeconfig") o.kubeconfig = value;
    else if (flag == "--operator-namespace") o.operator_namespace = value;
    else if (flag == "--cross-namespace-policy") {
      auto p = parse_policy(value);
      if (!p) err = fmt::format("flag --cross-namespace-policy: {:?} is not deny, authorize or allow", value);
      else o.policy = *p;
    } else if (flag == "--cross-namespace-references") {
      if (value == "grant") o.trust.cross_namespace_without_grant = false;
      else if (value == "allow") o.trust.cross_namespace_without_grant = true;
      else err = fmt::format("flag --cross-namespace-references: {:?} is not grant or allow", value);
    } else if (flag == "--allowed-hosts") {
      o.trust.allowed_hosts = split_list(value);
      for (const auto& h : o.trust.allowed_hosts)
        if (h.find('/') != std::string::npos) {
          err = fmt::format("flag --allowed-hosts: {:?} must be a host name such as app.infisical.com or "
                            "*.example.com (optionally with :port), not a URL", h);
          break;
        }
    } else if (flag == "--allow-insecure-http") {
      if (value == "true") o.trust.allow_http = true;
      else if (value == "false") o.trust.allow_http = false;
      else err = fmt::format("flag --allow-insecure-http: {:?} is not true or false", value);
    } else if (flag == "--workers") {
      int n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < 1 || n > 1024)
        err = fmt::format("flag --workers: {:?} is not a number between 1 and 1024", value);
      else o.server.workers = n;
    } else if (flag == "--max-connections-per-ip" || flag == "--max-buffered-request-bytes") {
      // At least one connection; at least room for one largest request in the three quarters of the
      // budget that requests over kSmallRequestBytes may use.
      const size_t min = flag == "--max-connections-per-ip" ? 1 : size_t{8} * 1024 * 1024;
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < min)
        err = fmt::format("flag {}: {:?} is not a number of at least {}", flag, value, min);
      else if (flag == "--max-connections-per-ip") o.server.max_connections_per_peer = n;
      else o.server.max_buffered_bytes = n;
    } else if (flag == "--shutdown-grace") {
      auto d = parse_ms_duration(value);
      if (!d) err = fmt::format("flag {}: {}", flag, d.error());
      else o.server.shutdown_grace = *d;
    } else if (flag == "--authorization-timeout") {
      auto d = parse_ms_duration(value);
      if (!d) err = fmt::format("flag {}: {}", flag, d.error());
      else if (d->count() < 1 || *d >= std::chrono::seconds(30))
        err = fmt::format("flag {}: {:?} must be above 0 and below 30s (the longest webhook timeoutSeconds)", flag, value);
      else o.authorization_timeout = *d;
    } else if (flag == "--max-pending-authorizations") {
      size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < 1 || n > 100000)
        err = fmt::format("flag {}: {:?} is not a number between 1 and 100000", flag, value);
      else o.max_pending_authorizations = n;
    } else if (flag == "--cert-reload-interval" || flag == "--authorization-cache-ttl") {
      auto d = parse_ms_duration(value);
      if (!d) err = fmt::format("flag {}: {}", flag, d.error());
      else if (flag == "--cert-reload-interval") o.server.cert_poll_interval = std::max(*d, std::chrono::milliseconds(50));
      else o.authorization_cache_ttl = *d;
    } else if (flag == "--log-level") {
      if (auto level = ifo::core::parse_log_level(value)) o.log_level = *level;
      else err = fmt::format("flag --log-level: {:?} is not one of {}", value, fmt::join(ifo::core::kLogLevelNames, ", "));
    } else if (flag == "--log-format") {
      if (auto format = ifo::core::parse_log_format(value)) o.log_format = *format;
      else err = fmt::format("flag --log-format: {:?} is not text or json", value);
    } else {
      err = fmt::format("unknown flag {} (see --help)", flag);
    }
    if (!err.empty()) return R::fail(err);
  }
  if (o.tls_cert_file.empty()) return R::fail("flag --tls-cert-file is required");
  if (o.tls_key_file.empty()) return R::fail("flag --tls-private-key-file is required");
  return o;
}

}  // namespace ifo::webhook
