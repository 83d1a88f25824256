// The fixture of the http tests that drive src/kube against kube-sim: a kube-sim started in-process
// (optionally with its controller modules) and a kube::Client to it with the admin token and no
// client-side rate limit, plus the kube-sim admin calls those tests use.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/json.h"
#include "kube/client.h"
#include "kube/meta.h"
#include "sim/kube/modules.h"
#include "sim/kube/server.h"
#include "test_helpers.h"

namespace ifo::test {

struct KubeSimClient {
  std::unique_ptr<kubesim::KubeSim> sim;
  std::unique_ptr<kubesim::Modules> modules;  // set when started with_modules
  std::unique_ptr<kube::Client> client;

  explicit KubeSimClient(kubesim::Options options = {}, bool with_modules = false) {
    sim = std::make_unique<kubesim::KubeSim>(options);
    if (with_modules) modules = kubesim::install_modules(*sim, {});
    sim->start();
    client = std::make_unique<kube::Client>(config());
  }

  // kube-sim with watch bookmarks every `interval` (informer tests wait on them).
  static kubesim::Options bookmarks_every(std::chrono::milliseconds interval) {
    kubesim::Options o;
    o.bookmark_interval = interval;
    return o;
  }

  kube::Config config() const {
    kube::Config c;
    c.server = sim->url();
    c.tls.ca_pem = sim->ca_pem();
    c.token = sim->token();
    c.qps = 0;
    c.source = "kube-sim";
    return c;
  }

  // POST to a kube-sim admin endpoint, e.g. "/sim/watches/close".
  void admin(const std::string& path) { client->request("POST", path, "{}"); }
  // Requests kube-sim received, by "verb resource" (e.g. "watch configmaps").
  uint64_t received(const std::string& counter) {
    auto d = client->request("GET", "/sim/counters");
    const auto* v = core::at_path(*d, {"counters", counter});
    return v != nullptr && v->IsUint64() ? v->GetUint64() : 0;
  }
  // Watches kube-sim is serving now.
  uint64_t open_watches() {
    auto d = client->request("GET", "/sim/counters");
    const auto* v = core::member(*d, "watches");
    return v != nullptr && v->IsUint64() ? v->GetUint64() : 0;
  }
  // Makes kube-sim answer matching requests with `error_json` (see tests/sim/kube/README.md, faults).
  void inject(const std::string& error_json) {
    client->request("POST", "/sim/faults", R"({"errors":[)" + error_json + "]}");
  }
  void clear_faults() { client->request("DELETE", "/sim/faults"); }
  void create_namespace(const std::string& name) {
    auto d = parse_doc(fmt::format(R"({{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{}"}}}})", name));
    client->create(kube::kNamespaces, "", *d);
  }
};

}  // namespace ifo::test
