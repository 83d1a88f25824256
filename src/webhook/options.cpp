// Flag parsing for infisical-webhook.
#include "webhook/options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <limits>

#include "core/constants.h"
#include "core/duration.h"
#include "core/flag_set.h"
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
  --allow-insecure-http[=BOOL]    true | false: let a spec's hostAPI use http:// (default false)

Flags are --flag=value or --flag value. Durations (DURATION, DUR) use Go's syntax: 90s, 1m30s, 1.5h,
500ms (units ns, us, ms, s, m, h); a plain number needs a unit.
Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when serving fails, 2 for wrong usage.
)";
}

namespace {

// Go's duration syntax, at most a day; a bare number has no unit and is refused.
core::Result<std::chrono::milliseconds> parse_ms_duration(const std::string& flag, const std::string& text) {
  using R = core::Result<std::chrono::milliseconds>;
  auto d = core::parse_duration_flag(flag, text);
  if (!d) return R::fail(d.error());
  if (*d > std::chrono::hours(24))
    return R::fail(fmt::format("flag {}: {:?} is longer than 24h", flag, text));
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
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

std::string port(const std::string& flag, const std::string& value, int& into) {
  int n = -1;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || p != value.data() + value.size() || n < 0 || n > 65535)
    return fmt::format("flag {}: {:?} is not a port number", flag, value);
  into = n;
  return {};
}

// A whole number in [min, max], or the error naming the flag and the value.
template <typename T>
std::string number(const std::string& flag, const std::string& value, T min, T max, T& into) {
  T n{};
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || p != value.data() + value.size() || n < min || n > max)
    return max == std::numeric_limits<T>::max()
               ? fmt::format("flag {}: {:?} is not a number of at least {}", flag, value, min)
               : fmt::format("flag {}: {:?} is not a number between {} and {}", flag, value, min, max);
  into = n;
  return {};
}

}  // namespace

core::Result<Options> parse_options(const std::vector<std::string>& args) {
  using R = core::Result<Options>;
  Options o;
  o.operator_namespace = std::string(core::kDefaultOperatorNamespace);
  auto store = [](std::string& into) {
    return [&into](const std::string& v) {
      into = v;
      return std::string();
    };
  };
  core::FlagSet flags;
  flags.value("tls-cert-file", store(o.tls_cert_file));
  flags.value("tls-private-key-file", store(o.tls_key_file));
  flags.value("port", [&](const std::string& v) { return port("--port", v, o.server.port); });
  flags.value("health-port",
              [&](const std::string& v) { return port("--health-port", v, o.server.health_port); });
  flags.value("bind-address", store(o.server.bind_address));
  flags.value("kubeconfig", store(o.kubeconfig));
  flags.value("operator-namespace", store(o.operator_namespace));
  flags.value("cross-namespace-policy", [&](const std::string& v) -> std::string {
    auto p = parse_policy(v);
    if (!p) return fmt::format("flag --cross-namespace-policy: {:?} is not deny, authorize or allow", v);
    o.policy = *p;
    return {};
  });
  flags.value("cross-namespace-references", [&](const std::string& v) -> std::string {
    if (v == "grant")
      o.trust.cross_namespace_without_grant = false;
    else if (v == "allow")
      o.trust.cross_namespace_without_grant = true;
    else
      return fmt::format("flag --cross-namespace-references: {:?} is not grant or allow", v);
    return {};
  });
  // An empty allow-list is a choice (only the infisical-config host), so "--allowed-hosts=" is one.
  flags.value(
      "allowed-hosts",
      [&](const std::string& v) -> std::string {
        o.trust.allowed_hosts = split_list(v);
        for (const auto& h : o.trust.allowed_hosts)
          if (h.find('/') != std::string::npos)
            return fmt::format(
                "flag --allowed-hosts: {:?} must be a host name such as app.infisical.com or "
                "*.example.com (optionally with :port), not a URL",
                h);
        return {};
      },
      /*allow_empty=*/true);
  flags.boolean("allow-insecure-http", [&](const std::string& v) -> std::string {
    auto b = core::parse_bool_flag("flag --allow-insecure-http", v);
    if (!b) return b.error();
    o.trust.allow_http = *b;
    return {};
  });
  flags.value("workers",
              [&](const std::string& v) { return number("--workers", v, 1, 1024, o.server.workers); });
  // At least one connection; at least room for one largest request in the three quarters of the
  // budget that requests over kSmallRequestBytes may use.
  flags.value("max-connections-per-ip", [&](const std::string& v) {
    return number<size_t>("--max-connections-per-ip", v, 1, std::numeric_limits<size_t>::max(),
                          o.server.max_connections_per_peer);
  });
  flags.value("max-buffered-request-bytes", [&](const std::string& v) {
    return number<size_t>("--max-buffered-request-bytes", v, size_t{8} * 1024 * 1024,
                          std::numeric_limits<size_t>::max(), o.server.max_buffered_bytes);
  });
  flags.value("max-pending-authorizations", [&](const std::string& v) {
    return number<size_t>("--max-pending-authorizations", v, 1, 100000, o.max_pending_authorizations);
  });
  flags.value("shutdown-grace", [&](const std::string& v) -> std::string {
    auto d = parse_ms_duration("--shutdown-grace", v);
    if (!d) return d.error();
    o.server.shutdown_grace = *d;
    return {};
  });
  flags.value("authorization-timeout", [&](const std::string& v) -> std::string {
    auto d = parse_ms_duration("--authorization-timeout", v);
    if (!d) return d.error();
    if (d->count() < 1 || *d >= std::chrono::seconds(30))
      return fmt::format(
          "flag --authorization-timeout: {:?} must be above 0 and below 30s (the longest webhook "
          "timeoutSeconds)",
          v);
    o.authorization_timeout = *d;
    return {};
  });
  flags.value("cert-reload-interval", [&](const std::string& v) -> std::string {
    auto d = parse_ms_duration("--cert-reload-interval", v);
    if (!d) return d.error();
    o.server.cert_poll_interval = std::max(*d, std::chrono::milliseconds(50));
    return {};
  });
  flags.value("authorization-cache-ttl", [&](const std::string& v) -> std::string {
    auto d = parse_ms_duration("--authorization-cache-ttl", v);
    if (!d) return d.error();
    o.authorization_cache_ttl = *d;
    return {};
  });
  core::add_log_flags(flags, o.log_level, o.log_format);
  auto parsed = flags.parse(args);
  if (!parsed) return R::fail(parsed.error());
  o.help = parsed->help;
  o.version = parsed->version;
  if (o.help || o.version) return o;
  if (o.tls_cert_file.empty()) return R::fail("flag --tls-cert-file is required");
  if (o.tls_key_file.empty()) return R::fail("flag --tls-private-key-file is required");
  return o;
}

}  // namespace ifo::webhook
