// infisical-sim: an in-process Infisical API (plus the cloud metadata/STS endpoints the auth methods read)
// on ephemeral loopback ports, for tests and the `infisical-sim` executable.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace ifo::sim {

struct SimOptions {
  std::string seed_json = "{}";  // seed document (README.md in this directory)
  bool tls = false;              // serve the Infisical API over HTTPS with a generated CA
  int api_port = 0;              // 0: ephemeral
  int cloud_port = 0;            // 0: ephemeral
  std::string admin_token;       // empty: generated
  std::string host = "127.0.0.1";
};

struct Counters {
  std::map<std::string, int64_t> by_route;                                 // "GET /api/v3/secrets/raw" -> n
  std::map<std::string, std::map<std::string, int64_t>> by_identity;      // identity id -> route -> n
  std::map<std::string, int64_t> by_route_status;  // "GET /api/v3/secrets/raw 304" -> n (the answered status)
  int64_t total = 0;
  int64_t max_in_flight = 0;  // the most API requests in progress at once (latency included)
};

class InfisicalSim {
 public:
  // Parses the seed, binds both ports and starts serving; throws std::runtime_error with a clear
  // message on a bad seed or a failed bind.
  static std::unique_ptr<InfisicalSim> start(const SimOptions& options);
  ~InfisicalSim();
  InfisicalSim(const InfisicalSim&) = delete;
  InfisicalSim& operator=(const InfisicalSim&) = delete;

  void stop();
  // An outage: the API port is closed (connections refused) until bring_api_up() listens on the same
  // port again with the same certificate. Everything else (secrets, identities, issued tokens, keys,
  // counters, faults) is kept, as a real server's database survives its restart. Not thread safe
  // against each other or stop(); call from the test's thread.
  void take_api_down();
  void bring_api_up();

  int api_port() const;
  int cloud_port() const;
  // "http(s)://127.0.0.1:PORT/api": what hostAPI should be set to.
  std::string api_url() const;
  // "http://127.0.0.1:PORT": STS, EC2/ECS/Azure/GCE metadata, OAuth2 token and IAM Credentials.
  std::string cloud_url() const;
  // PEM of the CA that signed the HTTPS serving certificate (empty without tls).
  const std::string& ca_pem() const;
  const std::string& admin_token() const;

  // The key that signs Azure/GCP/web-identity JWTs (RS256); its public half verifies them.
  const std::string& signing_private_key_pem() const;
  const std::string& signing_public_key_pem() const;

  // Runtime changes, the same as the admin endpoint offers.
  void set_secret(const std::string& project_slug, const std::string& environment, const std::string& path,
                  const std::string& key, const std::string& value);
  bool delete_secret(const std::string& project_slug, const std::string& environment, const std::string& path,
                     const std::string& key);
  void set_kubernetes(const std::string& host, const std::string& ca_pem, const std::string& reviewer_token);
  void advance_clock(int64_t seconds);
  // Added to each request of `route` ("*": every route without its own); 0 removes it.
  void set_latency(const std::string& route, int64_t ms);
  Counters counters() const;
  void reset_counters();

  struct Impl;

 private:
  explicit InfisicalSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ifo::sim
