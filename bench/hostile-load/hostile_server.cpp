// The webhook as infisical-webhook wires it (its allocator setting, WebhookServer, AdmissionHandler under
// the authorize policy, SarAuthorizer with the default deadline, pending limit and threads), with a
// pre-filled digest cache and a stand-in API server that answers every SubjectAccessReview only after
// SAR_DELAY_MS (a slow API server), for bench/hostile-load/run. Usage: hostile_server CERT KEY SAR_DELAY_MS
// -> prints "port=N"; serves until stdin closes, then prints "sar_sent=N sar_timed_out=N sar_refused_busy=N"
// and exits 0.
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include "bench/webhook/bench_fixture.h"
#include "kube/api.h"
#include "webhook/admission.h"
#include "webhook/digest_cache.h"
#include "webhook/malloc_tuning.h"
#include "webhook/sar_authorizer.h"

namespace {

using namespace ifo;

// Only SubjectAccessReviews are asked of it (the handler has no trust lookup here); they take the
// given time and are denied, like a slow API server refusing forged users.
class SlowReviews final : public kube::Api {
 public:
  explicit SlowReviews(std::chrono::milliseconds delay) : delay_(delay) {}
  kube::ObjectPtr get(const kube::Resource&, std::string_view, std::string_view) override { unused(); }
  kube::ObjectList list(const kube::Resource&, std::string_view, const kube::ListOptions& = {}) override {
    unused();
  }
  kube::ObjectList list_all(const kube::Resource&, std::string_view, kube::ListOptions = {}) override {
    unused();
  }
  kube::ObjectPtr create(const kube::Resource&, std::string_view, const core::JsonValue&,
                         const kube::WriteOptions& = {}) override {
    unused();
  }
  kube::ObjectPtr update(const kube::Resource&, std::string_view, const core::JsonValue&,
                         const kube::WriteOptions& = {}) override {
    unused();
  }
  kube::ObjectPtr patch(const kube::Resource&, std::string_view, std::string_view, kube::PatchType,
                        std::string_view, const kube::WriteOptions& = {}) override {
    unused();
  }
  kube::ObjectPtr update_status(const kube::Resource&, std::string_view, const core::JsonValue&,
                                const kube::WriteOptions& = {}) override {
    unused();
  }
  kube::ObjectPtr patch_status(const kube::Resource&, std::string_view, std::string_view, kube::PatchType,
                               std::string_view, const kube::WriteOptions& = {}) override {
    unused();
  }
  void remove(const kube::Resource&, std::string_view, std::string_view,
              const kube::DeleteOptions& = {}) override {
    unused();
  }
  kube::ServiceAccountToken create_token(std::string_view, std::string_view,
                                         const kube::TokenRequestOptions&) override {
    unused();
  }
  kube::AccessReviewResult create_subject_access_review(const kube::AccessReviewSubject&,
                                                        const kube::ResourceAttributes&) override {
    std::this_thread::sleep_for(delay_);
    return kube::AccessReviewResult{};  // not allowed
  }

 private:
  [[noreturn]] static void unused() {
    throw std::logic_error("hostile_server: only SubjectAccessReviews are served");
  }
  std::chrono::milliseconds delay_;
};

}  // namespace

int main(int argc, char** argv) noexcept try {
  using namespace ifo::webhook;
  if (argc != 4) {
    std::fprintf(stderr, "usage: hostile_server CERT KEY SAR_DELAY_MS\n");
    return 2;
  }
  if (auto failed = return_large_buffers_to_os())
    std::fprintf(stderr, "hostile_server: warning: %s\n", failed->c_str());
  SlowReviews api{std::chrono::milliseconds(std::stol(argv[3]))};
  SarAuthorizer authorizer(api, SarAuthorizerOptions{});  // the webhook's defaults: 3 s deadline, 64 pending
  DigestCache cache;
  ifo::bench::fill_digest_cache(cache);
  const ifo::core::TrustPolicy trust = ifo::bench::trust_policy();
  AdmissionHandler handler(CrossNamespacePolicy::kAuthorize, nullptr, &cache, trust, nullptr);
  CertStore certs(argv[1], argv[2]);
  // The webhook's defaults: 4 loops, 64 connections per address, 64 MiB buffered.
  if (int failed = ifo::bench::serve_until_stdin_closes("hostile_server", ServerOptions{}, handler, certs, &authorizer))
    return failed;
  std::printf("sar_sent=%llu sar_timed_out=%llu sar_refused_busy=%llu\n",
              static_cast<unsigned long long>(authorizer.reviews_sent()),
              static_cast<unsigned long long>(authorizer.timed_out()),
              static_cast<unsigned long long>(authorizer.refused_busy()));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "hostile_server: %s\n", e.what());
  return 1;
}
