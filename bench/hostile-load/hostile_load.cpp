// The hostile-load driver of bench/hostile-load/run: measures legitimate /validate and /mutate requests
// (keep-alive TLS from 127.0.0.1, as the API server sends them) first alone (the baseline), then while
// the webhook is attacked over loopback from other 127/8 source addresses by slow-loris connections,
// clients sending 3 MiB bodies, and forged reviews whose SubjectAccessReview the API server answers
// slowly; samples the webhook's memory meanwhile. Prints the figures and PASS/FAIL lines.
// Usage: hostile_load PORT CA_PEM SERVER_PID VALIDATE_JSON MUTATE_JSON [BASELINE_S [ATTACK_S]]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kSlowLoris = 200;
constexpr int kLargeClients = 50;
constexpr size_t kLargeBody = 3 * 1024 * 1024;  // the webhook's body limit: the largest it accepts
constexpr size_t kLargeChunk = 64 * 1024;
constexpr auto kLargeChunkEvery = milliseconds(32);  // about 2 MiB/s per client: a body takes 1.5 s
constexpr int kForgedPerSecond = 20;
constexpr int kForgedThreads = 100;  // enough for 20/s each waiting up to the 3 s deadline
constexpr int kLegitClients = 4;
constexpr auto kLegitPause = milliseconds(10);
constexpr auto kWarmUp = std::chrono::seconds(2);  // attack runs this long before legit samples count

