// Flag and environment parsing for the syncer.
#include "syncer/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>

#include "core/address_range.h"
#include "core/duration.h"
#include "core/flag_set.h"
#include "core/logging.h"

namespace ifo::syncer {

namespace {

using core::Result;

bool valid_namespace(const std::string& ns) {
  if (ns.empty() || ns.size() > 63) return false;
  for (char c : ns) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
      return false;
  }
  return ns.front() != '-' && ns.back() != '-';
}

Result<bool> parse_bool(const std::string& flag, const std::string& v) {
  return core::parse_bool_flag(flag, v);
}

Result<long> parse_int(const std::string& flag, const std::string& v, long min, long max) {
  long out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size())
    return Result<long>::fail(fmt::format("{}: expected an integer, got \"{}\"", flag, v));
  if (out < min || out > max)
    return Result<long>::fail(fmt::format("{}: {} is out of range [{}, {}]", flag, out, min, max));
  return out;
}

// Go's duration syntax; plain integers stay seconds, as these flags always took them.
Result<std::chrono::milliseconds> parse_duration(const std::string& flag, const std::string& v) {
  using R = Result<std::chrono::milliseconds>;
  auto d = core::parse_duration_flag(flag, v, {.plain_seconds = true});
  if (!d) return R::fail(d.error());
  if (*d < std::chrono::milliseconds(1) || *d > std::chrono::hours(24))
    return R::fail(fmt::format("flag {}: {:?} is out of range [1ms, 24h]", flag, v));
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    if (comma == std::string::npos) comma = v.size();
    std::string item = v.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

struct FlagSpec {
  std::string name;
  bool is_bool;
  std::vector<std::string> env;  // environment fallbacks, first found wins
  std::function<std::optional<std::string>(Config&, const std::string&)> apply;  // error text or nullopt
};

template <typename T>
std::optional<std::string> err_of(const Result<T>& r) {
  if (r) return std::nullopt;
  return r.error();
}

std::vector<FlagSpec> flag_specs() {
  std::vector<FlagSpec> s;
  auto env_name = [](const std::string& flag) {
    std::string e = "IFO_SYNCER_";
    for (char c : flag) e += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return e;
  };
  auto add = [&](std::string name, bool is_bool, std::vector<std::string> extra_env,
                 std::function<std::optional<std::string>(Config&, const std::string&)> apply) {
    std::vector<std::string> env{env_name(name)};
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    s.push_back(FlagSpec{std::move(name), is_bool, std::move(env), std::move(apply)});
  };
  add("kubeconfig", false, {"KUBECONFIG"}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    c.kubeconfig = v;
    return std::nullopt;
  });
  add("namespaces", false, {}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    c.namespaces = split_list(v);
    for (const auto& ns : c.namespaces)
      if (!valid_namespace(ns)) return fmt::format("--namespaces: \"{}\" is not a valid namespace name", ns);
    return std::nullopt;
  });
  add("leader-elect", true, {}, [](Config& c, const std::string& v) {
    auto b = parse_bool("--leader-elect", v);
    if (b) c.leader_elect = *b;
    return err_of(b);
  });
  add("leader-election-namespace", false, {}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    if (!valid_namespace(v)) return fmt::format("--leader-election-namespace: \"{}\" is not a valid namespace name", v);
    c.leader_election_namespace = v;
    return std::nullopt;
  });
  add("leader-election-id", false, {}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    if (v.empty()) return std::string("--leader-election-id: must not be empty");
    c.leader_election_id = v;
    return std::nullopt;
  });
  add("leader-elect-lease-duration", false, {}, [](Config& c, const std::string& v) {
    auto d = parse_duration("--leader-elect-lease-duration", v);
    if (d) c.lease_duration = *d;
    return err_of(d);
  });
  add("leader-elect-renew-deadline", false, {}, [](Config& c, const std::string& v) {
    auto d = parse_duration("--leader-elect-renew-deadline", v);
    if (d) c.renew_deadline = *d;
    return err_of(d);
  });
  add("leader-elect-retry-period", false, {}, [](Config& c, const std::string& v) {
    auto d = parse_duration("--leader-elect-retry-period", v);
    if (d) c.retry_period = *d;
    return err_of(d);
  });
  add("metrics-bind-address", false, {}, [](Config& c, const std::string& v) {
    auto a = parse_bind_address(v);
    if (a) c.metrics_bind_address = v;
    return a ? std::nullopt : std::optional<std::string>("--metrics-bind-address: " + a.error());
  });
  add("health-probe-bind-address", false, {}, [](Config& c, const std::string& v) {
    auto a = parse_bind_address(v);
    if (a) c.health_probe_bind_address = v;
    return a ? std::nullopt : std::optional<std::string>("--health-probe-bind-address: " + a.error());
  });
  add("workers", false, {}, [](Config& c, const std::string& v) {
    auto n = parse_int("--workers", v, 1, 256);
    if (n) c.workers = static_cast<int>(*n);
    return err_of(n);
  });
  add("operator-namespace", false, {"POD_NAMESPACE"}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    if (!valid_namespace(v)) return fmt::format("--operator-namespace: \"{}\" is not a valid namespace name", v);
    c.operator_namespace = v;
    return std::nullopt;
  });
  add("infisical-requests-per-minute", false, {}, [](Config& c, const std::string& v) {
    auto n = parse_int("--infisical-requests-per-minute", v, 1, 1000000);
    if (n) c.infisical_requests_per_minute = static_cast<int>(*n);
    return err_of(n);
  });
  add("infisical-request-timeout", false, {}, [](Config& c, const std::string& v) {
    auto d = parse_duration("--infisical-request-timeout", v);
    if (d) c.infisical_request_timeout = *d;
    return err_of(d);
  });
  add("infisical-max-response-bytes", false, {}, [](Config& c, const std::string& v) {
    auto n = parse_int("--infisical-max-response-bytes", v, 65536, 1L << 30);
    if (n) c.infisical_max_response_bytes = static_cast<std::size_t>(*n);
    return err_of(n);
  });
  add("infisical-max-keys-per-scope", false, {}, [](Config& c, const std::string& v) {
    auto n = parse_int("--infisical-max-keys-per-scope", v, 1, 1000000);
    if (n) c.infisical_max_keys_per_scope = static_cast<std::size_t>(*n);
    return err_of(n);
  });
  add("kube-api-qps", false, {}, [](Config& c, const std::string& v) {
    auto n = parse_int("--kube-api-qps", v, 1, 100000);
    if (n) c.kube_qps = static_cast<double>(*n);
    return err_of(n);
  });
  add("log-level", false, {}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    if (!core::parse_log_level(v))
      return fmt::format("--log-level: expected one of {}, got \"{}\"", fmt::join(core::kLogLevelNames, ", "), v);
    c.log_level = v;
    return std::nullopt;
  });
  add("log-format", false, {}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    if (auto f = core::parse_log_format(v)) c.log_format = *f;
    else return fmt::format("--log-format: expected text or json, got \"{}\"", v);
    return std::nullopt;
  });
  add("cross-namespace-references", false, {}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    if (v == "grant") c.trust.cross_namespace_without_grant = false;
    else if (v == "allow") c.trust.cross_namespace_without_grant = true;
    else return fmt::format("--cross-namespace-references: expected grant or allow, got \"{}\"", v);
    return std::nullopt;
  });
  add("allowed-hosts", false, {}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    c.trust.allowed_hosts = split_list(v);
    for (const auto& h : c.trust.allowed_hosts) {
      if (h.find("://") != std::string::npos || h.find('/') != std::string::npos)
        return fmt::format("--allowed-hosts: \"{}\" must be a host name such as app.infisical.com or "
                           "*.example.com (optionally with :port), not a URL", h);
    }
    return std::nullopt;
  });
  add("allow-insecure-http", true, {}, [](Config& c, const std::string& v) {
    auto b = parse_bool("--allow-insecure-http", v);
    if (b) c.trust.allow_http = *b;
    return err_of(b);
  });
  add("allowed-address-ranges", false, {}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    c.allowed_address_ranges = split_list(v);
    auto ranges = core::parse_address_ranges(c.allowed_address_ranges);
    if (!ranges) return fmt::format("--allowed-address-ranges: {}", ranges.error());
    return std::nullopt;
  });
  add("identity", false, {"POD_NAME"}, [](Config& c, const std::string& v) -> std::optional<std::string> {
    c.identity = v;
    return std::nullopt;
  });
  return s;
}

}  // namespace

