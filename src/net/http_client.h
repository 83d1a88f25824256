// A blocking HTTP(S) client over libcurl with connection reuse, shared by the Kubernetes and Infisical clients.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ifo::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct TlsOptions {
  std::string ca_pem;           // trust only these CAs; empty: the system store
  std::string client_cert_pem;  // client certificate authentication (kubeconfig)
  std::string client_key_pem;
  bool insecure_skip_verify = false;
};

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{30000};  // zero: no limit (long-running watches)
  // Optional: when *cancel becomes true the transfer stops within about a second (libcurl's progress
  // callback rate when idle) and throws TransportError kAborted. Lets a watch be stopped cleanly.
  const std::atomic<bool>* cancel = nullptr;
};

struct Response {
  long status = 0;
  Headers headers;  // names lower-cased
  std::string body;

  // The first header with this (case-insensitive) name.
  std::optional<std::string> header(std::string_view name) const;
};

// A request that produced no HTTP response. Never carries request headers or bodies (they may hold tokens).
class TransportError : public std::runtime_error {
 public:
  enum class Kind { kConnect, kTimeout, kTls, kAborted, kOther };
  TransportError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }
  bool is_timeout() const { return kind_ == Kind::kTimeout; }

 private:
  Kind kind_;
};

// Thread safe: each call borrows a pooled libcurl handle, so concurrent callers reuse connections.
class HttpClient {
 public:
  explicit HttpClient(TlsOptions tls = {}, std::string user_agent = default_user_agent());
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Response perform(const Request& request);

  // Streams the body to on_chunk as it arrives (watches); on_chunk returns false to stop early, which
  // is not an error. The returned Response has status and headers, and the body only when status >= 300.
  Response stream(const Request& request, const std::function<bool(std::string_view)>& on_chunk);

  static std::string default_user_agent();

 private:
  struct Handle;
  std::unique_ptr<Handle> acquire();
  void release(std::unique_ptr<Handle> handle);
  Response run(Handle& h, const Request& request, const std::function<bool(std::string_view)>* on_chunk);

  TlsOptions tls_;
  std::string user_agent_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

// Percent-encodes a query parameter value or path segment.
std::string url_encode(std::string_view s);

}  // namespace ifo::net
