// kube-sim: an in-memory Kubernetes API server over HTTPS, started in-process by tests or by main.cpp.
//
// Wiring for the other kube-sim modules (admission, auth, rollout, gc):
//   KubeSim sim(options);
//   sim.add_admission(std::make_shared<MyHook>(...));        // store.h AdmissionHook
//   sim.add_authenticator([](std::string_view token) {...});  // e.g. service-account JWTs
//   sim.add_create_handler("authentication.k8s.io", "tokenreviews", "", handler);
//   sim.add_create_handler("", "serviceaccounts", "token", handler);
//   sim.set_authorizer([](const RequestAttributes& a) {...});  // e.g. the auth module's rule table
//   sim.store().add_observer(...);                            // rollout / garbage collection
//   sim.start();
// Hooks must be added before start(). All hooks are called on HTTP worker threads, concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/kube/emulated_version.h"
#include "sim/kube/request_info.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

struct StaticToken {
  std::string token;
  UserInfo user;
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: ephemeral
  bool plain_http = false;
  std::string cert_file, key_file;  // empty: a self-signed certificate made at start-up
  std::vector<StaticToken> tokens;  // empty: one generated admin token (system:masters)
  std::string admin_token;          // for /sim/...; empty: the first static token's
  std::string kubeconfig_path;      // written after start() when non-empty
  std::string default_namespace = "default";
  int threads = 96;  // HTTP worker threads (each open watch holds one)
  std::chrono::milliseconds bookmark_interval{5000};
  size_t history_limit = 100000;  // watch events kept for resuming
  // How long an idle keep-alive connection is held; stop() waits for idle connections to time out,
  // so tests that restart the server set it low.
  int keep_alive_timeout_seconds = 30;
  bool log_requests = false;
  // The kube-apiserver version answered on /version, whose decoder decides which fields of the
  // built-in kinds exist (see emulated_version.h).
  EmulatedVersion version;
};

class KubeSim {
 public:
  explicit KubeSim(Options options);
  ~KubeSim();  // stops
  KubeSim(const KubeSim&) = delete;
  KubeSim& operator=(const KubeSim&) = delete;

  void add_admission(std::shared_ptr<AdmissionHook> hook);
  void add_authenticator(Authenticator a);
  // Authorization of every authenticated request before it is served, as kube-apiserver's
  // authorization filter does (a refusal is request_forbidden's 403). The admin token is always
  // allowed; /healthz, /livez, /readyz, /sim/... and anonymous /version are not asked about. Without
  // one every authenticated user may do everything.
  void set_authorizer(Authorizer a);
  // group "" = core; subresource "" for create-only resources.
  void add_create_handler(const std::string& group, const std::string& resource, const std::string& subresource,
                          CreateHandler handler);

  // Extra figures for GET /sim/counters (e.g. the modules' counters).
  void add_counter_source(std::function<std::map<std::string, uint64_t>()> source);
  // The static tokens (including a generated admin token), e.g. for TokenReview.
  const std::vector<StaticToken>& static_tokens() const;

  // Binds, starts serving on background threads; throws std::runtime_error on failure.
  // start() after stop() is a restart with the same data: the store (objects, resourceVersions, watch
  // history), the port and the serving certificate are kept; open watches ended at stop().
  void start();
  void stop();

  int port() const;
  std::string url() const;        // https://127.0.0.1:PORT
  std::string ca_pem() const;     // the serving certificate (self-signed: also its CA)
  std::string token() const;      // the first static token (admin)
  std::string admin_token() const;
  std::string kubeconfig() const;  // text of a kubeconfig for url()/ca/token
  Store& store();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ifo::kubesim