Result<std::optional<BindAddress>> parse_bind_address(const std::string& text) {
  using R = Result<std::optional<BindAddress>>;
  if (text.empty() || text == "0") return std::optional<BindAddress>();
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return R::fail(fmt::format("\"{}\" is not host:port", text));
  BindAddress a;
  a.host = text.substr(0, colon);
  if (a.host.empty()) a.host = "0.0.0.0";
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') a.host = a.host.substr(1, a.host.size() - 2);
  auto port = parse_int("port", text.substr(colon + 1), 0, 65535);
  if (!port) return R::fail(fmt::format("\"{}\" has no valid port", text));
  a.port = static_cast<int>(*port);
  return std::optional<BindAddress>(a);
}

Result<Config> parse_config(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  Config c;
  auto specs = flag_specs();
  // Environment first, so flags override it.
  for (const auto& s : specs) {
    for (const auto& e : s.env) {
      auto it = env.find(e);
      if (it == env.end() || it->second.empty()) continue;
      if (auto err = s.apply(c, it->second)) return Result<Config>::fail(fmt::format("environment {}: {}", e, *err));
      break;
    }
  }
  core::FlagSet flags;
  for (const auto& s : specs) {
    auto handler = [&c, &s](const std::string& v) { return s.apply(c, v).value_or(std::string()); };
    // Every syncer flag takes an empty value ("--namespaces=" is all namespaces), as it always did.
    if (s.is_bool)
      flags.boolean(s.name, handler);
    else
      flags.value(s.name, handler, /*allow_empty=*/true);
  }
  auto parsed = flags.parse(args);
  if (!parsed) return Result<Config>::fail(parsed.error());
  c.help = parsed->help;
  c.version = parsed->version;
  if (c.leader_election_namespace.empty()) c.leader_election_namespace = c.operator_namespace;
  if (c.renew_deadline >= c.lease_duration)
    return Result<Config>::fail("--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration");
  if (c.retry_period >= c.renew_deadline)
    return Result<Config>::fail("--leader-elect-retry-period must be shorter than --leader-elect-renew-deadline");
  return c;
}

