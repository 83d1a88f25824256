// The webhook under continuous admission load while its certificate is rotated as in production:
// certs-gen renews the serving certificate, then rotates the CA (ca.crt = new CA + old CA); the
// apiserver's caBundle is updated first (certs-gen ensure patches it), then the kubelet swaps the
// mounted Secret files atomically (a `..data` symlink switch). Clients trust whatever the caBundle
// holds at the time, as the apiserver does. Every admission request must succeed.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include "core/json.h"
#include "net/http_client.h"
#include "sim/kube/server.h"
#include "syncer_process.h"

using namespace ifo;
using ifo::syncer::testing::ChildProcess;
namespace fs = std::filesystem;

namespace {

bool long_mode() {
  const char* v = std::getenv("IFO_RELIABILITY_LONG");
  return v && *v && std::string(v) != "0";
}
std::string env_or(const char* name, const char* def) {
  const char* v = std::getenv(name);
  return v ? v : def;
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
template <typename F>
bool eventually(F cond, std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

// certs-gen files into a stage directory that starts as a copy of the previous one (certs-gen reuses,
// renews or rotates what it finds there).
std::string certs_gen(const fs::path& stage, const fs::path* previous, const std::vector<std::string>& flags) {
  fs::create_directories(stage);
  if (previous)
    for (const char* f : {"ca.crt", "ca.key", "tls.crt", "tls.key"})
      fs::copy_file(*previous / f, stage / f, fs::copy_options::overwrite_existing);
  std::vector<std::string> args{"files", "--out-dir", stage.string(), "--ip", "127.0.0.1", "--dns-name", "localhost"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::string log = (stage / "certs-gen.log").string();
  ChildProcess p(env_or("IFO_BUILD_ROOT", ".") + "/certs-gen/certs-gen", args, log);
  auto rc = p.wait(std::chrono::seconds(60));
  REQUIRE(rc == std::optional<int>(0));
  return slurp(log);
}

// The kubelet's atomic update of a Secret volume: files in a fresh timestamped directory, a `..data`
// symlink switched with rename(2), and tls.crt -> ..data/tls.crt links that never change.
void publish(const fs::path& mount, const fs::path& stage, int generation) {
  fs::path dir = mount / fmt::format("..2026_12_01_gen{}", generation);
  fs::create_directories(dir);
  for (const char* f : {"tls.crt", "tls.key"}) fs::copy_file(stage / f, dir / f, fs::copy_options::overwrite_existing);
  fs::path old_target;
  if (fs::is_symlink(mount / "..data")) old_target = mount / fs::read_symlink(mount / "..data");
  fs::remove(mount / "..data_tmp");
  fs::create_directory_symlink(dir.filename(), mount / "..data_tmp");
  fs::rename(mount / "..data_tmp", mount / "..data");
  for (const char* f : {"tls.crt", "tls.key"})
    if (!fs::is_symlink(mount / f)) fs::create_symlink(fs::path("..data") / f, mount / f);
  if (!old_target.empty()) fs::remove_all(old_target);
}

struct Outcome {
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> failed{0};
  std::mutex mu;
  std::vector<std::string> failures;  // the first few
  void fail(std::string what) {
    ++failed;
    std::lock_guard lock(mu);
    if (failures.size() < 10) failures.push_back(std::move(what));
  }
};

}  // namespace

TEST_CASE("the webhook under load while its serving certificate and then its CA are rotated: no failed admission") {
  const bool is_long = long_mode();
  const auto phase = std::chrono::milliseconds(is_long ? 20000 : 2000);  // load between rotations
  fs::path work = fs::temp_directory_path() / ("ifo-reliability-webhook-" + std::to_string(getpid()));
  fs::remove_all(work);
  fs::create_directories(work / "mount");

  kubesim::Options ko;
  kubesim::KubeSim kube(ko);
  kube.start();
  std::string kubeconfig = (work / "kubeconfig").string();
  std::ofstream(kubeconfig) << kube.kubeconfig();

  // Generation 1: CA valid 48 h, serving certificate valid 2 h.
  certs_gen(work / "stage-1", nullptr, {"--ca-validity", "48h", "--ca-renew-before", "1h", "--validity", "2h", "--renew-before", "30m"});
  std::string ca1 = slurp(work / "stage-1" / "ca.crt");
  std::mutex bundle_mu;
  std::string bundle = ca1;  // the apiserver's caBundle
  auto current_bundle = [&] {
    std::lock_guard lock(bundle_mu);
    return bundle;
  };
  publish(work / "mount", work / "stage-1", 1);

  std::string log = (work / "webhook.log").string();
  ChildProcess webhook(env_or("IFO_BUILD_ROOT", ".") + "/src/webhook/infisical-webhook",
                       {"--tls-cert-file", (work / "mount" / "tls.crt").string(), "--tls-private-key-file",
                        (work / "mount" / "tls.key").string(), "--port", "0", "--health-port", "0", "--bind-address",
                        "127.0.0.1", "--kubeconfig", kubeconfig, "--cert-reload-interval", "100ms", "--workers", "16",
                        "--allowed-hosts", "infisical.example.com"},
                       log);
  int port = 0;
  REQUIRE(eventually([&] {
    std::smatch m;
    std::string text = webhook.log();
    static const std::regex re("listening address=[0-9.]+ port=([0-9]+)");
    if (!std::regex_search(text, m, re)) return false;
    port = std::stoi(m[1]);
    return true;
  }));
  std::string url = fmt::format("https://127.0.0.1:{}/validate-infisicalsecret?timeout=5s", port);
  std::string body_template = slurp(fs::path(env_or("IFO_SOURCE_ROOT", ".")) / "bench" / "webhook" / "validate.json");
  REQUIRE(body_template.find("0b6c1f5e-bench") != std::string::npos);

  // One admission call as the apiserver makes it; true when admitted with our uid echoed.
  auto admit = [&](net::HttpClient& http, int64_t seq, std::string& error) {
    std::string uid = fmt::format("0b6c1f5e-{:012d}", seq);
    std::string body = body_template;
    body.replace(body.find("0b6c1f5e-bench"), std::string("0b6c1f5e-bench").size(), uid);
    net::Request r;
    r.method = "POST";
    r.url = url;
    r.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    r.body = body;
    r.total_timeout = std::chrono::seconds(5);  // the webhook configurations' timeoutSeconds
    try {
      auto res = http.perform(r);
      if (res.status != 200) {
        error = fmt::format("HTTP {}: {}", res.status, res.body.substr(0, 200));
        return false;
      }
      auto doc = core::parse_json(res.body);
      if (!doc) {
        error = "not JSON: " + res.body.substr(0, 200);
        return false;
      }
      const auto* allowed = core::at_path(**doc, {"response", "allowed"});
      const auto* got_uid = core::at_path(**doc, {"response", "uid"});
      if (!allowed || !allowed->IsBool() || !allowed->GetBool() || !got_uid || !got_uid->IsString() || got_uid->GetString() != uid) {
        error = "unexpected review: " + res.body.substr(0, 300);
        return false;
      }
      return true;
    } catch (const std::exception& e) {
      error = e.what();
      return false;
    }
  };
  {
    // The webhook is up once one call goes through.
    net::TlsOptions tls;
    tls.ca_pem = ca1;
    net::HttpClient http(tls);
    std::string err;
    bool ok = eventually([&] { return admit(http, 0, err); });
    if (!ok) MESSAGE(err, "\n", webhook.log());
    REQUIRE(ok);
  }

  // The load: keep-alive clients (rebuilt when the caBundle changes, as the apiserver rebuilds its
  // client for a changed webhook configuration) and clients that connect anew for every call.
  Outcome outcome;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> seq{1};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    bool keep_alive = t % 2 == 0;
    clients.emplace_back([&, keep_alive] {
      std::string trusted;
      std::unique_ptr<net::HttpClient> http;
      while (!stop.load()) {
        std::string b = current_bundle();
        if (!http || !keep_alive || b != trusted) {
          net::TlsOptions tls;
          tls.ca_pem = b;
          http = std::make_unique<net::HttpClient>(tls);
          trusted = b;
        }
        std::string err;
        int64_t n = seq++;
        if (admit(*http, n, err)) ++outcome.ok;
        else outcome.fail(fmt::format("request {} ({}): {}", n, keep_alive ? "keep-alive" : "new connection", err));
      }
    });
  }
  auto reloads = [&](int generation) {
    return webhook.log().find(fmt::format("serving certificate reloaded generation={}", generation)) != std::string::npos;
  };
  auto run_for = [&](std::chrono::milliseconds d) {
    auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  run_for(phase);
  int64_t ok_before_rotation = outcome.ok.load();

  // Rotation 1: the serving certificate is renewed under the same CA.
  const fs::path stage1 = work / "stage-1", stage2 = work / "stage-2";
  certs_gen(stage2, &stage1,
                               {"--ca-validity", "48h", "--ca-renew-before", "4h", "--validity", "4h", "--renew-before", "3h"});
  CHECK(slurp(work / "stage-2" / "tls.crt") != slurp(work / "stage-1" / "tls.crt"));
  CHECK(slurp(work / "stage-2" / "ca.crt") == ca1);
  publish(work / "mount", work / "stage-2", 2);
  bool reloaded2 = eventually([&] { return reloads(2); }, std::chrono::seconds(10));
  CHECK(reloaded2);
  run_for(phase);

  // Rotation 2: the CA is rotated; ca.crt holds the new CA and the old one. caBundle first, then files.
  certs_gen(work / "stage-3", &stage2,
            {"--ca-validity", "100h", "--ca-renew-before", "99h", "--validity", "4h", "--renew-before", "3h"});
  std::string ca3 = slurp(work / "stage-3" / "ca.crt");
  REQUIRE(ca3 != ca1);
  CHECK(ca3.find(ca1) != std::string::npos);  // the old CA stays in the bundle during the overlap
  {
    std::lock_guard lock(bundle_mu);
    bundle = ca3;
  }
  run_for(std::chrono::milliseconds(300));  // the apiserver picks up the new caBundle
  publish(work / "mount", work / "stage-3", 3);
  bool reloaded3 = eventually([&] { return reloads(3); }, std::chrono::seconds(10));
  CHECK(reloaded3);
  run_for(phase);
  stop = true;
  for (auto& c : clients) c.join();

  MESSAGE(fmt::format("admission requests: {} succeeded, {} failed ({} before the first rotation)", outcome.ok.load(),
                      outcome.failed.load(), ok_before_rotation));
  for (const auto& f : outcome.failures) MESSAGE(f);
  CHECK(outcome.failed.load() == 0);
  CHECK(outcome.ok.load() >= (is_long ? 2000 : 100));

  // The rotation took effect: the webhook now presents a certificate of the new CA only.
  std::string ca_new_only = ca3.substr(0, ca3.find(ca1));
  REQUIRE(!ca_new_only.empty());
  {
    net::TlsOptions tls;
    tls.ca_pem = ca_new_only;
    net::HttpClient http(tls);
    std::string err;
    CHECK_MESSAGE(admit(http, 999999, err), err);
  }
  {
    net::TlsOptions tls;
    tls.ca_pem = ca1;
    net::HttpClient http(tls);
    std::string err;
    CHECK_FALSE(admit(http, 999998, err));
    MESSAGE("a client trusting only the old CA now fails as it should: ", err);
  }
  webhook.signal(SIGTERM);
  CHECK(webhook.wait(std::chrono::seconds(20)) == std::optional<int>(0));
  kube.stop();
  fs::remove_all(work);
}
