// The reconcile of one InfisicalSecret: the steps in order.
#include "syncer/reconciler.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "core/constants.h"
#include "core/validation.h"
#include "infisical/secrets.h"
#include "kube/errors.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

namespace {

using core::JsonValue;

// "namespace/name" -> (namespace, name).
std::pair<std::string, std::string> split_key(const std::string& key) {
  auto slash = key.find('/');
  return {key.substr(0, slash), slash == std::string::npos ? key : key.substr(slash + 1)};
}

core::SyncReport failed(core::SyncFailure failure) {
  core::SyncReport report;
  report.failure = std::move(failure);
  return report;
}

}  // namespace

Reconciler::Reconciler(kube::Api& kube, SecretSource& source, Metrics& metrics, core::Clock& clock, CacheLookups caches,
                       ReconcilerOptions options, std::shared_ptr<spdlog::logger> log)
    : kube_(kube),
      metrics_(metrics),
      clock_(clock),
      caches_(std::move(caches)),
      options_(std::move(options)),
      log_(std::move(log)),
      trust_inputs_(kube, clock),
      events_(kube, clock, options_.identity, log_),
      requests_(kube, clock, options_.operator_namespace),
      fetcher_(source, clock, options_.infisical_requests_per_minute, log_),
      writer_(kube, metrics, index_, caches_.managed_secret,
              [this](const std::string& ns, const std::string& name, const std::string& uid) {
                return owner_alive(ns, name, uid);
              },
              log_),
      rollouts_(kube, metrics, events_, caches_.workloads, caches_.workload_consumers, caches_.managed_secret, log_),
      rng_(options_.jitter_seed ? options_.jitter_seed : std::random_device{}()) {}

void Reconciler::set_digest_key(std::string key, std::optional<std::string> previous) {
  core::DigestKeys keys{std::move(key), std::move(previous)};
  rollouts_.set_digest_keys(keys);
  std::lock_guard lock(mu_);
  digest_keys_ = std::move(keys);
  ++digest_keys_version_;
}

core::DigestKeys Reconciler::digest_keys() const {
  std::lock_guard lock(mu_);
  return digest_keys_;
}

Object Reconciler::global_config() const { return caches_.global_config ? caches_.global_config() : nullptr; }

std::chrono::milliseconds Reconciler::random_part(std::chrono::seconds interval, double lo, double hi) {
  std::lock_guard lock(mu_);
  std::uniform_real_distribution<double> d(lo, hi);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(interval.count()) * 1000.0 * d(rng_)));
}

std::chrono::milliseconds Reconciler::retry_cap(const std::string& key) const {
  const auto [ns, name] = split_key(key);
  Object cr = caches_.infisical_secret ? caches_.infisical_secret(ns, name) : nullptr;
  int64_t seconds = core::kDefaultResyncIntervalSeconds;
  if (cr) seconds = core::parse_infisical_secret(*cr).resource.spec.resync_interval_seconds();
  seconds = std::clamp<int64_t>(seconds, core::kMinResyncIntervalSeconds, core::kMaxResyncIntervalSeconds);
  return std::chrono::seconds(seconds);
}

std::vector<std::string> Reconciler::owners_of_secret(const std::string& ns, const std::string& name) const {
  return index_.owners_of(ns, name);
}

std::vector<std::string> Reconciler::known_keys() const { return index_.known_keys(); }

bool Reconciler::absorbs_secret_event(const std::string& ns, const std::string& name,
                                      const std::string& resource_version) {
  return index_.absorbs_event(ns, name, resource_version);
}

void Reconciler::set_requeue(std::function<void(const std::string& key)> requeue) {
  index_.set_requeue(std::move(requeue));
}

RolloutCounts Reconciler::check_all_workloads(const std::vector<std::string>& namespaces) {
  return rollouts_.check_all_workloads(namespaces);
}

void Reconciler::forget_scope_data() {
  fetcher_.forget();
  requests_.forget();
  trust_inputs_.forget();
  std::lock_guard lock(unchanged_mu_);
  unchanged_.clear();
}

bool Reconciler::Unchanged::version_matches(const std::string& cached) const {
  if (cached.empty()) return false;
  const std::string_view all(versions);
  const size_t space = all.find(' ');
  return all.substr(0, space) == cached ||
         (space != std::string_view::npos && all.substr(space + 1) == cached);
}

