// The admission webhook dispatcher: matching, AdmissionReview v1 calls over libcurl with the
// configuration's caBundle, and kube-apiserver's error wording.
#include "sim/kube/admission.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <memory>
#include <set>

#include "core/base64.h"
#include "sim/kube/json_patch_apply.h"
#include "sim/kube/sim_util.h"

namespace ifo::kubesim {

namespace {

using core::JsonAlloc;
using core::JsonDoc;
using core::JsonValue;

constexpr std::string_view kAdmissionRegistrationGroup = "admissionregistration.k8s.io";
constexpr long kDefaultTimeoutSeconds = 10;
constexpr size_t kMaxResponseBytes = 3 * 1024 * 1024;  // the real client refuses larger answers too

std::string op_name(Operation op) {
  switch (op) {
    case Operation::kCreate: return "CREATE";
    case Operation::kUpdate: return "UPDATE";
    case Operation::kDelete: return "DELETE";
  }
  return "CONNECT";
}

bool string_list_matches(const JsonValue* list, std::string_view requested) {
  if (list == nullptr || !list->IsArray()) return false;
  for (const auto& item : list->GetArray()) {
    if (!item.IsString()) continue;
    std::string_view s(item.GetString(), item.GetStringLength());
    if (s == "*" || s == requested) return true;
  }
  return false;
}

// rules.Matcher (k8s.io/apiserver .../predicates/rules).
bool rule_matches(const JsonValue& rule, const AdmissionAttributes& req) {
  bool is_namespace = req.type.group.empty() && req.type.version == "v1" && req.type.resource == "namespaces";
  std::string scope = core::string_or(rule, "scope", "*");
  if (scope == "Namespaced") {
    if (is_namespace || req.ns.empty()) return false;
  } else if (scope == "Cluster") {
    if (!(is_namespace || req.ns.empty())) return false;
  } else if (scope != "*") {
    return false;
  }
  if (!string_list_matches(core::member(rule, "operations"), op_name(req.operation))) return false;
  if (!string_list_matches(core::member(rule, "apiGroups"), req.type.group)) return false;
  if (!string_list_matches(core::member(rule, "apiVersions"), req.type.version)) return false;
  const JsonValue* resources = core::member(rule, "resources");
  if (resources == nullptr || !resources->IsArray()) return false;
  for (const auto& item : resources->GetArray()) {
    if (!item.IsString()) continue;
    std::string_view s(item.GetString(), item.GetStringLength());
    auto slash = s.find('/');
    std::string_view res = s.substr(0, slash);
    std::string_view sub = slash == std::string_view::npos ? std::string_view() : s.substr(slash + 1);
    if ((res == "*" || res == req.type.resource) && (sub == "*" || sub == req.subresource)) return true;
  }
  return false;
}

std::map<std::string, std::string> labels_of(const JsonValue* obj) {
  std::map<std::string, std::string> out;
  if (obj == nullptr) return out;
  const JsonValue* labels = core::at_path(*obj, {"metadata", "labels"});
  if (labels == nullptr || !labels->IsObject()) return out;
  for (const auto& m : labels->GetObject()) {
    if (m.value.IsString()) out.emplace(m.name.GetString(), m.value.GetString());
  }
  return out;
}

bool selector_is_empty(const JsonValue* selector) {
  if (selector == nullptr || selector->IsNull()) return true;
  if (!selector->IsObject()) return false;
  const JsonValue* ml = core::member(*selector, "matchLabels");
  const JsonValue* me = core::member(*selector, "matchExpressions");
  bool no_ml = ml == nullptr || ml->IsNull() || (ml->IsObject() && ml->MemberCount() == 0);
  bool no_me = me == nullptr || me->IsNull() || (me->IsArray() && me->Empty());
  return no_ml && no_me;
}

// Go's url.Error text for a failed POST, and curl outcomes mapped to the net/http / crypto/tls texts
// the real server prints.
std::string transport_error_text(CURLcode rc, const std::string& errbuf, const std::string& dial_addr,
                                 const std::string& tls_host) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
      return fmt::format("dial tcp {}: connect: connection refused", dial_addr);
    case CURLE_OPERATION_TIMEDOUT:
      return "context deadline exceeded";
    case CURLE_PEER_FAILED_VERIFICATION:
      if (errbuf.find("subject name") != std::string::npos || errbuf.find("host name") != std::string::npos ||
          errbuf.find("hostname") != std::string::npos) {
        return fmt::format("tls: failed to verify certificate: x509: certificate is not valid for {}", tls_host);
      }
      return "tls: failed to verify certificate: x509: certificate signed by unknown authority";
    case CURLE_SSL_CONNECT_ERROR:
      return fmt::format("remote error: tls: handshake failure ({})", errbuf);
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      return "EOF";
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_WRITE_ERROR:
      return "response body too large";
    default:
      return errbuf.empty() ? std::string(curl_easy_strerror(rc)) : errbuf;
  }
}

