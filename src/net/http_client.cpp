// A blocking HTTP(S) client over libcurl with connection reuse.
#include "net/http_client.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstring>

#include "core/text.h"

namespace ifo::net {

namespace {

// curl_global_init is not thread safe; run it once before the first handle.
void global_init_once() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using Url = std::unique_ptr<CURLU, UrlDeleter>;

// One part of a parsed URL; empty when absent.
std::string url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* out = nullptr;
  if (curl_url_get(u, part, &out, flags) != CURLUE_OK || out == nullptr) return {};
  std::string s(out);
  curl_free(out);
  return s;
}

// The first address the AddressPolicy refused during one transfer.
struct Refusal {
  std::string address;
  core::AddressRange range;
};

struct Transfer {
  CURL* curl;
  Response* response;
  const std::function<bool(std::string_view)>* on_chunk;
  const std::atomic<bool>* cancel = nullptr;
  bool stopped_by_caller = false;
  std::size_t max_body = 0;  // Request::max_response_bytes
  bool too_large = false;
  const AddressPolicy* policy = nullptr;  // set when the policy is enabled
  std::optional<Refusal> refusal = std::nullopt;
};

// CURLOPT_OPENSOCKETFUNCTION: called with the resolved address of every connection attempt (each
// address of a multi-address name, both families of happy eyeballs), so this is where the address
// policy sees the address that would really be connected to. CURL_SOCKET_BAD fails only this attempt;
// curl goes on with the name's next address.
curl_socket_t on_open_socket(void* user, curlsocktype, curl_sockaddr* a) {
  auto* t = static_cast<Transfer*>(user);
  sockaddr_storage ss{};
  std::memcpy(&ss, &a->addr, std::min<size_t>(a->addrlen, sizeof ss));
  const auto* raw = reinterpret_cast<const uint8_t*>(&ss);
  std::span<const uint8_t> bytes;
  if (a->family == AF_INET && a->addrlen >= sizeof(sockaddr_in)) {
    bytes = std::span(raw + offsetof(sockaddr_in, sin_addr), 4);
  } else if (a->family == AF_INET6 && a->addrlen >= sizeof(sockaddr_in6)) {
    bytes = std::span(raw + offsetof(sockaddr_in6, sin6_addr), 16);
  } else {
    return CURL_SOCKET_BAD;  // not an IP address (never asked for): nothing to judge, so nothing to connect
  }
  if (auto range = core::refused_by(bytes, t->policy->allowed)) {
    if (!t->refusal) t->refusal = Refusal{core::address_to_string(bytes), std::move(*range)};
    return CURL_SOCKET_BAD;
  }
  int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->cancel != nullptr && t->cancel->load() ? 1 : 0;  // non-zero: CURLE_ABORTED_BY_CALLBACK
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new response (after 100-continue or a redirect)
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->response->headers.emplace_back(core::to_lower_ascii(line.substr(0, colon)),
                                      std::string(core::trim(line.substr(colon + 1))));
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * n);
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->cancel != nullptr && t->cancel->load()) return 0;  // aborts; reported as kAborted below
  if (t->on_chunk != nullptr && status < 300) {
    if (!(*t->on_chunk)(chunk)) {
      t->stopped_by_caller = true;
      return 0;  // makes curl abort with CURLE_WRITE_ERROR
    }
    return chunk.size();
  }
  if (t->max_body != 0 && t->response->body.size() + chunk.size() > t->max_body) {
    t->too_large = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR; nothing past the limit is kept
  }
  t->response->body.append(chunk);
  return chunk.size();
}

TransportError::Kind classify(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::Kind::kTimeout;
    case CURLE_ABORTED_BY_CALLBACK:
      return TransportError::Kind::kAborted;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      return TransportError::Kind::kConnect;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
      return TransportError::Kind::kTls;
    default:
      return TransportError::Kind::kOther;
  }
}

// The URL without its query string: queries may carry tokens, so errors never show them.
std::string redact_url(const std::string& url) { return url.substr(0, url.find('?')); }

}  // namespace

