// Loading in-cluster and kubeconfig configuration.
#include "kube/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "core/text.h"
#include "kube/errors.h"

namespace ifo::kube {

namespace {

namespace fs = std::filesystem;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// Standard base64 with optional padding and ignored whitespace, as Kubernetes writes *-data fields.
std::optional<std::string> decode_base64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  size_t pad = 0;
  size_t count = 0;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return std::nullopt;  // data after padding
    int v = value(c);
    if (v < 0) return std::nullopt;
    ++count;
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xFF));
    }
  }
  if (pad > 2 || count % 4 == 1) return std::nullopt;
  if (pad > 0 && (count + pad) % 4 != 0) return std::nullopt;
  return out;
}

// One kubeconfig file's text, parsed, with where it came from.
struct Source {
  std::string path;
  YAML::Node root;
};

struct Named {
  YAML::Node body;  // the "cluster"/"user"/"context" map
  const Source* source;
  std::string where;  // "clusters[name=x].cluster"
};

class Loader {
 public:
  explicit Loader(std::vector<Source> sources) : sources_(std::move(sources)) {}

  Config load(std::string_view context_override) {
    for (const auto& s : sources_) {
      collect(s, "clusters", "cluster", clusters_);
      collect(s, "users", "user", users_);
      collect(s, "contexts", "context", contexts_);
      if (current_.empty()) {
        auto cc = s.root["current-context"];
        if (cc && cc.IsScalar()) {
          current_ = cc.as<std::string>();
          current_source_ = s.path;
        }
      }
    }
    std::string ctx_name = context_override.empty() ? current_ : std::string(context_override);
    if (ctx_name.empty())
      throw ConfigError(fmt::format("kubeconfig {}: current-context is not set and no context was given", all_paths()));
    auto ctx_it = contexts_.find(ctx_name);
    if (ctx_it == contexts_.end())
      throw ConfigError(fmt::format("kubeconfig {}: {}context \"{}\" is not defined in contexts",
                                    context_override.empty() ? current_source_ : all_paths(),
                                    context_override.empty() ? "current-context: " : "", ctx_name));
    const Named& ctx = ctx_it->second;

    Config cfg;
    cfg.source = ctx.source->path;
    std::string cluster_name = scalar(ctx, "cluster", true);
    std::string user_name = scalar(ctx, "user", false);
    std::string ns = scalar(ctx, "namespace", false);
    if (!ns.empty()) cfg.namespace_ = ns;

    auto cl_it = clusters_.find(cluster_name);
    if (cl_it == clusters_.end())
      throw ConfigError(fmt::format("kubeconfig {}: {}.cluster: cluster \"{}\" is not defined in clusters",
                                    ctx.source->path, ctx.where, cluster_name));
    apply_cluster(cl_it->second, cfg);

    if (!user_name.empty()) {
      auto u_it = users_.find(user_name);
      if (u_it == users_.end())
        throw ConfigError(fmt::format("kubeconfig {}: {}.user: user \"{}\" is not defined in users",
                                      ctx.source->path, ctx.where, user_name));
      apply_user(u_it->second, cfg);
    }
    return cfg;
  }

 private:
  std::string all_paths() const {
    std::string out;
    for (const auto& s : sources_) out += (out.empty() ? "" : ":") + s.path;
    return out;
  }

  static void collect(const Source& s, const char* list_key, const char* body_key, std::map<std::string, Named>& into) {
    auto list = s.root[list_key];
    if (!list || list.IsNull()) return;
    if (!list.IsSequence()) throw ConfigError(fmt::format("kubeconfig {}: {}: must be a list", s.path, list_key));
    for (size_t i = 0; i < list.size(); ++i) {
      auto entry = list[i];
      auto name = entry.IsMap() ? entry["name"] : YAML::Node();
      if (!name || !name.IsScalar() || name.as<std::string>().empty())
        throw ConfigError(fmt::format("kubeconfig {}: {}[{}].name: missing", s.path, list_key, i));
      std::string n = name.as<std::string>();
      auto body = entry[body_key];
      if (body && !body.IsNull() && !body.IsMap())
        throw ConfigError(fmt::format("kubeconfig {}: {}[name={}].{}: must be a map", s.path, list_key, n, body_key));
      into.try_emplace(n, Named{body, &s, fmt::format("{}[name={}].{}", list_key, n, body_key)});  // first wins
    }
  }