std::optional<ReconcileOutcome> Reconciler::unchanged_resync(const std::string& key) {
  if (!caches_.infisical_secret_version || !caches_.managed_secret_version) return std::nullopt;
  std::shared_ptr<const UnchangedContext> context;
  uint64_t data_version = 0;
  {
    std::lock_guard lock(unchanged_mu_);
    auto it = unchanged_.find(key);
    if (it == unchanged_.end()) return std::nullopt;
    const Unchanged& u = it->second;
    const std::string cached = caches_.infisical_secret_version(key);
    if (!u.version_matches(cached)) return std::nullopt;
    for (const auto& [secret, version] : u.secrets)
      if (caches_.managed_secret_version(secret) != version) return std::nullopt;
    context = u.context;
    data_version = u.data_version;
  }
  if ((caches_.global_config_version ? caches_.global_config_version() : "") != context->config_version)
    return std::nullopt;
  {
    std::lock_guard lock(mu_);
    if (digest_keys_version_ != context->digest_keys_version) return std::nullopt;
  }
  // What the full reconcile reads through short-lived caches is read again when they expire, as it
  // would be; a difference anywhere means reconciling.
  requests_.refresh(context->secrets_read);
  trust_inputs_.refresh(context->trust_reads);
  if (requests_.generation() != context->requests_generation ||
      trust_inputs_.generation() != context->trust_generation)
    return std::nullopt;
  const std::optional<ScopeFetcher::Fresh> fresh = fetcher_.fresh(context->scope_key, context->resync);
  if (!fresh || fresh->version != data_version) return std::nullopt;
  return ReconcileOutcome{ReconcileOutcome::Next::kRequeueAfter,
                          next_sync(fresh->fetched_at, context->resync), "unchanged"};
}

void Reconciler::remember_unchanged(const std::string& key, const std::string& version_before,
                                    const std::string& cr_version, const core::InfisicalSecret& model,
                                    UnchangedContext context, const FreshSecrets& fresh,
                                    uint64_t data_version) {
  if (cr_version.empty() || !model.spec.config_map_targets().empty()) return;
  Unchanged u;
  for (const auto& t : model.spec.targets()) {
    if (t.template_) return;
    auto ns = fresh.find(t.secret_namespace);
    if (ns == fresh.end()) return;
    auto secret = ns->second.find(t.secret_name);
    if (secret == ns->second.end() || !secret->second) return;
    std::string version = meta_string(*secret->second, "resourceVersion");
    if (version.empty()) return;
    u.secrets.emplace_back(t.secret_namespace + "/" + t.secret_name, std::move(version));
  }
  u.versions = cr_version;
  // Versions hold no spaces (etcd's are decimal numbers; any API server's fit in a URL query).
  if (!version_before.empty() && version_before != cr_version &&
      version_before.find(' ') == std::string::npos && cr_version.find(' ') == std::string::npos)
    u.versions += ' ' + version_before;
  u.data_version = data_version;
  std::string context_key =
      fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}", context.scope_key, context.resync.count(),
                  fmt::join(context.secrets_read, ","), fmt::join(context.trust_reads.grant_namespaces, ","),
                  context.trust_reads.service_account, context.config_version, context.digest_keys_version,
                  context.requests_generation, context.trust_generation);
  std::lock_guard lock(unchanged_mu_);
  std::weak_ptr<const UnchangedContext>& shared = contexts_[context_key];
  u.context = shared.lock();
  if (!u.context) {
    u.context = std::make_shared<const UnchangedContext>(std::move(context));
    shared = u.context;
  }
  unchanged_[key] = std::move(u);
  // Contexts no record holds any more (a generation moved, a scope went): dropped now and then.
  if (contexts_.size() > 2 * (unchanged_.size() / 8 + 16))
    std::erase_if(contexts_, [](const auto& entry) { return entry.second.expired(); });
}

std::chrono::milliseconds Reconciler::next_sync(core::Clock::time_point fetched_at,
                                                std::chrono::seconds resync) {
  // The next sync is due when the scope's data turns one interval old, plus a spread of up to 10% so
  // the resources of a scope do not come back at once. The first one back refreshes the scope and
  // the others share that answer, so each scope costs one request per interval however many
  // resources read it (requeueing each resource one interval after its own reconcile would let
  // their phases drift apart and refresh a busy scope every 80% of an interval).
  auto due = fetched_at + std::chrono::duration_cast<core::Clock::duration>(resync) - clock_.now();
  return std::max<std::chrono::milliseconds>(std::chrono::duration_cast<std::chrono::milliseconds>(due),
                                             std::chrono::seconds(1)) +
         random_part(resync, 0.0, 0.1);
}

