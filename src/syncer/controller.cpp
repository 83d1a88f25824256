// Wiring of informers, queue, workers and leader election.
#include "syncer/controller.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>

#include "core/base64.h"
#include "core/conditions.h"
#include "core/constants.h"
#include "core/consumed_keys.h"
#include "kube/deflate_codec.h"
#include "kube/errors.h"

namespace ifo::syncer {

namespace {

constexpr std::string_view kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

std::string meta(const core::JsonValue& o, std::string_view field) {
  const core::JsonValue* v = core::at_path(o, {"metadata", field});
  return v && v->IsString() ? v->GetString() : "";
}

int64_t generation(const core::JsonValue& o) {
  const core::JsonValue* v = core::at_path(o, {"metadata", "generation"});
  return v && v->IsInt64() ? v->GetInt64() : 0;
}

bool same_member(const core::JsonValue& a, const core::JsonValue& b, std::string_view field) {
  const core::JsonValue* x = core::at_path(a, {"metadata", field});
  const core::JsonValue* y = core::at_path(b, {"metadata", field});
  if (!x || !y) return x == y;
  return *x == *y;
}

// The smallest pod spec that consumes exactly `keys` (consumed_secret_keys of it gives them back): a
// single container with an env secretKeyRef per single key and an envFrom secretRef per whole Secret.
// References to the `optional` Secrets are marked optional (optionally_consumed_secrets gives them back).
core::JsonValue consuming_pod_spec(const std::vector<core::ConsumedKey>& keys, const std::vector<std::string>& optional,
                                   core::JsonDoc::AllocatorType& a) {
  core::JsonValue env(rapidjson::kArrayType), env_from(rapidjson::kArrayType);
  for (const auto& k : keys) {
    core::JsonValue ref(rapidjson::kObjectType);
    core::set_string(ref, "name", k.secret, a);
    if (std::binary_search(optional.begin(), optional.end(), k.secret))
      core::set_member(ref, "optional", core::JsonValue(true), a);
    if (k.key) {
      core::set_string(ref, "key", *k.key, a);
      core::JsonValue value_from(rapidjson::kObjectType), e(rapidjson::kObjectType);
      core::set_member(value_from, "secretKeyRef", std::move(ref), a);
      core::set_member(e, "valueFrom", std::move(value_from), a);
      env.PushBack(e, a);
    } else {
      core::JsonValue e(rapidjson::kObjectType);
      core::set_member(e, "secretRef", std::move(ref), a);
      env_from.PushBack(e, a);
    }
  }
  core::JsonValue container(rapidjson::kObjectType), containers(rapidjson::kArrayType), spec(rapidjson::kObjectType);
  core::set_member(container, "env", std::move(env), a);
  core::set_member(container, "envFrom", std::move(env_from), a);
  containers.PushBack(container, a);
  core::set_member(spec, "containers", std::move(containers), a);
  return spec;
}

// What the workload informers keep of an opted-in workload: kind, name, namespace, the opt-in,
// rollout-baseline and rollout-hash annotations, and in place of its pod spec the smallest one that
// consumes the same Secret keys, optionally where it does (all a rollout decision reads: the hash is a
// function of the consumed keys, and an optional reference decides what a new Secret changes). Workloads
// that did not opt in, or consume no Secret at all, are not kept: no Secret change can roll them.
// bench/syncer-scale keeps 10,000 of these.
Object compact_workload(const core::JsonValue& o) {
  const core::JsonValue* pod_spec = opted_in_pod_spec(o);
  if (!pod_spec) return nullptr;
  std::vector<core::ConsumedKey> consumed = core::consumed_secret_keys(*pod_spec);
  if (consumed.empty()) return nullptr;
  core::JsonDoc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  core::set_string(d, "kind", core::string_or(o, "kind", ""), a);
  auto& m = core::ensure_object(d, "metadata", a);
  core::set_string(m, "name", meta(o, "name"), a);
  core::set_string(m, "namespace", meta(o, "namespace"), a);
  auto& ann = core::ensure_object(m, "annotations", a);
  core::set_string(ann, core::kAutoReloadAnnotation, "true", a);
  const core::JsonValue* baseline = core::at_path(o, {"metadata", "annotations", core::kRolloutBaselineAnnotation});
  if (baseline && baseline->IsString()) core::set_string(ann, core::kRolloutBaselineAnnotation, baseline->GetString(), a);
  auto& tmpl = core::ensure_object(core::ensure_object(d, "spec", a), "template", a);
  auto& tmpl_ann = core::ensure_object(core::ensure_object(tmpl, "metadata", a), "annotations", a);
  const core::JsonValue* hash =
      core::at_path(o, {"spec", "template", "metadata", "annotations", core::kRolloutHashAnnotation});
  if (hash && hash->IsString()) core::set_string(tmpl_ann, core::kRolloutHashAnnotation, hash->GetString(), a);
  core::set_member(tmpl, "spec", consuming_pod_spec(consumed, core::optionally_consumed_secrets(*pod_spec), a), a);
  return core::copy_compact(d);
}

// What the InfisicalSecret informers keep: the object (the informer has dropped managedFields) without
// kubectl's last-applied-configuration annotation (a second copy of the whole spec on every resource
// applied with `kubectl apply`; never propagated to the managed Secret and never read). Edited in
// place: the informer hands the object over, and its codec turns it into deflated text at once.
Object compact_infisical_secret(kube::ObjectPtr o) {
  if (core::JsonValue* m = core::member(*o, "metadata"))
    if (core::JsonValue* ann = core::member(*m, "annotations")) core::remove_member(*ann, kLastAppliedAnnotation);
  return o;
}

std::string key_of(const core::JsonValue& o) { return meta(o, "namespace") + "/" + meta(o, "name"); }

// A work-queue key that is no object's ("namespace/name" always has a slash): the full workload check,
// queued after the digest key changed, so it runs on a worker (de-duplicated like any key) rather than
// on the watch's thread.
constexpr std::string_view kWorkloadCheckKey = "#workload-check";

// The raw bytes of one data key of the digest key Secret; nullopt when absent, not base64 or empty.
std::optional<std::string> digest_key_bytes(const core::JsonValue& secret, std::string_view data_key) {
  const core::JsonValue* v = core::at_path(secret, {"data", data_key});
  if (!v || !v->IsString()) return std::nullopt;
  auto bytes = core::base64_decode(v->GetString());
  if (!bytes || bytes->empty()) return std::nullopt;
  return std::move(*bytes);
}

void wait_ms(core::Clock& clock, int ms, const std::atomic<bool>& stop) {
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lock(mu);
  auto deadline = clock.now() + std::chrono::milliseconds(ms);
  while (!stop.load() && clock.now() < deadline)
    clock.wait_until(cv, lock, std::min<core::Clock::time_point>(deadline, clock.now() + std::chrono::milliseconds(50)));
}

// "host:port" of an API server URL, the rest_client_requests_total host label.
std::string url_host(const std::string& url) {
  size_t begin = url.find("://");
  begin = begin == std::string::npos ? 0 : begin + 3;
  return url.substr(begin, url.find('/', begin) - begin);
}

}  // namespace

std::string default_identity() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}_{}", host, getpid());
}

