// infisical-sim executable: serves the simulator until SIGINT/SIGTERM; prints its ports so scripts can find them.
#include <csignal>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

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
  std::cerr << "infisical-sim: " << message << " (see --help)\n";
  std::exit(2);
}

int parse_port(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < 0 || v > 65535) usage_error(flag + ": \"" + value + "\" is not a port number (0-65535)");
  return static_cast<int>(v);
}

Flags parse_flags(int argc, char** argv) {
  Flags f;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) usage_error(a + " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--seed") {
      f.seed_file = value();
    } else if (a == "--tls") {
      f.tls = true;
    } else if (a == "--port") {
      f.port = parse_port(a, value());
    } else if (a == "--cloud-port") {
      f.cloud_port = parse_port(a, value());
    } else if (a == "--host") {
      f.host = value();
    } else if (a == "--admin-token") {
      f.admin_token = value();
    } else if (a == "--ports-file") {
      f.ports_file = value();
    } else if (a == "--ca-file") {
      f.ca_file = value();
    } else {
      usage_error("unknown flag \"" + a + "\"");
    }
  }
  if (!f.ca_file.empty() && !f.tls) usage_error("--ca-file needs --tls");
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