ReconcileOutcome Reconciler::reconcile(const std::string& key) {
  if (std::optional<ReconcileOutcome> unchanged = unchanged_resync(key)) return *unchanged;
  {
    std::lock_guard lock(unchanged_mu_);
    unchanged_.erase(key);
  }
  // What every resource depends on, as of before anything is read: a change from now on shows as a
  // difference at the next reconcile.
  UnchangedContext context;
  if (caches_.global_config_version) context.config_version = caches_.global_config_version();
  context.requests_generation = requests_.generation();
  context.trust_generation = trust_inputs_.generation();
  {
    std::lock_guard lock(mu_);
    context.digest_keys_version = digest_keys_version_;
  }
  const auto [ns, name] = split_key(key);
  Object cr = caches_.infisical_secret ? caches_.infisical_secret(ns, name) : nullptr;
  if (!cr) {
    index_.forget(key);
    rollouts_.forget(key);
    std::lock_guard lock(mu_);
    checked_specs_.erase(key);
    return {ReconcileOutcome::Next::kForget, {}, "deleted"};
  }
  drop_upstream_finalizer(*cr, ns, name);
  if (!meta_string(*cr, "deletionTimestamp").empty()) return {ReconcileOutcome::Next::kForget, {}, "deleted"};

  core::ParsedInfisicalSecret parsed = core::parse_infisical_secret(*cr);
  const core::InfisicalSecret& model = parsed.resource;
  std::shared_ptr<const CheckedSpec> checked = checked_spec(key, *cr, model);
  if (!checked->ok) return finish(cr, model, failed({core::kReasonInvalidSpec, checked->message}));

  // Remember which Secrets this resource writes, so watch events on them come back here.
  const std::vector<std::string> managed = core::managed_secret_keys(model.spec);
  index_.set_targets(key, managed);

  // The trust boundary, before anything it governs is read (credentials, CA), minted (a token), sent
  // (to Infisical) or written (the managed Secrets).
  if (auto refused = check_trust(model, &context.trust_reads))
    return finish(cr, model, failed(std::move(*refused)));

  auto built = requests_.build(model, global_config());
  if (auto* f = std::get_if<core::SyncFailure>(&built)) return finish(cr, model, failed(std::move(*f)));
  const BuiltRequest& request = std::get<BuiltRequest>(built);

  const std::chrono::seconds resync(model.spec.resync_interval_seconds());
  ScopeResult fetched = fetcher_.fetch(request.request, request.scope_key, resync);
  if (auto* throttled = std::get_if<ScopeThrottled>(&fetched)) {
    // The budget is spent: nothing was asked, the status stays as it is.
    metrics_.inc(kMetricThrottled);
    return {ReconcileOutcome::Next::kRequeueAfter, throttled->wait, "throttled"};
  }
  if (auto* f = std::get_if<ScopeFailed>(&fetched)) return fetch_failed(cr, model, *f);
  const ScopeData& scope = std::get<ScopeData>(fetched);
  core::SyncReport report;
  report.token_strategy = std::string(auth_strategy_name(request.request.method));

  // Every target's data before any write: a template that fails to render leaves all of this
  // resource's Secrets and ConfigMaps exactly as they are. (Upstream writes the targets before the
  // failing one and skips the rest; we are stricter, so a resource never ends half-synced.)
  std::vector<PlannedWrite> plan;
  report.failure =
      plan_writes(*checked, model, scope.values, request.request.secrets_path, wall_seconds(clock_), plan);
  if (report.failure) return finish(cr, model, report);

  TargetWrites writes = write_targets(model, plan, scope.values);
  if (writes.conflict) return {ReconcileOutcome::Next::kBackoff, {}, "conflict"};
  report.failure = std::move(writes.failure);
  if (report.failure) return finish(cr, model, report);

  Rollouts::AfterSync rolled = rollouts_.after_sync(key, cr, managed, std::move(writes.written), writes.fresh);
  if (rolled.data_changed) report.rolled = rolled.rolled;
  report.synced_keys = static_cast<int>(scope.values.size());
  report.key_digests = std::move(writes.key_digests);
  report.synced_now = writes.any_written;
  report.next_sync = next_sync(scope.fetched_at, resync);
  const std::string version_before = meta_string(*cr, "resourceVersion");
  std::string cr_version = version_before;
  ReconcileOutcome out = finish(cr, model, report, &cr_version);
  if (out.result == "synced" || out.result == "unchanged") {
    context.scope_key = request.scope_key;
    context.resync = resync;
    context.secrets_read = request.secrets_read;
    remember_unchanged(key, version_before, cr_version, model, std::move(context), writes.fresh,
                       scope.version);
  }
  return out;
}