// The text client-go's REST client gives a non-2xx answer (apierrors.NewGenericServerResponse), or the
// Status message when the body is a Status object.
std::string http_error_text(long status, const std::string& body) {
  if (auto doc = core::parse_json(body); doc.ok() && (*doc)->IsObject()) {
    if (core::string_or(**doc, "kind", "") == "Status") {
      auto msg = core::get_string(**doc, "message");
      if (msg && !msg->empty()) return *msg;
    }
  }
  std::string shown = body.empty() ? "unknown" : body.substr(0, 256);
  switch (status) {
    case 400: return "the server rejected our request for an unknown reason";
    case 401: return "Unauthorized";
    case 403: return "the server does not allow access to the requested resource";
    case 404: return "the server could not find the requested resource";
    case 405: return "the server does not allow this method on the requested resource";
    case 409: return "the server reported a conflict";
    case 413: return "the server has rejected the request due to its size being too large";
    case 415: return "the server responded with the status code 415 but did not return more information";
    case 422: return "the server rejected our request due to an error in our request";
    case 429: return "the server has received too many requests and has asked us to try again later";
    case 503: return "the server is currently unable to handle the request";
    case 504: return "the server was unable to return a response in the time allotted, but may still be processing the request";
    default: return fmt::format("an error on the server (\"{}\") has prevented the request from succeeding", shown);
  }
}

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

size_t collect_body(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxResponseBytes) return 0;
  out->append(data, size * n);
  return size * n;
}

void curl_init_once() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

// Where and how to call one webhook.
struct Endpoint {
  std::string url;        // as the real server would write it in errors (with ?timeout=Ns)
  std::string tls_host;   // host in the URL, verified against the certificate
  std::string connect_to; // curl CONNECT_TO entry ("" = dial the URL's host:port)
  std::string dial_addr;  // host:port actually dialled, for "dial tcp ..." errors
};

struct CallOutcome {
  bool ok = false;
  std::string error;  // ErrCallingWebhook reason ("failed to call webhook: ...", "received invalid ...")
  std::shared_ptr<JsonDoc> review;
};

// Splits "https://host:port/path" into host, port and path; nullopt when not https or malformed.
struct ParsedUrl {
  std::string host;
  std::string port;
  std::string path_and_query;
};
std::optional<ParsedUrl> parse_https_url(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  std::string_view rest = url.substr(kScheme.size());
  auto slash = rest.find('/');
  std::string_view hostport = rest.substr(0, slash);
  ParsedUrl p;
  p.path_and_query = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  if (hostport.empty()) return std::nullopt;
  if (hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    p.host = std::string(hostport.substr(0, close + 1));
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') p.port = std::string(hostport.substr(close + 2));
  } else {
    auto colon = hostport.rfind(':');
    p.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) p.port = std::string(hostport.substr(colon + 1));
  }
  if (p.port.empty()) p.port = "443";
  return p;
}

}  // namespace