int g_port = 0;
SSL_CTX* g_tls = nullptr;
std::atomic<bool> g_attack{false};
std::atomic<bool> g_stop{false};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One blocking TLS connection from a chosen loopback source address.
class Conn {
 public:
  Conn() = default;
  ~Conn() { close(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool open(const std::string& source) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    timeval tv{15, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &src.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return fail();
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(g_port));
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) return fail();
    ssl_ = SSL_new(g_tls);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) return fail();
    in_.clear();
    return true;
  }
  bool send(const char* data, size_t n) {
    while (n > 0) {
      size_t w = 0;
      if (SSL_write_ex(ssl_, data, n, &w) != 1) return fail();
      data += w;
      n -= w;
    }
    return true;
  }
  bool send(const std::string& s) { return send(s.data(), s.size()); }
  // Whether the server has answered or ended the connection (without waiting). TLS 1.3 session
  // tickets after the handshake make the socket readable too; they are consumed here and do not count.
  bool answered() {
    if (!ssl_) return true;
    if (!in_.empty()) return true;
    pollfd p{fd_, POLLIN, 0};
    if (SSL_pending(ssl_) == 0 && ::poll(&p, 1, 0) <= 0) return false;
    const int flags = ::fcntl(fd_, F_GETFL);
    ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    char buf[4096];
    size_t got = 0;
    const int rc = SSL_read_ex(ssl_, buf, sizeof buf, &got);
    const int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
    ::fcntl(fd_, F_SETFL, flags);
    if (rc == 1) {
      in_.append(buf, got);
      return true;
    }
    if (err == SSL_ERROR_WANT_READ) return false;
    close();
    return true;
  }
  // Reads one response: its status (0 when the connection failed) and body.
  int read_response(std::string& body, bool& closes) {
    size_t head_end;
    while ((head_end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return 0;
    const std::string head = in_.substr(0, head_end);
    int status = 0;
    if (std::sscanf(head.c_str(), "HTTP/1.%*d %d", &status) != 1) return 0;
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    size_t length = 0;
    if (auto p = lower.find("content-length:"); p != std::string::npos)
      length = std::stoul(lower.substr(p + 15));
    closes = lower.find("connection: close") != std::string::npos;
    while (in_.size() < head_end + 4 + length)
      if (!fill()) return 0;
    body = in_.substr(head_end + 4, length);
    in_.erase(0, head_end + 4 + length);
    return status;
  }
  void close() {
    if (ssl_) SSL_free(ssl_);
    ssl_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ERR_clear_error();
  }
  bool is_open() const { return ssl_ != nullptr; }

 private:
  bool fail() {
    close();
    return false;
  }
  bool fill() {
    char buf[16384];
    size_t got = 0;
    if (SSL_read_ex(ssl_, buf, sizeof buf, &got) != 1) return fail();
    in_.append(buf, got);
    return true;
  }
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string in_;
};

std::string address(int subnet, int i) {
  return "127.0." + std::to_string(subnet) + "." + std::to_string(1 + i);
}

std::string post_head(const std::string& path, size_t length) {
  return "POST " + path + " HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(length) + "\r\n\r\n";
}

// ---- attackers ----

std::atomic<uint64_t> g_loris_connections{0};

// Opens a connection, completes TLS, and sends a request head one byte a second until the server
// closes it (its read timeout), then opens the next one.
void slow_loris(int i) {
  Conn c;
  const std::string source = address(1, i % 50);
  const std::string start = "POST /validate-infisicalsecret HTTP/1.1\r\nHost: webhook\r\nX-Slow: ";
  while (!g_stop) {
    if (!c.open(source)) {
      std::this_thread::sleep_for(milliseconds(200));
      continue;
    }
    ++g_loris_connections;
    if (!c.send(start)) continue;
    while (!g_stop && c.is_open()) {
      std::this_thread::sleep_for(milliseconds(1000));
      if (c.answered() || !c.send("a", 1)) break;
    }
    c.close();
  }
}

std::atomic<uint64_t> g_large_done{0};
std::atomic<uint64_t> g_large_refused{0};
std::atomic<uint64_t> g_large_failed{0};

// Sends 3 MiB bodies at about 2 MiB/s, one after another on a keep-alive connection; a 503 (the
// buffered-bytes budget is full) or a closed connection starts over after a short pause.
void large_bodies(int i, const std::string& body) {
  Conn c;
  const std::string source = address(2, i);
  const std::string head = post_head("/mutate-workload", body.size());
  std::string answer;
  while (!g_stop) {
    if (!c.is_open() && !c.open(source)) {
      std::this_thread::sleep_for(milliseconds(200));
      continue;
    }
    bool refused = false;
    if (!c.send(head)) {
      ++g_large_failed;
      continue;
    }
    for (size_t off = 0; off < body.size() && !g_stop; off += kLargeChunk) {
      if (c.answered()) {  // answered before the body was sent: refused
        refused = true;
        break;
      }
      if (!c.send(body.data() + off, std::min(kLargeChunk, body.size() - off))) break;
      std::this_thread::sleep_for(kLargeChunkEvery);
    }
    if (g_stop) break;
    bool closes = false;
    const int status = c.is_open() ? c.read_response(answer, closes) : 0;
    if (status == 200 && !refused)
      ++g_large_done;
    else if (status == 503)
      ++g_large_refused;
    else
      ++g_large_failed;
    if (status != 200 || closes) {
      c.close();
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
}

std::atomic<int64_t> g_forged_next{0};  // the next forged review's send time (ns since the clock's epoch)
std::atomic<uint64_t> g_forged_sent{0};
std::atomic<uint64_t> g_forged_timed_out{0};
std::atomic<uint64_t> g_forged_busy{0};
std::atomic<uint64_t> g_forged_other{0};
std::atomic<int64_t> g_forged_slowest_ms{0};

std::string forged_review(uint64_t n) {
  const std::string user = "forged-" + std::to_string(n) + "-" + std::to_string(::random());
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"forged-)" +
         std::to_string(n) +
         R"(","kind":{"group":"secrets.infisical.com","version":"v1alpha1","kind":"InfisicalSecret"},
    "operation":"CREATE","namespace":"apps","userInfo":{"username":")" +
         user + R"(","groups":["system:authenticated"]},
    "object":{"apiVersion":"secrets.infisical.com/v1alpha1","kind":"InfisicalSecret","metadata":{"name":"x","namespace":"apps"},
      "spec":{"resyncInterval":60,"authentication":{"universalAuth":{"credentialsRef":{"secretName":"creds",
        "secretNamespace":"vault"},"secretsScope":{"projectSlug":"p","envSlug":"dev","secretsPath":"/"}}},
        "managedSecretReference":{"secretName":"m","secretNamespace":"apps","creationPolicy":"Orphan"}}}}})";
}

// Forged reviews at kForgedPerSecond, each from a random user (so no answer is shared or cached) and
// needing a SubjectAccessReview for a Secret of another namespace; each on a new connection.
void forged(Clock::time_point end) {
  Conn c;
  std::string answer;
  const int64_t period = std::chrono::nanoseconds(std::chrono::seconds(1)).count() / kForgedPerSecond;
  for (;;) {
    const int64_t at = g_forged_next.fetch_add(period);
    const Clock::time_point when{std::chrono::nanoseconds(at)};
    if (when >= end || g_stop) return;
    std::this_thread::sleep_until(when);
    const uint64_t n = g_forged_sent++;
    if (!c.open(address(3, static_cast<int>(n % 200)))) {
      ++g_forged_other;
      continue;
    }
    const std::string body = forged_review(n);
    bool closes = false;
    const auto t0 = Clock::now();
    const int status = c.send(post_head("/validate-infisicalsecret", body.size()) + body)
                           ? c.read_response(answer, closes)
                           : 0;
    const int64_t ms = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
    int64_t seen = g_forged_slowest_ms.load();
    while (ms > seen && !g_forged_slowest_ms.compare_exchange_weak(seen, ms)) {
    }
    if (status == 200 && answer.find("did not answer the SubjectAccessReview within") != std::string::npos)
      ++g_forged_timed_out;
    else if (status == 200 && answer.find("already waiting for the API server") != std::string::npos)
      ++g_forged_busy;
    else
      ++g_forged_other;
    c.close();
  }
}