struct HttpClient::Handle {
  CURL* curl;
  Handle() : curl(curl_easy_init()) {}
  ~Handle() { curl_easy_cleanup(curl); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

std::optional<std::string> Response::header(std::string_view name) const {
  std::string key = core::to_lower_ascii(name);
  for (const auto& [k, v] : headers)
    if (k == key) return v;
  return std::nullopt;
}

HttpClient::HttpClient(TlsOptions tls, std::string user_agent, AddressPolicy policy)
    : tls_(std::move(tls)), user_agent_(std::move(user_agent)), policy_(std::move(policy)) {
  global_init_once();
}

HttpClient::~HttpClient() = default;

std::string HttpClient::default_user_agent() { return fmt::format("infisical-secrets-operator/{}", IFO_VERSION); }

std::unique_ptr<HttpClient::Handle> HttpClient::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  if (h->curl == nullptr) throw TransportError(TransportError::Kind::kOther, "curl_easy_init failed");
  return h;
}

void HttpClient::release(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(mu_);
  if (idle_.size() < 64) idle_.push_back(std::move(handle));
}

void HttpClient::close_idle() {
  std::vector<std::unique_ptr<Handle>> closing;
  {
    std::lock_guard lock(mu_);
    closing.swap(idle_);
  }
  // Closed outside the lock: a TLS close notification is a write.
}

Response HttpClient::perform(const Request& request) {
  auto h = acquire();
  Response r = run(*h, request, nullptr);
  release(std::move(h));
  return r;
}

Response HttpClient::stream(const Request& request, const std::function<bool(std::string_view)>& on_chunk) {
  // A dedicated handle: a long watch must not hold a pooled connection others want.
  Handle h;
  return run(h, request, &on_chunk);
}

Response HttpClient::run(Handle& h, const Request& request, const std::function<bool(std::string_view)>* on_chunk) {
  CURL* c = h.curl;
  curl_easy_reset(c);
  Response response;
  response.url = request.url;
  Transfer transfer{c, &response, on_chunk, request.cancel};
  transfer.max_body = request.max_response_bytes;

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent_.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // Redirects are never followed (a 3xx is returned to the caller): a server must not be able to send
  // the request, and its credentials, somewhere else. curl_easy_reset restores this default; it is
  // spelled out because the trust boundary depends on it.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
  if (policy_.enabled) {
    transfer.policy = &policy_;
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &transfer);
  }
  if (request.cancel != nullptr) {
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }

  if (!tls_.ca_pem.empty()) {
    curl_blob blob{const_cast<char*>(tls_.ca_pem.data()), tls_.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
  }
  if (!tls_.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(tls_.client_cert_pem.data()), tls_.client_cert_pem.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(tls_.client_key_pem.data()), tls_.client_key_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (tls_.insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  Slist headers;
  bool has_content_type = false;
  for (const auto& [k, v] : request.headers) {
    if (core::iequals_ascii(k, "content-type")) has_content_type = true;
    headers.reset(curl_slist_append(headers.release(), fmt::format("{}: {}", k, v).c_str()));
  }
  // curl adds "Expect: 100-continue" for large bodies; servers such as ours would then wait a second.
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  if (!request.body.empty() && !has_content_type)
    headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  if (request.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
  }

  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  if (rc == CURLE_WRITE_ERROR && transfer.stopped_by_caller) return response;
  if (rc == CURLE_WRITE_ERROR && transfer.too_large) {
    response.body.clear();
    throw ResponseTooLargeError(fmt::format("{} {}: HTTP {} response larger than the {}-byte limit", request.method,
                                            redact_url(request.url), response.status, request.max_response_bytes),
                                request.max_response_bytes);
  }
  if (request.cancel != nullptr && request.cancel->load() && rc != CURLE_OK)
    throw TransportError(TransportError::Kind::kAborted,
                         fmt::format("{} {}: cancelled", request.method, redact_url(request.url)));
  if (rc != CURLE_OK && transfer.refusal) {
    auto origin = url_origin(request.url);
    std::string host = origin ? origin->host : redact_url(request.url);
    const auto& range = transfer.refusal->range;
    throw AddressRefusedError(
        fmt::format("connection to {} refused: its address {} is in {}{}, which the operator does not connect to; "
                    "an admin may allow the range with --allowed-address-ranges",
                    host, transfer.refusal->address, range.to_string(),
                    range.label.empty() ? "" : fmt::format(" ({})", range.label)),
        host, transfer.refusal->address, range);
  }
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    throw TransportError(classify(rc), fmt::format("{} {}: {}", request.method, redact_url(request.url), detail));
  }
  return response;
}

std::string UrlOrigin::display() const {
  const bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  return default_port ? host : fmt::format("{}:{}", host, port);
}

std::optional<UrlOrigin> url_origin(const std::string& url, const std::string& base) {
  Url u(curl_url());
  if (!u) return std::nullopt;
  if (!base.empty() && curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK) return std::nullopt;
  // With a base set, a relative URL resolves against it; without one, only an absolute URL parses.
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return std::nullopt;
  UrlOrigin o;
  o.scheme = core::to_lower_ascii(url_part(u.get(), CURLUPART_SCHEME));
  o.host = core::to_lower_ascii(url_part(u.get(), CURLUPART_HOST));
  std::string port = url_part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (o.scheme.empty() || o.host.empty() || port.empty()) return std::nullopt;
  o.port = std::strtol(port.c_str(), nullptr, 10);
  return o;
}

std::string url_encode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out += fmt::format("%{:02X}", ch);
    }
  }
  return out;
}

}  // namespace ifo::net