core::Result<std::pair<std::string, std::string>> parse_service_mapping(std::string_view entry) {
  using R = core::Result<std::pair<std::string, std::string>>;
  auto eq = entry.find('=');
  if (eq == std::string_view::npos) {
    return R::fail(fmt::format("webhook service mapping \"{}\": expected NAMESPACE/NAME:PORT=127.0.0.1:PORT", entry));
  }
  std::string key(entry.substr(0, eq));
  std::string target(entry.substr(eq + 1));
  auto key_colon = key.rfind(':');
  auto target_colon = target.rfind(':');
  if (key_colon == std::string::npos || key_colon == 0 || key_colon + 1 == key.size()) {
    return R::fail(fmt::format("webhook service mapping \"{}\": the left side needs a port (NAMESPACE/NAME:PORT)", entry));
  }
  if (target_colon == std::string::npos || target_colon == 0 || target_colon + 1 == target.size()) {
    return R::fail(fmt::format("webhook service mapping \"{}\": the right side must be HOST:PORT", entry));
  }
  for (char c : target.substr(target_colon + 1)) {
    if (c < '0' || c > '9') return R::fail(fmt::format("webhook service mapping \"{}\": port is not a number", entry));
  }
  return std::make_pair(key, target);
}

core::Result<bool> label_selector_matches(const JsonValue* selector, const std::map<std::string, std::string>& labels) {
  using R = core::Result<bool>;
  if (selector_is_empty(selector)) return true;
  if (!selector->IsObject()) return R::fail("label selector must be an object");
  if (const JsonValue* ml = core::member(*selector, "matchLabels"); ml != nullptr && !ml->IsNull()) {
    if (!ml->IsObject()) return R::fail("matchLabels must be an object");
    for (const auto& m : ml->GetObject()) {
      if (!m.value.IsString()) return R::fail(fmt::format("matchLabels[{}] must be a string", m.name.GetString()));
      auto it = labels.find(m.name.GetString());
      if (it == labels.end() || it->second != m.value.GetString()) return false;
    }
  }
  if (const JsonValue* me = core::member(*selector, "matchExpressions"); me != nullptr && !me->IsNull()) {
    if (!me->IsArray()) return R::fail("matchExpressions must be an array");
    for (const auto& expr : me->GetArray()) {
      auto key = core::get_string(expr, "key");
      auto op = core::get_string(expr, "operator");
      if (!key || !op) return R::fail("a matchExpression needs key and operator");
      std::set<std::string> values;
      if (const JsonValue* vs = core::member(expr, "values"); vs != nullptr && vs->IsArray()) {
        for (const auto& v : vs->GetArray()) {
          if (v.IsString()) values.insert(v.GetString());
        }
      }
      auto it = labels.find(*key);
      if (*op == "In") {
        if (values.empty()) return R::fail(fmt::format("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"));
        if (it == labels.end() || values.count(it->second) == 0) return false;
      } else if (*op == "NotIn") {
        if (values.empty()) return R::fail(fmt::format("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"));
        if (it != labels.end() && values.count(it->second) != 0) return false;
      } else if (*op == "Exists") {
        if (it == labels.end()) return false;
      } else if (*op == "DoesNotExist") {
        if (it != labels.end()) return false;
      } else {
        return R::fail(fmt::format("\"{}\" is not a valid label selector operator", *op));
      }
    }
  }
  return true;
}

AdmissionDispatcher::AdmissionDispatcher(AdmissionOptions options) : options_(std::move(options)) { curl_init_once(); }

AdmissionResult AdmissionDispatcher::mutate(const std::vector<const JsonValue*>& configurations,
                                            AdmissionAttributes& attrs, const NamespaceLabelsFn& ns_labels) const {
  return run(true, configurations, attrs, attrs.object, ns_labels);
}

AdmissionResult AdmissionDispatcher::validate(const std::vector<const JsonValue*>& configurations,
                                              const AdmissionAttributes& attrs, const NamespaceLabelsFn& ns_labels) const {
  return run(false, configurations, attrs, nullptr, ns_labels);
}

