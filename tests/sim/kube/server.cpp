// kube-sim's HTTP layer: transport, authentication, discovery, OpenAPI, resource verbs, watches,
// CRDs and the /sim admin endpoints.
#include "sim/kube/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/rand.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "core/base64.h"
#include "sim/kube/builtin.h"
#include "sim/kube/patch.h"
#include "sim/kube/protobuf_review.h"
#include "sim/kube/schema.h"
#include "sim/kube/selector.h"
#include "sim/kube/sim_util.h"
#include "sim/kube/table.h"
#include "sim/kube/tls.h"

namespace ifo::kubesim {

using core::JsonAlloc;
using core::JsonDoc;
using core::JsonValue;

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kAggregatedType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

std::string random_token() {
  unsigned char b[24];
  RAND_bytes(b, sizeof b);
  std::string s;
  for (unsigned char c : b) s += fmt::format("{:02x}", c);
  return s;
}

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    while (i < p.size() && p[i] == '/') ++i;
    size_t j = i;
    while (j < p.size() && p[j] != '/') ++j;
    if (j > i) out.emplace_back(p.substr(i, j - i));
    i = j;
  }
  return out;
}

JsonDoc parse_body(const std::string& body) {
  if (body.empty()) throw bad_request("the body of the request was in an unknown format");
  auto r = core::parse_json(body);
  if (!r) throw bad_request(fmt::format("couldn't get version/kind; json parse error: {}", r.error()));
  JsonDoc d;
  d.Swap(**r);
  return d;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct TypeKeyLess {
  bool operator()(const std::pair<std::string, std::string>& a, const std::pair<std::string, std::string>& b) const {
    return a < b;
  }
};

struct CrdInfo {
  std::shared_ptr<JsonDoc> schema;   // openAPIV3Schema of the storage version (null: none)
  std::shared_ptr<JsonDoc> columns;  // additionalPrinterColumns (null: none)
  std::vector<std::string> served_versions;
  bool preserve_unknown_root = false;
};

struct Fault {
  std::string verb;      // "" or "*" = any
  std::string resource;  // "" or "*" = any; "deployments/status" for a subresource
  int code = 500;
  std::string message;
  long remaining = -1;  // -1: until cleared
  // A stall instead of an error: the first `stall_after` matching requests pass, every later one
  // waits until the faults are cleared (then it proceeds, as a request the apiserver had already
  // received would) or until kStallTimeout passes (then 504, as the apiserver's request timeout).
  long stall_after = -1;  // -1: an error fault, not a stall
  // How a watch shows the fault ("watch" in /sim/faults; such a fault matches watches only).
  enum class WatchShape {
    kStatus,      // the request fails with `code` (a watch the apiserver refuses before it starts)
    kErrorEvent,  // 200, one ERROR event carrying the Status, then the stream ends (an established watch
                  // failing, as the apiserver's watch cache or etcd watch reports it)
    kClose,       // 200 and the stream ends at once without an event (a watch the apiserver drops)
  };
  WatchShape watch = WatchShape::kStatus;
};

std::optional<Fault::WatchShape> parse_watch_shape(std::string_view s) {
  if (s.empty()) return Fault::WatchShape::kStatus;
  if (s == "errorEvent") return Fault::WatchShape::kErrorEvent;
  if (s == "close") return Fault::WatchShape::kClose;
  return std::nullopt;
}

// One watch event line: {"type":TYPE,"object":OBJECT}.
std::string watch_event_line(std::string_view type, std::string_view object_json) {
  return fmt::format(R"({{"type":"{}","object":{}}})"
                     "\n",
                     type, object_json);
}

constexpr auto kStallTimeout = std::chrono::seconds(60);

// What a resource request addresses.
struct Target {
  std::string group, version;
  ResourceType type;
  std::string ns, name, sub;
  bool watch_path = false;
};

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

struct KubeSim::Impl {
  Options opt;
  Store store;
  ServingCert cert;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  int port = 0;
  std::atomic<bool> running{false};
  std::vector<std::shared_ptr<AdmissionHook>> admission;
  std::vector<Authenticator> authenticators;
  Authorizer authorizer;
  std::map<std::tuple<std::string, std::string, std::string>, CreateHandler> create_handlers;
  std::map<std::string, UserInfo> tokens;

  std::mutex crd_mu;
  std::map<std::pair<std::string, std::string>, CrdInfo> crds;

  std::mutex fault_mu;
  long latency_ms = 0;
  std::vector<Fault> faults;
  std::condition_variable faults_cleared;  // wakes stalled requests
  uint64_t fault_epoch = 0;                // bumped when faults are cleared or the server stops
  std::map<std::string, uint64_t> counters;
  std::vector<std::function<std::map<std::string, uint64_t>()>> counter_sources;

  explicit Impl(Options o) : opt(std::move(o)), store(nullptr, opt.history_limit) {
    if (opt.tokens.empty()) {
      StaticToken t;
      t.token = random_token();
      t.user.username = "kube-sim-admin";
      t.user.uid = "kube-sim-admin";
      t.user.groups = {"system:masters", "system:authenticated"};
      opt.tokens.push_back(t);
    }
    for (auto& t : opt.tokens) tokens[t.token] = t.user;
    if (opt.admin_token.empty()) opt.admin_token = opt.tokens.front().token;
    for (auto& t : builtin_types()) store.register_type(t);
    auto ns_type = *store.find_type("", "namespaces");
    for (std::string_view n : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      JsonDoc d(rapidjson::kObjectType);
      auto& a = d.GetAllocator();
      core::set_string(d, "apiVersion", "v1", a);
      core::set_string(d, "kind", "Namespace", a);
      core::set_string(core::ensure_object(d, "metadata", a), "name", n, a);
      apply_builtin_defaults(ns_type, d, a);
      store.create(ns_type, "", std::move(d));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // helpers

  static void send_json(httplib::Response& res, int code, const std::string& body,
                        std::string_view type = kJson) {
    res.status = code;
    res.set_content(body, std::string(type));
  }

  static void send_error(httplib::Response& res, const StatusError& e) {
    if (e.retry_after_seconds > 0) res.set_header("Retry-After", std::to_string(e.retry_after_seconds));
    send_json(res, e.code, e.to_json());
  }

  void count(const std::string& verb, const std::string& resource) {
    std::lock_guard lk(fault_mu);
    counters[verb + " " + resource]++;
  }

  // Latency and injected errors for this request: throws the injected Status, or for a watch fault
  // shaped as a stream returns the whole body the watch answers with (then it ends).
  std::optional<std::string> apply_faults(const std::string& verb, const std::string& resource) {
    long latency = 0;
    std::optional<StatusError> err;
    Fault::WatchShape shape = Fault::WatchShape::kStatus;
    bool stall = false;
    {
      std::unique_lock lk(fault_mu);
      latency = latency_ms;
      for (auto& f : faults) {
        if (f.remaining == 0) continue;
        bool verb_ok = f.verb.empty() || f.verb == "*" || f.verb == verb;
        bool res_ok = f.resource.empty() || f.resource == "*" || f.resource == resource;
        bool shape_ok = f.watch == Fault::WatchShape::kStatus || verb == "watch";
        if (!verb_ok || !res_ok || !shape_ok) continue;
        if (f.stall_after >= 0) {
          if (f.stall_after > 0) {
            --f.stall_after;
            continue;
          }
          stall = true;
          break;
        }
        if (f.remaining > 0) --f.remaining;
        std::string reason = f.code == 409   ? "Conflict"
                             : f.code == 429 ? "TooManyRequests"
                             : f.code == 503 ? "ServiceUnavailable"
                             : f.code == 504 ? "Timeout"
                             : f.code == 403 ? "Forbidden"
                             : f.code == 404 ? "NotFound"
                                             : "InternalError";
        std::string msg = f.message.empty() ? "Internal error occurred: injected fault" : f.message;
        err = StatusError(f.code, reason, msg);
        // apierrors.NewInternalError(err) lists the error as the only cause.
        if (f.code == 500 && f.message.empty()) err->causes.push_back({"", "injected fault", ""});
        if (f.code == 429) err->retry_after_seconds = 1;
        shape = f.watch;
        break;
      }
      if (stall) {
        uint64_t epoch = fault_epoch;
        if (!faults_cleared.wait_for(lk, kStallTimeout, [&] { return fault_epoch != epoch; }))
          throw StatusError(504, "Timeout",
                            "Timeout: request did not complete within the allotted timeout (injected stall)");
      }
    }
    if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
    if (!err) return std::nullopt;
    switch (shape) {
      case Fault::WatchShape::kErrorEvent: return watch_event_line("ERROR", err->to_json());
      case Fault::WatchShape::kClose: return std::string();
      case Fault::WatchShape::kStatus: break;
    }
    throw *err;
  }

  // Every authenticated user is in group system:authenticated, as kube-apiserver's
  // AuthenticatedGroupAdder makes it.
  std::optional<UserInfo> authenticate(const httplib::Request& req) {
    std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) != 0) return std::nullopt;
    std::string token = auth.substr(7);
    while (!token.empty() && token.back() == ' ') token.pop_back();
    std::optional<UserInfo> user;
    if (auto it = tokens.find(token); it != tokens.end()) user = it->second;
    for (auto& a : authenticators) {
      if (user) break;
      user = a(token);
    }
    if (user && std::find(user->groups.begin(), user->groups.end(), "system:authenticated") == user->groups.end())
      user->groups.push_back("system:authenticated");
    return user;
  }

  // kube-apiserver's authorization filter: it runs before the request is routed, so a refused user
  // learns nothing about what exists (403 for an unknown resource too).
  void authorize(const httplib::Request& req, const UserInfo& user) {
    if (!authorizer || is_admin(req)) return;
    RequestAttributes attrs = request_attributes(req.method, req.path, param(req, "watch"), param(req, "fieldSelector"));
    attrs.user = user;
    AccessDecision d = authorizer(attrs);
    if (!d.allowed) throw request_forbidden(attrs, d.reason);
  }

  bool is_admin(const httplib::Request& req) {
    std::string auth = req.get_header_value("Authorization");
    return auth == "Bearer " + opt.admin_token;
  }

  // ---------------------------------------------------------------------------------------------
  // dispatch

  void handle(const httplib::Request& req, httplib::Response& res) {
    try {
      dispatch(req, res);
    } catch (const StatusError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      send_error(res, internal_error(fmt::format("Internal error occurred: {}", e.what())));
    }
    if (opt.log_requests)
      std::fprintf(stderr, "kube-sim: %s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
  }

  void dispatch(const httplib::Request& req, httplib::Response& res) {
    const std::string& path = req.path;
    if (path == "/healthz" || path == "/livez" || path == "/readyz") {
      res.status = 200;
      res.set_content("ok", "text/plain");
      return;
    }
    if (path.rfind("/sim/", 0) == 0) {
      if (!is_admin(req)) throw StatusError(401, "Unauthorized", "Unauthorized");
      return handle_admin(req, res);
    }
    std::optional<UserInfo> user = authenticate(req);
    if (!user) {
      if (path == "/version") {
        // /version is readable anonymously (system:public-info-viewer), as on a default cluster.
      } else {
        throw StatusError(401, "Unauthorized", "Unauthorized");
      }
    } else {
      authorize(req, *user);
    }
    std::string ctype = req.get_header_value("Content-Type");
    if (ctype.find("application/vnd.kubernetes.protobuf") != std::string::npos &&
        (req.method == "POST" || req.method == "PUT" || req.method == "DELETE")) {
      if (auto json = req.method == "DELETE" ? protobuf_delete_json(req.body) : protobuf_request_json(path, req.body)) {
        httplib::Request as_json = req;
        as_json.body = std::move(*json);
        as_json.headers.erase("Content-Type");
        as_json.headers.emplace("Content-Type", std::string(kJson));
        return dispatch(as_json, res);
      }
    }
    if (ctype.find("application/vnd.kubernetes.protobuf") != std::string::npos)
      throw StatusError(415, "UnsupportedMediaType",
                        fmt::format("the body of the request was in an unknown format - accepted media types "
                                    "include: application/json, application/yaml (kube-sim does not speak protobuf)"));
    if (path == "/version") return send_json(res, 200, version_json());
    if (path == "/api" || path == "/api/") return discovery_root(req, res, true);
    if (path == "/apis" || path == "/apis/") return discovery_root(req, res, false);
    if (path == "/openapi/v3" || path == "/openapi/v3/") return openapi_root(res);
    if (path.rfind("/openapi/v3/", 0) == 0) return openapi_gv(path.substr(12), res);
    if (path == "/openapi/v2")
      throw StatusError(404, "NotFound", "the server could not find the requested resource");
    auto segs = split_path(path);
    Target t;
    size_t i = 0;
    if (segs.size() >= 2 && segs[0] == "api") {
      t.version = segs[1];
      i = 2;
    } else if (segs.size() >= 3 && segs[0] == "apis") {
      t.group = segs[1];
      t.version = segs[2];
      i = 3;
    } else if (segs.size() == 2 && segs[0] == "apis") {
      return discovery_group(segs[1], res);
    } else {
      throw StatusError(404, "NotFound", "the server could not find the requested resource");
    }
    if (i == segs.size()) return discovery_gv(t.group, t.version, res);
    if (segs[i] == "watch") {
      t.watch_path = true;
      ++i;
    }
    std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
    std::string resource;
    if (!rest.empty() && rest[0] == "namespaces" &&
        (rest.size() >= 3 && !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize")))) {
      t.ns = rest[1];
      resource = rest[2];
      if (rest.size() >= 4) t.name = rest[3];
      if (rest.size() >= 5) t.sub = rest[4];
      if (rest.size() > 5) throw StatusError(404, "NotFound", "the server could not find the requested resource");
    } else {
      resource = rest[0];
      if (rest.size() >= 2) t.name = rest[1];
      if (rest.size() >= 3) t.sub = rest[2];
      if (rest.size() > 3) throw StatusError(404, "NotFound", "the server could not find the requested resource");
    }
    auto type = store.find_type(t.group, resource);
    if (!type || type->version != t.version)
      throw StatusError(404, "NotFound", "the server could not find the requested resource");
    t.type = *type;
    if (!t.type.namespaced && !t.ns.empty())
      throw StatusError(404, "NotFound", "the server could not find the requested resource");
    if (!t.sub.empty() && !t.type.has_subresource(t.sub))
      throw StatusError(404, "NotFound", "the server could not find the requested resource");
    resource_request(req, res, t, *user);
  }

  std::string version_json() { return opt.version.version_json(); }

  // ---------------------------------------------------------------------------------------------
  // discovery

  struct GroupVersions {
    std::string group;
    std::string version;
    std::vector<ResourceType> resources;
  };

  std::vector<GroupVersions> group_versions() {
    std::vector<GroupVersions> out;
    auto types = store.types();
    // Core first, then built-in groups in a stable order, then CRD groups.
    std::stable_sort(types.begin(), types.end(), [](const ResourceType& a, const ResourceType& b) {
      auto rank = [](const ResourceType& t) { return t.group.empty() ? 0 : t.crd_name.empty() ? 1 : 2; };
      if (rank(a) != rank(b)) return rank(a) < rank(b);
      return std::tie(a.group, a.version, a.resource) < std::tie(b.group, b.version, b.resource);
    });
    for (auto& t : types) {
      if (out.empty() || out.back().group != t.group || out.back().version != t.version)
        out.push_back({t.group, t.version, {}});
      out.back().resources.push_back(t);
    }
    return out;
  }

  static bool wants_aggregated(const httplib::Request& req) {
    std::string accept = req.get_header_value("Accept");
    return accept.find("as=APIGroupDiscoveryList") != std::string::npos &&
           accept.find("v=v2;") != std::string::npos;
  }

  static JsonValue string_array(const std::vector<std::string>& v, JsonAlloc& a) {
    JsonValue arr(rapidjson::kArrayType);
    for (auto& s : v) arr.PushBack(core::json_string(s, a), a);
    return arr;
  }

  static void subresource_kind(const ResourceType& t, const std::string& sub, std::string& group, std::string& version,
                               std::string& kind, std::vector<std::string>& verbs) {
    group = t.group;
    version = t.version;
    kind = t.kind;
    verbs = {"get", "patch", "update"};
    if (sub == "scale") {
      group = "autoscaling";
      version = "v1";
      kind = "Scale";
    } else if (sub == "token") {
      group = "authentication.k8s.io";
      version = "v1";
      kind = "TokenRequest";
      verbs = {"create"};
    } else if (sub == "finalize") {
      verbs = {"update"};
    }
  }

  void discovery_root(const httplib::Request& req, httplib::Response& res, bool core_group) {
    auto gvs = group_versions();
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    if (wants_aggregated(req)) {
      core::set_string(d, "kind", "APIGroupDiscoveryList", a);
      core::set_string(d, "apiVersion", "apidiscovery.k8s.io/v2", a);
      core::set_member(d, "metadata", JsonValue(rapidjson::kObjectType), a);
      JsonValue items(rapidjson::kArrayType);
      std::map<std::string, JsonValue> groups;
      std::vector<std::string> order;
      for (auto& gv : gvs) {
        if (core_group != gv.group.empty()) continue;
        if (!groups.count(gv.group)) {
          JsonValue g(rapidjson::kObjectType);
          JsonValue md(rapidjson::kObjectType);
          if (!gv.group.empty()) core::set_string(md, "name", gv.group, a);
          core::set_member(g, "metadata", std::move(md), a);
          core::set_member(g, "versions", JsonValue(rapidjson::kArrayType), a);
          groups.emplace(gv.group, std::move(g));
          order.push_back(gv.group);
        }
        JsonValue ver(rapidjson::kObjectType);
        core::set_string(ver, "version", gv.version, a);
        JsonValue resources(rapidjson::kArrayType);
        for (auto& t : gv.resources) {
          JsonValue r(rapidjson::kObjectType);
          core::set_string(r, "resource", t.resource, a);
          JsonValue rk(rapidjson::kObjectType);
          core::set_string(rk, "group", t.group, a);
          core::set_string(rk, "version", t.version, a);
          core::set_string(rk, "kind", t.kind, a);
          core::set_member(r, "responseKind", std::move(rk), a);
          core::set_string(r, "scope", t.namespaced ? "Namespaced" : "Cluster", a);
          core::set_string(r, "singularResource", t.singular, a);
          core::set_member(r, "verbs", string_array(t.verbs, a), a);
          if (!t.short_names.empty()) core::set_member(r, "shortNames", string_array(t.short_names, a), a);
          if (!t.categories.empty()) core::set_member(r, "categories", string_array(t.categories, a), a);
          if (!t.subresources.empty()) {
            JsonValue subs(rapidjson::kArrayType);
            for (auto& s : t.subresources) {
              std::string g, v, k;
              std::vector<std::string> verbs;
              subresource_kind(t, s, g, v, k, verbs);
              JsonValue so(rapidjson::kObjectType);
              core::set_string(so, "subresource", s, a);
              JsonValue sk(rapidjson::kObjectType);
              core::set_string(sk, "group", g, a);
              core::set_string(sk, "version", v, a);
              core::set_string(sk, "kind", k, a);
              core::set_member(so, "responseKind", std::move(sk), a);
              core::set_member(so, "verbs", string_array(verbs, a), a);
              subs.PushBack(so, a);
            }
            core::set_member(r, "subresources", std::move(subs), a);
          }
          resources.PushBack(r, a);
        }
        core::set_member(ver, "resources", std::move(resources), a);
        core::set_string(ver, "freshness", "Current", a);
        (*core::member(groups[gv.group], "versions")).PushBack(ver, a);
      }
      for (auto& g : order) items.PushBack(groups[g], a);
      core::set_member(d, "items", std::move(items), a);
      res.set_header("Vary", "Accept");
      return send_json(res, 200, core::to_json(d), kAggregatedType);
    }
    if (core_group) {
      return send_json(res, 200,
                       R"({"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]})");
    }
    core::set_string(d, "kind", "APIGroupList", a);
    core::set_string(d, "apiVersion", "v1", a);
    JsonValue groups(rapidjson::kArrayType);
    std::string last;
    for (auto& gv : gvs) {
      if (gv.group.empty() || gv.group == last) continue;
      last = gv.group;
      groups.PushBack(api_group_json(gv.group, gvs, a), a);
    }
    core::set_member(d, "groups", std::move(groups), a);
    send_json(res, 200, core::to_json(d));
  }

  JsonValue api_group_json(const std::string& group, const std::vector<GroupVersions>& gvs, JsonAlloc& a) {
    JsonValue g(rapidjson::kObjectType);
    core::set_string(g, "name", group, a);
    JsonValue versions(rapidjson::kArrayType);
    std::string preferred;
    for (auto& gv : gvs) {
      if (gv.group != group) continue;
      JsonValue v(rapidjson::kObjectType);
      core::set_string(v, "groupVersion", group + "/" + gv.version, a);
      core::set_string(v, "version", gv.version, a);
      versions.PushBack(v, a);
      if (preferred.empty()) preferred = gv.version;
    }
    core::set_member(g, "versions", std::move(versions), a);
    JsonValue pv(rapidjson::kObjectType);
    core::set_string(pv, "groupVersion", group + "/" + preferred, a);
    core::set_string(pv, "version", preferred, a);
    core::set_member(g, "preferredVersion", std::move(pv), a);
    return g;
  }

  void discovery_group(const std::string& group, httplib::Response& res) {
    auto gvs = group_versions();
    bool found = false;
    for (auto& gv : gvs) found = found || gv.group == group;
    if (!found) throw StatusError(404, "NotFound", "the server could not find the requested resource");
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    JsonValue g = api_group_json(group, gvs, a);
    core::set_string(g, "kind", "APIGroup", a);
    core::set_string(g, "apiVersion", "v1", a);
    send_json(res, 200, core::to_json(g));
  }

  void discovery_gv(const std::string& group, const std::string& version, httplib::Response& res) {
    auto gvs = group_versions();
    const GroupVersions* found = nullptr;
    for (auto& gv : gvs)
      if (gv.group == group && gv.version == version) found = &gv;
    if (!found) throw StatusError(404, "NotFound", "the server could not find the requested resource");
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    core::set_string(d, "kind", "APIResourceList", a);
    core::set_string(d, "apiVersion", "v1", a);
    core::set_string(d, "groupVersion", group.empty() ? version : group + "/" + version, a);
    JsonValue resources(rapidjson::kArrayType);
    for (auto& t : found->resources) {
      JsonValue r(rapidjson::kObjectType);
      core::set_string(r, "name", t.resource, a);
      core::set_string(r, "singularName", t.singular, a);
      core::set_member(r, "namespaced", JsonValue(t.namespaced), a);
      core::set_string(r, "kind", t.kind, a);
      core::set_member(r, "verbs", string_array(t.verbs, a), a);
      if (!t.short_names.empty()) core::set_member(r, "shortNames", string_array(t.short_names, a), a);
      if (!t.categories.empty()) core::set_member(r, "categories", string_array(t.categories, a), a);
      resources.PushBack(r, a);
      for (auto& s : t.subresources) {
        std::string g, v, k;
        std::vector<std::string> verbs;
        subresource_kind(t, s, g, v, k, verbs);
        JsonValue sr(rapidjson::kObjectType);
        core::set_string(sr, "name", t.resource + "/" + s, a);
        core::set_string(sr, "singularName", "", a);
        core::set_member(sr, "namespaced", JsonValue(t.namespaced), a);
        if (g != t.group || v != t.version) {
          core::set_string(sr, "group", g, a);
          core::set_string(sr, "version", v, a);
        }
        core::set_string(sr, "kind", k, a);
        core::set_member(sr, "verbs", string_array(verbs, a), a);
        resources.PushBack(sr, a);
      }
    }
    core::set_member(d, "resources", std::move(resources), a);
    send_json(res, 200, core::to_json(d));
  }

  // ---------------------------------------------------------------------------------------------
  // OpenAPI v3: enough for kubectl's field-validation check and apply (see kubectl-against-a-server.md)

  static std::string gv_path(const std::string& group, const std::string& version) {
    return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
  }

  void openapi_root(httplib::Response& res) {
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    JsonValue paths(rapidjson::kObjectType);
    std::string hash = fmt::format("{:016X}", store.types_generation());
    for (auto& gv : group_versions()) {
      JsonValue p(rapidjson::kObjectType);
      core::set_string(p, "serverRelativeURL", "/openapi/v3/" + gv_path(gv.group, gv.version) + "?hash=" + hash, a);
      core::set_member(paths, gv_path(gv.group, gv.version), std::move(p), a);
    }
    core::set_member(d, "paths", std::move(paths), a);
    send_json(res, 200, core::to_json(d));
  }

  void openapi_gv(const std::string& gvp, httplib::Response& res) {
    const GroupVersions* found = nullptr;
    auto gvs = group_versions();
    for (auto& gv : gvs)
      if (gv_path(gv.group, gv.version) == gvp) found = &gv;
    if (!found) throw StatusError(404, "NotFound", "the server could not find the requested resource");
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    core::set_string(d, "openapi", "3.0.0", a);
    JsonValue info(rapidjson::kObjectType);
    core::set_string(info, "title", "Kubernetes", a);
    core::set_string(info, "version", "v1.32.0", a);
    core::set_member(d, "info", std::move(info), a);
    JsonValue schemas(rapidjson::kObjectType);
    JsonValue paths(rapidjson::kObjectType);
    for (auto& t : found->resources) {
      // Schema components without x-kubernetes-group-version-kind: kubectl then keeps its compiled-in
      // patch strategies for built-ins and uses merge patches for custom resources (as with a real
      // server's CRDs, which have no patch strategies).
      std::string comp = fmt::format("{}.{}.{}", t.group.empty() ? "io.k8s.api.core" : t.group, t.version, t.kind);
      JsonValue sch(rapidjson::kObjectType);
      {
        std::lock_guard lk(crd_mu);
        auto it = crds.find({t.group, t.resource});
        if (it != crds.end() && it->second.schema) sch.CopyFrom(*it->second.schema, a);
        else core::set_string(sch, "type", "object", a);
      }
      if (!core::member(sch, "x-kubernetes-preserve-unknown-fields") && !core::member(sch, "properties"))
        core::set_member(sch, "x-kubernetes-preserve-unknown-fields", JsonValue(true), a);
      core::set_member(schemas, comp, std::move(sch), a);
      std::string base = "/" + gvp + "/" + (t.namespaced ? "namespaces/{namespace}/" : "") + t.resource;
      JsonValue gvk(rapidjson::kObjectType);
      core::set_string(gvk, "group", t.group, a);
      core::set_string(gvk, "version", t.version, a);
      core::set_string(gvk, "kind", t.kind, a);
      auto op = [&](std::string_view action) {
        JsonValue o(rapidjson::kObjectType);
        core::set_string(o, "x-kubernetes-action", action, a);
        core::set_member(o, "x-kubernetes-group-version-kind", JsonValue(gvk, a), a);
        JsonValue params(rapidjson::kArrayType);
        for (std::string_view pn : {"dryRun", "fieldManager", "fieldValidation"}) {
          JsonValue p(rapidjson::kObjectType);
          core::set_string(p, "name", pn, a);
          core::set_string(p, "in", "query", a);
          JsonValue s(rapidjson::kObjectType);
          core::set_string(s, "type", "string", a);
          core::set_member(p, "schema", std::move(s), a);
          core::set_member(p, "description", core::json_string("", a), a);
          params.PushBack(p, a);
        }
        core::set_member(o, "parameters", std::move(params), a);
        JsonValue resp(rapidjson::kObjectType);
        JsonValue ok(rapidjson::kObjectType);
        core::set_string(ok, "description", "OK", a);
        core::set_member(resp, "200", std::move(ok), a);
        core::set_member(o, "responses", std::move(resp), a);
        return o;
      };
      if (!t.create_only) {
        JsonValue item(rapidjson::kObjectType);
        core::set_member(item, "patch", op("patch"), a);
        core::set_member(item, "put", op("put"), a);
        core::set_member(paths, base + "/{name}", std::move(item), a);
      }
      JsonValue coll(rapidjson::kObjectType);
      core::set_member(coll, "post", op("post"), a);
      core::set_member(paths, base, std::move(coll), a);
    }
    JsonValue comps(rapidjson::kObjectType);
    core::set_member(comps, "schemas", std::move(schemas), a);
    core::set_member(d, "components", std::move(comps), a);
    core::set_member(d, "paths", std::move(paths), a);
    send_json(res, 200, core::to_json(d));
  }

  // ---------------------------------------------------------------------------------------------
  // resources

  // Query parameters from the raw target: cpp-httplib cuts values at a second '=' ("a!=b").
  static std::string param(const httplib::Request& req, const char* name) {
    auto q = req.target.find('?');
    if (q == std::string::npos) return {};
    std::string_view rest(req.target);
    rest.remove_prefix(q + 1);
    std::string_view want(name);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      std::string_view kv = rest.substr(0, amp);
      auto eq = kv.find('=');
      std::string key = httplib::detail::decode_url(std::string(kv.substr(0, eq)), true);
      if (key == want) return eq == std::string_view::npos ? std::string() : httplib::detail::decode_url(std::string(kv.substr(eq + 1)), true);
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    return {};
  }

  static bool dry_run(const httplib::Request& req) { return param(req, "dryRun") == "All"; }

  void resource_request(const httplib::Request& req, httplib::Response& res, Target& t, const UserInfo& user) {
    const std::string& m = req.method;
    std::string res_name = t.sub.empty() ? t.type.resource : t.type.resource + "/" + t.sub;
    std::string verb;
    bool watch = t.watch_path || watch_requested(param(req, "watch"));
    if (m == "GET") verb = t.name.empty() ? (watch ? "watch" : "list") : "get";
    else if (m == "POST") verb = "create";
    else if (m == "PUT") verb = "update";
    else if (m == "PATCH") verb = "patch";
    else if (m == "DELETE") verb = t.name.empty() ? "deletecollection" : "delete";
    else throw StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
    count(verb, res_name);
    std::optional<std::string> faulted_watch = apply_faults(verb, res_name);

    if (t.type.create_only || (!t.sub.empty() && create_handlers.count({t.type.group, t.type.resource, t.sub}))) {
      if (verb != "create") throw method_not_supported(t.type, verb);
      return virtual_create(req, res, t, user);
    }
    if (verb == "get") return get(req, res, t);
    if (verb == "list") return list(req, res, t);
    if (verb == "watch") return watch_request(req, res, t, std::move(faulted_watch));
    if (verb == "create") {
      if (!t.name.empty()) throw method_not_supported(t.type, "create");
      return create(req, res, t, user);
    }
    if (verb == "update") return update(req, res, t, user);
    if (verb == "patch") return patch(req, res, t, user);
    if (verb == "delete") return remove(req, res, t, user);
    if (verb == "deletecollection") return delete_collection(req, res, t, user);
  }

  void virtual_create(const httplib::Request& req, httplib::Response& res, Target& t, const UserInfo& user) {
    JsonDoc body = parse_body(req.body);
    CreateCall call{t.type, t.sub, t.ns, t.name, &body, user, dry_run(req)};
    auto it = create_handlers.find({t.type.group, t.type.resource, t.sub});
    JsonDoc out;
    if (it != create_handlers.end()) {
      out = it->second(call);
    } else if (t.type.resource == "tokenreviews") {
      out = default_token_review(body);
    } else if (t.type.resource.find("subjectaccessreviews") != std::string::npos) {
      out.CopyFrom(body, out.GetAllocator());
      auto& st = core::ensure_object(out, "status", out.GetAllocator());
      core::set_member(st, "allowed", JsonValue(true), out.GetAllocator());
    } else if (t.type.resource == "selfsubjectrulesreviews") {
      // Nothing is enforced without an authorizer: kube-apiserver's AlwaysAllow rules.
      const JsonValue* ns = core::at_path(body, {"spec", "namespace"});
      if (ns == nullptr || !ns->IsString() || ns->GetStringLength() == 0) throw bad_request("no namespace on request");
      out.Parse(R"({"kind":"SelfSubjectRulesReview","apiVersion":"authorization.k8s.io/v1",
        "metadata":{"creationTimestamp":null},"spec":{},"status":{
        "resourceRules":[{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}],
        "nonResourceRules":[{"verbs":["*"],"nonResourceURLs":["*"]}],"incomplete":false}})");
    } else if (t.type.resource == "selfsubjectreviews") {
      out = self_subject_review(user);
    } else {
      throw StatusError(404, "NotFound", "the server could not find the requested resource");
    }
    send_json(res, 201, core::to_json(out));
  }

  // `kubectl auth whoami`: the requesting user as authenticated.
  static JsonDoc self_subject_review(const UserInfo& user) {
    JsonDoc out = sim_review_envelope("SelfSubjectReview", "authentication.k8s.io/v1");
    auto& a = out.GetAllocator();
    JsonValue info(rapidjson::kObjectType);
    core::set_string(info, "username", user.username, a);
    if (!user.uid.empty()) core::set_string(info, "uid", user.uid, a);
    if (!user.groups.empty()) {
      JsonValue groups(rapidjson::kArrayType);
      for (const auto& g : user.groups) groups.PushBack(core::json_string(g, a), a);
      info.AddMember("groups", std::move(groups), a);
    }
    if (!user.extra.empty()) {
      JsonValue extra(rapidjson::kObjectType);
      for (const auto& [k, vs] : user.extra) {
        JsonValue arr(rapidjson::kArrayType);
        for (const auto& v : vs) arr.PushBack(core::json_string(v, a), a);
        extra.AddMember(core::json_string(k, a), std::move(arr), a);
      }
      info.AddMember("extra", std::move(extra), a);
    }
    JsonValue status(rapidjson::kObjectType);
    status.AddMember("userInfo", std::move(info), a);
    out.AddMember("status", std::move(status), a);
    return out;
  }

  // TokenReview against the static tokens and authenticators (the auth module may replace it).
  JsonDoc default_token_review(const JsonValue& body) {
    JsonDoc out;
    out.CopyFrom(body, out.GetAllocator());
    auto& a = out.GetAllocator();
    std::string token = core::at_path(body, {"spec", "token"}) && core::at_path(body, {"spec", "token"})->IsString()
                            ? core::at_path(body, {"spec", "token"})->GetString()
                            : "";
    std::optional<UserInfo> u;
    if (auto it = tokens.find(token); it != tokens.end()) u = it->second;
    for (auto& au : authenticators)
      if (!u) u = au(token);
    JsonValue st(rapidjson::kObjectType);
    core::set_member(st, "authenticated", JsonValue(u.has_value()), a);
    if (u) {
      JsonValue ui(rapidjson::kObjectType);
      core::set_string(ui, "username", u->username, a);
      core::set_string(ui, "uid", u->uid, a);
      core::set_member(ui, "groups", string_array(u->groups, a), a);
      core::set_member(st, "user", std::move(ui), a);
    } else {
      core::set_string(st, "error", "invalid bearer token", a);
    }
    core::set_member(out, "status", std::move(st), a);
    return out;
  }

  bool wants_table(const httplib::Request& req) {
    return req.get_header_value("Accept").find("as=Table") != std::string::npos;
  }

  const JsonValue* crd_columns(const ResourceType& t, std::shared_ptr<JsonDoc>& hold) {
    std::lock_guard lk(crd_mu);
    auto it = crds.find({t.group, t.resource});
    if (it == crds.end()) return nullptr;
    hold = it->second.columns;
    return hold ? hold.get() : nullptr;
  }

  void get(const httplib::Request& req, httplib::Response& res, Target& t) {
    ObjectPtr o = store.get(t.type.group, t.type.resource, t.ns, t.name);
    if (!o) throw not_found(t.type, t.name);
    if (t.sub == "scale") return send_json(res, 200, scale_json(t.type, o->value()));
    if (!t.type.crd_name.empty() && wants_table(req)) {
      std::shared_ptr<JsonDoc> hold;
      const JsonValue* cols = crd_columns(t.type, hold);
      return send_json(res, 200, render_table({o}, cols, o->rv, "", std::chrono::system_clock::now()),
                       "application/json;as=Table;v=v1;g=meta.k8s.io");
    }
    send_json(res, 200, o->json);
  }

  std::string scale_json(const ResourceType& t, const JsonValue& obj) {
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    core::set_string(d, "kind", "Scale", a);
    core::set_string(d, "apiVersion", "autoscaling/v1", a);
    JsonValue md(rapidjson::kObjectType);
    for (std::string_view f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"})
      if (auto* v = core::at_path(obj, {"metadata", f})) core::set_member(md, f, JsonValue(*v, a), a);
    core::set_member(d, "metadata", std::move(md), a);
    JsonValue spec(rapidjson::kObjectType);
    auto* r = core::at_path(obj, {"spec", "replicas"});
    core::set_member(spec, "replicas", JsonValue(r && r->IsInt() ? r->GetInt() : 1), a);
    core::set_member(d, "spec", std::move(spec), a);
    JsonValue st(rapidjson::kObjectType);
    auto* sr = core::at_path(obj, {"status", "replicas"});
    core::set_member(st, "replicas", JsonValue(sr && sr->IsInt() ? sr->GetInt() : 0), a);
    if (auto* sel = core::at_path(obj, {"spec", "selector", "matchLabels"}); sel && sel->IsObject()) {
      std::string s;
      for (auto it = sel->MemberBegin(); it != sel->MemberEnd(); ++it) {
        if (!s.empty()) s += ",";
        s += std::string(it->name.GetString()) + "=" + (it->value.IsString() ? it->value.GetString() : "");
      }
      core::set_string(st, "selector", s, a);
    }
    (void)t;
    core::set_member(d, "status", std::move(st), a);
    return core::to_json(d);
  }

  ListOptions list_options(const httplib::Request& req) {
    ListOptions o;
    o.label_selector = param(req, "labelSelector");
    o.field_selector = param(req, "fieldSelector");
    std::string limit = param(req, "limit");
    if (!limit.empty()) {
      try {
        o.limit = std::stoll(limit);
      } catch (const std::exception&) {
        throw bad_request(fmt::format("limit: Invalid value: \"{}\": must be an integer", limit));
      }
    }
    o.continue_token = param(req, "continue");
    return o;
  }

  void list(const httplib::Request& req, httplib::Response& res, Target& t) {
    ListResult r = store.list(t.type.group, t.type.resource, t.ns, list_options(req));
    if (!t.type.crd_name.empty() && wants_table(req)) {
      std::shared_ptr<JsonDoc> hold;
      const JsonValue* cols = crd_columns(t.type, hold);
      return send_json(res, 200,
                       render_table(r.items, cols, r.resource_version, r.continue_token, std::chrono::system_clock::now()),
                       "application/json;as=Table;v=v1;g=meta.k8s.io");
    }
    std::string out;
    size_t total = 256;
    for (auto& o : r.items) total += o->json.size() + 1;
    out.reserve(total);
    out += fmt::format(R"({{"kind":"{}List","apiVersion":"{}","metadata":{{"resourceVersion":"{}")", t.type.kind,
                       t.type.api_version(), r.resource_version);
    if (!r.continue_token.empty()) {
      rapidjson::Value tok(r.continue_token.c_str(), static_cast<rapidjson::SizeType>(r.continue_token.size()));
      out += ",\"continue\":" + core::to_json(tok);
    }
    out += "},\"items\":[";
    for (size_t i = 0; i < r.items.size(); ++i) {
      if (i) out += ',';
      out += r.items[i]->json;
    }
    out += "]}";
    send_json(res, 200, out);
  }

  struct WatchState {
    std::shared_ptr<Watch> watch;
    std::optional<std::string> only_body;  // set: the stream is exactly this (an ERROR event, or nothing), then ends
    LabelSelector labels;
    FieldSelector fields;
    bool bookmarks = false;
    std::string kind, api_version;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point next_bookmark;
    bool done = false;
  };

  void watch_request(const httplib::Request& req, httplib::Response& res, Target& t,
                     std::optional<std::string> faulted_body) {
    auto st = std::make_shared<WatchState>();
    ListOptions lo = list_options(req);
    st->labels = LabelSelector::parse(lo.label_selector);
    st->fields = FieldSelector::parse(lo.field_selector, field_labels_for(t.type), !t.type.crd_name.empty());
    st->bookmarks = param(req, "allowWatchBookmarks") == "true";
    st->kind = t.type.kind;
    st->api_version = t.type.api_version();
    long timeout_s = 1800;
    if (std::string ts = param(req, "timeoutSeconds"); !ts.empty()) {
      try {
        timeout_s = std::stol(ts);
      } catch (const std::exception&) {
        throw bad_request(fmt::format("timeoutSeconds: Invalid value: \"{}\": must be an integer", ts));
      }
    }
    auto now = std::chrono::steady_clock::now();
    st->deadline = now + std::chrono::seconds(timeout_s);
    st->next_bookmark = now + opt.bookmark_interval;
    if (faulted_body) {
      st->only_body = std::move(faulted_body);
    } else {
      try {
        st->watch = store.watch(t.type.group, t.type.resource, t.ns, param(req, "resourceVersion"));
      } catch (const StatusError& e) {
        // As the watch cache does: the error travels as an ERROR event on a 200 stream.
        st->only_body = watch_event_line("ERROR", e.to_json());
      }
    }
    res.status = 200;
    res.set_header("Cache-Control", "no-cache, private");
    // kube-apiserver never compresses a watch. httplib would gzip (or brotli) the stream for a client
    // that accepts it (kubectl sends Accept-Encoding: gzip), and its compressor holds small events back
    // until the stream ends: kubectl wait and get -w then saw no event at all. httplib decides from the
    // request's header after this handler returns; the Request is the server's own (non-const) object.
    const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
    res.set_chunked_content_provider(
        "application/json",
        [this, st](size_t, httplib::DataSink& sink) -> bool {
          if (st->only_body) {
            if (!st->only_body->empty()) sink.write(st->only_body->data(), st->only_body->size());
            sink.done();
            return true;
          }
          std::string out;
          auto now = std::chrono::steady_clock::now();
          if (now >= st->deadline || !running.load()) {
            sink.done();
            return true;
          }
          auto wait = std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(200), st->deadline - now);
          auto ev = st->watch->next(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
          while (ev) {
            const JsonValue& v = ev->object->value();
            if (st->labels.matches(core::at_path(v, {"metadata", "labels"})) && st->fields.matches(v)) {
              out += R"({"type":")";
              out += event_type_name(ev->type);
              out += R"(","object":)";
              out += ev->object->json;
              out += "}\n";
            }
            if (out.size() > (1u << 20)) break;
            ev = st->watch->next(std::chrono::milliseconds(0));
          }
          if (out.empty() && st->watch->closed()) {
            sink.done();
            return true;
          }
          now = std::chrono::steady_clock::now();
          if (st->bookmarks && out.empty() && now >= st->next_bookmark) {
            // Every event up to current_rv() is already queued; the queue is empty, so this is safe.
            uint64_t rv = store.current_rv();
            auto again = st->watch->next(std::chrono::milliseconds(0));
            if (!again) {
              out = fmt::format(
                  R"({{"type":"BOOKMARK","object":{{"kind":"{}","apiVersion":"{}","metadata":{{"resourceVersion":"{}","creationTimestamp":null}}}}}})"
                  "\n",
                  st->kind, st->api_version, rv);
            } else {
              const JsonValue& v = again->object->value();
              if (st->labels.matches(core::at_path(v, {"metadata", "labels"})) && st->fields.matches(v))
                out = fmt::format(R"({{"type":"{}","object":{}}})"
                                  "\n",
                                  event_type_name(again->type), again->object->json);
            }
            st->next_bookmark = now + opt.bookmark_interval;
          }
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          return true;
        },
        [st](bool) {
          if (st->watch) st->watch->close();
        });
  }

  // ---- writes ---------------------------------------------------------------------------------

  struct CrdView {
    std::shared_ptr<JsonDoc> schema;
    bool present = false;
  };

  CrdView crd_view(const ResourceType& t) {
    CrdView v;
    if (t.crd_name.empty()) return v;
    std::lock_guard lk(crd_mu);
    auto it = crds.find({t.group, t.resource});
    if (it == crds.end()) return v;
    v.present = true;
    v.schema = it->second.schema;
    return v;
  }

  // Decoding: apiVersion/kind check, Secret stringData, CRD pruning (Strict rejects) and defaults.
  void decode(const httplib::Request& req, httplib::Response& res, const Target& t, JsonDoc& obj) {
    auto& a = obj.GetAllocator();
    if (!obj.IsObject()) throw bad_request("the body of the request was in an unknown format");
    std::string av = core::string_or(obj, "apiVersion", "");
    std::string kind = core::string_or(obj, "kind", "");
    if (!av.empty() && av != t.type.api_version())
      throw bad_request(fmt::format("the API version in the data ({}) does not match the expected API version ({})", av,
                                    t.type.api_version()));
    if (!kind.empty() && kind != t.type.kind)
      throw bad_request(fmt::format("the kind in the data ({}) does not match the expected kind ({})", kind, t.type.kind));
    if (!core::member(obj, "metadata")) core::set_member(obj, "metadata", JsonValue(rapidjson::kObjectType), a);
    if (!core::member(obj, "metadata")->IsObject())
      throw bad_request(fmt::format("{} in version \"{}\" cannot be handled as a {}: json: cannot unmarshal into Go "
                                    "struct field {}.metadata of type v1.ObjectMeta",
                                    t.type.kind, t.type.version, t.type.kind, t.type.kind));
    core::set_string(obj, "apiVersion", t.type.api_version(), a);
    core::set_string(obj, "kind", t.type.kind, a);
    if (t.type.group.empty() && t.type.resource == "secrets") decode_secret(obj, a);
    std::vector<std::string> unknown;
    CrdView cv = crd_view(t.type);
    if (cv.present && cv.schema) {
      prune_and_default(obj, *cv.schema, a, unknown);
    } else if (cv.present) {
      // no schema: keep everything
    } else {
      builtin_unknown_top_level(t.type, obj, unknown);
      drop_fields_unknown_to(opt.version, t.type, obj, unknown);
    }
    if (!unknown.empty()) {
      std::string validation = param(req, "fieldValidation");
      if (validation == "Strict") {
        std::string list;
        for (auto& u : unknown) {
          if (!list.empty()) list += ", ";
          list += fmt::format("unknown field \"{}\"", u);
        }
        throw bad_request(fmt::format("{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                                      t.type.kind, t.type.version, t.type.kind, list));
      }
      if (validation != "Ignore") {
        std::string warn;
        for (auto& u : unknown) {
          if (!warn.empty()) warn += ",";
          warn += fmt::format("299 - \"unknown field \\\"{}\\\"\"", u);
        }
        res.set_header("Warning", warn);
      }
    }
    apply_builtin_defaults(t.type, obj, a);
  }

  static void builtin_unknown_top_level(const ResourceType& t, JsonValue& obj, std::vector<std::string>& unknown) {
    std::vector<std::string_view> allowed;
    if (t.group.empty() && t.resource == "secrets") allowed = {"data", "stringData", "type", "immutable"};
    else if (t.group.empty() && t.resource == "configmaps") allowed = {"data", "binaryData", "immutable"};
    else if (t.group.empty() && t.resource == "serviceaccounts")
      allowed = {"secrets", "imagePullSecrets", "automountServiceAccountToken"};
    else if (t.group == "apps" || (t.group.empty() && t.resource == "namespaces")) allowed = {"spec", "status"};
    else return;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd();) {
      std::string_view n(it->name.GetString(), it->name.GetStringLength());
      bool ok = n == "apiVersion" || n == "kind" || n == "metadata";
      for (auto x : allowed) ok = ok || x == n;
      if (!ok) {
        unknown.emplace_back(n);
        it = obj.EraseMember(it);
      } else {
        ++it;
      }
    }
  }

  void validate(const Target& t, const JsonValue& obj, const JsonValue* old, const std::string& name) {
    std::vector<StatusCause> causes;
    if (!old) {
      std::string n = core::at_path(obj, {"metadata", "name"}) && core::at_path(obj, {"metadata", "name"})->IsString()
                          ? core::at_path(obj, {"metadata", "name"})->GetString()
                          : "";
      bool label = t.type.group.empty() && (t.type.resource == "namespaces" || t.type.resource == "services");
      if (!n.empty())
        if (auto c = validate_name(n, label)) causes.push_back(*c);
    }
    CrdView cv = crd_view(t.type);
    if (cv.present && cv.schema) {
      auto sc = validate_schema(obj, *cv.schema);
      causes.insert(causes.end(), sc.begin(), sc.end());
    }
    auto bc = validate_builtin(t.type, obj, old);
    causes.insert(causes.end(), bc.begin(), bc.end());
    if (t.type.group == "apiextensions.k8s.io") {
      auto cc = validate_crd(obj);
      causes.insert(causes.end(), cc.begin(), cc.end());
    }
    if (!causes.empty()) throw invalid(t.type, name, std::move(causes));
  }

  // Admission warnings travel as `Warning: 299 - "text"` headers, on success and on rejection alike.
  static void send_warnings(httplib::Response& res, const AdmissionAttributes& attrs) {
    for (auto& w : attrs.warnings) {
      std::string q;
      for (char c : w) {
        if (c == '"' || c == '\\') q += '\\';
        q += (c == '\n' || c == '\r') ? ' ' : c;
      }
      res.set_header("Warning", "299 - \"" + q + "\"");
    }
    attrs.warnings.clear();
  }
  void run_mutating(httplib::Response& res, AdmissionAttributes& attrs) {
    try {
      for (auto& h : admission) h->mutate(attrs);
    } catch (...) {
      send_warnings(res, attrs);
      throw;
    }
  }
  void run_validating(httplib::Response& res, const AdmissionAttributes& attrs) {
    try {
      for (auto& h : admission) h->validate(attrs);
    } catch (...) {
      send_warnings(res, attrs);
      throw;
    }
    send_warnings(res, attrs);
  }

  static std::string obj_name(const JsonValue& obj) {
    auto* n = core::at_path(obj, {"metadata", "name"});
    return n && n->IsString() ? n->GetString() : "";
  }

  void check_namespace(const Target& t, JsonDoc& obj) {
    if (!t.type.namespaced) return;
    auto& md = core::ensure_object(obj, "metadata", obj.GetAllocator());
    std::string body_ns = core::string_or(md, "namespace", "");
    if (!body_ns.empty() && body_ns != t.ns)
      throw bad_request("the namespace of the provided object does not match the namespace sent on the request");
    core::set_string(md, "namespace", t.ns, obj.GetAllocator());
  }

  void create(const httplib::Request& req, httplib::Response& res, Target& t, const UserInfo& user) {
    if (!t.sub.empty()) throw method_not_supported(t.type, "create");
    JsonDoc obj = parse_body(req.body);
    decode(req, res, t, obj);
    check_namespace(t, obj);
    AdmissionAttributes attrs;
    attrs.operation = Operation::kCreate;
    attrs.type = t.type;
    attrs.ns = t.ns;
    attrs.name = obj_name(obj);
    attrs.object = &obj;
    attrs.user = user;
    attrs.dry_run = dry_run(req);
    run_mutating(res, attrs);
    redefault(t, obj);
    validate(t, obj, nullptr, obj_name(obj));
    run_validating(res, attrs);
    ObjectPtr created = store.create(t.type, t.ns, std::move(obj), attrs.dry_run);
    if (!attrs.dry_run && t.type.group == "apiextensions.k8s.io") created = sync_crd(created);
    send_json(res, 201, created->json);
  }

  // After mutating admission, the apiserver defaults (and prunes) again.
  void redefault(const Target& t, JsonDoc& obj) {
    CrdView cv = crd_view(t.type);
    if (cv.present && cv.schema) {
      std::vector<std::string> ignored;
      prune_and_default(obj, *cv.schema, obj.GetAllocator(), ignored);
    }
    apply_builtin_defaults(t.type, obj, obj.GetAllocator());
  }

  UpdateScope scope_of(const Target& t) { return t.sub == "status" ? UpdateScope::kStatus : UpdateScope::kMain; }

  // The shared tail of PUT and PATCH: admission, validation, store.
  ObjectPtr write_update(const httplib::Request& req, httplib::Response& res, Target& t, const UserInfo& user, JsonDoc obj, ObjectPtr old) {
    AdmissionAttributes attrs;
    attrs.operation = Operation::kUpdate;
    attrs.type = t.type;
    attrs.subresource = t.sub;
    attrs.ns = t.ns;
    attrs.name = t.name;
    attrs.old_object = &old->value();
    attrs.object = &obj;
    attrs.user = user;
    attrs.dry_run = dry_run(req);
    run_mutating(res, attrs);
    redefault(t, obj);
    validate(t, obj, &old->value(), t.name);
    run_validating(res, attrs);
    ObjectPtr updated = store.update(t.type, t.ns, std::move(obj), scope_of(t), attrs.dry_run);
    if (!attrs.dry_run && t.type.group == "apiextensions.k8s.io" && t.sub.empty()) updated = sync_crd(updated);
    return updated;
  }

  void update(const httplib::Request& req, httplib::Response& res, Target& t, const UserInfo& user) {
    if (t.name.empty()) throw method_not_supported(t.type, "update");
    JsonDoc obj = parse_body(req.body);
    if (t.sub == "scale") return scale_write(req, res, t, user, &obj, nullptr);
    decode(req, res, t, obj);
    check_namespace(t, obj);
    std::string body_name = obj_name(obj);
    if (body_name.empty())
      core::set_string(core::ensure_object(obj, "metadata", obj.GetAllocator()), "name", t.name, obj.GetAllocator());
    else if (body_name != t.name)
      throw bad_request(fmt::format("the name of the object ({}) does not match the name on the URL ({})", body_name,
                                    t.name));
    ObjectPtr old = store.get(t.type.group, t.type.resource, t.ns, t.name);
    if (!old) throw not_found(t.type, t.name);
    ObjectPtr updated = write_update(req, res, t, user, std::move(obj), old);
    send_json(res, 200, updated->json);
  }

  void scale_write(const httplib::Request& req, httplib::Response& res, Target& t, const UserInfo& user,
                   const JsonValue* scale_body, const std::string* patch_type) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      ObjectPtr old = store.get(t.type.group, t.type.resource, t.ns, t.name);
      if (!old) throw not_found(t.type, t.name);
      JsonDoc scale;
      {
        auto r = core::parse_json(scale_json(t.type, old->value()));
        scale.Swap(**r);
      }
      if (patch_type) {
        JsonDoc p = parse_body(req.body);
        if (*patch_type == "json") {
          auto r = apply_json_patch(scale, p);
          if (!r) throw StatusError(422, "Invalid", r.error());
        } else {
          apply_merge_patch(scale, p, scale.GetAllocator());
        }
      } else {
        scale.CopyFrom(*scale_body, scale.GetAllocator());
      }
      auto* rep = core::at_path(scale, {"spec", "replicas"});
      if (!rep || !rep->IsInt()) throw invalid(t.type, t.name, {{"FieldValueRequired", "Required value", "spec.replicas"}});
      JsonDoc obj;
      obj.CopyFrom(old->value(), obj.GetAllocator());
      core::set_member(core::ensure_object(obj, "spec", obj.GetAllocator()), "replicas", JsonValue(rep->GetInt()),
                       obj.GetAllocator());
      Target main = t;
      main.sub.clear();
      try {
        ObjectPtr updated = write_update(req, res, main, user, std::move(obj), old);
        return send_json(res, 200, scale_json(t.type, updated->value()));
      } catch (const StatusError& e) {
        if (e.code != 409 || e.reason != "Conflict") throw;
      }
    }
    throw conflict_modified(t.type, t.name);
  }

  void patch(const httplib::Request& req, httplib::Response& res, Target& t, const UserInfo& user) {
    if (t.name.empty()) throw method_not_supported(t.type, "patch");
    std::string ctype = req.get_header_value("Content-Type");
    auto semi = ctype.find(';');
    if (semi != std::string::npos) ctype = ctype.substr(0, semi);
    std::string kind;
    if (ctype == "application/merge-patch+json") kind = "merge";
    else if (ctype == "application/json-patch+json") kind = "json";
    else if (ctype == "application/strategic-merge-patch+json") kind = "strategic";
    else if (ctype == "application/apply-patch+yaml" || ctype == "application/apply-patch+cbor") kind = "apply";
    else
      throw StatusError(415, "UnsupportedMediaType",
                        fmt::format("the body of the request was in an unknown format - accepted media types include: "
                                    "application/json-patch+json, application/merge-patch+json, "
                                    "application/apply-patch+yaml{}",
                                    t.type.crd_name.empty() ? ", application/strategic-merge-patch+json" : ""));
    if (kind == "strategic" && !t.type.crd_name.empty())
      throw StatusError(415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include: "
                        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
    if (t.sub == "scale") return scale_write(req, res, t, user, nullptr, &kind);
    JsonDoc p = parse_body(req.body);
    for (int attempt = 0; attempt < 5; ++attempt) {
      ObjectPtr old = store.get(t.type.group, t.type.resource, t.ns, t.name);
      if (!old) {
        if (kind == "apply" && t.sub.empty()) {
          // Server-side apply of an absent object creates it.
          JsonDoc obj;
          obj.CopyFrom(p, obj.GetAllocator());
          decode(req, res, t, obj);
          check_namespace(t, obj);
          AdmissionAttributes attrs;
          attrs.operation = Operation::kCreate;
          attrs.type = t.type;
          attrs.ns = t.ns;
          attrs.name = t.name;
          attrs.object = &obj;
          attrs.user = user;
          attrs.dry_run = dry_run(req);
          run_mutating(res, attrs);
          redefault(t, obj);
          validate(t, obj, nullptr, t.name);
          run_validating(res, attrs);
          ObjectPtr created = store.create(t.type, t.ns, std::move(obj), attrs.dry_run);
          if (!attrs.dry_run && t.type.group == "apiextensions.k8s.io") created = sync_crd(created);
          return send_json(res, 201, created->json);
        }
        throw not_found(t.type, t.name);
      }
      JsonDoc obj;
      obj.CopyFrom(old->value(), obj.GetAllocator());
      // A patch only sets resourceVersion as a precondition when it names one.
      core::remove_member(core::ensure_object(obj, "metadata", obj.GetAllocator()), "resourceVersion");
      auto& a = obj.GetAllocator();
      if (kind == "merge") {
        if (!p.IsObject()) throw bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}");
        apply_merge_patch(obj, p, a);
      } else if (kind == "json") {
        auto r = apply_json_patch(obj, p);
        if (!r) throw StatusError(422, "Invalid", r.error());
      } else if (kind == "strategic" || kind == "apply") {
        // Server-side apply is approximated by a strategic merge (built-ins) or merge patch (CRs):
        // fields the manager stopped applying are not removed.
        if (kind == "apply" && !t.type.crd_name.empty()) {
          apply_merge_patch(obj, p, a);
        } else {
          auto r = apply_strategic_merge_patch(obj, p, a);
          if (!r) throw bad_request(r.error());
        }
      }
      if (!obj.IsObject()) throw bad_request("the patch produced something that is not an object");
      core::set_string(core::ensure_object(obj, "metadata", a), "name", t.name, a);
      decode(req, res, t, obj);
      check_namespace(t, obj);
      bool rv_given = core::at_path(p, {"metadata", "resourceVersion"}) != nullptr;
      if (!rv_given) core::set_string(core::ensure_object(obj, "metadata", a), "resourceVersion", std::to_string(old->rv), a);
      try {
        ObjectPtr updated = write_update(req, res, t, user, std::move(obj), old);
        return send_json(res, 200, updated->json);
      } catch (const StatusError& e) {
        if (rv_given || e.code != 409 || e.reason != "Conflict") throw;
        // The object moved between our read and write: re-apply the patch, as the apiserver retries.
      }
    }
    throw conflict_modified(t.type, t.name);
  }

  DeleteOptions delete_options(const httplib::Request& req) {
    DeleteOptions o;
    o.propagation_policy = param(req, "propagationPolicy");
    o.dry_run = dry_run(req);
    if (!req.body.empty()) {
      auto r = core::parse_json(req.body);
      if (!r) throw bad_request(fmt::format("couldn't get version/kind; json parse error: {}", r.error()));
      const JsonValue& b = **r;
      if (auto p = core::get_string(b, "propagationPolicy")) o.propagation_policy = *p;
      if (auto* oo = core::member(b, "orphanDependents"); oo && oo->IsBool() && o.propagation_policy.empty())
        o.propagation_policy = oo->GetBool() ? "Orphan" : "Background";
      if (auto* pre = core::member(b, "preconditions"); pre && pre->IsObject()) {
        if (auto u = core::get_string(*pre, "uid")) o.precondition_uid = *u;
        if (auto v = core::get_string(*pre, "resourceVersion")) o.precondition_rv = *v;
      }
      if (auto* dr = core::member(b, "dryRun"); dr && dr->IsArray())
        for (auto& x : dr->GetArray()) o.dry_run = o.dry_run || (x.IsString() && std::string_view(x.GetString()) == "All");
    }
    return o;
  }

  void remove(const httplib::Request& req, httplib::Response& res, Target& t, const UserInfo& user) {
    if (!t.sub.empty()) throw method_not_supported(t.type, "delete");
    DeleteOptions o = delete_options(req);
    ObjectPtr old = store.get(t.type.group, t.type.resource, t.ns, t.name);
    if (!old) throw not_found(t.type, t.name);
    AdmissionAttributes attrs;
    attrs.operation = Operation::kDelete;
    attrs.type = t.type;
    attrs.ns = t.ns;
    attrs.name = t.name;
    attrs.old_object = &old->value();
    attrs.user = user;
    attrs.dry_run = o.dry_run;
    run_mutating(res, attrs);
    run_validating(res, attrs);
    bool crd = t.type.group == "apiextensions.k8s.io";
    ObjectPtr gone_obj = store.remove(t.type, t.ns, t.name, o);
    bool still_there = store.get(t.type.group, t.type.resource, t.ns, t.name) != nullptr;
    if (crd && !o.dry_run && !still_there) drop_crd(gone_obj->value());
    if (still_there || !t.type.crd_name.empty() || crd) return send_json(res, 200, gone_obj->json);
    JsonDoc d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    core::set_string(d, "kind", "Status", a);
    core::set_string(d, "apiVersion", "v1", a);
    core::set_member(d, "metadata", JsonValue(rapidjson::kObjectType), a);
    core::set_string(d, "status", "Success", a);
    JsonValue det(rapidjson::kObjectType);
    core::set_string(det, "name", t.name, a);
    if (!t.type.group.empty()) core::set_string(det, "group", t.type.group, a);
    core::set_string(det, "kind", t.type.resource, a);
    core::set_string(det, "uid", obj_uid(gone_obj->value()), a);
    core::set_member(d, "details", std::move(det), a);
    send_json(res, 200, core::to_json(d));
  }

  static std::string obj_uid(const JsonValue& v) {
    auto* u = core::at_path(v, {"metadata", "uid"});
    return u && u->IsString() ? u->GetString() : "";
  }

  void delete_collection(const httplib::Request& req, httplib::Response& res, Target& t, const UserInfo& user) {
    ListResult r = store.list(t.type.group, t.type.resource, t.ns, list_options(req));
    DeleteOptions o = delete_options(req);
    for (auto& obj : r.items) {
      const JsonValue& v = obj->value();
      std::string ns = core::string_or(*core::member(v, "metadata"), "namespace", "");
      AdmissionAttributes attrs;
      attrs.operation = Operation::kDelete;
      attrs.type = t.type;
      attrs.ns = ns;
      attrs.name = obj_name(v);
      attrs.old_object = &v;
      attrs.user = user;
      attrs.dry_run = o.dry_run;
      run_mutating(res, attrs);
      run_validating(res, attrs);
      try {
        store.remove(t.type, ns, attrs.name, o);
      } catch (const StatusError& e) {
        if (e.code != 404) throw;
      }
    }
    std::string out = fmt::format(R"({{"kind":"{}List","apiVersion":"{}","metadata":{{"resourceVersion":"{}"}},"items":[)",
                                  t.type.kind, t.type.api_version(), store.current_rv());
    for (size_t i = 0; i < r.items.size(); ++i) {
      if (i) out += ',';
      out += r.items[i]->json;
    }
    out += "]}";
    send_json(res, 200, out);
  }

  // ---------------------------------------------------------------------------------------------
  // CustomResourceDefinitions

  static std::vector<StatusCause> validate_crd(const JsonValue& crd) {
    std::vector<StatusCause> out;
    auto* spec = core::member(crd, "spec");
    if (!spec || !spec->IsObject()) {
      out.push_back({"FieldValueRequired", "Required value", "spec"});
      return out;
    }
    std::string group = core::string_or(*spec, "group", "");
    std::string plural = core::at_path(*spec, {"names", "plural"}) && core::at_path(*spec, {"names", "plural"})->IsString()
                             ? core::at_path(*spec, {"names", "plural"})->GetString()
                             : "";
    std::string kind = core::at_path(*spec, {"names", "kind"}) && core::at_path(*spec, {"names", "kind"})->IsString()
                           ? core::at_path(*spec, {"names", "kind"})->GetString()
                           : "";
    if (group.empty()) out.push_back({"FieldValueRequired", "Required value", "spec.group"});
    if (plural.empty()) out.push_back({"FieldValueRequired", "Required value", "spec.names.plural"});
    if (kind.empty()) out.push_back({"FieldValueRequired", "Required value", "spec.names.kind"});
    std::string name = obj_name(crd);
    if (!group.empty() && !plural.empty() && name != plural + "." + group)
      out.push_back({"FieldValueInvalid", fmt::format("Invalid value: \"{}\": must be spec.names.plural+\".\"+spec.group", name),
                     "metadata.name"});
    std::string scope = core::string_or(*spec, "scope", "");
    if (scope != "Namespaced" && scope != "Cluster")
      out.push_back({"FieldValueNotSupported",
                     fmt::format("Unsupported value: \"{}\": supported values: \"Cluster\", \"Namespaced\"", scope),
                     "spec.scope"});
    auto* versions = core::member(*spec, "versions");
    if (!versions || !versions->IsArray() || versions->Empty()) {
      out.push_back({"FieldValueInvalid", "Invalid value: \"null\": must have exactly one version marked as storage version",
                     "spec.versions"});
      return out;
    }
    int storage = 0;
    for (rapidjson::SizeType i = 0; i < versions->Size(); ++i) {
      auto& v = (*versions)[i];
      if (auto s = core::get_bool(v, "storage"); s && *s) ++storage;
      if (!core::at_path(v, {"schema", "openAPIV3Schema"}))
        out.push_back({"FieldValueRequired", "Required value: schemas are required",
                       fmt::format("spec.versions[{}].schema.openAPIV3Schema", i)});
    }
    if (storage != 1)
      out.push_back({"FieldValueInvalid",
                     fmt::format("Invalid value: {}: must have exactly one version marked as storage version",
                                 core::to_json(*versions)),
                     "spec.versions"});
    return out;
  }

  // Registers the CRD's resource, and marks it Established (status) as the apiextensions controllers do.
  ObjectPtr sync_crd(ObjectPtr crd_obj) {
    const JsonValue& crd = crd_obj->value();
    if (core::at_path(crd, {"metadata", "deletionTimestamp"})) return crd_obj;
    auto* spec = core::member(crd, "spec");
    auto* names = core::member(*spec, "names");
    ResourceType t;
    t.group = core::string_or(*spec, "group", "");
    t.resource = core::string_or(*names, "plural", "");
    t.kind = core::string_or(*names, "kind", "");
    t.singular = core::string_or(*names, "singular", lower(t.kind));
    t.namespaced = core::string_or(*spec, "scope", "Namespaced") == "Namespaced";
    t.crd_name = obj_name(crd);
    if (auto* sn = core::member(*names, "shortNames"); sn && sn->IsArray())
      for (auto& s : sn->GetArray())
        if (s.IsString()) t.short_names.emplace_back(s.GetString());
    if (auto* cats = core::member(*names, "categories"); cats && cats->IsArray())
      for (auto& s : cats->GetArray())
        if (s.IsString()) t.categories.emplace_back(s.GetString());
    CrdInfo info;
    const JsonValue* storage = nullptr;
    for (auto& v : core::member(*spec, "versions")->GetArray()) {
      if (core::get_bool(v, "served").value_or(true)) info.served_versions.push_back(core::string_or(v, "name", ""));
      if (core::get_bool(v, "storage").value_or(false)) storage = &v;
    }
    if (!storage) return crd_obj;
    t.version = core::string_or(*storage, "name", "");
    if (core::at_path(*storage, {"subresources", "status"})) t.subresources.push_back("status");
    if (core::at_path(*storage, {"subresources", "scale"})) t.subresources.push_back("scale");
    if (auto* s = core::at_path(*storage, {"schema", "openAPIV3Schema"})) {
      info.schema = std::make_shared<JsonDoc>();
      info.schema->CopyFrom(*s, info.schema->GetAllocator());
    }
    if (auto* c = core::member(*storage, "additionalPrinterColumns"); c && c->IsArray()) {
      info.columns = std::make_shared<JsonDoc>();
      info.columns->CopyFrom(*c, info.columns->GetAllocator());
    }
    bool schema_changed = true;
    {
      std::lock_guard lk(crd_mu);
      auto& slot = crds[{t.group, t.resource}];
      schema_changed = !slot.schema || !info.schema || !(*slot.schema == *info.schema);
      slot = info;
    }
    store.register_type(t);
    // Stored objects are read under the current schema from now on (kube-apiserver rebuilds the
    // resource's storage, whose codec prunes and defaults what it reads from etcd).
    if (schema_changed) store.set_decoder(t.group, t.resource, read_decoder(info.schema));
    // status: NamesAccepted + Established, acceptedNames, storedVersions
    JsonDoc upd;
    upd.CopyFrom(crd, upd.GetAllocator());
    auto& a = upd.GetAllocator();
    JsonValue st(rapidjson::kObjectType);
    JsonValue conds(rapidjson::kArrayType);
    std::string now = now_rfc3339();
    for (auto [type, reason, msg] :
         {std::tuple{"NamesAccepted", "NoConflicts", "no conflicts found"},
          std::tuple{"Established", "InitialNamesAccepted", "the initial names have been accepted"}}) {
      JsonValue c(rapidjson::kObjectType);
      core::set_string(c, "type", type, a);
      core::set_string(c, "status", "True", a);
      core::set_string(c, "lastTransitionTime", now, a);
      core::set_string(c, "reason", reason, a);
      core::set_string(c, "message", msg, a);
      conds.PushBack(c, a);
    }
    core::set_member(st, "conditions", std::move(conds), a);
    core::set_member(st, "acceptedNames", JsonValue(*names, a), a);
    JsonValue stored(rapidjson::kArrayType);
    stored.PushBack(core::json_string(t.version, a), a);
    core::set_member(st, "storedVersions", std::move(stored), a);
    if (auto* old_st = core::member(crd, "status")) {
      // Keep transition times when already established.
      if (auto* oc = core::member(*old_st, "conditions"); oc && oc->IsArray() && oc->Size() == 2) return crd_obj;
    }
    core::set_member(upd, "status", std::move(st), a);
    auto crd_type = *store.find_type("apiextensions.k8s.io", "customresourcedefinitions");
    try {
      return store.update(crd_type, "", std::move(upd), UpdateScope::kStatus);
    } catch (const StatusError&) {
      return crd_obj;
    }
  }

  static Decoder read_decoder(std::shared_ptr<const JsonDoc> schema) {
    if (!schema) return nullptr;
    return [schema](JsonDoc& obj) {
      std::vector<std::string> ignored;
      prune_and_default(obj, *schema, obj.GetAllocator(), ignored);
    };
  }

  void drop_crd(const JsonValue& crd) {
    std::string group = core::string_or(*core::member(crd, "spec"), "group", "");
    auto* plural = core::at_path(crd, {"spec", "names", "plural"});
    if (!plural || !plural->IsString()) return;
    std::string resource = plural->GetString();
    if (auto t = store.find_type(group, resource)) {
      auto all = store.list(group, resource, "");
      for (auto& o : all.items) {
        try {
          std::string ns = core::string_or(*core::member(o->value(), "metadata"), "namespace", "");
          store.remove(*t, ns, obj_name(o->value()));
        } catch (const StatusError&) {
        }
      }
    }
    {
      std::lock_guard lk(crd_mu);
      crds.erase({group, resource});
    }
    store.unregister_type(group, resource);
  }

  // ---------------------------------------------------------------------------------------------
  // /sim admin

  void handle_admin(const httplib::Request& req, httplib::Response& res) {
    const std::string& p = req.path;
    if (p == "/sim/counters" && req.method == "GET") {
      JsonDoc d(rapidjson::kObjectType);
      auto& a = d.GetAllocator();
      JsonValue c(rapidjson::kObjectType);
      {
        std::lock_guard lk(fault_mu);
        for (auto& [k, v] : counters) core::set_member(c, k, JsonValue(static_cast<uint64_t>(v)), a);
      }
      for (auto& src : counter_sources)
        for (auto& [k, v] : src()) core::set_member(c, k, JsonValue(static_cast<uint64_t>(v)), a);
      core::set_member(d, "counters", std::move(c), a);
      core::set_member(d, "watches", JsonValue(static_cast<uint64_t>(store.watch_count())), a);
      core::set_member(d, "resourceVersion", JsonValue(store.current_rv()), a);
      return send_json(res, 200, core::to_json(d));
    }
    if (p == "/sim/counters" && req.method == "DELETE") {
      std::lock_guard lk(fault_mu);
      counters.clear();
      return send_json(res, 200, "{}");
    }
    if (p == "/sim/faults" && req.method == "POST") {
      JsonDoc b = parse_body(req.body);
      std::lock_guard lk(fault_mu);
      if (auto l = core::get_int(b, "latencyMs")) latency_ms = static_cast<long>(*l);
      if (auto* errs = core::member(b, "errors"); errs && errs->IsArray()) {
        for (auto& e : errs->GetArray()) {
          Fault f;
          f.verb = core::string_or(e, "verb", "*");
          f.resource = core::string_or(e, "resource", "*");
          f.code = static_cast<int>(core::get_int(e, "code").value_or(500));
          f.message = core::string_or(e, "message", "");
          f.remaining = static_cast<long>(core::get_int(e, "count").value_or(-1));
          if (auto k = core::get_int(e, "stallAfter")) {
            if (*k < 0) return send_json(res, 400, R"({"message":"errors[].stallAfter must be >= 0"})");
            f.stall_after = static_cast<long>(*k);
          }
          auto shape = parse_watch_shape(core::string_view_or(e, "watch", ""));
          if (!shape) return send_json(res, 400, R"({"message":"errors[].watch must be \"errorEvent\" or \"close\""})");
          f.watch = *shape;
          faults.push_back(f);
        }
      }
      return send_json(res, 200, "{}");
    }
    if (p == "/sim/faults" && req.method == "DELETE") {
      std::lock_guard lk(fault_mu);
      latency_ms = 0;
      faults.clear();
      ++fault_epoch;
      faults_cleared.notify_all();
      return send_json(res, 200, "{}");
    }
    if (p == "/sim/watches/close" && req.method == "POST") {
      store.close_all_watches();
      return send_json(res, 200, "{}");
    }
    if (p == "/sim/watches/expire-next" && req.method == "POST") {
      store.force_gone_next_watch();
      return send_json(res, 200, "{}");
    }
    if (p == "/sim/compact" && req.method == "POST") {
      uint64_t rv = store.current_rv();
      if (std::string v = param(req, "resourceVersion"); !v.empty()) {
        try {
          rv = std::stoull(v);
        } catch (const std::exception&) {
          throw bad_request("resourceVersion must be a number");
        }
      }
      store.compact(rv);
      return send_json(res, 200, fmt::format(R"({{"compactedTo":{}}})", rv));
    }
    throw StatusError(404, "NotFound", "the server could not find the requested resource");
  }
};

