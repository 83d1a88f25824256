// infisical-sim executable: serves the simulator until SIGINT/SIGTERM; prints its ports so scripts can find them.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/flag_set.h"
#include "infisical_sim.h"

namespace {

constexpr const char* kUsage = R"(usage: infisical-sim [flags]

A simulated Infisical API (plus the AWS/Azure/GCP metadata and token endpoints the auth methods read)
on loopback, for tests. Runs until SIGINT or SIGTERM.

flags:
  --seed FILE          seed JSON (projects, secrets, identities; see tests/sim/infisical/README.md)
  --tls                serve the Infisical API over HTTPS with a generated CA (see --ca-file)
  --port N             Infisical API port (default 0: ephemeral)
  --cloud-port N       cloud endpoints port (default 0: ephemeral)
  --host ADDR          bind address (default 127.0.0.1)
  --admin-token T      token for the /sim/... admin endpoint (default: generated)
  --ports-file FILE    write {"apiUrl","apiPort","cloudUrl","cloudPort","adminToken","caFile"} as JSON to FILE
  --ca-file FILE       with --tls: write the CA certificate (PEM) to FILE
  --help               this text

Flags are --flag value or --flag=value; a wrong one exits 2.
)";

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Flags {
  std::string seed_file;
  bool tls = false;
  int port = 0;
  int cloud_port = 0;
  std::string host = "127.0.0.1";
  std::string admin_token;
  std::string ports_file;
  std::string ca_file;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "infisical-sim: " << message << "\n";
  std::exit(2);
}

// The binaries' parser (core/flag_set.h): --flag value or --flag=value, one-line errors, exit 2.
Flags parse_flags(int argc, char** argv) {
  Flags f;
  auto store = [](std::string& into) {
    return [&into](const std::string& v) {
      into = v;
      return std::string();
    };
  };
  auto port = [](const char* flag, int& into) {
    return [flag, &into](const std::string& value) -> std::string {
      char* end = nullptr;
      long v = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || v < 0 || v > 65535)
        return std::string("flag ") + flag + ": \"" + value + "\" is not a port number (0-65535)";
      into = static_cast<int>(v);
      return {};
    };
  };
  ifo::core::FlagSet flags;
  flags.value("seed", store(f.seed_file));
  flags.boolean("tls", [&](const std::string& v) {
    auto b = ifo::core::parse_bool_flag("flag --tls", v);
    if (!b) return b.error();
    f.tls = *b;
    return std::string();
  });
  flags.value("port", port("--port", f.port));
  flags.value("cloud-port", port("--cloud-port", f.cloud_port));
  flags.value("host", store(f.host));
  flags.value("admin-token", store(f.admin_token));
  flags.value("ports-file", store(f.ports_file));
  flags.value("ca-file", store(f.ca_file));
  auto parsed = flags.parse(std::vector<std::string>(argv + 1, argv + argc));
  if (!parsed) usage_error(parsed.error());
  if (parsed->help || parsed->version) {
    std::cout << kUsage;
    std::exit(0);
  }
  if (!f.ca_file.empty() && !f.tls) usage_error("--ca-file needs --tls (see --help)");
  return f;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) noexcept try {
  Flags flags = parse_flags(argc, argv);
  ifo::sim::SimOptions opts;
  if (!flags.seed_file.empty()) {
    std::ifstream in(flags.seed_file);
    if (!in) {
      std::cerr << "infisical-sim: --seed: cannot read \"" << flags.seed_file << "\"\n";
      return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    opts.seed_json = ss.str();
  }
  opts.tls = flags.tls;
  opts.api_port = flags.port;
  opts.cloud_port = flags.cloud_port;
  opts.host = flags.host;
  opts.admin_token = flags.admin_token;

  std::unique_ptr<ifo::sim::InfisicalSim> sim;
  try {
    sim = ifo::sim::InfisicalSim::start(opts);
  } catch (const std::exception& e) {
    std::cerr << "infisical-sim: " << e.what() << "\n";
    return 2;
  }
  if (!flags.ca_file.empty()) {
    std::ofstream out(flags.ca_file);
    out << sim->ca_pem();
    if (!out) {
      std::cerr << "infisical-sim: --ca-file: cannot write \"" << flags.ca_file << "\"\n";
      return 2;
    }
  }
  if (!flags.ports_file.empty()) {
    std::string tmp = flags.ports_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << "{\"apiUrl\":\"" << sim->api_url() << "\",\"apiPort\":" << sim->api_port() << ",\"cloudUrl\":\""
          << sim->cloud_url() << "\",\"cloudPort\":" << sim->cloud_port() << ",\"adminToken\":\""
          << json_escape(sim->admin_token()) << "\",\"caFile\":\"" << json_escape(flags.ca_file) << "\"}\n";
      if (!out) {
        std::cerr << "infisical-sim: --ports-file: cannot write \"" << flags.ports_file << "\"\n";
        return 2;
      }
    }
    // Renamed into place so a script polling for the file never reads half of it.
    if (std::rename(tmp.c_str(), flags.ports_file.c_str()) != 0) {
      std::cerr << "infisical-sim: --ports-file: cannot rename into \"" << flags.ports_file << "\"\n";
      return 2;
    }
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "infisical-sim api=" << sim->api_url() << " cloud=" << sim->cloud_url();
  // The admin token is printed only when the caller did not choose it and has no ports file to read it from.
  if (flags.admin_token.empty() && flags.ports_file.empty()) std::cout << " admin-token=" << sim->admin_token();
  std::cout << std::endl;
  while (g_stop == 0) {
    struct timespec ts{0, 100 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  sim->stop();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "infisical-sim: " << e.what() << "\n";
  return 1;
} catch (...) {
  return 1;
}