Controller::Controller(Config config, kube::Client& client, kube::Api& api, SecretSource& source,
                       Metrics& metrics, core::Clock& clock, std::shared_ptr<spdlog::logger> log)
    : config_(std::move(config)),
      client_(client),
      api_(api),
      source_(source),
      metrics_(metrics),
      clock_(clock),
      log_(std::move(log)),
      // Requeues are due on 100 ms steps: an idle syncer's 10,000 resyncs per interval wake the workers
      // a few hundred times instead of once each.
      queue_(kube::WorkQueueOptions{std::chrono::milliseconds(500), std::chrono::minutes(5),
                                    std::chrono::milliseconds(100),
                                    [this](kube::Clock::duration waited) {
                                      metrics_.observe(kMetricWorkqueueQueueDuration, {{"name", kControllerName}},
                                                       std::chrono::duration<double>(waited).count());
                                    }},
             clock) {
  if (config_.identity.empty()) config_.identity = default_identity();
  CacheLookups lookups;
  lookups.infisical_secret = [this](const std::string& ns, const std::string& name) {
    return lookup(cr_caches_, ns, name);
  };
  lookups.managed_secret = [this](const std::string& ns, const std::string& name) {
    return lookup(secret_caches_, ns, name);
  };
  lookups.workloads = [this](const kube::Resource& kind, const std::string& ns) {
    std::vector<Object> out;
    for (const kube::Informer* cache : workload_caches_of(kind)) {
      auto part = cache->store().list(ns);
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  };
  lookups.workload_consumers = [this](const kube::Resource& kind, const std::string& ns,
                                      const std::vector<std::string>& secrets) {
    std::vector<Object> out;
    const std::vector<std::string> names = consumers_.consumers(kind, ns, secrets);
    if (names.empty()) return out;
    for (const kube::Informer* cache : workload_caches_of(kind)) {
      for (const auto& name : names)
        if (Object w = cache->store().get(key_of(ns, name))) out.push_back(std::move(w));
    }
    return out;
  };
  lookups.infisical_secret_version = [this](const std::string& key) { return resource_version(cr_caches_, key); };
  lookups.managed_secret_version = [this](const std::string& key) { return resource_version(secret_caches_, key); };
  lookups.global_config_version = [this]() -> std::string {
    return config_cache_ ? config_cache_->store().resource_version(
                               fmt::format("{}/{}", config_.operator_namespace, core::kGlobalConfigMapName))
                         : "";
  };
  lookups.global_config = [this]() -> Object {
    return config_cache_ ? config_cache_->store().get(fmt::format("{}/{}", config_.operator_namespace,
                                                                  core::kGlobalConfigMapName))
                         : nullptr;
  };
  ReconcilerOptions ro;
  ro.operator_namespace = config_.operator_namespace;
  ro.identity = config_.identity;
  ro.infisical_requests_per_minute = config_.infisical_requests_per_minute;
  ro.trust = config_.trust;
  reconciler_ = std::make_unique<Reconciler>(api_, source, metrics_, clock_, std::move(lookups), ro, log_);
  reconciler_->set_requeue([this](const std::string& key) { queue_.add(key); });
  metrics_.add_collector([this] {
    metrics_.set(kMetricQueueDepth, {}, static_cast<double>(queue_.len()));
    size_t n = 0;
    for (const auto& c : secret_caches_) n += c->store().size();
    metrics_.set(kMetricManagedSecrets, {}, static_cast<double>(n));
    metrics_.set(kMetricIsLeader, {}, leading_.load() ? 1 : 0);
    const Labels controller{{"controller", kControllerName}};
    const Labels queue{{"name", kControllerName}};
    metrics_.set(kMetricWorkqueueDepth, queue, static_cast<double>(queue_.len()));
    metrics_.set_counter(kMetricWorkqueueAdds, queue, static_cast<double>(queue_.adds()));
    metrics_.set(kMetricCrMaxConcurrent, controller, config_.workers);
    metrics_.set(kMetricCrActiveWorkers, controller, active_workers_.load());
    if (config_.leader_elect)
      metrics_.set(kMetricLeaderStatus, {{"name", config_.leader_election_id}}, leading_.load() ? 1 : 0);
    const std::string host = url_host(client_.server());
    for (const auto& r : client_.request_counts())
      metrics_.set_counter(kMetricRestClientRequests,
                           {{"code", r.code == 0 ? "<error>" : std::to_string(r.code)}, {"host", host}, {"method", r.method}},
                           static_cast<double>(r.count));
  });
}

Controller::~Controller() {
  queue_.shut_down();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  stop_caches();
}

std::vector<kube::Informer*> Controller::all_caches() const {
  std::vector<kube::Informer*> all;
  for (const auto* group : {&cr_caches_, &secret_caches_, &workload_caches_})
    for (const auto& c : *group) all.push_back(c.get());
  if (config_cache_) all.push_back(config_cache_.get());
  if (key_cache_) all.push_back(key_cache_.get());
  return all;
}

void Controller::stop_caches() {
  for (kube::Informer* c : all_caches()) c->stop();
}

Object Controller::lookup(const std::vector<std::unique_ptr<kube::Informer>>& caches, const std::string& ns,
                          const std::string& name) const {
  const std::string key = ns.empty() ? name : ns + "/" + name;
  for (const auto& c : caches)
    if (Object o = c->store().get(key)) return o;
  return nullptr;
}

std::string Controller::resource_version(const std::vector<std::unique_ptr<kube::Informer>>& caches,
                                         const std::string& key) const {
  for (const auto& c : caches)
    if (std::string v = c->store().resource_version(key); !v.empty()) return v;
  return "";
}

bool Controller::ensure_digest_key(const std::atomic<bool>& stop) {
  const std::string ns = config_.operator_namespace;
  const std::string name(core::kDigestKeySecretName);
  for (int attempt = 0; !stop.load(); ++attempt) {
    try {
      Object s;
      try {
        s = api_.get(kube::kSecrets, ns, name);
      } catch (const kube::ApiError& e) {
        if (!e.is_not_found()) throw;
      }
      if (!s) {
        unsigned char raw[32];
        RAND_bytes(raw, sizeof raw);
        core::JsonDoc doc(rapidjson::kObjectType);
        auto& a = doc.GetAllocator();
        core::set_string(doc, "apiVersion", "v1", a);
        core::set_string(doc, "kind", "Secret", a);
        auto& m = core::ensure_object(doc, "metadata", a);
        core::set_string(m, "name", name, a);
        core::set_string(m, "namespace", ns, a);
        core::set_string(doc, "type", "Opaque", a);
        auto& d = core::ensure_object(doc, "data", a);
        core::set_string(d, core::kDigestKeyDataKey,
                         core::base64_encode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw)), a);
        try {
          s = api_.create(kube::kSecrets, ns, doc, write_options());
          log_->info("digest key created secret={}/{}", ns, name);
        } catch (const kube::ApiError& e) {
          if (!e.is_already_exists()) throw;
          continue;  // another replica (or the webhook) made it first: read theirs
        }
      }
      if (!digest_key_bytes(*s, core::kDigestKeyDataKey)) {
        log_->error("digest key Secret {}/{} has no usable data key \"{}\"", ns, name, core::kDigestKeyDataKey);
        failed_ = true;
        return false;
      }
      apply_digest_keys(*s, true);
      return true;
    } catch (const std::exception& e) {
      log_->warn("reading the digest key failed secret={}/{} error=\"{}\"", ns, name, e.what());
      wait_ms(clock_, std::min(30000, 500 << std::min(attempt, 6)), stop);
    }
  }
  return false;
}