bool Reconciler::warm_scope(const std::string& key) {
  const auto [ns, name] = split_key(key);
  Object cr = caches_.infisical_secret ? caches_.infisical_secret(ns, name) : nullptr;
  if (!cr || !meta_string(*cr, "deletionTimestamp").empty()) return false;
  core::ParsedInfisicalSecret parsed = core::parse_infisical_secret(*cr);
  const core::InfisicalSecret& model = parsed.resource;
  if (!checked_spec(key, *cr, model)->ok) return false;
  // The trust boundary as the reconcile checks it, a refusal not counted: the reconcile counts it.
  if (check_trust(model, nullptr, /*count_refusals=*/false)) return false;
  auto built = requests_.build(model, global_config());
  const auto* request = std::get_if<BuiltRequest>(&built);
  if (request == nullptr) return false;
  const std::chrono::seconds resync(model.spec.resync_interval_seconds());
  if (fetcher_.fresh(request->scope_key, resync)) return false;
  fetcher_.fetch(request->request, request->scope_key, resync);
  return true;
}

void Reconciler::drop_upstream_finalizer(const JsonValue& cr, const std::string& ns, const std::string& name) {
  const JsonValue* finalizers = core::at_path(cr, {"metadata", "finalizers"});
  if (finalizers == nullptr || !finalizers->IsArray()) return;
  std::string kept;
  bool found = false;
  for (const auto& f : finalizers->GetArray()) {
    if (!f.IsString()) continue;
    std::string_view v(f.GetString(), f.GetStringLength());
    if (v == core::kUpstreamFinalizer) {
      found = true;
      continue;
    }
    if (!kept.empty()) kept += ',';
    core::append_json_string(kept, v);
  }
  if (!found) return;
  // The resourceVersion makes the patch conditional: a finalizer added meanwhile is never lost (a
  // 409 brings the resource back with backoff).
  std::string patch = R"({"metadata":{"finalizers":[)" + kept + R"(],"resourceVersion":)";
  core::append_json_string(patch, meta_string(cr, "resourceVersion"));
  patch += "}}";
  try {
    kube_.patch(kube::kInfisicalSecrets, ns, name, kube::PatchType::kMerge, patch, write_options());
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) return;
    throw;
  }
  log_->info("upstream finalizer removed object={}/{} finalizer={}", ns, name, core::kUpstreamFinalizer);
}

std::shared_ptr<const Reconciler::CheckedSpec> Reconciler::checked_spec(const std::string& key, const JsonValue& cr,
                                                                        const core::InfisicalSecret& model) {
  const int64_t generation = model.metadata.generation;
  {
    std::lock_guard lock(mu_);
    auto it = checked_specs_.find(key);
    if (it != checked_specs_.end() && generation > 0 && it->second->uid == model.metadata.uid &&
        it->second->generation == generation)
      return it->second;
  }
  auto checked = std::make_shared<CheckedSpec>();
  checked->uid = model.metadata.uid;
  checked->generation = generation;
  auto report = core::check_infisical_secret(cr);
  checked->ok = report.ok();
  if (!checked->ok) checked->message = "invalid spec: " + report.message();
  auto compile = [&](const auto& targets, std::vector<std::optional<core::CompiledTemplate>>& slots) {
    for (const auto& t : targets) {
      auto& slot = slots.emplace_back();
      if (!checked->ok || !t.template_) continue;
      // Validation has just parsed the same text, so this cannot fail; if it ever did, it is the spec's fault.
      auto compiled = core::compile_template(*t.template_, t.path);
      if (!compiled) {
        checked->ok = false;
        checked->message = "invalid spec: " + compiled.error();
        continue;
      }
      slot = std::move(*compiled);
    }
  };
  compile(model.spec.targets(), checked->templates);
  compile(model.spec.config_map_targets(), checked->config_map_templates);
  std::lock_guard lock(mu_);
  if (generation > 0) checked_specs_[key] = checked;
  return checked;
}

