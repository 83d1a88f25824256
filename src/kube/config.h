// Where the API server is and how to authenticate: in-cluster service-account configuration or a
// kubeconfig file (client-go's rest.InClusterConfig and clientcmd, without exec or auth-provider plugins).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_client.h"

namespace ifo::kube {

struct Config {
  std::string server;  // "https://host:port", no trailing slash
  net::TlsOptions tls;
  // Bearer token. When token_file is set the client reads the file instead (at start and then every
  // token_refresh), because projected service-account tokens rotate; `token` is then only a fallback.
  std::string token;
  std::string token_file;
  std::chrono::seconds token_refresh{60};
  // The default namespace: the kubeconfig context's, or the in-cluster service account's; "default" otherwise.
  std::string namespace_ = "default";
  // Where this configuration came from ("in-cluster" or the kubeconfig path), for log and error messages.
  std::string source;
  // Client-side rate limit (controller-runtime's defaults). qps <= 0 disables it.
  double qps = 20;
  int burst = 30;
  // Per request, except watches (their timeout follows timeoutSeconds).
  std::chrono::milliseconds timeout{30000};
  std::string user_agent = net::HttpClient::default_user_agent();
};

// The files and environment a pod's service account provides; overridable for tests.
struct InClusterSource {
  std::string host;  // KUBERNETES_SERVICE_HOST
  std::string port;  // KUBERNETES_SERVICE_PORT
  std::string token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_path = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

  static InClusterSource from_environment();
};

// Throws ConfigError when not running in a cluster or a file is unreadable (the message names it).
Config in_cluster_config(const InClusterSource& source = InClusterSource::from_environment());

// Loads a kubeconfig. `paths` is one path or a ':'-separated list as in KUBECONFIG; the files are
// merged as kubectl does (the first file to define a name, or current-context, wins). `context`
// overrides current-context. Relative file references resolve against the file that holds them.
// Supported: server, certificate-authority(-data), insecure-skip-tls-verify, token, tokenFile,
// client-certificate(-data), client-key(-data), the context namespace. exec, auth-provider and basic
// auth are refused with a ConfigError naming the field. Errors name the file and the field.
Config load_kubeconfig(std::string_view paths, std::string_view context = {});

// Parses kubeconfig text; `path` is used in error messages and as the base of relative file paths.
Config parse_kubeconfig(std::string_view yaml, const std::string& path, std::string_view context = {});

// controller-runtime's order: the --kubeconfig flag, else $KUBECONFIG, else in-cluster (when
// KUBERNETES_SERVICE_HOST is set), else $HOME/.kube/config. Throws ConfigError when none applies.
Config load_config(const std::optional<std::string>& kubeconfig_flag, std::string_view context = {});

}  // namespace ifo::kube
