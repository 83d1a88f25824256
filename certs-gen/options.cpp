// Flag parsing for certs-gen (Kubernetes style: --flag value or --flag=value).
#include "certs-gen/options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <map>

#include "core/constants.h"
#include "core/flags.h"

namespace ifo::certsgen {

std::string usage() {
  return R"(certs-gen: CA and serving certificate for the infisical admission webhook.

Usage:
  certs-gen files  --out-dir DIR [certificate flags]
  certs-gen ensure [--kubeconfig FILE] [--secret-name NAME] [--ca-secret-name NAME]
                   [--secret-namespace NS] [--validating-config NAME]... [--mutating-config NAME]...
                   [--out-dir DIR] [certificate flags]
  certs-gen --help | --version

files   Writes ca.crt, ca.key, tls.crt and tls.key into DIR. Existing files there are reused while
        valid, renewed inside the renew-before window, and the CA is rotated (the old CA stays in
        ca.crt until it expires) exactly as ensure does. No API access.
ensure  Keeps two Secrets valid: the CA Secret (Opaque: ca.crt and the CA key ca.key, read by
        certs-gen only) and the webhook's kubernetes.io/tls serving Secret (tls.crt, tls.key,
        ca.crt; never the CA key). Creates them if absent, reuses them while valid, renews the
        serving certificate inside the renew-before window and rotates the CA before it expires,
        keeping the old CA in ca.crt during the overlap; sets clientConfig.caBundle of the named
        webhook configurations where it differs (conflicts are retried) before a serving
        certificate of a new CA is stored. A serving Secret written before the split (with ca.key)
        has its CA moved to the CA Secret, not replaced. With --out-dir it also writes tls.crt,
        tls.key and ca.crt there. Safe to run concurrently and repeatedly.

Certificate flags:
  --service NAME             Service name of the webhook (default infisical-webhook)
  --namespace NS             namespace of the Service (default infisical-operator-system)
                             The SANs are NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local.
  --dns-name NAME            extra DNS SAN (repeatable)
  --ip ADDRESS               extra IP SAN, IPv4 or IPv6 (repeatable)
  --ca-validity DURATION     CA lifetime (default 43800h = 5 years)
  --ca-renew-before DURATION rotate the CA this long before it expires (default 8760h)
  --validity DURATION        serving certificate lifetime (default 8760h)
  --renew-before DURATION    renew the serving certificate this long before expiry (default 720h)
  --clock-skew DURATION      NotBefore is backdated by this margin (default 5m)
  --ca-common-name NAME      subject CN of the CA (default infisical-webhook-ca)
  --log-level LEVEL          debug | info | warn | error; trace = debug, warning = warn (default info)
  --log-format FORMAT        text | json (default text)

ensure flags:
  --kubeconfig FILE          kubeconfig to use (default: in-cluster service account, else $KUBECONFIG)
  --secret-name NAME         the serving Secret (default infisical-webhook-tls)
  --ca-secret-name NAME      the CA Secret, holding the CA key (default infisical-webhook-ca)
  --secret-namespace NS      its namespace (default: --namespace)
  --validating-config NAME   ValidatingWebhookConfiguration whose caBundle to keep current (repeatable)
  --mutating-config NAME     MutatingWebhookConfiguration whose caBundle to keep current (repeatable)
  --out-dir DIR              also write tls.crt, tls.key, ca.crt into DIR

Durations: a sequence of number+unit, units d, h, m, s (e.g. 720h, 1h30m, 90s).
Exit codes: 0 success, 1 failure while running, 2 wrong usage or unreadable input.
)";
}

core::Result<std::chrono::seconds> parse_duration(const std::string& text) {
  using R = core::Result<std::chrono::seconds>;
  if (text.empty()) return R::fail("empty duration");
  long long total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j == i || j == text.size()) return R::fail(fmt::format("invalid duration {:?} (expected e.g. 720h, 30m, 90s)", text));
    long long n = 0;
    auto [p, ec] = std::from_chars(text.data() + i, text.data() + j, n);
    if (ec != std::errc() || n > 1000000000LL) return R::fail(fmt::format("duration {:?} is out of range", text));
    long long unit = 0;
    switch (text[j]) {
      case 'd': unit = 86400; break;
      case 'h': unit = 3600; break;
      case 'm': unit = 60; break;
      case 's': unit = 1; break;
      default: return R::fail(fmt::format("invalid duration unit in {:?} (use d, h, m or s)", text));
    }
    total += n * unit;
    if (total > 100LL * 365 * 86400) return R::fail(fmt::format("duration {:?} is longer than 100 years", text));
    i = j + 1;
  }
  return std::chrono::seconds(total);
}