void Controller::apply_digest_keys(const core::JsonValue& secret, bool at_start) {
  const std::string where = fmt::format("{}/{}", config_.operator_namespace, core::kDigestKeySecretName);
  auto current = digest_key_bytes(secret, core::kDigestKeyDataKey);
  if (!current) {
    // Keep signing with the keys in memory: a broken edit must not make every digest change.
    log_->warn("digest key Secret {} has no usable data key \"{}\"; keeping the keys in use", where,
               core::kDigestKeyDataKey);
    return;
  }
  core::DigestKeys keys{std::move(*current), digest_key_bytes(secret, core::kDigestKeyPreviousDataKey)};
  if (!keys.previous && core::at_path(secret, {"data", core::kDigestKeyPreviousDataKey}))
    log_->warn("digest key Secret {} has an unusable data key \"{}\" (not base64, or empty); ignored", where,
               core::kDigestKeyPreviousDataKey);
  if (keys.previous == keys.current) keys.previous.reset();  // nothing to recognise besides the current key
  {
    std::lock_guard lock(keys_mu_);
    if (keys_ == keys) return;
    keys_ = keys;
  }
  // Names and states only: the key bytes never reach a log.
  const bool rotating = keys.previous.has_value();
  reconciler_->set_digest_key(std::move(keys.current), std::move(keys.previous));
  if (at_start) {
    if (rotating)
      log_->info("digest key rotation in progress secret={} data_keys={},{}", where, core::kDigestKeyDataKey,
                 core::kDigestKeyPreviousDataKey);
    return;
  }
  log_->info("digest key changed secret={} rotation={}", where, rotating ? "in_progress" : "none");
  for (const auto& k : reconciler_->known_keys()) queue_.add(k);
  queue_.add(std::string(kWorkloadCheckKey));
}

