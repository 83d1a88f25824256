// List + watch loop of WatchCache.
#include "syncer/watch_cache.h"

#include <zlib.h>

#include <algorithm>
#include <random>

namespace ifo::syncer {

namespace {
std::string key_of(const core::JsonValue& o) {
  auto ns = core::at_path(o, {"metadata", "namespace"});
  auto name = core::at_path(o, {"metadata", "name"});
  std::string n = name && name->IsString() ? name->GetString() : "";
  if (ns && ns->IsString() && ns->GetStringLength() > 0) return std::string(ns->GetString()) + "/" + n;
  return n;
}
}  // namespace

Object compact_copy(const core::JsonValue& v) { return core::copy_compact(v); }

WatchCache::WatchCache(kube::Client& client, const kube::Resource& resource, std::string ns,
                       std::string label_selector, std::string field_selector, std::shared_ptr<spdlog::logger> log)
    : client_(client),
      resource_(resource),
      ns_(std::move(ns)),
      label_selector_(std::move(label_selector)),
      field_selector_(std::move(field_selector)),
      log_(std::move(log)) {}

void WatchCache::start(Handlers handlers) {
  handlers_ = std::move(handlers);
  thread_ = std::thread([this] { run(); });
}

void WatchCache::stop() {
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// By default the store keeps each object as its JSON text, deflated against a dictionary (a typical
// object of the same cache), and inflates and parses it on every read. A reconcile reads a few KiB;
// inflating costs microseconds. bench/syncer-scale at 10,000 InfisicalSecrets, syncer peak RSS:
// 123 MiB with parsed trees, 82.9 MiB with plain text, 58.0 MiB deflated (bench/RESULTS.md).
namespace {

constexpr int kWindowBits = -12;  // raw deflate, 4 KiB window: covers a dictionary and an object
constexpr int kMemLevel = 6;
constexpr size_t kMaxDictionary = 4096;

// A parsed document whose pool is sized for it (about twice the text), not RapidJSON's default
// 64 KiB first chunk: sixteen workers each holding a few parsed objects stay small.
struct ParsedDoc {
  explicit ParsedDoc(size_t chunk) : allocator(chunk), doc(&allocator) {}
  rapidjson::MemoryPoolAllocator<> allocator;
  core::JsonDoc doc;
};

}  // namespace

// One deflate stream per cache, reset for each object: initialising a stream allocates and clears its
// window and hash tables, which cost more than compressing a 2 KiB object. Used by the watch thread only.
class WatchCache::Deflater {
 public:
  Deflater() { ok_ = deflateInit2(&z_, Z_BEST_SPEED, Z_DEFLATED, kWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) == Z_OK; }
  ~Deflater() {
    if (ok_) deflateEnd(&z_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  std::shared_ptr<const std::string> pack(const std::string& text, const std::string& dictionary) {
    if (!ok_ || deflateReset(&z_) != Z_OK) return nullptr;
    if (!dictionary.empty() && deflateSetDictionary(&z_, reinterpret_cast<const Bytef*>(dictionary.data()),
                                                    static_cast<uInt>(dictionary.size())) != Z_OK)
      return nullptr;
    buffer_.resize(deflateBound(&z_, text.size()) + 64);
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z_.avail_in = static_cast<uInt>(text.size());
    z_.next_out = reinterpret_cast<Bytef*>(buffer_.data());
    z_.avail_out = static_cast<uInt>(buffer_.size());
    if (deflate(&z_, Z_FINISH) != Z_STREAM_END) return nullptr;
    return std::make_shared<const std::string>(buffer_.data(), buffer_.size() - z_.avail_out);  // exactly sized
  }

 private:
  z_stream z_{};
  bool ok_ = false;
  std::string buffer_;
};

WatchCache::~WatchCache() { stop(); }

namespace {

bool inflate_text(const std::string& packed, const std::string* dictionary, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, kWindowBits) != Z_OK) return false;
  // A raw stream takes its dictionary before the first inflate call.
  int rc = dictionary && !dictionary->empty()
               ? inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dictionary->data()),
                                      static_cast<uInt>(dictionary->size()))
               : Z_OK;
  if (rc == Z_OK) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
    z.avail_in = static_cast<uInt>(packed.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    rc = inflate(&z, Z_FINISH);
  }
  bool ok = rc == Z_STREAM_END && z.avail_out == 0;
  inflateEnd(&z);
  return ok;
}

}  // namespace