// -----------------------------------------------------------------------------------------------

KubeSim::KubeSim(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

KubeSim::~KubeSim() { stop(); }

void KubeSim::add_admission(std::shared_ptr<AdmissionHook> hook) { impl_->admission.push_back(std::move(hook)); }
void KubeSim::add_authenticator(Authenticator a) { impl_->authenticators.push_back(std::move(a)); }
void KubeSim::set_authorizer(Authorizer a) { impl_->authorizer = std::move(a); }
void KubeSim::add_create_handler(const std::string& group, const std::string& resource, const std::string& subresource,
                                 CreateHandler handler) {
  impl_->create_handlers[{group, resource, subresource}] = std::move(handler);
}

void KubeSim::add_counter_source(std::function<std::map<std::string, uint64_t>()> source) {
  std::lock_guard lk(impl_->fault_mu);
  impl_->counter_sources.push_back(std::move(source));
}
const std::vector<StaticToken>& KubeSim::static_tokens() const { return impl_->opt.tokens; }

void KubeSim::start() {
  auto& im = *impl_;
  if (im.opt.plain_http) {
    im.server = std::make_unique<httplib::Server>();
  } else {
    // A restart (start() after stop()) keeps the certificate, so clients' kubeconfigs stay valid.
    if (im.cert.cert_pem.empty())
      im.cert = im.opt.cert_file.empty() ? make_self_signed_cert() : load_cert(im.opt.cert_file, im.opt.key_file);
    im.server = std::make_unique<httplib::SSLServer>(im.cert.cert.get(), im.cert.key.get());
  }
  if (!im.server->is_valid()) throw std::runtime_error("kube-sim: cannot set up the TLS server");
  int threads = im.opt.threads;
  im.server->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  im.server->set_tcp_nodelay(true);  // else Nagle + delayed ACK add ~40 ms to every response
  im.server->set_keep_alive_max_count(1000000);
  im.server->set_keep_alive_timeout(im.opt.keep_alive_timeout_seconds);
  im.server->set_read_timeout(60);
  im.server->set_write_timeout(60);
  im.server->set_payload_max_length(16u << 20);
  auto h = [this](const httplib::Request& req, httplib::Response& res) { impl_->handle(req, res); };
  im.server->Get(".*", h);
  im.server->Post(".*", h);
  im.server->Put(".*", h);
  im.server->Patch(".*", h);
  im.server->Delete(".*", h);
  // A restart binds the port it had, so clients reconnect to the same address.
  const int want_port = im.port > 0 ? im.port : im.opt.port;
  if (want_port == 0) {
    im.port = im.server->bind_to_any_port(im.opt.host);
  } else {
    im.port = im.server->bind_to_port(im.opt.host, want_port) ? want_port : -1;
  }
  if (im.port <= 0) throw std::runtime_error(fmt::format("kube-sim: cannot listen on {}:{}", im.opt.host, want_port));
  im.running = true;
  im.thread = std::thread([&im] { im.server->listen_after_bind(); });
  if (!im.opt.kubeconfig_path.empty()) {
    std::ofstream out(im.opt.kubeconfig_path);
    out << kubeconfig();
    if (!out) throw std::runtime_error("kube-sim: cannot write " + im.opt.kubeconfig_path);
  }
  // listen_after_bind runs on its thread; wait until it accepts.
  for (int i = 0; i < 500 && !im.server->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

void KubeSim::stop() {
  auto& im = *impl_;
  if (!im.server) return;
  im.running = false;
  {
    std::lock_guard lk(im.fault_mu);  // stalled requests end, so the server can stop
    ++im.fault_epoch;
    im.faults_cleared.notify_all();
  }
  im.store.close_all_watches();
  im.server->stop();
  if (im.thread.joinable()) im.thread.join();
  im.server.reset();
  // No request can write any more: let observers (rollout, GC) finish, so that modules destroyed after
  // stop() are never called again.
  im.store.wait_idle();
}

int KubeSim::port() const { return impl_->port; }
std::string KubeSim::url() const {
  return fmt::format("{}://{}:{}", impl_->opt.plain_http ? "http" : "https", impl_->opt.host, impl_->port);
}
std::string KubeSim::ca_pem() const { return impl_->cert.cert_pem; }
std::string KubeSim::token() const { return impl_->opt.tokens.front().token; }
std::string KubeSim::admin_token() const { return impl_->opt.admin_token; }
Store& KubeSim::store() { return impl_->store; }

std::string KubeSim::kubeconfig() const {
  std::string cluster = "    server: " + url() + "\n";
  if (!impl_->opt.plain_http) cluster += "    certificate-authority-data: " + core::base64_encode(ca_pem()) + "\n";
  return fmt::format(
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: kube-sim\n"
      "  cluster:\n{}"
      "contexts:\n"
      "- name: kube-sim\n"
      "  context:\n"
      "    cluster: kube-sim\n"
      "    user: kube-sim-admin\n"
      "    namespace: {}\n"
      "current-context: kube-sim\n"
      "users:\n"
      "- name: kube-sim-admin\n"
      "  user:\n"
      "    token: {}\n",
      cluster, impl_->opt.default_namespace, token());
}

}  // namespace ifo::kubesim
