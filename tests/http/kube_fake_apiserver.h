// A deliberately small in-memory API server for the kube client's http tests, until they move to
// kube-sim: generic CRUD on /api(s)/.../namespaces/NS/RESOURCE[/NAME], resourceVersion and 409 on
// stale updates, merge patch, list paging, watch streams with a bounded history (410 when too old),
// bookmarks, and faults (close every open watch, compact history).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include "core/json.h"
#include "core/json_patch.h"

namespace kubetest {

inline std::string status_body(int code, const std::string& reason, const std::string& message) {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")" + message +
         R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + "}";
}

class FakeApiServer {
 public:
  FakeApiServer() {
    const char* coll = R"(/(?:api/v1|apis/[^/]+/[^/]+)(?:/namespaces/([^/]+))?/([a-z]+))";
    svr_.set_keep_alive_max_count(1000);
    svr_.Get(std::string(coll), [this](const httplib::Request& q, httplib::Response& r) { on_collection(q, r); });
    svr_.Post(std::string(coll), [this](const httplib::Request& q, httplib::Response& r) { on_create(q, r); });
    const std::string obj = std::string(coll) + "/([^/]+)";
    svr_.Get(obj, [this](const httplib::Request& q, httplib::Response& r) { on_get(q, r); });
    svr_.Put(obj, [this](const httplib::Request& q, httplib::Response& r) { on_put(q, r); });
    svr_.Patch(obj, [this](const httplib::Request& q, httplib::Response& r) { on_patch(q, r); });
    svr_.Delete(obj, [this](const httplib::Request& q, httplib::Response& r) { on_delete(q, r); });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
  }
  ~FakeApiServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    svr_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Ends every open watch (the client sees a normally closed stream).
  void close_watches() {
    std::lock_guard lock(mu_);
    ++close_generation_;
    cv_.notify_all();
  }
  // Forgets history: a watch from an older resourceVersion gets an ERROR 410 event; open watches are
  // sent one too (as the API server does when its watch cache window moves past a slow watcher).
  void compact() {
    std::lock_guard lock(mu_);
    history_.clear();
    oldest_ = rv_ + 1;
    ++expire_generation_;
    cv_.notify_all();
  }
  void send_bookmarks() {
    std::lock_guard lock(mu_);
    ++bookmark_generation_;
    cv_.notify_all();
  }
  int requests(const std::string& method) {
    std::lock_guard lock(mu_);
    return counts_[method];
  }
  int open_watches() {
    std::lock_guard lock(mu_);
    return open_watches_;
  }
  // Direct access for test set-up: create or replace an object as another client would.
  std::string put_object(const std::string& resource, const std::string& ns, const std::string& json) {
    auto doc = ifo::core::parse_json(json);
    std::lock_guard lock(mu_);
    auto& d = **doc;
    std::string name = ifo::core::at_path(d, {"metadata", "name"})->GetString();
    const std::string key = resource + "|" + ns + "|" + name;
    bool existed = objects_.count(key) != 0;
    stamp(d, ns, name);
    objects_[key] = ifo::core::to_json(d);
    record(resource, ns, existed ? "MODIFIED" : "ADDED", objects_[key]);
    return objects_[key];
  }
  void delete_object(const std::string& resource, const std::string& ns, const std::string& name) {
    std::lock_guard lock(mu_);
    const std::string key = resource + "|" + ns + "|" + name;
    auto it = objects_.find(key);
    if (it == objects_.end()) return;
    auto doc = ifo::core::parse_json(it->second);
    ++rv_;
    ifo::core::set_string(ifo::core::ensure_object(**doc, "metadata", (*doc)->GetAllocator()), "resourceVersion",
                          std::to_string(rv_), (*doc)->GetAllocator());
    record_at(resource, ns, "DELETED", ifo::core::to_json(**doc), rv_);
    objects_.erase(it);
  }
  std::optional<std::string> object(const std::string& resource, const std::string& ns, const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = objects_.find(resource + "|" + ns + "|" + name);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  }
  size_t count(const std::string& resource) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& [k, v] : objects_)
      if (k.rfind(resource + "|", 0) == 0) ++n;
    return n;
  }

 private:
  struct Ev {
    uint64_t rv;
    std::string resource, ns, type, object;
  };

  void count_req(const httplib::Request& q) {
    std::lock_guard lock(mu_);
    ++counts_[q.method + (q.get_param_value("watch") == "true" ? "-watch" : "")];
  }
  void stamp(ifo::core::JsonDoc& d, const std::string& ns, const std::string& name) {
    auto& a = d.GetAllocator();
    auto& md = ifo::core::ensure_object(d, "metadata", a);
    ++rv_;
    ifo::core::set_string(md, "resourceVersion", std::to_string(rv_), a);
    if (!ns.empty()) ifo::core::set_string(md, "namespace", ns, a);
    if (ifo::core::member(md, "uid") == nullptr) ifo::core::set_string(md, "uid", "uid-" + name + "-" + std::to_string(rv_), a);
  }
  void record(const std::string& resource, const std::string& ns, const std::string& type, const std::string& obj) {
    record_at(resource, ns, type, obj, rv_);
  }
  void record_at(const std::string& resource, const std::string& ns, const std::string& type, const std::string& obj,
                 uint64_t rv) {
    history_.push_back(Ev{rv, resource, ns, type, obj});
    cv_.notify_all();
  }
  static void send_status(httplib::Response& r, int code, const std::string& reason, const std::string& msg) {
    r.status = code;
    r.set_content(status_body(code, reason, msg), "application/json");
  }
  static bool matches_labels(const std::string& obj, const std::string& selector) {
    if (selector.empty()) return true;
    auto d = ifo::core::parse_json(obj);
    auto eq = selector.find('=');
    std::string k = selector.substr(0, eq), v = selector.substr(eq + 1);
    const auto* labels = ifo::core::at_path(**d, {"metadata", "labels"});
    return labels != nullptr && ifo::core::string_or(*labels, k, "\x01") == v;
  }

  void on_collection(const httplib::Request& q, httplib::Response& r) {
    count_req(q);
    const std::string ns = q.matches[1], res = q.matches[2];
    const std::string sel = q.get_param_value("labelSelector");
    if (q.get_param_value("watch") == "true") return watch(q, r, ns, res, sel);
    std::lock_guard lock(mu_);
    const size_t limit = q.has_param("limit") ? std::stoul(q.get_param_value("limit")) : 0;
    size_t skip = q.has_param("continue") ? std::stoul(q.get_param_value("continue")) : 0;
    std::string items;
    size_t n = 0, index = 0;
    bool more = false;
    for (const auto& [k, v] : objects_) {
      if (k.rfind(res + "|" + (ns.empty() ? "" : ns + "|"), 0) != 0 || !matches_labels(v, sel)) continue;
      if (index++ < skip) continue;
      if (limit > 0 && n == limit) {
        more = true;
        break;
      }
      items += (n++ ? "," : "") + v;
    }
    std::string md = R"("resourceVersion":")" + std::to_string(rv_) + "\"";
    if (more) md += R"(,"continue":")" + std::to_string(skip + n) + "\"";
    r.set_content(R"({"kind":"List","apiVersion":"v1","metadata":{)" + md + R"(},"items":[)" + items + "]}",
                  "application/json");
  }

  void watch(const httplib::Request& q, httplib::Response& r, std::string ns, std::string res, std::string sel) {
    uint64_t from = q.has_param("resourceVersion") ? std::stoull("0" + q.get_param_value("resourceVersion")) : 0;
    const bool bookmarks = q.get_param_value("allowWatchBookmarks") == "true";
    {
      std::lock_guard lock(mu_);
      if (from + 1 < oldest_ && from != 0) {
        send_status(r, 410, "Expired", "too old resource version: " + std::to_string(from));
        return;
      }
      ++open_watches_;
    }
    r.set_chunked_content_provider("application/json", [this, from, ns, res, sel, bookmarks](size_t, httplib::DataSink& sink) mutable {
      std::unique_lock lock(mu_);
      const uint64_t close_gen = close_generation_, expire_gen = expire_generation_;
      uint64_t bookmark_gen = bookmark_generation_;
      uint64_t last = from;
      auto finish = [&] {
        --open_watches_;
        lock.unlock();
        sink.done();
        return true;
      };
      for (int rounds = 0; rounds < 20000; ++rounds) {
        if (stopping_ || close_gen != close_generation_) return finish();
        if (expire_gen != expire_generation_) {
          std::string line = R"({"type":"ERROR","object":)" + status_body(410, "Expired", "too old resource version") + "}\n";
          lock.unlock();
          sink.write(line.data(), line.size());
          lock.lock();
          return finish();
        }
        std::string out;
        for (const auto& e : history_) {
          if (e.rv <= last || e.resource != res || (!ns.empty() && e.ns != ns) || !matches_labels(e.object, sel)) continue;
          out += R"({"type":")" + e.type + R"(","object":)" + e.object + "}\n";
        }
        if (!history_.empty()) last = std::max(last, history_.back().rv);
        last = std::max(last, rv_);
        if (bookmarks && bookmark_gen != bookmark_generation_) {
          bookmark_gen = bookmark_generation_;
          out += R"({"type":"BOOKMARK","object":{"kind":"Bookmark","metadata":{"resourceVersion":")" +
                 std::to_string(rv_) + "\"}}}\n";
        }
        if (!out.empty()) {
          lock.unlock();
          if (!sink.write(out.data(), out.size())) {
            lock.lock();
            return finish();
          }
          lock.lock();
        }
        cv_.wait_for(lock, std::chrono::milliseconds(50));
      }
      return finish();
    });
  }

  void on_get(const httplib::Request& q, httplib::Response& r) {
    count_req(q);
    std::lock_guard lock(mu_);
    auto it = objects_.find(std::string(q.matches[2]) + "|" + std::string(q.matches[1]) + "|" + std::string(q.matches[3]));
    if (it == objects_.end()) return send_status(r, 404, "NotFound", std::string(q.matches[2]) + " \\\"" + std::string(q.matches[3]) + "\\\" not found");
    r.set_content(it->second, "application/json");
  }
  void on_create(const httplib::Request& q, httplib::Response& r) {
    count_req(q);
    const std::string ns = q.matches[1], res = q.matches[2];
    auto doc = ifo::core::parse_json(q.body);
    if (!doc) return send_status(r, 400, "BadRequest", "bad json");
    std::string name = ifo::core::string_or(*ifo::core::member(**doc, "metadata"), "name", "");
    std::lock_guard lock(mu_);
    const std::string key = res + "|" + ns + "|" + name;
    if (objects_.count(key) != 0) return send_status(r, 409, "AlreadyExists", res + " \\\"" + name + "\\\" already exists");
    stamp(**doc, ns, name);
    objects_[key] = ifo::core::to_json(**doc);
    record(res, ns, "ADDED", objects_[key]);
    r.status = 201;
    r.set_content(objects_[key], "application/json");
  }
  void on_put(const httplib::Request& q, httplib::Response& r) {
    count_req(q);
    const std::string ns = q.matches[1], res = q.matches[2], name = q.matches[3];
    auto doc = ifo::core::parse_json(q.body);
    if (!doc) return send_status(r, 400, "BadRequest", "bad json");
    std::lock_guard lock(mu_);
    const std::string key = res + "|" + ns + "|" + name;
    auto it = objects_.find(key);
    if (it == objects_.end()) return send_status(r, 404, "NotFound", res + " \\\"" + name + "\\\" not found");
    auto cur = ifo::core::parse_json(it->second);
    const std::string want = ifo::core::string_or(*ifo::core::member(**doc, "metadata"), "resourceVersion", "");
    const std::string have = ifo::core::string_or(*ifo::core::member(**cur, "metadata"), "resourceVersion", "");
    if (!want.empty() && want != have)
      return send_status(r, 409, "Conflict",
                         "Operation cannot be fulfilled on " + res + " \\\"" + name +
                             "\\\": the object has been modified; please apply your changes to the latest version and try again");
    stamp(**doc, ns, name);
    it->second = ifo::core::to_json(**doc);
    record(res, ns, "MODIFIED", it->second);
    r.set_content(it->second, "application/json");
  }
  void on_patch(const httplib::Request& q, httplib::Response& r) {
    count_req(q);
    const std::string ns = q.matches[1], res = q.matches[2], name = q.matches[3];
    if (q.get_header_value("Content-Type") != "application/merge-patch+json")
      return send_status(r, 415, "UnsupportedMediaType", "only merge patch here");
    auto patch = ifo::core::parse_json(q.body);
    if (!patch) return send_status(r, 400, "BadRequest", "bad json");
    std::lock_guard lock(mu_);
    auto it = objects_.find(res + "|" + ns + "|" + name);
    if (it == objects_.end()) return send_status(r, 404, "NotFound", res + " \\\"" + name + "\\\" not found");
    auto cur = ifo::core::parse_json(it->second);
    auto merged = ifo::core::apply_merge_patch(**cur, **patch);
    stamp(*merged, ns, name);
    it->second = ifo::core::to_json(*merged);
    record(res, ns, "MODIFIED", it->second);
    r.set_content(it->second, "application/json");
  }
  void on_delete(const httplib::Request& q, httplib::Response& r) {
    count_req(q);
    const std::string ns = q.matches[1], res = q.matches[2], name = q.matches[3];
    if (!object(res, ns, name)) return send_status(r, 404, "NotFound", res + " \\\"" + name + "\\\" not found");
    delete_object(res, ns, name);
    r.set_content(R"({"kind":"Status","apiVersion":"v1","status":"Success"})", "application/json");
  }

  httplib::Server svr_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> objects_;  // "resource|ns|name" -> JSON
  std::deque<Ev> history_;
  std::map<std::string, int> counts_;
  uint64_t rv_ = 100;
  uint64_t oldest_ = 0;
  uint64_t close_generation_ = 0, expire_generation_ = 0, bookmark_generation_ = 0;
  int open_watches_ = 0;
  bool stopping_ = false;
};

}  // namespace kubetest