std::optional<core::SyncFailure> Reconciler::check_trust(const core::InfisicalSecret& model,
                                                         TrustReads* reads, bool count_refusals) {
  core::TrustInputs inputs =
      trust_inputs_.gather(model, options_.trust, global_host_api_of(global_config()), reads);
  std::vector<core::TrustRefusal> refusals = core::check_trust(model, options_.trust, inputs);
  if (refusals.empty()) return std::nullopt;
  std::set<std::string> reasons;
  for (const auto& r : refusals) reasons.insert(r.reason);
  if (count_refusals)
    for (const auto& r : reasons) metrics_.inc(kMetricTrustRefusals, {{"reason", r}});
  core::SyncFailure f(refusals.front().reason, describe_refusals(refusals));
  f.refused = true;
  return f;
}

bool Reconciler::owner_alive(const std::string& ns, const std::string& name, const std::string& uid) {
  Object owner;
  if (caches_.infisical_secret) {
    owner = caches_.infisical_secret(ns, name);
  } else {
    try {
      owner = kube_.get(kube::kInfisicalSecrets, ns, name);
    } catch (const kube::ApiError& e) {
      if (!e.is_not_found()) throw;
    }
  }
  return owner && meta_string(*owner, "uid") == uid;
}

std::optional<core::SyncFailure> Reconciler::plan_writes(const CheckedSpec& checked, const core::InfisicalSecret& model,
                                                         const std::map<std::string, std::string>& values,
                                                         const std::string& secrets_path, std::chrono::sys_seconds now,
                                                         std::vector<PlannedWrite>& plan) {
  std::optional<core::TemplateData> secrets;  // built once, and only when a target has a template
  auto add = [&](const ManagedKind& kind, const auto& targets,
                 const std::vector<std::optional<core::CompiledTemplate>>& templates)
      -> std::optional<core::SyncFailure> {
    for (size_t i = 0; i < targets.size(); ++i) {
      PlannedWrite& w = plan.emplace_back(PlannedWrite{&kind, managed_target(targets[i]), std::nullopt});
      if (i >= templates.size() || !templates[i]) continue;
      // Every key gets the scope's folder: the fetch keeps one value per key, not its folder, so in a
      // recursive scope `.KEY.SecretPath` is the scope's path rather than the sub-folder's.
      if (!secrets) secrets = core::template_data(values, infisical::normalize_secret_path(secrets_path));
      auto data = core::render_secret_data(*secrets, &*templates[i], now.time_since_epoch().count());
      if (!data) return core::SyncFailure(core::kReasonTemplateFailed, data.error());
      w.rendered = std::move(*data);
    }
    return std::nullopt;
  };
  if (auto f = add(kManagedSecret, model.spec.targets(), checked.templates)) return f;
  if (auto f = add(kManagedConfigMap, model.spec.config_map_targets(), checked.config_map_templates)) return f;
  // The API server's own limits, checked before anything is written, so the reason names the keys
  // (a 422 halfway through would leave the resource half-synced and say less).
  for (const PlannedWrite& w : plan) {
    auto ok = core::check_storable_data(w.rendered ? *w.rendered : values,
                                        fmt::format("{} {}/{}", w.kind->resource.kind, w.target.ns, w.target.name));
    if (!ok) return core::SyncFailure(core::kReasonDataNotStorable, ok.error());
  }
  return std::nullopt;
}