core::Result<Options> parse_options(const std::vector<std::string>& args) {
  using R = core::Result<Options>;
  Options o;
  o.service = std::string(core::kWebhookServiceName);
  o.ns = std::string(core::kDefaultOperatorNamespace);
  o.secret_name = std::string(core::kWebhookTlsSecretName);
  o.ca_secret_name = std::string(core::kWebhookCaSecretName);
  if (args.empty()) return R::fail("missing subcommand (files or ensure); see --help");
  const std::string& cmd = args[0];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") return o;
  if (cmd == "--version") { o.command = Options::Command::kVersion; return o; }
  if (cmd == "files") o.command = Options::Command::kFiles;
  else if (cmd == "ensure") o.command = Options::Command::kEnsure;
  else return R::fail(fmt::format("unknown subcommand {:?} (expected files or ensure)", cmd));
  const bool ensure = o.command == Options::Command::kEnsure;
  std::vector<std::string> extra_dns;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") { o.command = Options::Command::kHelp; return o; }
    auto next = core::next_flag(args, i);
    if (!next) return R::fail(next.error());
    const std::string& flag = next->name;
    const std::string& value = next->value;
    const bool has_value = next->has_value;
    auto need = [&]() -> std::string {
      if (!has_value) return fmt::format("flag {} needs a value", flag);
      if (value.empty()) return fmt::format("flag {} needs a non-empty value", flag);
      return {};
    };
    auto duration = [&](std::chrono::seconds& into) -> std::string {
      if (auto e = need(); !e.empty()) return e;
      auto d = parse_duration(value);
      if (!d) return fmt::format("flag {}: {}", flag, d.error());
      into = *d;
      return {};
    };
    std::string err;
    if (flag == "--service") { err = need(); o.service = value; }
    else if (flag == "--namespace") { err = need(); o.ns = value; }
    else if (flag == "--dns-name") { err = need(); extra_dns.push_back(value); }
    else if (flag == "--ip") {
      err = need();
      if (err.empty() && canonical_ip(value).empty()) err = fmt::format("flag --ip: {:?} is not an IP address", value);
      o.policy.ip_addresses.push_back(value);
    }
    else if (flag == "--ca-validity") err = duration(o.policy.ca_validity);
    else if (flag == "--ca-renew-before") err = duration(o.policy.ca_renew_before);
    else if (flag == "--validity") err = duration(o.policy.serving_validity);
    else if (flag == "--renew-before") err = duration(o.policy.serving_renew_before);
    else if (flag == "--clock-skew") err = duration(o.policy.clock_skew);
    else if (flag == "--ca-common-name") { err = need(); o.policy.ca_common_name = value; }
    else if (flag == "--out-dir") { err = need(); o.out_dir = value; }
    else if (flag == "--log-level") {
      if (auto level = core::parse_log_level(value)) o.log_level = *level;
      else err = fmt::format("flag --log-level: {:?} is not one of {}", value, fmt::join(core::kLogLevelNames, ", "));
    }
    else if (flag == "--log-format") {
      if (auto format = core::parse_log_format(value)) o.log_format = *format;
      else err = fmt::format("flag --log-format: {:?} is not text or json", value);
    }
    else if (ensure && flag == "--kubeconfig") { err = need(); o.kubeconfig = value; }
    else if (ensure && flag == "--secret-name") { err = need(); o.secret_name = value; }
    else if (ensure && flag == "--ca-secret-name") { err = need(); o.ca_secret_name = value; }
    else if (ensure && flag == "--secret-namespace") { err = need(); o.secret_namespace = value; }
    else if (ensure && flag == "--validating-config") { err = need(); o.validating_configs.push_back(value); }
    else if (ensure && flag == "--mutating-config") { err = need(); o.mutating_configs.push_back(value); }
    else err = fmt::format("unknown flag {} for {} (see --help)", flag, cmd);
    if (!err.empty()) return R::fail(err);
  }
  if (o.command == Options::Command::kFiles && o.out_dir.empty()) return R::fail("files needs --out-dir DIR");
  if (o.secret_namespace.empty()) o.secret_namespace = o.ns;
  if (ensure && o.ca_secret_name == o.secret_name)
    return R::fail("--ca-secret-name must differ from --secret-name (the webhook must not read the CA key)");
  o.policy.dns_names = service_dns_names(o.service, o.ns);
  for (auto& d : extra_dns) o.policy.dns_names.push_back(std::move(d));
  if (auto problem = check_policy(o.policy); !problem.empty()) return R::fail(problem);
  return o;
}

}  // namespace ifo::certsgen