  static std::string scalar(const Named& n, const char* field, bool required) {
    auto v = n.body ? n.body[field] : YAML::Node();
    if (!v || v.IsNull()) {
      if (required) throw ConfigError(fmt::format("kubeconfig {}: {}.{}: missing", n.source->path, n.where, field));
      return {};
    }
    if (!v.IsScalar())
      throw ConfigError(fmt::format("kubeconfig {}: {}.{}: must be a string", n.source->path, n.where, field));
    return v.as<std::string>();
  }

  static bool boolean(const Named& n, const char* field) {
    auto v = n.body ? n.body[field] : YAML::Node();
    if (!v || v.IsNull()) return false;
    bool b = false;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b))
      throw ConfigError(fmt::format("kubeconfig {}: {}.{}: must be true or false", n.source->path, n.where, field));
    return b;
  }

  static std::string resolve(const Named& n, const std::string& p) {
    fs::path path(p);
    if (path.is_absolute()) return p;
    return (fs::path(n.source->path).parent_path() / path).lexically_normal().string();
  }

  // Reads a file field; the error names the field and the file it points at, never its content.
  static std::string file_field(const Named& n, const char* field, const std::string& value) {
    std::string path = resolve(n, value);
    auto content = read_file(path);
    if (!content)
      throw ConfigError(fmt::format("kubeconfig {}: {}.{}: cannot read {}", n.source->path, n.where, field, path));
    return *content;
  }

  static std::string data_field(const Named& n, const char* field, const std::string& value) {
    auto decoded = decode_base64(value);
    if (!decoded)
      throw ConfigError(fmt::format("kubeconfig {}: {}.{}: not valid base64", n.source->path, n.where, field));
    return *decoded;
  }

  // The *-data field wins over the file field, as in client-go.
  static std::string pem_from(const Named& n, const char* data_key, const char* file_key) {
    std::string data = scalar(n, data_key, false);
    if (!data.empty()) return data_field(n, data_key, data);
    std::string file = scalar(n, file_key, false);
    if (!file.empty()) return file_field(n, file_key, file);
    return {};
  }

  static void apply_cluster(const Named& n, Config& cfg) {
    std::string server = scalar(n, "server", true);
    if (server.rfind("https://", 0) != 0 && server.rfind("http://", 0) != 0)
      throw ConfigError(fmt::format("kubeconfig {}: {}.server: \"{}\" is not an http(s) URL", n.source->path, n.where, server));
    while (server.size() > 1 && server.back() == '/') server.pop_back();
    cfg.server = server;
    cfg.tls.ca_pem = pem_from(n, "certificate-authority-data", "certificate-authority");
    if (!cfg.tls.ca_pem.empty() && cfg.tls.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      throw ConfigError(fmt::format("kubeconfig {}: {}.certificate-authority{}: no PEM certificate in it", n.source->path,
                                    n.where, scalar(n, "certificate-authority-data", false).empty() ? "" : "-data"));
    cfg.tls.insecure_skip_verify = boolean(n, "insecure-skip-tls-verify");
    if (cfg.tls.insecure_skip_verify && !cfg.tls.ca_pem.empty())
      throw ConfigError(fmt::format(
          "kubeconfig {}: {}.insecure-skip-tls-verify: cannot be combined with a certificate authority",
          n.source->path, n.where));
  }

  static void apply_user(const Named& n, Config& cfg) {
    if (!n.body) return;
    for (const char* unsupported : {"exec", "auth-provider"}) {
      if (n.body[unsupported])
        throw ConfigError(fmt::format(
            "kubeconfig {}: {}.{}: credential plugins are not supported; use a token, tokenFile or a client "
            "certificate",
            n.source->path, n.where, unsupported));
    }
    for (const char* unsupported : {"username", "password"}) {
      if (n.body[unsupported])
        throw ConfigError(fmt::format("kubeconfig {}: {}.{}: basic authentication is not supported", n.source->path,
                                      n.where, unsupported));
    }
    cfg.token = std::string(core::trim(scalar(n, "token", false)));
    std::string token_file = scalar(n, "tokenFile", false);
    if (!token_file.empty()) {
      cfg.token_file = resolve(n, token_file);
      if (!read_file(cfg.token_file))
        throw ConfigError(
            fmt::format("kubeconfig {}: {}.tokenFile: cannot read {}", n.source->path, n.where, cfg.token_file));
    }
    cfg.tls.client_cert_pem = pem_from(n, "client-certificate-data", "client-certificate");
    cfg.tls.client_key_pem = pem_from(n, "client-key-data", "client-key");
    if (cfg.tls.client_cert_pem.empty() != cfg.tls.client_key_pem.empty())
      throw ConfigError(fmt::format("kubeconfig {}: {}.{}: a client certificate needs both a certificate and a key",
                                    n.source->path, n.where,
                                    cfg.tls.client_cert_pem.empty() ? "client-certificate" : "client-key"));
    if (!cfg.tls.client_cert_pem.empty() && cfg.tls.client_cert_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      throw ConfigError(fmt::format("kubeconfig {}: {}.client-certificate: no PEM certificate in it", n.source->path, n.where));
    if (!cfg.tls.client_key_pem.empty() && cfg.tls.client_key_pem.find("PRIVATE KEY-----") == std::string::npos)
      throw ConfigError(fmt::format("kubeconfig {}: {}.client-key: no PEM private key in it", n.source->path, n.where));
  }

  std::vector<Source> sources_;
  std::map<std::string, Named> clusters_, users_, contexts_;
  std::string current_;
  std::string current_source_;
};

Source parse_source(std::string_view yaml, const std::string& path) {
  Source s{path, {}};
  try {
    s.root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("kubeconfig {}: not valid YAML: line {}, column {}: {}", path, e.mark.line + 1,
                                  e.mark.column + 1, e.msg));
  }
  if (s.root.IsNull()) s.root = YAML::Node(YAML::NodeType::Map);
  if (!s.root.IsMap()) throw ConfigError(fmt::format("kubeconfig {}: must be a YAML map", path));
  return s;
}

}  // namespace

