// A routing fake of the Infisical client's Transport, for unit tests: handlers per "METHOD /path", and a
// record of every request.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "infisical/transport.h"

namespace ifo::infisical::testing {

using ifo::net::Request;
using ifo::net::Response;

inline Response json(long status, std::string body, ifo::net::Headers headers = {}) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

inline std::string path_of(const std::string& url) {
  auto scheme = url.find("://");
  auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return "/";
  auto q = url.find('?');
  return url.substr(slash, q == std::string::npos ? std::string::npos : q - slash);
}

inline std::string header(const Request& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

// Routes "METHOD /path" to handlers and records every request.
class FakeTransport final : public Transport {
 public:
  using Handler = std::function<Response(const Request&)>;
  void on(const std::string& route, Handler h) {
    std::lock_guard lock(mu_);
    handlers_[route] = std::move(h);
  }
  Response perform(const Request& req) override {
    Handler h;
    {
      std::lock_guard lock(mu_);
      log_.push_back(req);
      auto it = handlers_.find(req.method + " " + path_of(req.url));
      if (it == handlers_.end()) return json(404, R"({"message":"no route"})");
      h = it->second;
    }
    return h(req);
  }
  int count(const std::string& route) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& r : log_)
      if (r.method + " " + path_of(r.url) == route) ++n;
    return n;
  }
  std::vector<Request> requests(const std::string& route) const {
    std::lock_guard lock(mu_);
    std::vector<Request> out;
    for (const auto& r : log_)
      if (r.method + " " + path_of(r.url) == route) out.push_back(r);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Handler> handlers_;
  std::vector<Request> log_;
};

}  // namespace ifo::infisical::testing
