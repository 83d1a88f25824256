// Which opted-in workloads consume which Secrets, kept from the workload caches' events: a rollout
// after a sync reads only these, so a workload the index misses would never roll.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "kube/resource.h"
#include "syncer/consumer_index.h"
#include "test_helpers.h"

using namespace ifo;
using namespace ifo::syncer;

namespace {

// A Deployment in `ns` consuming `secrets` (env secretKeyRef, then a volume), opted in or not.
Object workload(const std::string& ns, const std::string& name, const std::vector<std::string>& secrets,
                bool opted_in = true) {
  std::string env, volumes;
  for (size_t i = 0; i < secrets.size(); ++i) {
    if (i % 2 == 0) {
      if (!env.empty()) env += ",";
      env += fmt::format(R"({{"name":"V{}","valueFrom":{{"secretKeyRef":{{"name":"{}","key":"k"}}}}}})", i, secrets[i]);
    } else {
      if (!volumes.empty()) volumes += ",";
      volumes += fmt::format(R"({{"name":"v{}","secret":{{"secretName":"{}"}}}})", i, secrets[i]);
    }
  }
  return test::parse_doc(fmt::format(
      R"({{"metadata":{{"name":"{}","namespace":"{}","annotations":{{"secrets.infisical.com/auto-reload":"{}"}}}},)"
      R"("spec":{{"template":{{"spec":{{"containers":[{{"name":"c","env":[{}]}}],"volumes":[{}]}}}}}}}})",
      name, ns, opted_in ? "true" : "false", env, volumes));
}

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("a workload is found by each Secret it consumes, in its own namespace and kind only") {
  ConsumerIndex index;
  index.update(kube::kDeployments, nullptr, workload("apps", "web", {"db", "tls"}));
  index.update(kube::kDeployments, nullptr, workload("apps", "worker", {"db"}));
  index.update(kube::kStatefulSets, nullptr, workload("apps", "cache", {"db"}));
  index.update(kube::kDeployments, nullptr, workload("other", "web", {"db"}));

  CHECK(index.consumers(kube::kDeployments, "apps", {"db"}) == Names{"web", "worker"});
  CHECK(index.consumers(kube::kDeployments, "apps", {"tls"}) == Names{"web"});
  CHECK(index.consumers(kube::kDeployments, "apps", {"db", "tls"}) == Names{"web", "worker"});  // once each
  CHECK(index.consumers(kube::kStatefulSets, "apps", {"db"}) == Names{"cache"});
  CHECK(index.consumers(kube::kDeployments, "other", {"db"}) == Names{"web"});
  CHECK(index.consumers(kube::kDaemonSets, "apps", {"db"}).empty());
  CHECK(index.consumers(kube::kDeployments, "apps", {"unknown"}).empty());
}

TEST_CASE("an update moves a workload to what it consumes now; a deletion or an opt-out removes it") {
  ConsumerIndex index;
  Object v1 = workload("apps", "web", {"db", "tls"});
  index.update(kube::kDeployments, nullptr, v1);
  Object v2 = workload("apps", "web", {"api-keys"});
  index.update(kube::kDeployments, v1, v2);
  CHECK(index.consumers(kube::kDeployments, "apps", {"db", "tls"}).empty());
  CHECK(index.consumers(kube::kDeployments, "apps", {"api-keys"}) == Names{"web"});

  Object opted_out = workload("apps", "web", {"api-keys"}, false);
  index.update(kube::kDeployments, v2, opted_out);
  CHECK(index.consumers(kube::kDeployments, "apps", {"api-keys"}).empty());
  index.update(kube::kDeployments, opted_out, v2);  // opted in again
  CHECK(index.consumers(kube::kDeployments, "apps", {"api-keys"}) == Names{"web"});

  index.update(kube::kDeployments, v2, nullptr);
  CHECK(index.consumers(kube::kDeployments, "apps", {"api-keys"}).empty());
}

TEST_CASE("a Secret consumed by a deleted workload keeps its other consumers") {
  ConsumerIndex index;
  Object a = workload("apps", "a", {"db"});
  Object b = workload("apps", "b", {"db"});
  index.update(kube::kDeployments, nullptr, a);
  index.update(kube::kDeployments, nullptr, b);
  index.update(kube::kDeployments, a, nullptr);
  CHECK(index.consumers(kube::kDeployments, "apps", {"db"}) == Names{"b"});
  index.update(kube::kDeployments, nullptr, a);  // the same add twice (a relist) stays one entry
  index.update(kube::kDeployments, nullptr, a);
  CHECK(index.consumers(kube::kDeployments, "apps", {"db"}) == Names{"a", "b"});
}
