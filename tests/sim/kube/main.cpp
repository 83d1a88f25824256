// kube-sim: runs the in-memory Kubernetes API server until SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/flag_set.h"
#include "sim/kube/modules.h"
#include "sim/kube/server.h"

namespace {

constexpr const char* kUsage = R"(Usage: kube-sim [flags]

An in-memory Kubernetes API server over HTTPS on loopback, for tests and demos.
It prints "kube-sim listening on URL" once ready and serves until SIGINT/SIGTERM.

Flags:
  --port N                    port to listen on (default 0: an ephemeral port)
  --port-file PATH            write the chosen port to PATH once listening
  --kubeconfig PATH           write a kubeconfig (server URL, certificate-authority-data, admin token)
  --namespace NAME            the kubeconfig context's namespace (default "default")
  --tls-cert-file PATH        serving certificate (PEM); default: self-signed for 127.0.0.1/localhost
  --tls-private-key-file PATH its private key (PEM)
  --insecure-http             serve plain HTTP instead of HTTPS (tests of the transport only)
  --token TOKEN=USER[:GROUP1,GROUP2]
                              a static bearer token (repeatable); without any, one admin token
                              (groups system:masters) is generated
  --token-auth-file PATH      static tokens, kube-apiserver's CSV format: token,user,uid,"group1,group2"
  --admin-token TOKEN         the token that may use /sim/... (default: the first static token)
  --threads N                 HTTP worker threads; each open watch holds one (default 96)
  --bookmark-interval-ms N    BOOKMARK period for watches with allowWatchBookmarks (default 5000)
  --history N                 watch events kept for resuming from a resourceVersion (default 100000)
  --log-requests              log each request line to stderr
  --emulate-version 1.N       answer as kube-apiserver 1.N (25..32, default 32): /version, and the
                              fields of built-in kinds that version's decoder knows (matchConditions
                              of webhook configurations: unknown before 1.27, dropped in 1.27)
  --help                      this text
%MODULES%
Admin endpoints (Authorization: Bearer ADMIN_TOKEN):
  GET  /sim/counters                 request counts by "verb resource", open watches, current resourceVersion
  DELETE /sim/counters               reset the counts
  POST /sim/faults                   {"latencyMs":N,"errors":[{"verb":"update","resource":"secrets","code":500,
                                      "count":3,"message":"..."}]}  (verb/resource "*" = any; count -1 = until cleared)
                                     {"errors":[{"verb":"update","resource":"secrets","stallAfter":K}]}: the first K
                                      such requests pass, later ones wait until DELETE /sim/faults (504 after 60 s)
  DELETE /sim/faults                 clear latency and errors
  POST /sim/watches/close            end every open watch
  POST /sim/watches/expire-next      the next watch gets 410 Expired
  POST /sim/compact[?resourceVersion=N]  forget watch history up to N (default: now)

Not supported: protobuf (415; only what kubectl auth can-i [--list], kubectl auth whoami, kubectl create
namespace, helm's release Secrets and kubectl
create token post is read),
multiple stored versions of a CRD, CEL validation rules, field ownership of server-side apply (an
apply is a merge of the applied fields).
)";

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "kube-sim: %s (see --help)\n", msg.c_str());
  std::exit(2);
}

ifo::kubesim::StaticToken parse_token_flag(const std::string& v) {
  auto eq = v.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
    usage_error("--token wants TOKEN=USER[:GROUP1,GROUP2], got \"" + v.substr(0, v.find('=')) + "=...\"");
  ifo::kubesim::StaticToken t;
  t.token = v.substr(0, eq);
  std::string rest = v.substr(eq + 1);
  auto colon = rest.find(':');
  t.user.username = rest.substr(0, colon);
  t.user.uid = t.user.username;
  if (colon != std::string::npos) {
    std::stringstream ss(rest.substr(colon + 1));
    std::string g;
    while (std::getline(ss, g, ','))
      if (!g.empty()) t.user.groups.push_back(g);
  }
  t.user.groups.push_back("system:authenticated");
  return t;
}

std::vector<ifo::kubesim::StaticToken> read_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) usage_error("cannot read --token-auth-file " + path);
  std::vector<ifo::kubesim::StaticToken> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::string cur;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) {
        cols.push_back(cur);
        cur.clear();
      } else cur += c;
    }
    cols.push_back(cur);
    if (cols.size() < 3) usage_error(path + ":" + std::to_string(n) + ": want token,user,uid[,\"groups\"]");
    ifo::kubesim::StaticToken t;
    t.token = cols[0];
    t.user.username = cols[1];
    t.user.uid = cols[2];
    if (cols.size() > 3) {
      std::stringstream ss(cols[3]);
      std::string g;
      while (std::getline(ss, g, ','))
        if (!g.empty()) t.user.groups.push_back(g);
    }
    t.user.groups.push_back("system:authenticated");
    out.push_back(t);
  }
  return out;
}