void Controller::check_workloads(std::string_view when) {
  try {
    RolloutCounts checked = reconciler_->check_all_workloads(config_.namespaces);
    log_->info("{} workload check done rolled={} baselined={} previous_key={}", when, checked.rolled,
               checked.baselined, checked.previous_key);
  } catch (const std::exception& e) {
    log_->warn("{} workload check failed error=\"{}\"", when, e.what());
  }
}

std::unique_ptr<kube::Informer> Controller::make_informer(const kube::Resource& resource, const std::string& ns,
                                                          std::string label_selector, std::string field_selector) {
  kube::InformerOptions o;
  o.namespace_ = ns;
  o.label_selector = std::move(label_selector);
  o.field_selector = std::move(field_selector);
  // Retries after an API server outage start at 250 ms (then 0.5, 1, 2 ... 30 s, each plus up to 100%
  // jitter) rather than client-go's 800 ms: until its watches resume, the syncer writes from a stale
  // cache and meets conflicts, so it should notice a restarted API server within seconds.
  o.backoff_initial = std::chrono::milliseconds(250);
  o.clock = &clock_;
  o.logger = log_;
  return std::make_unique<kube::Informer>(client_, resource, std::move(o));
}

// Every cache keeps its objects deflated (kube::DeflateCodec): InfisicalSecrets, managed Secrets and the
// global ConfigMap are read one at a time; workloads, although small once transformed, are 10,000
// parsed trees at scale, about 8 MiB of the syncer's peak at bench/syncer-scale's 10,000, while a
// rollout inflates only the workloads of one namespace.
std::vector<const kube::Informer*> Controller::workload_caches_of(const kube::Resource& kind) const {
  std::vector<const kube::Informer*> out;
  for (const auto& cache : workload_caches_)
    if (cache->resource().resource == kind.resource && cache->resource().group == kind.group) out.push_back(cache.get());
  return out;
}