Reconciler::TargetWrites Reconciler::write_targets(const core::InfisicalSecret& model,
                                                   const std::vector<PlannedWrite>& plan,
                                                   const std::map<std::string, std::string>& values) {
  TargetWrites out;
  const core::DigestKeys keys = digest_keys();
  for (const PlannedWrite& p : plan) {
    const std::map<std::string, std::string>& data = p.rendered ? *p.rendered : values;
    ManagedWrite w;
    try {
      w = writer_.write(*p.kind, model, p.target, data, keys.current);
    } catch (const kube::ApiError& e) {
      out.conflict = e.is_conflict();
      if (!out.conflict)
        out.failure = core::SyncFailure(core::kReasonWriteFailed,
                                        fmt::format("writing the managed {}: {}", p.kind->resource.kind, e.what()),
                                        e.retry_after());
      return out;
    }
    if (w.conflict) {
      out.failure = core::SyncFailure(core::kReasonSecretConflict, std::move(*w.conflict));
      return out;
    }
    out.any_written = out.any_written || w.written;
    // Only Secrets take part in rollouts (upstream's auto-reload follows Secrets, not ConfigMaps).
    if (!p.kind->key_digests) continue;
    if (w.digests) {
      core::ManagedKeyDigests& published = out.key_digests.emplace_back(core::ManagedKeyDigests{
          std::string(core::kManagedKindSecret), p.target.ns, p.target.name, *w.digests, std::nullopt});
      // During a rotation the webhook and admins can also see which stamps are the previous key's.
      if (keys.previous)
        published.previous_key_digests = core::key_digests(*keys.previous, p.target.ns, p.target.name, data);
    }
    if (w.object) out.fresh[p.target.ns][p.target.name] = w.object;
    if (w.written) out.written[p.target.ns][p.target.name] = {w.data_changed, w.previous};
  }
  return out;
}

ReconcileOutcome Reconciler::fetch_failed(const Object& cr, const core::InfisicalSecret& model,
                                          const ScopeFailed& failed_fetch) {
  if (failed_fetch.failure.reason == core::kReasonHostNotAllowed)
    metrics_.inc(kMetricTrustRefusals, {{"reason", failed_fetch.failure.reason}});
  ReconcileOutcome out = finish(cr, model, failed(failed_fetch.failure));
  // Come back exactly when the scope may be asked again (every resource reading it does the same,
  // and the first one asks for all).
  if (out.result == "error") {
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(failed_fetch.retry_at - clock_.now());
    out = {ReconcileOutcome::Next::kRequeueAfter,
           std::max(wait, std::chrono::milliseconds(0)) + std::chrono::milliseconds(5), "error"};
  }
  return out;
}

ReconcileOutcome Reconciler::finish(const Object& cr, const core::InfisicalSecret& model,
                                    const core::SyncReport& report, std::string* cr_version) {
  const core::StatusDecision status = core::decide_status(model, report, wall_seconds(clock_));
  if (status.event) events_.record(cr, *status.event);
  if (report.failure) {
    // A warning once per change of reason, like the Event; while the same failure repeats (every
    // retry of an unreachable host, for instance) it is a debug line, so 1,000 failing resources do
    // not flood the log with thousands of identical warnings.
    const core::Condition* before = core::find_condition(model.status.conditions, core::kConditionReady);
    const bool repeated = before && before->status == core::kStatusFalse && before->reason == report.failure->reason;
    log_->log(repeated ? spdlog::level::debug : spdlog::level::warn, "reconcile failed object={}/{} reason={} error=\"{}\"",
              model.metadata.namespace_, model.metadata.name, report.failure->reason, report.failure->message);
  }
  ReconcileOutcome out = outcome_of(status.requeue, status.result);
  if (const core::Condition* ready = core::find_condition(status.conditions, core::kConditionReady))
    out.ready = ready->status;
  if (!status.patch) return out;
  try {
    kube::ObjectPtr patched =
        kube_.patch_status(kube::kInfisicalSecrets, model.metadata.namespace_, model.metadata.name,
                           kube::PatchType::kMerge, *status.patch, write_options());
    if (cr_version) *cr_version = patched ? meta_string(*patched, "resourceVersion") : "";
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) return {ReconcileOutcome::Next::kForget, {}, "deleted"};
    throw;
  }
  return out;
}

ReconcileOutcome Reconciler::outcome_of(const core::Requeue& requeue, std::string result) {
  switch (requeue.kind) {
    case core::Requeue::Kind::kForget: return {ReconcileOutcome::Next::kForget, {}, std::move(result)};
    case core::Requeue::Kind::kBackoff: return {ReconcileOutcome::Next::kBackoff, {}, std::move(result)};
    case core::Requeue::Kind::kAfter: break;
  }
  auto after = requeue.after;
  if (requeue.jittered.count() > 0) after += random_part(requeue.jittered, 0.9, 1.1);
  return {ReconcileOutcome::Next::kRequeueAfter, after, std::move(result)};
}

}  // namespace ifo::syncer