namespace {

// The AdmissionReview request body (request.CreateV1AdmissionReview).
std::string build_review(const std::string& api_version, const std::string& uid, const AdmissionAttributes& req,
                         const JsonValue* object) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  const ResourceType& t = req.type;
  auto gvk = [&](const ResourceType& k) {
    w.StartObject();
    w.Key("group");
    w.String(k.group);
    w.Key("version");
    w.String(k.version);
    w.Key("kind");
    w.String(k.kind);
    w.EndObject();
  };
  auto gvr = [&](const ResourceType& r) {
    w.StartObject();
    w.Key("group");
    w.String(r.group);
    w.Key("version");
    w.String(r.version);
    w.Key("resource");
    w.String(r.resource);
    w.EndObject();
  };
  const std::string operation = op_name(req.operation);
  w.StartObject();
  w.Key("kind");
  w.String("AdmissionReview");
  w.Key("apiVersion");
  w.String(api_version);
  w.Key("request");
  w.StartObject();
  w.Key("uid");
  w.String(uid);
  w.Key("kind");
  gvk(t);
  w.Key("resource");
  gvr(t);
  if (!req.subresource.empty()) {
    w.Key("subResource");
    w.String(req.subresource);
  }
  w.Key("requestKind");
  gvk(t);
  w.Key("requestResource");
  gvr(t);
  if (!req.subresource.empty()) {
    w.Key("requestSubResource");
    w.String(req.subresource);
  }
  if (!req.name.empty()) {
    w.Key("name");
    w.String(req.name);
  }
  if (!req.ns.empty()) {
    w.Key("namespace");
    w.String(req.ns);
  }
  w.Key("operation");
  w.String(operation);
  w.Key("userInfo");
  w.StartObject();
  w.Key("username");
  w.String(req.user.username);
  if (!req.user.uid.empty()) {
    w.Key("uid");
    w.String(req.user.uid);
  }
  if (!req.user.groups.empty()) {
    w.Key("groups");
    w.StartArray();
    for (const auto& g : req.user.groups) w.String(g);
    w.EndArray();
  }
  if (!req.user.extra.empty()) {
    w.Key("extra");
    w.StartObject();
    for (const auto& [k, vs] : req.user.extra) {
      w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
      w.StartArray();
      for (const auto& v : vs) w.String(v);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndObject();
  w.Key("object");
  if (object != nullptr) object->Accept(w);
  else w.Null();
  w.Key("oldObject");
  if (req.old_object != nullptr) req.old_object->Accept(w);
  else w.Null();
  w.Key("dryRun");
  w.Bool(req.dry_run);
  w.Key("options");
  if (req.options != nullptr) {
    req.options->Accept(w);
  } else {
    const char* kind = req.operation == Operation::kCreate   ? "CreateOptions"
                       : req.operation == Operation::kUpdate ? "UpdateOptions"
                                                             : "DeleteOptions";
    w.StartObject();
    w.Key("kind");
    w.String(kind);
    w.Key("apiVersion");
    w.String("meta.k8s.io/v1");
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// Resolves clientConfig into an endpoint; error text is the ErrCallingWebhook reason.
core::Result<Endpoint> resolve_endpoint(const JsonValue& client_config, long timeout_seconds,
                                        const AdmissionOptions& options) {
  const auto& service_map = options.service_map;
  using R = core::Result<Endpoint>;
  Endpoint ep;
  std::string timeout_param = fmt::format("timeout={}s", timeout_seconds);
  if (const JsonValue* svc = core::member(client_config, "service"); svc != nullptr && svc->IsObject()) {
    std::string ns = core::string_or(*svc, "namespace", "");
    std::string name = core::string_or(*svc, "name", "");
    std::string path = core::string_or(*svc, "path", "");
    int64_t port = core::get_int(*svc, "port").value_or(443);
    ep.tls_host = fmt::format("{}.{}.svc", name, ns);
    std::string path_part = path.empty() ? "/" : (path.front() == '/' ? path : "/" + path);
    ep.url = fmt::format("https://{}:{}{}?{}", ep.tls_host, port, path_part, timeout_param);
    auto it = service_map.find(fmt::format("{}/{}:{}", ns, name, port));
    if (it == service_map.end() && options.service_resolver) {
      auto addr = options.service_resolver(ns, name, port);
      if (!addr.ok()) return R::fail(fmt::format("failed to call webhook: Post \"{}\": {}", ep.url, addr.error()));
      ep.dial_addr = *addr;
      ep.connect_to = fmt::format("{}:{}:{}", ep.tls_host, port, *addr);
      return ep;
    }
    if (it == service_map.end()) {
      return R::fail(fmt::format("failed to call webhook: Post \"{}\": service \"{}\" not found", ep.url, name));
    }
    ep.dial_addr = it->second;
    ep.connect_to = fmt::format("{}:{}:{}", ep.tls_host, port, it->second);
    return ep;
  }
  auto url = core::get_string(client_config, "url");
  if (!url) return R::fail("could not get REST client: webhook clientConfig has neither url nor service");
  auto parsed = parse_https_url(*url);
  if (!parsed) return R::fail(fmt::format("could not get REST client: webhook url \"{}\" is not an https URL", *url));
  ep.tls_host = parsed->host;
  ep.url = *url + (url->find('?') == std::string::npos ? "?" : "&") + timeout_param;
  std::string key = parsed->host + ":" + parsed->port;
  if (auto it = service_map.find(key); it != service_map.end()) {
    ep.dial_addr = it->second;
    ep.connect_to = fmt::format("{}:{}:{}", parsed->host, parsed->port, it->second);
  } else {
    ep.dial_addr = key;
  }
  return ep;
}

CallOutcome post_review(const Endpoint& ep, const std::string& ca_pem, long timeout_seconds, const std::string& body) {
  CallOutcome out;
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) {
    out.error = fmt::format("failed to call webhook: Post \"{}\": cannot create an HTTP client", ep.url);
    return out;
  }
  CURL* c = curl.get();
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string response;
  std::unique_ptr<curl_slist, SlistFree> headers;
  std::unique_ptr<curl_slist, SlistFree> connect_to;
  curl_slist* h = nullptr;
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Accept: application/json, */*");
  headers.reset(h);
  curl_easy_setopt(c, CURLOPT_URL, ep.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kube-apiserver-admission");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_seconds * 1000L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_pem.empty()) {
    curl_blob blob{const_cast<char*>(ca_pem.data()), ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!ep.connect_to.empty()) {
    connect_to.reset(curl_slist_append(nullptr, ep.connect_to.c_str()));
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to.get());
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    out.error = fmt::format("failed to call webhook: Post \"{}\": {}", ep.url,
                            transport_error_text(rc, errbuf, ep.dial_addr, ep.tls_host));
    return out;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    out.error = fmt::format("failed to call webhook: {}", http_error_text(status, response));
    return out;
  }
  auto doc = core::parse_json(response);
  if (!doc.ok() || !(*doc)->IsObject()) {
    out.error = fmt::format("failed to call webhook: {}",
                            doc.ok() ? std::string("the response is not a JSON object") : doc.error());
    return out;
  }
  out.ok = true;
  out.review = *doc;
  return out;
}

}  // namespace

AdmissionResult AdmissionDispatcher::run(bool mutating, const std::vector<const JsonValue*>& configurations,
                                         const AdmissionAttributes& req, JsonDoc* patchable,
                                         const NamespaceLabelsFn& ns_labels) const {
  AdmissionResult result;
  // The object the webhooks see: the request object (null on DELETE); only mutate() may patch it.
  const JsonValue* object = req.object;
  // The webhook configurations themselves are never subject to webhooks (IsExemptAdmissionConfigurationResource).
  if (req.type.group == kAdmissionRegistrationGroup &&
      (req.type.kind == "ValidatingWebhookConfiguration" || req.type.kind == "MutatingWebhookConfiguration" ||
       req.type.kind == "ValidatingAdmissionPolicy" || req.type.kind == "ValidatingAdmissionPolicyBinding")) {
    return result;
  }
  std::vector<const JsonValue*> sorted;
  for (const JsonValue* cfg : configurations) {
    if (cfg != nullptr && cfg->IsObject()) sorted.push_back(cfg);
  }
  auto config_name = [](const JsonValue* cfg) {
    const JsonValue* md = core::member(*cfg, "metadata");
    return md ? core::string_or(*md, "name", "") : std::string();
  };
  std::stable_sort(sorted.begin(), sorted.end(),
                   [&](const JsonValue* a, const JsonValue* b) { return config_name(a) < config_name(b); });
  auto log = [&](const std::string& line) {
    if (options_.log) options_.log(line);
  };

  for (const JsonValue* cfg : sorted) {
    const JsonValue* hooks = core::member(*cfg, "webhooks");
    if (hooks == nullptr || !hooks->IsArray()) continue;
    for (const auto& hook : hooks->GetArray()) {
      if (!hook.IsObject()) continue;
      std::string name = core::string_or(hook, "name", "");

      // namespaceSelector (predicates/namespace): cluster-scoped objects other than namespaces always match.
      std::optional<SimStatus> ns_error;
      bool ns_match = true;
      const JsonValue* ns_selector = core::member(hook, "namespaceSelector");
      if (!(req.ns.empty() && req.type.resource != "namespaces") && !selector_is_empty(ns_selector)) {
        std::optional<std::map<std::string, std::string>> labels;
        bool ns_object_write = req.type.group.empty() && req.type.resource == "namespaces" &&
                               req.subresource.empty() && (req.operation == Operation::kCreate || req.operation == Operation::kUpdate);
        if (ns_object_write) labels = labels_of(object);
        else if (ns_labels) labels = ns_labels(req.ns);
        if (!labels) {
          ns_match = false;
          ns_error = SimStatus::not_found("", "namespaces", req.ns);
        } else if (auto m = label_selector_matches(ns_selector, *labels); !m.ok()) {
          ns_match = false;
          ns_error = SimStatus::internal_error(m.error());
        } else {
          ns_match = *m;
        }
      }
      if (!ns_match && !ns_error) continue;

      // objectSelector (predicates/object): the new or the old object's labels.
      std::optional<SimStatus> obj_error;
      bool obj_match = true;
      const JsonValue* obj_selector = core::member(hook, "objectSelector");
      if (!selector_is_empty(obj_selector)) {
        auto m1 = object ? label_selector_matches(obj_selector, labels_of(object)) : core::Result<bool>(false);
        auto m2 = req.old_object ? label_selector_matches(obj_selector, labels_of(req.old_object)) : core::Result<bool>(false);
        if (!m1.ok() || !m2.ok()) {
          obj_match = false;
          obj_error = SimStatus::internal_error(!m1.ok() ? m1.error() : m2.error());
        } else {
          obj_match = *m1 || *m2;
        }
      }
      if (!obj_match && !obj_error) continue;

      bool rule_match = false;
      if (const JsonValue* rules = core::member(hook, "rules"); rules != nullptr && rules->IsArray()) {
        for (const auto& r : rules->GetArray()) {
          if (r.IsObject() && rule_matches(r, req)) {
            rule_match = true;
            break;
          }
        }
      }
      if (!rule_match) continue;
      if (ns_error) {
        result.rejection = ns_error;
        return result;
      }
      if (obj_error) {
        result.rejection = obj_error;
        return result;
      }
      // matchConditions: deliberately not evaluated (see admission.h).

      std::string failure_policy = core::string_or(hook, "failurePolicy", "Fail");
      bool ignore_failures = failure_policy == "Ignore";
      long timeout_seconds = static_cast<long>(core::get_int(hook, "timeoutSeconds").value_or(kDefaultTimeoutSeconds));
      if (timeout_seconds <= 0) timeout_seconds = kDefaultTimeoutSeconds;

      if (req.dry_run) {
        std::string side_effects = core::string_or(hook, "sideEffects", "");
        if (side_effects != "None" && side_effects != "NoneOnDryRun") {
          result.rejection =
              SimStatus::bad_request(fmt::format("admission webhook \"{}\" does not support dry run", name));
          return result;
        }
      }

      // A failure to call (ErrCallingWebhook): Ignore admits, Fail rejects with an InternalError.
      auto call_failed = [&](const std::string& reason) -> bool {
        std::string err = fmt::format("failed calling webhook \"{}\": {}", name, reason);
        if (ignore_failures) {
          log(fmt::format("webhook={} outcome=failed-open error=\"{}\"", name, err));
          return false;
        }
        log(fmt::format("webhook={} outcome=failed-closed error=\"{}\"", name, err));
        result.rejection = SimStatus::internal_error(err);
        return true;
      };

      std::string review_version;
      if (const JsonValue* versions = core::member(hook, "admissionReviewVersions"); versions && versions->IsArray()) {
        for (const auto& v : versions->GetArray()) {
          if (!v.IsString()) continue;
          std::string_view s(v.GetString(), v.GetStringLength());
          if (s == "v1" || s == "v1beta1") {
            review_version = std::string(s);
            break;
          }
        }
      }
      if (review_version.empty()) {
        if (call_failed("could not create admission objects: webhook does not accept known AdmissionReview versions (v1, v1beta1)")) {
          return result;
        }
        continue;
      }

      const JsonValue* client_config = core::member(hook, "clientConfig");
      if (client_config == nullptr || !client_config->IsObject()) {
        if (call_failed("could not get REST client: webhook has no clientConfig")) return result;
        continue;
      }
      auto endpoint = resolve_endpoint(*client_config, timeout_seconds, options_);
      if (!endpoint.ok()) {
        if (call_failed(endpoint.error())) return result;
        continue;
      }
      std::string ca_pem;
      if (auto ca = core::get_string(*client_config, "caBundle"); ca && !ca->empty()) {
        auto decoded = core::base64_decode(*ca);
        if (!decoded.ok()) {
          if (call_failed("could not get REST client: caBundle is not valid base64")) return result;
          continue;
        }
        ca_pem = *decoded;
      }

      std::string uid = sim_random_uuid();
      std::string api_version = "admission.k8s.io/" + review_version;
      std::string body = build_review(api_version, uid, req, object);
      calls_.fetch_add(1);
      result.called.push_back(name);
      CallOutcome outcome = post_review(*endpoint, ca_pem, timeout_seconds, body);
      if (!outcome.ok) {
        if (call_failed(outcome.error)) return result;
        continue;
      }

      // request.VerifyAdmissionResponse
      const JsonValue& review = *outcome.review;
      const JsonValue* response = core::member(review, "response");
      std::string verify_error;
      if (response == nullptr || !response->IsObject()) {
        verify_error = "webhook response was absent";
      } else if (review_version == "v1") {
        std::string got_uid = core::string_or(*response, "uid", "");
        std::string got_api = core::string_or(review, "apiVersion", "");
        std::string got_kind = core::string_or(review, "kind", "");
        if (got_uid != uid) {
          verify_error = fmt::format("expected response.uid=\"{}\", got \"{}\"", uid, got_uid);
        } else if (got_api != "admission.k8s.io/v1" || got_kind != "AdmissionReview") {
          auto slash = got_api.find('/');
          std::string g = slash == std::string::npos ? "" : got_api.substr(0, slash);
          std::string v = slash == std::string::npos ? got_api : got_api.substr(slash + 1);
          verify_error = fmt::format("expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {}/{}, Kind={}",
                                     g, v, got_kind);
        }
      }
      std::string patch_b64;
      std::string patch_type;
      if (verify_error.empty()) {
        patch_b64 = core::string_or(*response, "patch", "");
        const JsonValue* pt = core::member(*response, "patchType");
        bool has_pt = pt != nullptr && !pt->IsNull();
        if (has_pt && pt->IsString()) patch_type = pt->GetString();
        if (review_version == "v1") {
          if (mutating) {
            if (!patch_b64.empty() && !has_pt) verify_error = "webhook returned response.patch but not response.patchType";
            else if (patch_b64.empty() && has_pt) verify_error = "webhook returned response.patchType but not response.patch";
            else if (has_pt && patch_type.empty()) verify_error = "webhook returned invalid response.patchType of \"\"";
          } else {
            if (!patch_b64.empty()) verify_error = "validating webhook may not return response.patch";
            else if (has_pt) verify_error = "validating webhook may not return response.patchType";
          }
        } else if (mutating && !patch_b64.empty()) {
          patch_type = "JSONPatch";
        }
      }
      if (!verify_error.empty()) {
        if (call_failed("received invalid webhook response: " + verify_error)) return result;
        continue;
      }

      if (const JsonValue* warnings = core::member(*response, "warnings"); warnings && warnings->IsArray()) {
        for (const auto& wv : warnings->GetArray()) {
          if (wv.IsString()) result.warnings.emplace_back(wv.GetString(), wv.GetStringLength());
        }
      }

      bool allowed = core::get_bool(*response, "allowed").value_or(false);
      if (!allowed) {
        // errors.ToStatusErr (1.32): code < 400 becomes 400; message prefixed with who denied it.
        // AdmissionResponse.Result is serialised as "status" (k8s.io/api/admission/v1).
        const JsonValue* st = core::member(*response, "status");
        SimStatus s;
        int64_t code = st ? core::get_int(*st, "code").value_or(0) : 0;
        s.code = code < 400 ? 400 : static_cast<int>(code);
        s.reason = st ? core::string_or(*st, "reason", "") : "";
        std::string msg = st ? core::string_or(*st, "message", "") : "";
        std::string denied_by = fmt::format("admission webhook \"{}\" denied the request", name);
        if (!msg.empty()) s.message = denied_by + ": " + msg;
        else if (!s.reason.empty()) s.message = denied_by + ": " + s.reason;
        else s.message = denied_by + " without explanation";
        if (st) {
          if (const JsonValue* d = core::member(*st, "details"); d && d->IsObject()) {
            s.details_name = core::string_or(*d, "name", "");
            s.details_group = core::string_or(*d, "group", "");
            s.details_kind = core::string_or(*d, "kind", "");
            if (const JsonValue* causes = core::member(*d, "causes"); causes && causes->IsArray()) {
              for (const auto& cause : causes->GetArray()) {
                s.cause_messages.push_back(core::string_or(cause, "message", ""));
              }
            }
          }
        }
        log(fmt::format("webhook={} outcome=denied code={}", name, s.code));
        result.rejection = s;
        return result;
      }
      log(fmt::format("webhook={} outcome=allowed", name));

      if (!mutating || patch_b64.empty()) continue;
      auto patch_text = core::base64_decode(patch_b64);
      if (!patch_text.ok()) {
        if (call_failed("received undecodable patch in webhook response: illegal base64 data")) return result;
        continue;
      }
      auto patch_doc = core::parse_json(*patch_text);
      if (!patch_doc.ok() || !(*patch_doc)->IsArray()) {
        if (call_failed("received undecodable patch in webhook response: " +
                        (patch_doc.ok() ? std::string("not a JSON array") : patch_doc.error()))) {
          return result;
        }
        continue;
      }
      if ((*patch_doc)->Empty()) continue;
      if (patchable == nullptr) {
        result.rejection = SimStatus::internal_error(fmt::format(
            "admission webhook \"{}\" attempted to modify the object, which is not supported for this operation", name));
        return result;
      }
      if (patch_type != "JSONPatch") {
        // unsupported patch type: an ErrCallingWebhook
        if (call_failed(fmt::format("unsupported patch type \"{}\"", patch_type))) return result;
        continue;
      }
      JsonValue before(*patchable, patchable->GetAllocator());
      auto applied = apply_json_patch(*patchable, **patch_doc, patchable->GetAllocator());
      if (!applied.ok()) {
        result.rejection = SimStatus::internal_error(applied.error());
        return result;
      }
      if (before != *patchable) result.mutated = true;
    }
  }
  return result;
}

}  // namespace ifo::kubesim
