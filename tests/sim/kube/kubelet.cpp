// The kubelet stand-in: ReplicaSets' Pods, their containers as processes, volumes as files, readiness
// and liveness probes and Pod status. One loop thread owns every process; it is level based (each round compares
// the stored Pods with the running processes) so a missed event costs one round, never a Pod.
#include "sim/kube/kubelet.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "sim/kube/sim_util.h"

namespace ifo::kubesim {

namespace fs = std::filesystem;
using core::JsonAlloc;
using core::JsonDoc;
using core::JsonValue;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPodIp = "127.0.0.1";
constexpr const char* kNodeName = "kube-sim";
constexpr auto kBackoffInitial = std::chrono::seconds(10);
constexpr auto kBackoffMax = std::chrono::seconds(300);

std::string meta(const JsonValue& obj, const char* field) {
  const JsonValue* md = core::member(obj, "metadata");
  return md ? core::string_or(*md, field, "") : "";
}

bool being_deleted(const JsonValue& obj) {
  const JsonValue* ts = core::at_path(obj, {"metadata", "deletionTimestamp"});
  return ts != nullptr && !ts->IsNull();
}

std::string controller_uid(const JsonValue& obj) {
  const JsonValue* refs = core::at_path(obj, {"metadata", "ownerReferences"});
  if (refs == nullptr || !refs->IsArray()) return "";
  for (const auto& r : refs->GetArray()) {
    if (core::get_bool(r, "controller").value_or(false)) return core::string_or(r, "uid", "");
  }
  return "";
}

std::string random_suffix() {
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";  // rand.String's alphabet
  thread_local std::mt19937 rng{std::random_device{}()};
  std::string s;
  for (int i = 0; i < 5; ++i) s += kAlphabet[rng() % (sizeof kAlphabet - 1)];
  return s;
}

// A Pod of a controller's pod template, as the ReplicaSet and Job controllers make one (both with the
// same function upstream, GetPodFromTemplate): NAME-XXXXX, the template's labels (plus `labels`) and
// annotations, the controller as owner, the template's spec on kube-sim's node, and the Pending phase
// the API server defaults.
JsonDoc pod_from_template(const JsonValue& tmpl, const std::string& ns, const std::string& owner_api_version,
                          const std::string& owner_kind, const std::string& owner, const std::string& uid,
                          const std::vector<std::pair<std::string, std::string>>& labels) {
  JsonDoc pod(rapidjson::kObjectType);
  auto& a = pod.GetAllocator();
  core::set_string(pod, "apiVersion", "v1", a);
  core::set_string(pod, "kind", "Pod", a);
  JsonValue md(rapidjson::kObjectType);
  core::set_string(md, "name", owner + "-" + random_suffix(), a);
  core::set_string(md, "namespace", ns, a);
  for (const char* f : {"labels", "annotations"}) {
    JsonValue m(rapidjson::kObjectType);
    if (const JsonValue* v = core::at_path(tmpl, {"metadata", f}); v && v->IsObject()) m.CopyFrom(*v, a);
    if (std::string_view(f) == "labels")
      for (const auto& [k, v] : labels) core::set_string(m, k, v, a);
    if (m.MemberCount() > 0) md.AddMember(rapidjson::StringRef(f), std::move(m), a);
  }
  sim_set_controller_owner(md, owner_api_version, owner_kind, owner, uid, a);
  pod.AddMember("metadata", std::move(md), a);
  JsonValue spec(rapidjson::kObjectType);
  if (const JsonValue* sp = core::member(tmpl, "spec"); sp && sp->IsObject()) spec.CopyFrom(*sp, a);
  core::set_string(spec, "nodeName", kNodeName, a);
  pod.AddMember("spec", std::move(spec), a);
  JsonValue status(rapidjson::kObjectType);
  core::set_string(status, "phase", "Pending", a);
  pod.AddMember("status", std::move(status), a);
  return pod;
}

std::string decode_base64(const std::string& in) {
  static const std::string kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    auto p = kChars.find(c);
    if (p == std::string::npos) continue;
    val = (val << 6) + static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

// A Secret's or ConfigMap's data as plain bytes.
std::map<std::string, std::string> data_of(const JsonValue& obj, bool secret) {
  std::map<std::string, std::string> out;
  if (const JsonValue* d = core::member(obj, "data"); d && d->IsObject()) {
    for (const auto& m : d->GetObject()) {
      if (!m.value.IsString()) continue;
      std::string v(m.value.GetString(), m.value.GetStringLength());
      out[m.name.GetString()] = secret ? decode_base64(v) : v;
    }
  }
  if (!secret) {
    if (const JsonValue* d = core::member(obj, "binaryData"); d && d->IsObject()) {
      for (const auto& m : d->GetObject()) {
        if (m.value.IsString()) out[m.name.GetString()] = decode_base64(m.value.GetString());
      }
    }
  }
  return out;
}

// $(VAR) references as the kubelet expands them in command, args and env values; $$( escapes.
std::string expand(const std::string& s, const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '(') {
      auto close = s.find(')', i + 2);
      if (close == std::string::npos) {
        out += s.substr(i);
        break;
      }
      std::string name = s.substr(i + 2, close - i - 2);
      auto it = env.find(name);
      out += it != env.end() ? it->second : s.substr(i, close - i + 1);
      i = close;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Replaces each occurrence of `from` that is a whole path prefix (followed by end or '/', preceded by
// start or a separator) with `to`.
std::string rewrite_path(const std::string& s, const std::string& from, const std::string& to) {
  if (from.empty() || from == "/") return s;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    auto p = s.find(from, i);
    if (p == std::string::npos) break;
    size_t end = p + from.size();
    bool starts = p == 0 || std::string_view("=:, ").find(s[p - 1]) != std::string_view::npos;
    bool ends = end == s.size() || s[end] == '/';
    out += s.substr(i, p - i);
    out += (starts && ends) ? to : from;
    i = end;
  }
  out += s.substr(i);
  return out;
}

// Replaces `from` (a port number) with `to` where it follows ':' or '=' and ends the number.
std::string rewrite_port(const std::string& s, int from, int to) {
  std::string f = std::to_string(from), out;
  size_t i = 0;
  while (i < s.size()) {
    auto p = s.find(f, i);
    if (p == std::string::npos) break;
    size_t end = p + f.size();
    bool ok = p > 0 && (s[p - 1] == ':' || s[p - 1] == '=') && (end == s.size() || !std::isdigit(static_cast<unsigned char>(s[end])));
    out += s.substr(i, p - i);
    out += ok ? std::to_string(to) : f;
    i = end;
  }
  out += s.substr(i);
  return out;
}

// Whether nothing holds loopback `port` (bound without SO_REUSEADDR, so TIME_WAIT counts as taken);
// port 0 asks the kernel for one. Returns the port bound, or -1.
int try_bind(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int bound = -1;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    bound = ntohs(addr.sin_port);
  ::close(fd);
  return bound;
}

// Reserves `port` for an hour in `dir` (one file per port, created exclusively; an older one is taken
// over), so that tests choosing ports at the same moment do not choose the same one. True also when
// `dir` cannot be written (the port was only checked free).
bool reserve_port(const fs::path& dir, int port) {
  const fs::path file = dir / std::to_string(port);
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(file.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    if (errno != EEXIST) return true;  // reservations cannot be written here: the port is only checked free
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return false;
    if (std::time(nullptr) - st.st_mtime < 3600) return false;
    ::unlink(file.c_str());
  }
  return false;
}

// A loopback port for a Pod's containerPort, which the Pod's process binds a moment later. As
// scripts/lib/free-port chooses them: below the kernel's ephemeral range (a port of that range may go
// to any outgoing connection in between) and reserved in $TMPDIR/ifo-reserved-ports-UID; a port the
// kernel picks when the range leaves no room below it.
int free_port() {
  constexpr int kLowest = 10000;
  int high = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> high;
  if (high - kLowest < 1000) return try_bind(0);
  const char* tmp = std::getenv("TMPDIR");
  const fs::path dir =
      fs::path(tmp && *tmp ? tmp : "/tmp") / ("ifo-reserved-ports-" + std::to_string(::getuid()));
  std::error_code ec;
  fs::create_directories(dir, ec);
  const int count = high - kLowest;
  std::random_device random;
  const int start = std::uniform_int_distribution<int>(0, count - 1)(random);
  for (int i = 0; i < count; ++i) {  // every port once, from a random one on
    int port = kLowest + (start + i) % count;
    if (try_bind(port) == port && reserve_port(dir, port)) return port;
  }
  return try_bind(0);
}

// The entry of `by_image` for an image: "repo:tag" exactly, else "repo" (every tag).
template <typename T>
const T* for_image(const std::map<std::string, T>& by_image, const std::string& image) {
  auto it = by_image.find(image);
  if (it == by_image.end()) it = by_image.find(image.substr(0, image.rfind(':')));
  return it == by_image.end() ? nullptr : &it->second;
}

bool pod_ready(const JsonValue& pod) {
  const JsonValue* conds = core::at_path(pod, {"status", "conditions"});
  if (conds == nullptr || !conds->IsArray()) return false;
  for (const auto& c : conds->GetArray()) {
    if (core::string_or(c, "type", "") == "Ready") return core::string_or(c, "status", "") == "True";
  }
  return false;
}

bool tcp_open(int port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

bool http_ok(const std::string& scheme, int port, const std::string& path, std::chrono::milliseconds timeout) {
  CURL* c = curl_easy_init();
  if (c == nullptr) return false;
  std::string url = fmt::format("{}://127.0.0.1:{}{}", scheme == "HTTPS" ? "https" : "http", port,
                                path.empty() || path[0] != '/' ? "/" + path : path);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);  // the kubelet does not verify probe certificates
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kube-probe/1.32");
  long code = 0;
  bool ok = curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
            code >= 200 && code < 400;
  curl_easy_cleanup(c);
  return ok;
}

int probe_port(const JsonValue& handler, const JsonValue& container) {
  const JsonValue* port = core::member(handler, "port");
  if (port == nullptr) return -1;
  if (port->IsInt()) return port->GetInt();
  if (!port->IsString()) return -1;
  std::string name = port->GetString();
  if (const JsonValue* ports = core::member(container, "ports"); ports && ports->IsArray()) {
    for (const auto& p : ports->GetArray()) {
      if (core::string_or(p, "name", "") == name) return static_cast<int>(core::get_int(p, "containerPort").value_or(-1));
    }
  }
  try {
    return std::stoi(name);
  } catch (...) {
    return -1;
  }
}

}  // namespace

struct Kubelet::PodState {
  struct Container {
    pid_t pid = -1;
    int restarts = 0;
    Clock::time_point next_start{};
    std::chrono::seconds backoff{0};
    std::string started_at;
    bool ready = false;
    int successes = 0, failures = 0;
    Clock::time_point next_probe{};
    Clock::time_point probe_from{};
    int live_failures = 0;  // consecutive failed liveness probes
    Clock::time_point next_live_probe{};
    std::string waiting_reason, waiting_message;
    bool terminated_before = false;
    bool done = false;  // exited under restartPolicy Never/OnFailure and stays Terminated
    int last_exit = 0;
    std::string last_started, last_finished;
  };
  std::string ns, name, uid, dir;
  std::map<std::string, Container> containers;
  std::map<std::string, std::string> volume_versions;  // volume -> source resourceVersion written
  std::map<std::string, bool> volume_ready;
  std::string start_time;
  int grace_seconds = 30;
  bool api_written = false;
  std::string kubeconfig;  // "" when the Pod has no API access
  std::map<int, int> ports;  // containerPort -> host port
};

core::Result<bool> parse_run_pods(const std::string& value, KubeletOptions& options) {
  using R = core::Result<bool>;
  std::stringstream ss(value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto eq = item.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      return R::fail(fmt::format("--run-pods wants IMAGE=ROOT[,IMAGE=ROOT...], got \"{}\"", item));
    std::string root = item.substr(eq + 1);
    if (!fs::is_directory(root)) return R::fail(fmt::format("--run-pods: \"{}\" is not a directory", root));
    options.images[item.substr(0, eq)] = fs::absolute(root).string();
  }
  return true;
}

core::Result<bool> parse_image_entrypoint(const std::string& value, KubeletOptions& options) {
  using R = core::Result<bool>;
  auto eq = value.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == value.size())
    return R::fail(fmt::format("--image-entrypoint wants IMAGE=ARG0[,ARG...], got \"{}\"", value));
  std::vector<std::string> words;
  std::stringstream ss(value.substr(eq + 1));
  std::string word;
  while (std::getline(ss, word, ',')) words.push_back(word);
  if (words[0].empty()) return R::fail(fmt::format("--image-entrypoint: \"{}\" names no executable", value));
  options.entrypoints[value.substr(0, eq)] = std::move(words);
  return true;
}

Kubelet::Kubelet(Store& store, KubeletOptions options) : store_(store), options_(std::move(options)) {
  if (options_.pod_dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "kube-sim-pods-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("kube-sim: cannot make a directory for pods");
    options_.pod_dir = tmpl;
  }
  fs::create_directories(options_.pod_dir);
}

Kubelet::~Kubelet() {
  stop();
}

void Kubelet::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  for (auto& [key, st] : pods_) stop_pod(*st);
  reap_terminating(true);
}