InClusterSource InClusterSource::from_environment() {
  InClusterSource s;
  s.host = env_or_empty("KUBERNETES_SERVICE_HOST");
  s.port = env_or_empty("KUBERNETES_SERVICE_PORT");
  return s;
}

Config in_cluster_config(const InClusterSource& source) {
  if (source.host.empty() || source.port.empty())
    throw ConfigError(
        "in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not running in a pod?)");
  Config cfg;
  cfg.source = "in-cluster";
  // An IPv6 address needs brackets in a URL.
  std::string host = source.host.find(':') != std::string::npos ? fmt::format("[{}]", source.host) : source.host;
  cfg.server = fmt::format("https://{}:{}", host, source.port);
  cfg.token_file = source.token_path;
  auto token = read_file(source.token_path);
  if (!token) throw ConfigError(fmt::format("in-cluster configuration: cannot read the service-account token {}", source.token_path));
  auto ca = read_file(source.ca_path);
  if (!ca) throw ConfigError(fmt::format("in-cluster configuration: cannot read the CA bundle {}", source.ca_path));
  if (ca->find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    throw ConfigError(fmt::format("in-cluster configuration: no PEM certificate in {}", source.ca_path));
  cfg.tls.ca_pem = *ca;
  if (auto ns = read_file(source.namespace_path)) {
    std::string n(core::trim(*ns));
    if (!n.empty()) cfg.namespace_ = n;
  }
  return cfg;
}

Config parse_kubeconfig(std::string_view yaml, const std::string& path, std::string_view context) {
  std::vector<Source> sources;
  sources.push_back(parse_source(yaml, path));
  return Loader(std::move(sources)).load(context);
}

Config load_kubeconfig(std::string_view paths, std::string_view context) {
  std::vector<Source> sources;
  size_t start = 0;
  while (start <= paths.size()) {
    size_t end = paths.find(':', start);
    if (end == std::string_view::npos) end = paths.size();
    std::string path(paths.substr(start, end - start));
    start = end + 1;
    if (path.empty()) continue;
    auto text = read_file(path);
    if (!text) {
      // KUBECONFIG lists may name files that do not exist (kubectl skips them); a single path must exist.
      if (paths.find(':') == std::string_view::npos) throw ConfigError(fmt::format("kubeconfig {}: cannot read the file", path));
      continue;
    }
    sources.push_back(parse_source(*text, path));
  }
  if (sources.empty()) throw ConfigError(fmt::format("kubeconfig {}: none of the files can be read", paths));
  return Loader(std::move(sources)).load(context);
}

Config load_config(const std::optional<std::string>& kubeconfig_flag, std::string_view context) {
  if (kubeconfig_flag && !kubeconfig_flag->empty()) return load_kubeconfig(*kubeconfig_flag, context);
  std::string env = env_or_empty("KUBECONFIG");
  if (!env.empty()) return load_kubeconfig(env, context);
  auto in_cluster = InClusterSource::from_environment();
  if (!in_cluster.host.empty() && context.empty()) return in_cluster_config(in_cluster);
  std::string home = env_or_empty("HOME");
  if (!home.empty()) {
    std::string path = (fs::path(home) / ".kube" / "config").string();
    std::error_code ec;
    if (fs::exists(path, ec)) return load_kubeconfig(path, context);
  }
  throw ConfigError(
      "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a pod, or create ~/.kube/config");
}

}  // namespace ifo::kube