void Controller::start_caches() {
  std::vector<std::string> namespaces = config_.namespaces.empty() ? std::vector<std::string>{""} : config_.namespaces;
  std::string managed_selector = fmt::format("{}={}", core::kManagedByLabel, core::kManagedByValue);
  for (const auto& ns : namespaces) {
    auto crs = make_informer(kube::kInfisicalSecrets, ns);
    crs->set_transform(compact_infisical_secret);
    crs->set_codec(std::make_unique<kube::DeflateCodec>());
    auto requeue = [this](const Object& o) { queue_.add(key_of(*o)); };
    crs->add_handlers({requeue,
                       [this](const Object& old_obj, const Object& new_obj) {
                         // Our own status writes do not bring the resource back; spec and metadata changes do.
                         if (generation(*old_obj) != generation(*new_obj) ||
                             !same_member(*old_obj, *new_obj, "labels") ||
                             !same_member(*old_obj, *new_obj, "annotations") ||
                             !same_member(*old_obj, *new_obj, "deletionTimestamp"))
                           queue_.add(key_of(*new_obj));
                       },
                       requeue});
    cr_caches_.push_back(std::move(crs));
    auto secrets = make_informer(kube::kSecrets, ns, managed_selector);
    secrets->set_codec(std::make_unique<kube::DeflateCodec>());
    auto requeue_owners = [this](const Object& o) {
      for (const auto& k : reconciler_->owners_of_secret(meta(*o, "namespace"), meta(*o, "name"))) queue_.add(k);
    };
    // The echo of our own write brings nobody back; any other change (someone edits or deletes the
    // Secret) has another resourceVersion and requeues its owners, which repair it.
    auto requeue_unless_own = [this, requeue_owners](const Object& o) {
      if (!reconciler_->absorbs_secret_event(meta(*o, "namespace"), meta(*o, "name"),
                                             meta(*o, "resourceVersion")))
        requeue_owners(o);
    };
    secrets->add_handlers(
        {requeue_unless_own, [requeue_unless_own](const Object&, const Object& n) { requeue_unless_own(n); },
         requeue_owners});
    secret_caches_.push_back(std::move(secrets));
    for (const kube::Resource* kind : {&kube::kDeployments, &kube::kStatefulSets, &kube::kDaemonSets}) {
      auto w = make_informer(*kind, ns);
      w->set_transform([](kube::ObjectPtr o) { return compact_workload(*o); });
      w->set_codec(std::make_unique<kube::DeflateCodec>());
      // The handlers see what the cache keeps (opted-in consumers only) and keep the consumer index.
      w->add_handlers({[this, kind](const Object& o) { consumers_.update(*kind, nullptr, o); },
                       [this, kind](const Object& o, const Object& n) { consumers_.update(*kind, o, n); },
                       [this, kind](const Object& o) { consumers_.update(*kind, o, nullptr); }});
      workload_caches_.push_back(std::move(w));
    }
  }
  config_cache_ = make_informer(kube::kConfigMaps, config_.operator_namespace, "",
                                fmt::format("metadata.name={}", core::kGlobalConfigMapName));
  config_cache_->set_codec(std::make_unique<kube::DeflateCodec>());
  auto requeue_all = [this] {
    for (const auto& k : reconciler_->known_keys()) queue_.add(k);
  };
  config_cache_->add_handlers({[requeue_all](const Object&) { requeue_all(); },
                               [requeue_all](const Object&, const Object&) { requeue_all(); },
                               [requeue_all](const Object&) { requeue_all(); }});
  key_cache_ = make_informer(kube::kSecrets, config_.operator_namespace, "",
                             fmt::format("metadata.name={}", core::kDigestKeySecretName));
  auto reload = [this](const Object& o) { apply_digest_keys(*o, false); };
  key_cache_->add_handlers({reload, [reload](const Object&, const Object& n) { reload(n); },
                            [this](const Object&) {
                              log_->warn("digest key Secret {}/{} deleted; the keys in use are kept until a "
                                         "restart, which creates a new key (every opted-in workload then rolls)",
                                         config_.operator_namespace, core::kDigestKeySecretName);
                            }});
  for (kube::Informer* c : all_caches()) c->start();
}

