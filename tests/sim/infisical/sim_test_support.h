// Test helpers for talking to an in-process infisical-sim over plain HTTP (header only, for the http suite).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "core/json.h"
#include "infisical_sim.h"
#include "net/http_client.h"

namespace ifo::sim::test {

inline std::shared_ptr<core::JsonDoc> json(const std::string& text) {
  auto doc = core::parse_json(text);
  if (!doc) throw std::runtime_error("response is not JSON: " + doc.error());
  return std::move(doc).value();
}

// Requests against the sim's API base (".../api") and admin endpoint, trusting its CA in HTTPS mode.
class Api {
 public:
  explicit Api(const InfisicalSim& sim) : http(tls_for(sim)), sim_(sim) {}

  net::Response get(const std::string& path, const std::string& bearer, const net::Headers& extra = {}) {
    net::Request r;
    r.url = sim_.api_url() + path;
    if (!bearer.empty()) r.headers.emplace_back("Authorization", "Bearer " + bearer);
    for (const auto& h : extra) r.headers.push_back(h);
    return http.perform(r);
  }
  net::Response post(const std::string& path, const std::string& body, const std::string& bearer = "") {
    net::Request r;
    r.method = "POST";
    r.url = sim_.api_url() + path;
    r.headers = {{"Content-Type", "application/json"}};
    if (!bearer.empty()) r.headers.emplace_back("Authorization", "Bearer " + bearer);
    r.body = body;
    return http.perform(r);
  }
  // Admin routes live beside /api on the same port.
  net::Response admin_post(const std::string& path, const std::string& body) {
    net::Request r;
    r.method = "POST";
    r.url = root() + path;
    r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + sim_.admin_token()}};
    r.body = body;
    return http.perform(r);
  }
  net::Response admin_get(const std::string& path, const std::string& token = "") {
    net::Request r;
    r.url = root() + path;
    r.headers = {{"Authorization", "Bearer " + (token.empty() ? sim_.admin_token() : token)}};
    return http.perform(r);
  }
  std::string login_universal(const std::string& client_id, const std::string& client_secret) {
    auto r = post("/v1/auth/universal-auth/login",
                  R"({"clientId":")" + client_id + R"(","clientSecret":")" + client_secret + R"("})");
    if (r.status != 200) throw std::runtime_error("universal-auth login failed with " + std::to_string(r.status));
    return core::string_or(*json(r.body), "accessToken", "");
  }
  std::string root() const {
    std::string u = sim_.api_url();
    return u.substr(0, u.size() - 4);  // strip "/api"
  }

  net::HttpClient http;

 private:
  static net::TlsOptions tls_for(const InfisicalSim& sim) {
    net::TlsOptions t;
    t.ca_pem = sim.ca_pem();
    return t;
  }
  const InfisicalSim& sim_;
};

}  // namespace ifo::sim::test
