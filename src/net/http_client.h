// A blocking HTTP(S) client over libcurl with connection reuse, shared by the Kubernetes and Infisical clients.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/address_range.h"

namespace ifo::net {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct TlsOptions {
  std::string ca_pem;           // trust only these CAs; empty: the system store
  std::string client_cert_pem;  // client certificate authentication (kubeconfig)
  std::string client_key_pem;
  bool insecure_skip_verify = false;
};

// Where a client may connect (DESIGN.md §8): when enabled, every connection attempt is checked after
// name resolution, each address of a multi-address name on its own, so a name that resolves (or
// re-resolves: DNS rebinding) to a refused address never gets a connection. Through a proxy
// (HTTPS_PROXY) the address checked is the proxy's: the proxy resolves the host.
struct AddressPolicy {
  bool enabled = false;
  // Ranges of core::default_refused_ranges() the admin allows (--allowed-address-ranges).
  std::vector<core::AddressRange> allowed;
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
  // The longest body accepted (0: no limit). A longer one stops the transfer when the limit is passed
  // (nothing more is read or kept) and throws ResponseTooLargeError. Not applied to stream()'s chunks.
  std::size_t max_response_bytes = 0;
};

struct Response {
  long status = 0;
  std::string url;  // the request's URL (redirects are never followed); set by HttpClient
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

// The AddressPolicy refused every address the host resolved to: no connection was made. Its kind is
// kConnect, so callers that only know TransportError treat it as a failed connection.
class AddressRefusedError final : public TransportError {
 public:
  AddressRefusedError(const std::string& what, std::string host, std::string address,
                      core::AddressRange range)
      : TransportError(Kind::kConnect, what),
        host_(std::move(host)),
        address_(std::move(address)),
        range_(std::move(range)) {}
  const std::string& host() const { return host_; }
  const std::string& address() const { return address_; }  // the (first) refused address
  const core::AddressRange& range() const { return range_; }  // the refused range it is in

 private:
  std::string host_;
  std::string address_;
  core::AddressRange range_;
};

// The response body passed Request::max_response_bytes: the transfer was stopped there. Kind kOther.
class ResponseTooLargeError final : public TransportError {
 public:
  ResponseTooLargeError(const std::string& what, std::size_t limit)
      : TransportError(Kind::kOther, what), limit_(limit) {}
  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_;
};

// Thread safe: each call borrows a pooled libcurl handle, so concurrent callers reuse connections.
class HttpClient {
 public:
  explicit HttpClient(TlsOptions tls = {}, std::string user_agent = default_user_agent(),
                      AddressPolicy policy = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Response perform(const Request& request);
  // Closes the pooled idle connections (the pool keeps up to 64, as many as were ever in use at once):
  // after a burst of concurrent requests that will not come again. Later requests open what they need.
  void close_idle();

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
  AddressPolicy policy_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

// Where a URL points: scheme and host lower-cased, the port made explicit.
struct UrlOrigin {
  std::string scheme;
  std::string host;  // an IPv6 literal keeps its brackets
  long port = 0;
  // "host", or "host:port" when the port is not the scheme's default.
  std::string display() const;
};

// The origin of an absolute URL, or of `url` resolved against `base` when `base` is given (a Location
// header may be relative); nullopt when it is not a usable URL.
std::optional<UrlOrigin> url_origin(const std::string& url, const std::string& base = {});

// Percent-encodes a query parameter value or path segment.
std::string url_encode(std::string_view s);

}  // namespace ifo::net