bool Controller::wait_synced(const std::atomic<bool>& stop) {
  const std::vector<kube::Informer*> caches = all_caches();
  while (!stop.load()) {
    if (std::all_of(caches.begin(), caches.end(), [](const kube::Informer* c) { return c->has_synced(); })) return true;
    wait_ms(clock_, 50, stop);
  }
  return false;
}

void Controller::worker() {
  while (auto key = queue_.get()) {
    if (*key == kWorkloadCheckKey) {
      check_workloads("digest key change:");
      queue_.forget(*key);
      queue_.done(*key);
      continue;
    }
    ++active_workers_;
    auto start = std::chrono::steady_clock::now();
    ReconcileOutcome out;
    try {
      out = reconciler_->reconcile(*key);
    } catch (const std::exception& e) {
      log_->warn("reconcile error object={} error=\"{}\"", *key, e.what());
      out = {ReconcileOutcome::Next::kBackoff, {}, "error"};
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    record_reconcile(*key, out, seconds);
    log_->debug("reconciled object={} result={} seconds={:.3f}", *key, out.result, seconds);
    switch (out.next) {
      case ReconcileOutcome::Next::kForget: queue_.forget(*key); break;
      case ReconcileOutcome::Next::kRequeueAfter:
        queue_.forget(*key);
        if (!queue_.shutting_down()) queue_.add_after(*key, out.after);
        break;
      case ReconcileOutcome::Next::kBackoff:
        if (!queue_.shutting_down()) queue_.add_rate_limited(*key, reconciler_->retry_cap(*key));
        break;
    }
    queue_.done(*key);
    --active_workers_;
  }
}

void Controller::record_reconcile(const std::string& key, const ReconcileOutcome& out, double seconds) {
  metrics_.inc(kMetricReconciles, {{"result", out.result}});
  metrics_.observe(kMetricReconcileDuration, {}, seconds);
  // controller-runtime's results: "error" when Reconcile returned one (here: a retry with backoff),
  // "requeue_after" when it asked to come back later (our resync), "success" otherwise.
  const Labels controller{{"controller", kControllerName}};
  const char* result = "success";
  if (out.next == ReconcileOutcome::Next::kBackoff) result = "error";
  else if (out.next == ReconcileOutcome::Next::kRequeueAfter) result = "requeue_after";
  metrics_.inc(kMetricCrReconcileTotal, {{"controller", kControllerName}, {"result", result}});
  metrics_.inc(kMetricCrReconcileErrors, controller, out.next == ReconcileOutcome::Next::kBackoff ? 1 : 0);
  metrics_.observe(kMetricCrReconcileTime, controller, seconds);
  metrics_.observe(kMetricWorkqueueWorkDuration, {{"name", kControllerName}}, seconds);
  if (out.next == ReconcileOutcome::Next::kBackoff) metrics_.inc(kMetricWorkqueueRetries, {{"name", kControllerName}});
  const size_t slash = key.find('/');
  if (slash == std::string::npos) return;
  const std::string ns = key.substr(0, slash);
  const std::string name = key.substr(slash + 1);
  if (out.result == "deleted")
    metrics_.remove_condition(kMetricStatusCondition, ns, name);
  else if (!out.ready.empty())
    metrics_.set_condition(kMetricStatusCondition, ns, name, out.ready == core::kStatusTrue);
}

// Without a warm-up, each worker of a first sync waits out its own resource's Infisical round trips
// (a login per identity, a project lookup and a fetch per scope) while resources whose scope is
// already in wait in the queue behind it: with 100 scopes and 8 workers about a second at 20 ms per
// request, six at 150 ms (docs/scaling.md). The warm-up threads walk the InfisicalSecrets backwards
// from the end of the cache's order, while the workers take the queue from its start (keys are queued
// in that order), so that the two ask for different scopes at once rather than the workers waiting on
// the warm-up's requests. Each resource's scope is fetched as its reconcile would, writing nothing
// (Reconciler::warm_scope). They stop at the end, or after kWarmUpHeldRun resources in a row whose
// scope was held already (the rest most likely are too; a worker asks for any that is not). They
// share the fetcher's budgets, so Infisical gets no more requests than without them, only sooner.
void Controller::start_warm_up(const std::atomic<bool>& stop) {
  constexpr int kWarmUpHeldRun = 64;
  struct Walk {
    std::vector<std::string> keys;
    std::atomic<size_t> next{0};
    std::atomic<int> held_run{0};
    std::atomic<int> running{0};
  };
  auto walk = std::make_shared<Walk>();
  for (const auto& cache : cr_caches_) {
    std::vector<std::string> keys = cache->store().keys();
    walk->keys.insert(walk->keys.end(), keys.begin(), keys.end());
  }
  if (walk->keys.empty()) return;
  const int threads = std::min<int>(config_.workers, static_cast<int>(walk->keys.size()));
  walk->running = threads;
  for (int t = 0; t < threads; ++t)
    warm_up_.emplace_back([this, walk, &stop] {
      // The last one out closes the idle Infisical connections: twice as many as the workers need were
      // open at once (0.6 MiB of peak RSS at 10,000 resources), and the next refresh is an interval away.
      struct Leave {
        Controller& c;
        Walk& w;
        ~Leave() {
          if (--w.running == 0) c.source_.close_idle_connections();
        }
      } leave{*this, *walk};
      while (!stop.load() && !queue_.shutting_down() && walk->held_run.load() < kWarmUpHeldRun) {
        const size_t n = walk->next++;
        if (n >= walk->keys.size()) return;
        const size_t i = walk->keys.size() - 1 - n;
        bool asked = false;
        try {
          asked = reconciler_->warm_scope(walk->keys[i]);
        } catch (const std::exception& e) {
          log_->debug("warm-up skipped object={} error=\"{}\"", walk->keys[i], e.what());
        }
        if (asked)
          walk->held_run = 0;
        else
          ++walk->held_run;
      }
    });
}

int Controller::run(const std::atomic<bool>& stop) {
  std::unique_ptr<LeaderElector> elector;
  if (config_.leader_elect) {
    kube::LeaderElectionConfig lo;
    lo.namespace_ = config_.leader_election_namespace;
    lo.name = config_.leader_election_id;
    lo.identity = config_.identity;
    lo.lease_duration = config_.lease_duration;
    lo.renew_deadline = config_.renew_deadline;
    lo.retry_period = config_.retry_period;
    elector = std::make_unique<LeaderElector>(api_, clock_, lo, log_);
    if (!elector->acquire(stop)) return 0;
  }
  leading_ = true;
  if (!ensure_digest_key(stop)) {
    if (elector) elector->release();
    return stop.load() ? 0 : 1;
  }
  start_caches();
  if (!wait_synced(stop)) {
    if (elector) elector->release();
    return 0;
  }
  log_->info("caches synced namespaces={} identity={}",
             config_.namespaces.empty() ? std::string("*") : fmt::format("{}", fmt::join(config_.namespaces, ",")),
             config_.identity);
  start_warm_up(stop);
  check_workloads("start-up");
  ready_ = true;
  for (int i = 0; i < config_.workers; ++i) workers_.emplace_back([this] { worker(); });

  bool lost = false;
  if (elector) {
    lost = !elector->hold(stop);
  } else {
    while (!stop.load()) wait_ms(clock_, 200, stop);
  }
  log_->info("shutting down: finishing in-flight reconciles");
  ready_ = false;
  queue_.shut_down_with_drain();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
  workers_.clear();
  for (auto& w : warm_up_)
    if (w.joinable()) w.join();
  warm_up_.clear();
  stop_caches();
  if (elector && !lost) elector->release();
  leading_ = false;
  return lost ? 1 : 0;
}

}  // namespace ifo::syncer