void Kubelet::start() {
  thread_ = std::thread([this] { loop(); });
}

void Kubelet::loop() {
  while (!stop_) {
    try {
      sync_replicasets();
      sync_jobs();
      sync_pods();
      reap_terminating(false);
    } catch (const std::exception&) {
      // A controller never takes the server down; the next round retries.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Kubelet::sync_replicasets() {
  auto pod_type = store_.find_type("", "pods");
  if (!pod_type || !store_.find_type("apps", "replicasets")) return;
  auto pods = store_.list("", "pods", "").items;
  for (const auto& rs : store_.list("apps", "replicasets", "").items) {
    const JsonValue& r = rs->value();
    if (being_deleted(r)) continue;
    std::string uid = meta(r, "uid"), ns = meta(r, "namespace"), name = meta(r, "name");
    int64_t want = 1;
    if (const JsonValue* spec = core::member(r, "spec")) want = core::get_int(*spec, "replicas").value_or(1);
    const JsonValue* tmpl = core::at_path(r, {"spec", "template"});
    if (tmpl == nullptr) continue;
    std::vector<std::string> mine;
    for (const auto& p : pods) {
      if (meta(p->value(), "namespace") == ns && controller_uid(p->value()) == uid && !being_deleted(p->value()))
        mine.push_back(meta(p->value(), "name"));
    }
    for (auto i = static_cast<int64_t>(mine.size()); i < want; ++i) {
      try {
        store_.create(*pod_type, ns, pod_from_template(*tmpl, ns, "apps/v1", "ReplicaSet", name, uid, {}));
      } catch (const StatusError&) {
        return;  // a name clash or a namespace going away: the next round looks again
      }
    }
    for (auto i = static_cast<int64_t>(mine.size()); i > want && i > 0; --i) {
      try {
        store_.remove(*pod_type, ns, mine[static_cast<size_t>(i - 1)]);
      } catch (const StatusError&) {
      }
    }
  }
}

void Kubelet::sync_pods() {
  auto pod_type = store_.find_type("", "pods");
  if (!pod_type) return;
  std::map<std::string, ObjectPtr> present;
  for (const auto& p : store_.list("", "pods", "").items) {
    if (being_deleted(p->value())) continue;
    present[meta(p->value(), "namespace") + "/" + meta(p->value(), "name")] = p;
  }
  for (auto it = pods_.begin(); it != pods_.end();) {
    auto p = present.find(it->first);
    if (p == present.end() || meta(p->second->value(), "uid") != it->second->uid) {
      stop_pod(*it->second);
      {
        std::lock_guard<std::mutex> lock(ports_mu_);
        ports_.erase(it->first);
      }
      std::error_code ec;
      fs::remove_all(it->second->dir, ec);
      it = pods_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [key, pod] : present) {
    auto& st = pods_[key];
    if (!st) {
      st = std::make_unique<PodState>();
      st->ns = meta(pod->value(), "namespace");
      st->name = meta(pod->value(), "name");
      st->uid = meta(pod->value(), "uid");
      st->dir = (fs::path(options_.pod_dir) / (st->ns + "_" + st->name)).string();
      st->start_time = sim_rfc3339(std::chrono::system_clock::now());
      if (const JsonValue* spec = core::member(pod->value(), "spec"))
        st->grace_seconds = static_cast<int>(std::clamp<int64_t>(
            core::get_int(*spec, "terminationGracePeriodSeconds").value_or(30), 0, 30));
      fs::create_directories(fs::path(st->dir) / "volumes");
      if (const JsonValue* cs = core::at_path(pod->value(), {"spec", "containers"}); cs && cs->IsArray()) {
        for (const auto& c : cs->GetArray()) {
          const JsonValue* ports = core::member(c, "ports");
          if (ports == nullptr || !ports->IsArray()) continue;
          for (const auto& p : ports->GetArray()) {
            int cp = static_cast<int>(core::get_int(p, "containerPort").value_or(0));
            if (cp > 0 && !st->ports.count(cp)) st->ports[cp] = free_port();
          }
        }
      }
      {
        std::ofstream ports(fs::path(st->dir) / "ports");
        for (const auto& [container_port, host_port] : st->ports)
          ports << container_port << ' ' << host_port << '\n';
      }
      std::lock_guard<std::mutex> lock(ports_mu_);
      ports_[key] = st->ports;
    }
    sync_pod(pod, *st);
  }
}

core::Result<std::string> Kubelet::service_endpoint(const std::string& ns, const std::string& name, int64_t port) const {
  using R = core::Result<std::string>;
  ObjectPtr svc = store_.get("", "services", ns, name);
  if (!svc) return R::fail(fmt::format("service \"{}\" not found", name));
  const JsonValue* target = nullptr;
  if (const JsonValue* ports = core::at_path(svc->value(), {"spec", "ports"}); ports && ports->IsArray()) {
    for (const auto& p : ports->GetArray()) {
      if (core::get_int(p, "port").value_or(-1) == port) {
        target = core::member(p, "targetPort");
        if (target == nullptr) target = core::member(p, "port");
      }
    }
  }
  if (target == nullptr) return R::fail(fmt::format("no service port {} found for service \"{}\"", port, name));
  const JsonValue* selector = core::at_path(svc->value(), {"spec", "selector"});
  if (selector == nullptr || !selector->IsObject() || selector->MemberCount() == 0)
    return R::fail(fmt::format("no endpoints available for service \"{}\"", name));
  for (const auto& pod : store_.list("", "pods", ns).items) {
    const JsonValue& p = pod->value();
    if (being_deleted(p) || !pod_ready(p)) continue;
    const JsonValue* labels = core::at_path(p, {"metadata", "labels"});
    bool match = labels != nullptr && labels->IsObject();
    for (auto m = selector->MemberBegin(); match && m != selector->MemberEnd(); ++m) {
      const JsonValue* v = core::member(*labels, m->name.GetString());
      match = v != nullptr && *v == m->value;
    }
    if (!match) continue;
    int cport = -1;
    if (target->IsInt()) cport = target->GetInt();
    else if (target->IsString()) {
      if (const JsonValue* cs = core::at_path(p, {"spec", "containers"}); cs && cs->IsArray()) {
        for (const auto& c : cs->GetArray()) {
          if (const JsonValue* ps = core::member(c, "ports"); ps && ps->IsArray()) {
            for (const auto& cp : ps->GetArray()) {
              if (core::string_or(cp, "name", "") == target->GetString())
                cport = static_cast<int>(core::get_int(cp, "containerPort").value_or(-1));
            }
          }
        }
      }
    }
    std::lock_guard<std::mutex> lock(ports_mu_);
    auto it = ports_.find(ns + "/" + meta(p, "name"));
    if (it == ports_.end()) continue;
    auto hp = it->second.find(cport);
    return fmt::format("127.0.0.1:{}", hp == it->second.end() ? cport : hp->second);
  }
  return R::fail(fmt::format("no endpoints available for service \"{}\"", name));
}

bool Kubelet::write_api_access(const JsonValue& pod, PodState& st) {
  if (st.api_written) return true;
  const JsonValue* spec = core::member(pod, "spec");
  if (spec == nullptr || !options_.api || !options_.token ||
      !core::get_bool(*spec, "automountServiceAccountToken").value_or(true)) {
    st.api_written = true;
    return true;
  }
  std::string sa = core::string_or(*spec, "serviceAccountName", "default");
  std::string token;
  try {
    token = options_.token(st.ns, sa, st.name, st.uid);
  } catch (const std::exception&) {
    return false;  // the ServiceAccount does not exist (yet)
  }
  auto [url, ca] = options_.api();
  fs::path dir = fs::path(st.dir) / "serviceaccount";
  fs::create_directories(dir);
  std::ofstream(dir / "token") << token;
  std::ofstream(dir / "ca.crt") << ca;
  std::ofstream(dir / "namespace") << st.ns;
  st.kubeconfig = (fs::path(st.dir) / "kubeconfig").string();
  std::ofstream(st.kubeconfig) << fmt::format(
      "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: {}\n"
      "    certificate-authority: {}\nusers:\n- name: {}\n  user:\n    tokenFile: {}\ncontexts:\n- name: pod\n"
      "  context:\n    cluster: kube-sim\n    user: {}\n    namespace: {}\ncurrent-context: pod\n",
      url, (dir / "ca.crt").string(), sa, (dir / "token").string(), sa, st.ns);
  st.api_written = true;
  return true;
}

void Kubelet::sync_jobs() {
  auto pod_type = store_.find_type("", "pods");
  auto job_type = store_.find_type("batch", "jobs");
  if (!pod_type || !job_type) return;
  auto pods = store_.list("", "pods", "").items;
  for (const auto& job : store_.list("batch", "jobs", "").items) {
    const JsonValue& j = job->value();
    if (being_deleted(j)) continue;
    bool finished = false;
    if (const JsonValue* conds = core::at_path(j, {"status", "conditions"}); conds && conds->IsArray()) {
      for (const auto& c : conds->GetArray()) {
        std::string t = core::string_or(c, "type", "");
        if ((t == "Complete" || t == "Failed") && core::string_or(c, "status", "") == "True") finished = true;
      }
    }
    if (finished) continue;
    std::string uid = meta(j, "uid"), ns = meta(j, "namespace"), name = meta(j, "name");
    const JsonValue* tmpl = core::at_path(j, {"spec", "template"});
    if (tmpl == nullptr) continue;
    int64_t backoff_limit = 6;
    if (const JsonValue* spec = core::member(j, "spec")) backoff_limit = core::get_int(*spec, "backoffLimit").value_or(6);
    int64_t active = 0, succeeded = 0, failed = 0;
    for (const auto& p : pods) {
      if (meta(p->value(), "namespace") != ns || controller_uid(p->value()) != uid) continue;
      const JsonValue* phase = core::at_path(p->value(), {"status", "phase"});
      std::string ph = phase && phase->IsString() ? phase->GetString() : "Pending";
      if (ph == "Succeeded") ++succeeded;
      else if (ph == "Failed") ++failed;
      else ++active;
    }
    std::string now = sim_rfc3339(std::chrono::system_clock::now());
    JsonDoc want;
    want.CopyFrom(j, want.GetAllocator());
    auto& a = want.GetAllocator();
    auto& st = core::ensure_object(want, "status", a);
    if (!core::member(st, "startTime")) core::set_string(st, "startTime", now, a);
    auto condition = [&](const char* type, const char* reason, const char* message) {
      JsonValue c(rapidjson::kObjectType);
      core::set_string(c, "type", type, a);
      core::set_string(c, "status", "True", a);
      core::set_string(c, "lastProbeTime", now, a);
      core::set_string(c, "lastTransitionTime", now, a);
      core::set_string(c, "reason", reason, a);
      core::set_string(c, "message", message, a);
      return c;
    };
    if (succeeded > 0) {
      JsonValue conds(rapidjson::kArrayType);
      conds.PushBack(condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"), a);
      conds.PushBack(condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"), a);
      core::set_member(st, "conditions", std::move(conds), a);
      core::set_string(st, "completionTime", now, a);
    } else if (failed > backoff_limit) {
      JsonValue conds(rapidjson::kArrayType);
      conds.PushBack(condition("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit"), a);
      conds.PushBack(condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"), a);
      core::set_member(st, "conditions", std::move(conds), a);
    } else if (active == 0) {
      try {
        store_.create(*pod_type, ns,
                      pod_from_template(*tmpl, ns, "batch/v1", "Job", name, uid,
                                        {{"batch.kubernetes.io/controller-uid", uid}, {"controller-uid", uid},
                                         {"batch.kubernetes.io/job-name", name}, {"job-name", name}}));
        ++active;
      } catch (const StatusError&) {
      }
    }
    core::set_member(st, "active", JsonValue(active), a);
    if (succeeded > 0) core::set_member(st, "succeeded", JsonValue(succeeded), a);
    if (failed > 0) core::set_member(st, "failed", JsonValue(failed), a);
    if (succeeded > 0 || failed > backoff_limit) core::set_member(st, "active", JsonValue(int64_t{0}), a);
    if (want == j) continue;
    try {
      store_.update(*job_type, ns, std::move(want), UpdateScope::kAll);
    } catch (const StatusError&) {
    }
  }
}

void Kubelet::stop_pod(PodState& st) {
  auto deadline = Clock::now() + std::chrono::seconds(st.grace_seconds);
  for (auto& [name, c] : st.containers) {
    if (c.pid > 0) {
      ::kill(-c.pid, SIGTERM);
      terminating_.push_back({c.pid, deadline});
    }
    c.pid = -1;
  }
}

void Kubelet::reap_terminating(bool wait) {
  // SIGKILL after the grace period; `wait` (shutdown) gives them at most 5 s.
  if (wait) {
    auto cap = Clock::now() + std::chrono::seconds(5);
    for (auto& t : terminating_) t.deadline = std::min(t.deadline, cap);
  }
  do {
    for (auto it = terminating_.begin(); it != terminating_.end();) {
      int status = 0;
      pid_t r = ::waitpid(it->pid, &status, WNOHANG);
      if (r == it->pid || r < 0) {
        it = terminating_.erase(it);
      } else if (Clock::now() >= it->deadline) {
        ::kill(-it->pid, SIGKILL);
        ::waitpid(it->pid, &status, 0);
        it = terminating_.erase(it);
      } else {
        ++it;
      }
    }
    if (wait && !terminating_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (wait && !terminating_.empty());
}

namespace {

// Writes one secret/configMap volume with the kubelet's atomic layout. Returns false when the source
// is missing and not optional (the Pod cannot start).
bool write_volume(const Store& store, const std::string& ns, const JsonValue& vol, const std::string& dir,
                  std::string& written_version) {
  bool secret = core::member(vol, "secret") != nullptr;
  const JsonValue* src = core::member(vol, secret ? "secret" : "configMap");
  if (src == nullptr) {
    fs::create_directories(dir);  // emptyDir and the kinds not simulated: an empty directory
    return true;
  }
  std::string name = core::string_or(*src, secret ? "secretName" : "name", "");
  bool optional = core::get_bool(*src, "optional").value_or(false);
  ObjectPtr obj = store.get("", secret ? "secrets" : "configmaps", ns, name);
  if (!obj && !optional) return false;
  std::string version = obj ? meta(obj->value(), "resourceVersion") : "absent";
  if (version == written_version) return true;
  std::map<std::string, std::string> files;  // path in the volume -> content
  auto data = obj ? data_of(obj->value(), secret) : std::map<std::string, std::string>{};
  if (const JsonValue* items = core::member(*src, "items"); items && items->IsArray() && items->Size() > 0) {
    for (const auto& it : items->GetArray()) {
      auto k = data.find(core::string_or(it, "key", ""));
      if (k != data.end()) files[core::string_or(it, "path", k->first)] = k->second;
    }
  } else {
    files = data;
  }
  fs::create_directories(dir);
  std::string ts = "..kube_sim_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  fs::path staged = fs::path(dir) / ts;
  for (const auto& [path, content] : files) {
    fs::create_directories((staged / path).parent_path());
    std::ofstream(staged / path, std::ios::binary) << content;
  }
  fs::create_directories(staged);
  // ..data -> ..TS swapped with one rename, so a reader sees the old set or the new set, never a mix.
  fs::path tmp_link = fs::path(dir) / "..data_tmp";
  std::error_code ec;
  fs::remove(tmp_link, ec);
  fs::create_symlink(ts, tmp_link);
  fs::path old_target;
  if (fs::is_symlink(fs::path(dir) / "..data")) old_target = fs::read_symlink(fs::path(dir) / "..data");
  fs::rename(tmp_link, fs::path(dir) / "..data");
  for (const auto& [path, content] : files) {
    std::string top = fs::path(path).begin()->string();
    fs::path link = fs::path(dir) / top;
    if (!fs::is_symlink(link)) fs::create_symlink(fs::path("..data") / top, link, ec);
  }
  for (const auto& entry : fs::directory_iterator(dir)) {  // keys that left the object
    std::string n = entry.path().filename().string();
    if (n.rfind("..", 0) == 0) continue;
    bool kept = std::any_of(files.begin(), files.end(),
                            [&](const auto& f) { return fs::path(f.first).begin()->string() == n; });
    if (!kept) fs::remove_all(entry.path(), ec);
  }
  if (!old_target.empty()) fs::remove_all(fs::path(dir) / old_target, ec);
  written_version = version;
  return true;
}

}  // namespace

void Kubelet::sync_pod(const ObjectPtr& pod, PodState& st) {
  const JsonValue& p = pod->value();
  const JsonValue* spec = core::member(p, "spec");
  if (spec == nullptr) return;
  auto now = Clock::now();
  auto wall = std::chrono::system_clock::now();

  // Volumes.
  std::map<std::string, std::string> volume_dirs;
  bool volumes_ok = true;
  if (const JsonValue* vols = core::member(*spec, "volumes"); vols && vols->IsArray()) {
    for (const auto& v : vols->GetArray()) {
      std::string name = core::string_or(v, "name", "");
      std::string dir = (fs::path(st.dir) / "volumes" / name).string();
      volume_dirs[name] = dir;
      if (!write_volume(store_, st.ns, v, dir, st.volume_versions[name])) {
        volumes_ok = false;
      }
    }
  }

  if (!write_api_access(p, st)) volumes_ok = false;
  const std::string restart_policy = core::string_or(*spec, "restartPolicy", "Always");

  const JsonValue* containers = core::member(*spec, "containers");
  if (containers == nullptr || !containers->IsArray()) return;
  for (const auto& c : containers->GetArray()) {
    std::string cname = core::string_or(c, "name", "");
    auto& cs = st.containers[cname];
    // Reap an exit: the container restarts after the back-off.
    if (cs.pid > 0) {
      int status = 0;
      if (::waitpid(cs.pid, &status, WNOHANG) == cs.pid) {
        cs.pid = -1;
        cs.terminated_before = true;
        cs.last_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        cs.last_started = cs.started_at;
        cs.last_finished = sim_rfc3339(wall);
        cs.ready = false;
        cs.successes = cs.failures = 0;
        if (restart_policy == "Never" || (restart_policy == "OnFailure" && cs.last_exit == 0)) {
          cs.done = true;
          continue;
        }
        ++cs.restarts;
        cs.backoff = cs.backoff.count() == 0 ? std::chrono::seconds(kBackoffInitial)
                                             : std::min<std::chrono::seconds>(cs.backoff * 2, kBackoffMax);
        cs.next_start = now + cs.backoff;
        cs.waiting_reason = "CrashLoopBackOff";
        cs.waiting_message = fmt::format("back-off {}s restarting failed container={} pod={}_{}({})",
                                         cs.backoff.count(), cname, st.name, st.ns, st.uid);
      }
    }
    if (cs.pid > 0 || cs.done || now < cs.next_start) continue;
    if (!volumes_ok) {
      cs.waiting_reason = "ContainerCreating";
      cs.waiting_message = "";
      continue;
    }
    // Resolve the image and the executable.
    std::string image = core::string_or(c, "image", "");
    const std::string* root = for_image(options_.images, image);
    if (root == nullptr) {
      cs.waiting_reason = "ErrImagePull";
      cs.waiting_message = fmt::format("kube-sim has no root directory for image \"{}\" (--run-pods)", image);
      continue;
    }
    // command, else the image's ENTRYPOINT; then args (the image's CMD is not modelled).
    std::vector<std::string> argv;
    if (const JsonValue* a = core::member(c, "command"); a && a->IsArray()) {
      for (const auto& s : a->GetArray()) argv.emplace_back(s.IsString() ? s.GetString() : "");
    }
    size_t image_words = 0;  // the ENTRYPOINT's: the kubelet expands $(VAR) in the Pod spec's words only
    if (argv.empty()) {
      if (const auto* entrypoint = for_image(options_.entrypoints, image)) argv = *entrypoint;
      image_words = argv.size();
    }
    if (argv.empty()) {
      cs.waiting_reason = "CreateContainerError";
      cs.waiting_message = fmt::format(
          "kube-sim needs the container's command or the image's ENTRYPOINT (--image-entrypoint {}=...)",
          image);
      continue;
    }
    if (const JsonValue* a = core::member(c, "args"); a && a->IsArray()) {
      for (const auto& s : a->GetArray()) argv.emplace_back(s.IsString() ? s.GetString() : "");
    }
    // Environment, in order, with $(VAR) references to earlier entries.
    std::map<std::string, std::string> env{{"HOSTNAME", st.name},
                                           {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}};
    std::vector<std::string> order{"PATH", "HOSTNAME"};
    if (!st.kubeconfig.empty()) {
      env["KUBECONFIG"] = st.kubeconfig;
      order.push_back("KUBECONFIG");
    }
    std::string env_error;
    if (const JsonValue* es = core::member(c, "env"); es && es->IsArray()) {
      for (const auto& e : es->GetArray()) {
        std::string name = core::string_or(e, "name", "");
        std::optional<std::string> value;
        if (const JsonValue* v = core::member(e, "value"); v && v->IsString()) value = expand(v->GetString(), env);
        else if (const JsonValue* from = core::member(e, "valueFrom")) {
          if (const JsonValue* fr = core::member(*from, "fieldRef")) {
            std::string path = core::string_or(*fr, "fieldPath", "");
            if (path == "metadata.name") value = st.name;
            else if (path == "metadata.namespace") value = st.ns;
            else if (path == "metadata.uid") value = st.uid;
            else if (path == "status.podIP" || path == "status.hostIP") value = kPodIp;
            else if (path == "spec.nodeName") value = kNodeName;
            else if (path == "spec.serviceAccountName") value = core::string_or(*spec, "serviceAccountName", "default");
          } else {
            bool secret = core::member(*from, "secretKeyRef") != nullptr;
            const JsonValue* ref = core::member(*from, secret ? "secretKeyRef" : "configMapKeyRef");
            if (ref != nullptr) {
              std::string oname = core::string_or(*ref, "name", ""), key = core::string_or(*ref, "key", "");
              bool optional = core::get_bool(*ref, "optional").value_or(false);
              ObjectPtr o = store_.get("", secret ? "secrets" : "configmaps", st.ns, oname);
              if (!o) {
                if (!optional) env_error = fmt::format("{} \"{}\" not found", secret ? "secret" : "configmap", oname);
              } else {
                auto d = data_of(o->value(), secret);
                if (auto k = d.find(key); k != d.end()) value = k->second;
                else if (!optional)
                  env_error = fmt::format("couldn't find key {} in {} {}/{}", key, secret ? "Secret" : "ConfigMap", st.ns, oname);
              }
            }
          }
        }
        if (value) {
          if (!env.count(name)) order.push_back(name);
          env[name] = *value;
        }
      }
    }
    if (!env_error.empty()) {
      cs.waiting_reason = "CreateContainerConfigError";
      cs.waiting_message = env_error;
      continue;
    }
    // Mount paths become the pod's volume directories.
    auto rewrite = [&](std::string s) {
      if (const JsonValue* mounts = core::member(c, "volumeMounts"); mounts && mounts->IsArray()) {
        for (const auto& m : mounts->GetArray()) {
          std::string host = volume_dirs[core::string_or(m, "name", "")];
          std::string sub = core::string_or(m, "subPath", "");
          if (!sub.empty()) host += "/" + sub;
          s = rewrite_path(s, core::string_or(m, "mountPath", ""), host);
        }
      }
      return s;
    };
    auto rewrite_ports = [&](std::string v) {
      for (const auto& [from, to] : st.ports) v = rewrite_port(v, from, to);
      return v;
    };
    for (size_t i = 0; i < argv.size(); ++i)
      argv[i] = rewrite_ports(rewrite(i < image_words ? argv[i] : expand(argv[i], env)));
    for (auto& [k, v] : env) v = rewrite_ports(rewrite(v));
    std::string exe = argv[0];
    if (!exe.empty() && exe[0] == '/')
      exe = *root + exe;
    else {
      for (const char* d : {"/usr/local/bin/", "/usr/bin/", "/bin/"}) {
        if (::access((*root + d + argv[0]).c_str(), X_OK) == 0) {
          exe = *root + d + argv[0];
          break;
        }
      }
    }
    if (::access(exe.c_str(), X_OK) != 0) {
      cs.waiting_reason = "CreateContainerError";
      cs.waiting_message = fmt::format("exec: \"{}\": stat {}: no such file or directory", argv[0], argv[0]);
      continue;
    }
    // Everything the child needs is built before fork (only async-signal-safe calls after it).
    std::vector<std::string> envs;
    for (const auto& k : order) envs.push_back(k + "=" + env[k]);
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    std::string log = (fs::path(st.dir) / (cname + ".log")).string();
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      if (::chdir(st.dir.c_str()) != 0) ::_exit(127);
      if (null_fd >= 0) ::dup2(null_fd, 0);
      if (log_fd >= 0) {
        ::dup2(log_fd, 1);
        ::dup2(log_fd, 2);
      }
      ::execve(exe.c_str(), cargv.data(), cenv.data());
      ::_exit(127);
    }
    if (log_fd >= 0) ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    if (pid < 0) {
      cs.waiting_reason = "CreateContainerError";
      cs.waiting_message = "fork failed";
      continue;
    }
    ::setpgid(pid, pid);
    started_.fetch_add(1);
    cs.pid = pid;
    cs.started_at = sim_rfc3339(wall);
    cs.waiting_reason.clear();
    cs.waiting_message.clear();
    cs.ready = false;
    cs.successes = cs.failures = 0;
    auto initial_delay = [&](const char* probe) {
      const JsonValue* p = core::member(c, probe);
      return std::chrono::seconds(p ? core::get_int(*p, "initialDelaySeconds").value_or(0) : 0);
    };
    cs.probe_from = now + initial_delay("readinessProbe");
    cs.next_probe = cs.probe_from;
    cs.live_failures = 0;
    cs.next_live_probe = now + initial_delay("livenessProbe");
  }

  auto host_port = [&](int port) {
    auto it = st.ports.find(port);
    return it == st.ports.end() ? port : it->second;
  };
  // One probe (httpGet or tcpSocket) of container `c`; its timeoutSeconds bounds it.
  auto probe_passes = [&](const JsonValue& probe, const JsonValue& c) {
    auto timeout = std::chrono::milliseconds(1000 * core::get_int(probe, "timeoutSeconds").value_or(1));
    if (const JsonValue* h = core::member(probe, "httpGet"))
      return http_ok(core::string_or(*h, "scheme", "HTTP"), host_port(probe_port(*h, c)), core::string_or(*h, "path", "/"),
                     timeout);
    if (const JsonValue* t = core::member(probe, "tcpSocket")) return tcp_open(host_port(probe_port(*t, c)), timeout);
    return false;  // exec and grpc probes are not simulated: they fail, as a broken probe would
  };

  // Liveness probes: failureThreshold failures in a row kill the container (the kubelet's SIGTERM, then
  // SIGKILL after the grace period is not waited for here), and the exit above restarts it with back-off.
  for (const auto& c : containers->GetArray()) {
    auto& cs = st.containers[core::string_or(c, "name", "")];
    const JsonValue* lp = core::member(c, "livenessProbe");
    if (cs.pid <= 0 || lp == nullptr || now < cs.next_live_probe) continue;
    cs.next_live_probe = now + std::chrono::seconds(std::max<int64_t>(core::get_int(*lp, "periodSeconds").value_or(10), 1));
    if (probe_passes(*lp, c)) {
      cs.live_failures = 0;
    } else if (++cs.live_failures >= core::get_int(*lp, "failureThreshold").value_or(3)) {
      ::kill(-cs.pid, SIGKILL);
      cs.live_failures = 0;
    }
  }

  // Readiness probes of the running containers.
  for (const auto& c : containers->GetArray()) {
    auto& cs = st.containers[core::string_or(c, "name", "")];
    if (cs.pid <= 0) continue;
    const JsonValue* rp = core::member(c, "readinessProbe");
    if (rp == nullptr) {
      cs.ready = true;
      continue;
    }
    if (now < cs.next_probe) continue;
    int period = static_cast<int>(core::get_int(*rp, "periodSeconds").value_or(10));
    cs.next_probe = now + std::chrono::seconds(std::max(period, 1));
    if (probe_passes(*rp, c)) {
      cs.failures = 0;
      if (++cs.successes >= core::get_int(*rp, "successThreshold").value_or(1)) cs.ready = true;
    } else {
      cs.successes = 0;
      if (++cs.failures >= core::get_int(*rp, "failureThreshold").value_or(3)) cs.ready = false;
    }
  }

  // Status, written when it changed.
  JsonDoc want;
  want.CopyFrom(p, want.GetAllocator());
  auto& a = want.GetAllocator();
  bool all_running = true, all_ready = true, all_done = true, any_failed = false;
  JsonValue statuses(rapidjson::kArrayType);
  for (const auto& c : containers->GetArray()) {
    std::string cname = core::string_or(c, "name", "");
    auto& cs = st.containers[cname];
    JsonValue s(rapidjson::kObjectType);
    core::set_string(s, "name", cname, a);
    core::set_string(s, "image", core::string_or(c, "image", ""), a);
    core::set_string(s, "imageID", "", a);
    JsonValue state(rapidjson::kObjectType);
    if (!cs.done) all_done = false;
    if (cs.done && cs.last_exit != 0) any_failed = true;
    if (cs.done) {
      JsonValue term(rapidjson::kObjectType);
      term.AddMember("exitCode", cs.last_exit, a);
      core::set_string(term, "reason", cs.last_exit == 0 ? "Completed" : "Error", a);
      core::set_string(term, "startedAt", cs.last_started, a);
      core::set_string(term, "finishedAt", cs.last_finished, a);
      state.AddMember("terminated", std::move(term), a);
    } else if (cs.pid > 0) {
      JsonValue running(rapidjson::kObjectType);
      core::set_string(running, "startedAt", cs.started_at, a);
      state.AddMember("running", std::move(running), a);
    } else {
      JsonValue waiting(rapidjson::kObjectType);
      core::set_string(waiting, "reason", cs.waiting_reason.empty() ? "ContainerCreating" : cs.waiting_reason, a);
      if (!cs.waiting_message.empty()) core::set_string(waiting, "message", cs.waiting_message, a);
      state.AddMember("waiting", std::move(waiting), a);
      all_running = false;
    }
    s.AddMember("state", std::move(state), a);
    if (cs.terminated_before && !cs.done) {
      JsonValue last(rapidjson::kObjectType), term(rapidjson::kObjectType);
      term.AddMember("exitCode", cs.last_exit, a);
      core::set_string(term, "reason", cs.last_exit == 0 ? "Completed" : "Error", a);
      core::set_string(term, "startedAt", cs.last_started, a);
      core::set_string(term, "finishedAt", cs.last_finished, a);
      last.AddMember("terminated", std::move(term), a);
      s.AddMember("lastState", std::move(last), a);
    } else {
      s.AddMember("lastState", JsonValue(rapidjson::kObjectType), a);
    }
    s.AddMember("ready", cs.pid > 0 && cs.ready, a);
    s.AddMember("started", cs.pid > 0, a);
    s.AddMember("restartCount", cs.restarts, a);
    if (!(cs.pid > 0 && cs.ready)) all_ready = false;
    statuses.PushBack(std::move(s), a);
  }
  JsonValue status(rapidjson::kObjectType);
  std::string phase = all_running ? "Running" : "Pending";
  if (all_done) phase = any_failed ? "Failed" : "Succeeded";
  else if (restart_policy == "Never" && any_failed) phase = "Failed";
  core::set_string(status, "phase", phase, a);
  JsonValue conds(rapidjson::kArrayType);
  const JsonValue* old_conds = core::at_path(p, {"status", "conditions"});
  auto cond = [&](const char* type, bool ok, const char* reason) {
    std::string s = ok ? "True" : "False";
    std::string transition = sim_rfc3339(wall);
    if (old_conds && old_conds->IsArray()) {
      for (const auto& oc : old_conds->GetArray()) {
        if (core::string_or(oc, "type", "") == type && core::string_or(oc, "status", "") == s)
          transition = core::string_or(oc, "lastTransitionTime", transition);
      }
    }
    JsonValue c(rapidjson::kObjectType);
    core::set_string(c, "type", type, a);
    core::set_string(c, "status", s, a);
    c.AddMember("lastProbeTime", JsonValue(), a);
    core::set_string(c, "lastTransitionTime", transition, a);
    if (!ok && reason != nullptr) {
      core::set_string(c, "reason", reason, a);
      core::set_string(c, "message", fmt::format("containers with unready status: [{}]", [&] {
                         std::string names;
                         for (const auto& [n, cs] : st.containers) {
                           if (!(cs.pid > 0 && cs.ready)) names += (names.empty() ? "" : " ") + n;
                         }
                         return names;
                       }()),
                       a);
    }
    conds.PushBack(std::move(c), a);
  };
  cond("PodReadyToStartContainers", volumes_ok, nullptr);
  cond("Initialized", true, nullptr);
  cond("Ready", all_ready, "ContainersNotReady");
  cond("ContainersReady", all_ready, "ContainersNotReady");
  cond("PodScheduled", true, nullptr);
  status.AddMember("conditions", std::move(conds), a);
  core::set_string(status, "hostIP", kPodIp, a);
  core::set_string(status, "podIP", kPodIp, a);
  JsonValue ips(rapidjson::kArrayType), ip(rapidjson::kObjectType);
  core::set_string(ip, "ip", kPodIp, a);
  ips.PushBack(std::move(ip), a);
  status.AddMember("podIPs", std::move(ips), a);
  core::set_string(status, "startTime", st.start_time, a);
  status.AddMember("containerStatuses", std::move(statuses), a);
  core::set_string(status, "qosClass", "BestEffort", a);
  const JsonValue* old_status = core::member(p, "status");
  if (old_status != nullptr && *old_status == status) return;
  core::set_member(want, "status", std::move(status), a);
  auto pod_type = store_.find_type("", "pods");
  if (!pod_type) return;
  try {
    store_.update(*pod_type, st.ns, std::move(want), UpdateScope::kAll);
  } catch (const StatusError&) {
    // Changed or gone meanwhile: the next round starts from the stored Pod.
  }
}

}  // namespace ifo::kubesim