long parse_number(const std::string& flag, const std::string& v, long lo, long hi) {
  try {
    size_t used = 0;
    long n = std::stol(v, &used);
    if (used != v.size() || n < lo || n > hi) throw std::out_of_range("range");
    return n;
  } catch (const std::exception&) {
    usage_error(flag + " wants a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got \"" + v + "\"");
  }
}

}  // namespace

int main(int argc, char** argv) noexcept try {
  ifo::kubesim::Options opt;
  ifo::kubesim::ModulesOptions modules_opt;
  std::string port_file;
  // The binaries' parser (core/flag_set.h): --flag value or --flag=value, one-line errors, exit 2.
  auto store = [](std::string& into) {
    return [&into](const std::string& v) {
      into = v;
      return std::string();
    };
  };
  auto set_true = [](const char* flag, bool& into) {
    return [flag, &into](const std::string& v) {
      auto b = ifo::core::parse_bool_flag(std::string("flag --") + flag, v);
      if (!b) return b.error();
      into = *b;
      return std::string();
    };
  };
  ifo::core::FlagSet flags;
  flags.value("port", [&](const std::string& v) {
    opt.port = static_cast<int>(parse_number("--port", v, 0, 65535));
    return std::string();
  });
  flags.value("port-file", store(port_file));
  flags.value("kubeconfig", store(opt.kubeconfig_path));
  flags.value("namespace", store(opt.default_namespace));
  flags.value("tls-cert-file", store(opt.cert_file));
  flags.value("tls-private-key-file", store(opt.key_file));
  flags.boolean("insecure-http", set_true("insecure-http", opt.plain_http));
  flags.value("token", [&](const std::string& v) {
    opt.tokens.push_back(parse_token_flag(v));
    return std::string();
  });
  flags.value("token-auth-file", [&](const std::string& v) {
    auto ts = read_token_file(v);
    opt.tokens.insert(opt.tokens.end(), ts.begin(), ts.end());
    return std::string();
  });
  flags.value("admin-token", store(opt.admin_token));
  flags.value("threads", [&](const std::string& v) {
    opt.threads = static_cast<int>(parse_number("--threads", v, 4, 4096));
    return std::string();
  });
  flags.value("bookmark-interval-ms", [&](const std::string& v) {
    opt.bookmark_interval = std::chrono::milliseconds(parse_number("--bookmark-interval-ms", v, 10, 3600000));
    return std::string();
  });
  flags.value("history", [&](const std::string& v) {
    opt.history_limit = static_cast<size_t>(parse_number("--history", v, 1, 100000000));
    return std::string();
  });
  flags.boolean("log-requests", set_true("log-requests", opt.log_requests));
  flags.value("emulate-version", [&](const std::string& v) -> std::string {
    opt.version.minor = ifo::kubesim::EmulatedVersion::parse_minor(v);
    if (opt.version.minor < 0) return "flag --emulate-version: wants 1.25 to 1.32, got \"" + v + "\"";
    return {};
  });
  flags.boolean("authorize-requests", set_true("authorize-requests", modules_opt.auth.authorize_requests));
  // The admission/auth/rollout modules' flags, each taking a value, applied by the modules themselves.
  for (std::string_view name : ifo::kubesim::kModuleFlags) {
    flags.value(
        std::string(name),
        [&modules_opt, flag = "--" + std::string(name)](const std::string& v) {
          auto r = ifo::kubesim::parse_module_flag(flag, v, modules_opt);
          return r.ok() ? std::string() : r.error();
        },
        /*allow_empty=*/true);
  }
  auto parsed = flags.parse(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed) {
    std::fprintf(stderr, "kube-sim: %s\n", parsed.error().c_str());
    return 2;
  }
  if (parsed->help || parsed->version) {
    std::string usage = kUsage;
    usage.replace(usage.find("%MODULES%"), 9, ifo::kubesim::kModulesUsage);
    std::fputs(usage.c_str(), stdout);
    return 0;
  }
  if (modules_opt.auth.rbac && !modules_opt.auth.rules.empty())
    usage_error("--access-rules-file and --authorization-mode=RBAC do not go together");
  if (opt.cert_file.empty() != opt.key_file.empty())
    usage_error("--tls-cert-file and --tls-private-key-file go together");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  ifo::kubesim::KubeSim sim(opt);
  modules_opt.auth.static_tokens = sim.static_tokens();
  auto modules = ifo::kubesim::install_modules(sim, std::move(modules_opt));
  sim.add_counter_source([m = modules.get()] { return m->counters(); });
  sim.start();
  if (!port_file.empty()) {
    std::ofstream pf(port_file);
    pf << sim.port() << "\n";
  }
  std::printf("kube-sim listening on %s\n", sim.url().c_str());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The Pods' processes first: they are the server's clients (a syncer releases its lease on the way
  // out), and the server stops at once without them instead of waiting out their connections.
  if (modules->kubelet) modules->kubelet->stop();
  sim.stop();
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "kube-sim: %s\n", e.what());
  return 1;
}