WatchCache::Stored WatchCache::serialize(const Object& o) {
  Stored s;
  if (keep_parsed_) {
    s.parsed = o;
    return s;
  }
  std::string text = core::to_json(*o);
  if (text.size() <= kMaxDictionary && (!dictionary_ || dictionary_->size() * 4 < text.size() * 3))
    dictionary_ = std::make_shared<const std::string>(text);
  s.dictionary = dictionary_;
  if (!deflater_) deflater_ = std::make_unique<Deflater>();
  s.packed = deflater_->pack(text, dictionary_ ? *dictionary_ : std::string());
  s.text_size = static_cast<uint32_t>(text.size());
  s.deflated = s.packed != nullptr;
  if (!s.deflated) {  // cannot happen short of running out of memory: keep the text itself
    s.dictionary = nullptr;
    s.packed = std::make_shared<const std::string>(std::move(text));
  }
  return s;
}

Object WatchCache::materialize(const Stored& s) {
  if (s.parsed) return s.parsed;
  if (!s.packed) return nullptr;
  std::string text;
  if (s.deflated) {
    text.resize(s.text_size);
    if (!inflate_text(*s.packed, s.dictionary.get(), text)) return nullptr;  // cannot happen: our own stream
  } else {
    text = *s.packed;  // kept uncompressed (see serialize)
  }
  auto holder = std::make_shared<ParsedDoc>(std::max<size_t>(1024, text.size() * 2));
  holder->doc.Parse(text.data(), text.size());
  if (holder->doc.HasParseError()) return nullptr;  // cannot happen: the text is our own serialisation
  return Object(holder, &holder->doc);
}

Object WatchCache::get(const std::string& ns, const std::string& name) const {
  Stored s;
  {
    std::lock_guard lock(mu_);
    auto it = store_.find(ns.empty() ? name : ns + "/" + name);
    if (it == store_.end()) return nullptr;
    s = it->second;
  }
  return materialize(s);
}

std::vector<Object> WatchCache::list() const { return list_namespace(""); }

std::vector<Object> WatchCache::list_namespace(const std::string& ns) const {
  std::vector<Stored> kept;
  {
    std::lock_guard lock(mu_);
    if (ns.empty()) {
      for (const auto& [_, o] : store_) kept.push_back(o);
    } else {
      std::string prefix = ns + "/";
      for (auto it = store_.lower_bound(prefix); it != store_.end() && it->first.starts_with(prefix); ++it)
        kept.push_back(it->second);
    }
  }
  std::vector<Object> out;
  out.reserve(kept.size());
  for (const auto& s : kept)
    if (Object o = materialize(s)) out.push_back(std::move(o));
  return out;
}

size_t WatchCache::size() const {
  std::lock_guard lock(mu_);
  return store_.size();
}

Object WatchCache::keep(const kube::ObjectPtr& o) const {
  // managedFields are never read and are often the largest part of an object on a real API server.
  if (core::JsonValue* m = core::member(*o, "metadata")) core::remove_member(*m, "managedFields");
  if (transform_) return transform_(*o);
  return o;
}

// `fresh` is already in stored form: a relist of 10,000 objects never holds 10,000 parsed trees at
// once (that was the syncer's peak memory at bench/syncer-scale's start), and handlers get each
// object parsed one at a time.
void WatchCache::replace(std::map<std::string, Stored> fresh) {
  std::vector<std::string> added;
  std::vector<Stored> deleted;
  std::vector<std::pair<Stored, Stored>> updated;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, o] : fresh) {
      auto it = store_.find(k);
      if (it == store_.end()) added.push_back(k);
      else updated.emplace_back(it->second, o);
    }
    for (const auto& [k, o] : store_)
      if (!fresh.count(k)) deleted.push_back(o);
    store_ = fresh;
  }
  if (handlers_.on_add)
    for (const auto& k : added)
      if (Object o = materialize(fresh[k])) handlers_.on_add(o);
  if (handlers_.on_update)
    for (const auto& [a, b] : updated)
      if (Object old = materialize(a))
        if (Object now = materialize(b)) handlers_.on_update(old, now);
  if (handlers_.on_delete)
    for (const auto& o : deleted)
      if (Object old = materialize(o)) handlers_.on_delete(old);
}