std::string usage() {
  return R"(infisical-syncer: keeps Kubernetes Secrets in sync with Infisical for InfisicalSecret resources.

Usage: infisical-syncer [flags]
       infisical-syncer preflight [--kubeconfig FILE] [--operator-namespace NS] [trust boundary flags]

Subcommand:
  preflight                            list every InfisicalSecret and print each one the trust boundary
                                       would refuse under the given flags, as
                                       "NAMESPACE/NAME: REASON at PATH: message" with the grant or
                                       annotation that admits it indented below, then
                                       "N InfisicalSecrets checked, M would be refused"; reads only.
                                       Exit 0: none refused, 1: some would be, 2: usage or API error

Flags (each may also be given as environment variable IFO_SYNCER_<FLAG_NAME>, e.g. IFO_SYNCER_WORKERS;
flags win over the environment):
  --kubeconfig PATH                    kubeconfig file (current context); default: in-cluster config
                                       (env KUBECONFIG also honoured)
  --namespaces a,b                     watch only these namespaces (default: all namespaces)
  --leader-elect[=true|false]          elect a leader through a Lease before reconciling (default false)
  --leader-election-namespace NS       namespace of the Lease (default: the operator namespace)
  --leader-election-id NAME            name of the Lease (default infisical-syncer.secrets.infisical.com)
  --leader-elect-lease-duration D      lease duration (default 15s)
  --leader-elect-renew-deadline D      renew deadline (default 10s)
  --leader-elect-retry-period D        retry period (default 2s)
  --metrics-bind-address HOST:PORT     Prometheus /metrics, plain HTTP (default :8080; 0 disables)
  --health-probe-bind-address H:P      /healthz and /readyz, plain HTTP (default :8081; 0 disables)
  --workers N                          concurrent reconciles (default 16)
  --operator-namespace NS              namespace of infisical-config and the digest key
                                       (default infisical-operator-system; env POD_NAMESPACE honoured)
  --infisical-requests-per-minute N    upper bound on Infisical API requests in any 60 s window; each
                                       route is kept under the limit its server advertises (default 240)
  --infisical-request-timeout D        give up on an Infisical request after this long (default 30s)
  --infisical-max-response-bytes N     the largest Infisical answer read; a larger one fails the
                                       fetch and the Secret stays as it was (default 4194304)
  --infisical-max-keys-per-scope N     the most secrets one scope may hold (default 10000)
  --kube-api-qps N                     client-side ceiling of Kubernetes API requests per second, bursts
                                       of twice as many; the API server's 429 + Retry-After paces below
                                       it (default 10000)
  --log-level LEVEL                    debug, info, warn or error; trace = debug, warning = warn (default info)
  --log-format FORMAT                  text or json (default text)
  --identity NAME                      leader-election identity (default: env POD_NAME, else host name + pid)

Trust boundary (docs/security.md):
  --cross-namespace-references MODE    grant: a reference into another namespace needs an
                                       InfisicalReferenceGrant there, and Kubernetes auth needs the
                                       ServiceAccount's opt-in annotation (default); allow: the upstream
                                       operator's behaviour, neither is needed (logged at start, metric)
  --allowed-hosts a,b                  hosts a spec's hostAPI may name ("*.example.com" for subdomains,
                                       "*" for any; the infisical-config host is always allowed)
                                       (default app.infisical.com,us.infisical.com,eu.infisical.com)
  --allow-insecure-http[=true|false]   let a spec's hostAPI use http:// (default false)
  --allowed-address-ranges CIDR,...    address ranges otherwise refused for Infisical hosts (loopback,
                                       link-local, cloud metadata) that may be connected to (default none)
  --help                               print this help
  --version                            print the version and the git commit it was built from

Durations (D): Go's syntax, e.g. 90s, 1m30s, 1.5h, 500ms (units ns, us, ms, s, m, h); a plain number is
still read as seconds, for compatibility with earlier releases.
Flags are --flag=value or --flag value. Exit codes: 2 for wrong usage.
)";
}

}  // namespace ifo::syncer
