// `certs-gen ensure` over the project's kube client: the ClusterApi verbs map to GET/POST/PUT.
#include "certs-gen/run_ensure.h"

#include <cstdio>

#include "certs-gen/ensure.h"
#include "certs-gen/files.h"
#include "core/constants.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/errors.h"

namespace ifo::certsgen {
namespace {

const std::string kFieldManagerQuery = "?fieldManager=" + std::string(core::kCertsGenFieldManager);

class KubeApi : public ClusterApi {
 public:
  explicit KubeApi(kube::Client& client) : client_(client) {}

  std::shared_ptr<core::JsonDoc> get(const std::string& collection, const std::string& name) override {
    try {
      return client_.request("GET", collection + "/" + name);
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) return nullptr;
      throw;
    }
  }
  Write create(const std::string& collection, const core::JsonValue& object) override {
    try {
      client_.request("POST", collection + kFieldManagerQuery, core::to_json(object));
      return Write::kOk;
    } catch (const kube::ApiError& e) {
      if (e.is_already_exists()) return Write::kAlreadyExists;
      throw;
    }
  }
  Write update(const std::string& collection, const std::string& name, const core::JsonValue& object) override {
    try {
      client_.request("PUT", collection + "/" + name + kFieldManagerQuery, core::to_json(object));
      return Write::kOk;
    } catch (const kube::ApiError& e) {
      if (e.is_conflict()) return Write::kConflict;
      throw;
    }
  }

 private:
  kube::Client& client_;
};

}  // namespace

int run_ensure(const Options& o) {
  kube::Config config;
  try {
    config = kube::load_config(o.kubeconfig.empty() ? std::nullopt : std::optional<std::string>(o.kubeconfig));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "certs-gen: %s\n", e.what());
    return 2;
  }
  kube::Client client(std::move(config));
  KubeApi api(client);
  EnsureOptions eo;
  eo.secret_namespace = o.secret_namespace;
  eo.secret_name = o.secret_name;
  eo.validating_configs = o.validating_configs;
  eo.mutating_configs = o.mutating_configs;
  eo.policy = o.policy;
  EnsureReport report;
  try {
    report = ensure(api, eo, [] { return std::chrono::time_point_cast<std::chrono::seconds>(Clock::now()); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "certs-gen: ensure failed: %s\n", e.what());
    return 1;
  }
  for (const auto& line : report.log) std::printf("certs-gen: %s\n", line.c_str());
  if (!o.out_dir.empty()) {
    auto w = write_material(o.out_dir, report.material, false);
    if (!w) {
      std::fprintf(stderr, "certs-gen: %s\n", w.error().c_str());
      return 2;
    }
    std::printf("certs-gen: wrote tls.crt, tls.key, ca.crt to %s\n", o.out_dir.c_str());
  }
  return 0;
}

}  // namespace ifo::certsgen