void WatchCache::apply(kube::WatchEvent& ev) {
  std::string k = key_of(*ev.object);
  bool deleted = ev.type == kube::WatchEvent::Type::kDeleted;
  Object obj;
  Stored text;
  if (!deleted) {
    obj = keep(ev.object);
    deleted = !obj;  // no longer of interest: drop it like a deletion
    if (obj) text = serialize(obj);
  }
  Stored old_text;
  {
    std::lock_guard lock(mu_);
    auto it = store_.find(k);
    if (it != store_.end()) old_text = it->second;
    if (deleted) store_.erase(k);
    else store_[k] = text;
  }
  if (deleted) {
    if (ev.type == kube::WatchEvent::Type::kDeleted) obj = ev.object;
    else if (!old_text.kept()) return;  // never kept: nothing to tell
    else obj = materialize(old_text);
    if (handlers_.on_delete && obj) handlers_.on_delete(obj);
  } else if (old_text.kept()) {
    if (handlers_.on_update)
      if (Object old = materialize(old_text)) handlers_.on_update(old, obj);
  } else if (handlers_.on_add) {
    handlers_.on_add(obj);
  }
}

void WatchCache::sleep_backoff(int failures) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  int base_ms = std::min(30000, 250 << std::min(failures, 7));
  std::uniform_int_distribution<int> d(base_ms / 2, base_ms);
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(d(rng)), [this] { return stop_.load(); });
}

void WatchCache::run() {
  int failures = 0;
  bool need_list = true;
  while (!stop_) {
    try {
      if (need_list) {
        // Page by page, keeping only what the store keeps of each page, so that listing 10,000
        // objects never holds 10,000 whole objects at once.
        kube::ListOptions lo;
        lo.label_selector = label_selector_;
        lo.field_selector = field_selector_;
        lo.limit = 500;
        std::map<std::string, Stored> fresh;
        std::string rv;
        for (int page = 0; page < 100000; ++page) {
          kube::ObjectList part;
          try {
            part = client_.list(resource_, ns_, lo);
          } catch (const kube::ApiError& e) {
            if (!e.is_gone() || lo.continue_token.empty()) throw;
            lo.continue_token.clear();  // the continue token expired: list again without paging
            lo.limit = 0;
            fresh.clear();
            continue;
          }
          for (const auto& item : part.items)
            if (Object kept = keep(item)) fresh[key_of(*item)] = serialize(kept);
          rv = part.resource_version;
          if (part.continue_token.empty()) break;
          lo.continue_token = part.continue_token;
        }
        replace(std::move(fresh));
        resource_version_ = rv;
        need_list = false;
        synced_ = true;
      }
      kube::WatchOptions wo;
      wo.label_selector = label_selector_;
      wo.field_selector = field_selector_;
      wo.resource_version = resource_version_;
      wo.allow_bookmarks = true;
      wo.timeout_seconds = 240;
      wo.cancel = &stop_;
      client_.watch(resource_, ns_, wo, [&](kube::WatchEvent& ev) {
        if (ev.type == kube::WatchEvent::Type::kError) {
          if (ev.is_gone_error()) need_list = true;
          else log_->warn("watch error resource={} code={} reason={}", resource_.resource, ev.error_code, ev.error_reason);
          return false;
        }
        std::string rv = ev.resource_version();
        if (!rv.empty()) resource_version_ = rv;
        if (ev.type != kube::WatchEvent::Type::kBookmark) apply(ev);
        return !stop_.load();
      });
      failures = 0;
    } catch (const kube::ApiError& e) {
      if (e.is_gone()) {
        need_list = true;
        continue;
      }
      if (stop_) break;
      log_->warn("list/watch failed resource={} error=\"{}\"", resource_.resource, e.what());
      sleep_backoff(++failures);
    } catch (const std::exception& e) {
      if (stop_) break;
      log_->warn("list/watch failed resource={} error=\"{}\"", resource_.resource, e.what());
      sleep_backoff(++failures);
    }
  }
}

}  // namespace ifo::syncer
