// Flag parsing for certs-gen (Kubernetes style: --flag value or --flag=value).
#include "certs-gen/options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <map>

#include "core/constants.h"
#include "core/duration.h"
#include "core/flag_set.h"

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

Flags are --flag=value or --flag value.
Durations: Go's syntax, e.g. 720h, 1h30m, 90s, 1.5h (units ns, us, ms, s, m, h); d (days, e.g. 7d)
is still accepted for compatibility with earlier releases. A plain number needs a unit.
Exit codes: 0 success, 1 failure while running, 2 wrong usage or unreadable input.
)";
}

core::Result<std::chrono::seconds> parse_duration(const std::string& text) {
  using R = core::Result<std::chrono::seconds>;
  auto d = core::parse_duration(text, {.days = true});
  if (!d) return R::fail(d.error());
  if (d->count() < 0) return R::fail(fmt::format("duration {:?} must not be negative", text));
  if (*d > std::chrono::hours(24 * 365 * 100))
    return R::fail(fmt::format("duration {:?} is longer than 100 years", text));
  return std::chrono::duration_cast<std::chrono::seconds>(*d);
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
  auto store = [](std::string& into) {
    return [&into](const std::string& v) {
      into = v;
      return std::string();
    };
  };
  auto append = [](std::vector<std::string>& into) {
    return [&into](const std::string& v) {
      into.push_back(v);
      return std::string();
    };
  };
  auto duration = [](const char* flag, std::chrono::seconds& into) {
    return [flag, &into](const std::string& v) -> std::string {
      auto d = parse_duration(v);
      if (!d) return fmt::format("flag {}: {}", flag, d.error());
      into = *d;
      return {};
    };
  };
  core::FlagSet flags;
  flags.value("service", store(o.service));
  flags.value("namespace", store(o.ns));
  flags.value("dns-name", append(extra_dns));
  flags.value("ip", [&](const std::string& v) -> std::string {
    if (canonical_ip(v).empty()) return fmt::format("flag --ip: {:?} is not an IP address", v);
    o.policy.ip_addresses.push_back(v);
    return {};
  });
  flags.value("ca-validity", duration("--ca-validity", o.policy.ca_validity));
  flags.value("ca-renew-before", duration("--ca-renew-before", o.policy.ca_renew_before));
  flags.value("validity", duration("--validity", o.policy.serving_validity));
  flags.value("renew-before", duration("--renew-before", o.policy.serving_renew_before));
  flags.value("clock-skew", duration("--clock-skew", o.policy.clock_skew));
  flags.value("ca-common-name", store(o.policy.ca_common_name));
  flags.value("out-dir", store(o.out_dir));
  core::add_log_flags(flags, o.log_level, o.log_format);
  if (ensure) {
    flags.value("kubeconfig", store(o.kubeconfig));
    flags.value("secret-name", store(o.secret_name));
    flags.value("ca-secret-name", store(o.ca_secret_name));
    flags.value("secret-namespace", store(o.secret_namespace));
    flags.value("validating-config", append(o.validating_configs));
    flags.value("mutating-config", append(o.mutating_configs));
  }
  auto parsed = flags.parse(std::vector<std::string>(args.begin() + 1, args.end()));
  if (!parsed) return R::fail(fmt::format("{}: {}", cmd, parsed.error()));
  if (parsed->help) {
    o.command = Options::Command::kHelp;
    return o;
  }
  if (parsed->version) {
    o.command = Options::Command::kVersion;
    return o;
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