// ---- legitimate requests ----

struct Sample {
  bool attack;
  bool validate;
  double ms;
};
std::mutex g_samples_mu;
std::vector<Sample> g_samples;
std::atomic<uint64_t> g_legit_errors{0};
std::atomic<bool> g_measure_attack{false};

void legit(int i, const std::string& validate, const std::string& mutate) {
  Conn c;
  std::string answer;
  const std::string v = post_head("/validate-infisicalsecret", validate.size()) + validate;
  const std::string m = post_head("/mutate-workload", mutate.size()) + mutate;
  std::vector<Sample> mine;
  bool use_validate = i % 2 == 0;
  while (!g_stop) {
    const bool attack = g_attack.load();
    const bool counted = !attack || g_measure_attack.load();
    const auto t0 = Clock::now();
    bool ok = c.is_open() || c.open("127.0.0.1");
    bool closes = false;
    ok = ok && c.send(use_validate ? v : m) && c.read_response(answer, closes) == 200 &&
         answer.find("\"allowed\":true") != std::string::npos;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!ok) {
      ++g_legit_errors;
      c.close();
    } else if (counted) {
      mine.push_back({attack, use_validate, ms});
    }
    if (closes) c.close();
    use_validate = !use_validate;
    std::this_thread::sleep_for(kLegitPause);
  }
  std::lock_guard lock(g_samples_mu);
  g_samples.insert(g_samples.end(), mine.begin(), mine.end());
}

// ---- the server's memory ----

long status_kib(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  return -1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[i];
}

struct Figures {
  size_t n;
  double p50, p99, max;
};
Figures figures(bool attack, int which) {  // which: 0 both, 1 validate, 2 mutate
  std::vector<double> v;
  for (const auto& s : g_samples)
    if (s.attack == attack && (which == 0 || (which == 1) == s.validate)) v.push_back(s.ms);
  return {v.size(), percentile(v, 50), percentile(v, 99),
          v.empty() ? 0 : *std::max_element(v.begin(), v.end())};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(
        stderr,
        "usage: hostile_load PORT CA_PEM SERVER_PID VALIDATE_JSON MUTATE_JSON [BASELINE_S [ATTACK_S]]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  g_port = std::stoi(argv[1]);
  const int server_pid = std::stoi(argv[3]);
  const std::string validate = read_file(argv[4]);
  const std::string mutate = read_file(argv[5]);
  const int baseline_s = argc > 6 ? std::stoi(argv[6]) : 10;
  const int attack_s = argc > 7 ? std::stoi(argv[7]) : 30;
  g_tls = SSL_CTX_new(TLS_client_method());
  if (SSL_CTX_load_verify_locations(g_tls, argv[2], nullptr) != 1) {
    std::fprintf(stderr, "hostile_load: cannot load the CA %s\n", argv[2]);
    return 2;
  }
  SSL_CTX_set_verify(g_tls, SSL_VERIFY_PEER, nullptr);

  // A 3 MiB AdmissionReview of a Deployment that has not opted in (parsed, then allowed unchanged).
  std::string large =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"large",
    "kind":{"group":"apps","version":"v1","kind":"Deployment"},"operation":"CREATE","namespace":"apps",
    "object":{"metadata":{"name":"big","annotations":{"pad":")";
  const std::string tail = R"("}},"spec":{"template":{"spec":{"containers":[]}}}}}})";
  large.append(kLargeBody - large.size() - tail.size(), 'x');
  large += tail;

  std::atomic<long> peak_rss_kib{0};
  std::thread sampler([&] {
    while (!g_stop) {
      const long rss = status_kib(server_pid, "VmRSS:");
      if (rss > peak_rss_kib) peak_rss_kib = rss;
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  std::vector<std::thread> legit_threads;
  for (int i = 0; i < kLegitClients; ++i)
    legit_threads.emplace_back(legit, i, std::cref(validate), std::cref(mutate));
  std::this_thread::sleep_for(std::chrono::seconds(baseline_s));
  const long rss_before_attack = status_kib(server_pid, "VmRSS:");

  // The attack.
  g_attack = true;
  const auto attack_start = Clock::now();
  const auto attack_end = attack_start + std::chrono::seconds(attack_s);
  g_forged_next =
      std::chrono::duration_cast<std::chrono::nanoseconds>(attack_start.time_since_epoch()).count();
  std::vector<std::thread> attackers;
  for (int i = 0; i < kSlowLoris; ++i) attackers.emplace_back(slow_loris, i);
  for (int i = 0; i < kLargeClients; ++i) attackers.emplace_back(large_bodies, i, std::cref(large));
  for (int i = 0; i < kForgedThreads; ++i) attackers.emplace_back(forged, attack_end);
  std::this_thread::sleep_until(attack_start + kWarmUp);
  g_measure_attack = true;
  std::this_thread::sleep_until(attack_end);
  const uint64_t forged_due = g_forged_sent.load();
  g_stop = true;
  for (auto& t : legit_threads) t.join();
  for (auto& t : attackers) t.join();
  sampler.join();
  const long hwm = status_kib(server_pid, "VmHWM:");
  const bool alive = ::kill(server_pid, 0) == 0 && status_kib(server_pid, "VmRSS:") > 0;

  const Figures base = figures(false, 0), hit = figures(true, 0);
  std::printf("%-34s %8s %10s %10s %10s\n", "legitimate requests", "n", "p50", "p99", "max");
  for (int which = 0; which < 3; ++which) {
    const char* name = which == 0 ? "all" : which == 1 ? "/validate-infisicalsecret" : "/mutate-workload";
    for (bool attack : {false, true}) {
      const Figures f = figures(attack, which);
      std::printf("%-34s %8zu %8.2fms %8.2fms %8.2fms\n",
                  (std::string(attack ? "attack   " : "baseline ") + name).c_str(), f.n, f.p50, f.p99, f.max);
    }
  }
  std::printf("p99 under attack / baseline p99: %.1fx; legitimate requests failed: %llu\n",
              base.p99 > 0 ? hit.p99 / base.p99 : 0.0,
              static_cast<unsigned long long>(g_legit_errors.load()));
  std::printf("slow-loris: %d at a time, %llu connections opened in %d s\n", kSlowLoris,
              static_cast<unsigned long long>(g_loris_connections.load()), attack_s);
  std::printf("3 MiB bodies: %d clients, %llu answered, %llu refused 503 (budget), %llu failed\n",
              kLargeClients, static_cast<unsigned long long>(g_large_done.load()),
              static_cast<unsigned long long>(g_large_refused.load()),
              static_cast<unsigned long long>(g_large_failed.load()));
  std::printf(
      "forged reviews: %llu sent (%.1f/s), %llu denied at the 3 s deadline, %llu denied at once (pending "
      "limit), %llu other; slowest answer %lld ms\n",
      static_cast<unsigned long long>(forged_due), static_cast<double>(forged_due) / attack_s,
      static_cast<unsigned long long>(g_forged_timed_out.load()),
      static_cast<unsigned long long>(g_forged_busy.load()),
      static_cast<unsigned long long>(g_forged_other.load()),
      static_cast<long long>(g_forged_slowest_ms.load()));
  std::printf(
      "webhook memory: RSS %.1f MiB before the attack, peak sampled %.1f MiB, VmHWM %.1f MiB (chart limit "
      "128 MiB)\n",
      rss_before_attack / 1024.0, peak_rss_kib.load() / 1024.0, hwm / 1024.0);
  std::printf("webhook process alive after the attack: %s\n\n", alive ? "yes" : "NO");
  const bool rss_ok = hwm > 0 && hwm < 128 * 1024;
  const bool p99_ok = hit.n > 0 && hit.p99 < 50.0;
  std::printf("%s  webhook peak RSS %.1f MiB (target < 128 MiB, the chart's memory limit)\n",
              rss_ok ? "PASS" : "FAIL", hwm / 1024.0);
  std::printf("%s  legitimate p99 under attack %.2f ms, p50 %.2f ms (target p99 < 50 ms)\n",
              p99_ok ? "PASS" : "FAIL", hit.p99, hit.p50);
  std::printf("%s  no legitimate request failed (%llu)\n", g_legit_errors == 0 ? "PASS" : "FAIL",
              static_cast<unsigned long long>(g_legit_errors.load()));
  std::printf("%s  the webhook did not crash\n", alive ? "PASS" : "FAIL");
  SSL_CTX_free(g_tls);
  return rss_ok && p99_ok && alive && g_legit_errors == 0 ? 0 : 1;
}
