// Unit tests for kubeconfig and in-cluster configuration: every supported field, and errors that name
// the file and the field.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "kube/config.h"
#include "kube/errors.h"

namespace fs = std::filesystem;
using ifo::kube::Config;
using ifo::kube::ConfigError;
using ifo::kube::load_kubeconfig;
using ifo::kube::parse_kubeconfig;

namespace {

const std::string kCaPem = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
const std::string kCertPem = "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n";
const std::string kKeyPem = "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n";

std::string b64(const std::string& s) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += tbl[v >> 6 & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == s.size()) {
    unsigned v = (unsigned char)s[i] << 16;
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += "==";
  } else if (i + 2 == s.size()) {
    unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += tbl[v >> 6 & 63];
    out += '=';
  }
  return out;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kubecfg-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& content) const {
    fs::path p = path / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
};

std::string error_of(const std::string& yaml, const std::string& path = "/etc/kc.yaml") {
  try {
    parse_kubeconfig(yaml, path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kMinimal = R"(
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443/
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: team-a}
users:
- name: u1
  user:
    token: "abc.def"
)";

}  // namespace

TEST_CASE("current context, server, namespace and token are taken from the kubeconfig") {
  Config c = parse_kubeconfig(kMinimal, "/etc/kc.yaml");
  CHECK(c.server == "https://127.0.0.1:6443");  // trailing slash dropped
  CHECK(c.namespace_ == "team-a");
  CHECK(c.token == "abc.def");
  CHECK(c.token_file.empty());
  CHECK(c.tls.ca_pem.empty());
  CHECK_FALSE(c.tls.insecure_skip_verify);
  CHECK(c.source == "/etc/kc.yaml");
}

TEST_CASE("inline *-data fields are base64-decoded into the TLS options") {
  std::string yaml = "current-context: x\nclusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
                     "    certificate-authority-data: " + b64(kCaPem) + "\n"
                     "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                     "users:\n- name: u\n  user:\n    client-certificate-data: " + b64(kCertPem) + "\n"
                     "    client-key-data: " + b64(kKeyPem) + "\n";
  Config c = parse_kubeconfig(yaml, "/k");
  CHECK(c.tls.ca_pem == kCaPem);
  CHECK(c.tls.client_cert_pem == kCertPem);
  CHECK(c.tls.client_key_pem == kKeyPem);
  CHECK(c.namespace_ == "default");
}

TEST_CASE("file fields resolve relative to the kubeconfig's directory; tokenFile is kept for re-reading") {
  TempDir dir;
  dir.write("pki/ca.crt", kCaPem);
  dir.write("pki/client.crt", kCertPem);
  dir.write("pki/client.key", kKeyPem);
  dir.write("token", "tok-from-file\n");
  std::string path = dir.write("sub/../config", R"(
current-context: x
clusters:
- name: c
  cluster: {server: "https://h:1", certificate-authority: pki/ca.crt}
contexts:
- name: x
  context: {cluster: c, user: u}
users:
- name: u
  user: {client-certificate: pki/client.crt, client-key: pki/client.key, tokenFile: token}
)");
  Config c = load_kubeconfig(path);
  CHECK(c.tls.ca_pem == kCaPem);
  CHECK(c.tls.client_cert_pem == kCertPem);
  CHECK(c.tls.client_key_pem == kKeyPem);
  CHECK(c.token_file == (dir.path / "token").string());
}

TEST_CASE("insecure-skip-tls-verify is honoured, and refused together with a CA") {
  std::string base = "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster:\n"
                     "    server: https://h:1\n    insecure-skip-tls-verify: true\n";
  Config c = parse_kubeconfig(base, "/k");
  CHECK(c.tls.insecure_skip_verify);
  std::string both = base + "    certificate-authority-data: " + b64(kCaPem) + "\n";
  CHECK(error_of(both) ==
        "kubeconfig /etc/kc.yaml: clusters[name=c].cluster.insecure-skip-tls-verify: cannot be combined with a "
        "certificate authority");
  std::string maybe = base;
  maybe.replace(maybe.find("verify: true"), 12, "verify: maybe");
  CHECK(error_of(maybe).find("insecure-skip-tls-verify: must be true or false") !=
        std::string::npos);
}

TEST_CASE("a context override selects another context") {
  std::string yaml = std::string(kMinimal) + R"(
- name: u2
  user: {token: other}
)";
  yaml.replace(yaml.find("contexts:\n"), 10,
               "contexts:\n- name: prod\n  context: {cluster: c1, user: u2}\n");
  Config c = parse_kubeconfig(yaml, "/k", "prod");
  CHECK(c.token == "other");
  CHECK(c.namespace_ == "default");
  CHECK(error_of(yaml.replace(yaml.find("current-context: dev"), 20, "current-context: gone")) ==
        "kubeconfig /etc/kc.yaml: current-context: context \"gone\" is not defined in contexts");
}

TEST_CASE("exec and auth-provider plugins are refused with a clear error") {
  std::string yaml = R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://h"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users:
- name: u
  user:
    exec: {command: aws, args: [eks, get-token]}
)";
  auto e = error_of(yaml);
  CHECK(e.find("kubeconfig /etc/kc.yaml: users[name=u].user.exec: credential plugins are not supported") == 0);
  std::string ap = yaml;
  ap.replace(ap.find("exec"), 4, "auth-provider");
  CHECK(error_of(ap).find("users[name=u].user.auth-provider: credential plugins are not supported") != std::string::npos);
  std::string basic = yaml;
  basic.replace(basic.find("exec: {command: aws, args: [eks, get-token]}"), 44, "username: admin");
  CHECK(error_of(basic).find("users[name=u].user.username: basic authentication is not supported") != std::string::npos);
}

TEST_CASE("errors name the file and the field") {
  const std::string head = "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n";
  const std::string user = "users: [{name: u, user: {token: t}}]\n";
  CHECK(error_of("current-context: x\n") == "kubeconfig /etc/kc.yaml: current-context: context \"x\" is not defined in contexts");
  CHECK(error_of("clusters: []\n") == "kubeconfig /etc/kc.yaml: current-context is not set and no context was given");
  CHECK(error_of(head + user) ==
        "kubeconfig /etc/kc.yaml: contexts[name=x].context.cluster: cluster \"c\" is not defined in clusters");
  CHECK(error_of(head + "clusters: [{name: c, cluster: {server: 'https://h'}}]\n") ==
        "kubeconfig /etc/kc.yaml: contexts[name=x].context.user: user \"u\" is not defined in users");
  CHECK(error_of(head + user + "clusters: [{name: c, cluster: {}}]\n") ==
        "kubeconfig /etc/kc.yaml: clusters[name=c].cluster.server: missing");
  CHECK(error_of(head + user + "clusters: [{name: c, cluster: {server: 'ftp://h'}}]\n") ==
        "kubeconfig /etc/kc.yaml: clusters[name=c].cluster.server: \"ftp://h\" is not an http(s) URL");
  CHECK(error_of(head + user + "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: '@@@'}}]\n") ==
        "kubeconfig /etc/kc.yaml: clusters[name=c].cluster.certificate-authority-data: not valid base64");
  CHECK(error_of(head + user + "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: " +
                 b64("not pem") + "}}]\n") ==
        "kubeconfig /etc/kc.yaml: clusters[name=c].cluster.certificate-authority-data: no PEM certificate in it");
  CHECK(error_of(head + user + "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority: ca.pem}}]\n") ==
        "kubeconfig /etc/kc.yaml: clusters[name=c].cluster.certificate-authority: cannot read /etc/ca.pem");
  CHECK(error_of(head + "clusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: {tokenFile: /nonexistent/t}}]\n") ==
        "kubeconfig /etc/kc.yaml: users[name=u].user.tokenFile: cannot read /nonexistent/t");
  CHECK(error_of(head + "clusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: {client-certificate-data: " +
                 b64(kCertPem) + "}}]\n") ==
        "kubeconfig /etc/kc.yaml: users[name=u].user.client-key: a client certificate needs both a certificate and a key");
  CHECK(error_of(head + "clusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: {client-certificate-data: " +
                 b64(kCertPem) + ", client-key-data: " + b64("junk") + "}}]\n") ==
        "kubeconfig /etc/kc.yaml: users[name=u].user.client-key: no PEM private key in it");
  CHECK(error_of("clusters: {a: 1}\n") == "kubeconfig /etc/kc.yaml: clusters: must be a list");
  CHECK(error_of("clusters: [{cluster: {server: x}}]\n") == "kubeconfig /etc/kc.yaml: clusters[0].name: missing");
  CHECK(error_of("- just\n- a list\n") == "kubeconfig /etc/kc.yaml: must be a YAML map");
  CHECK(error_of("a: [unclosed\n").find("kubeconfig /etc/kc.yaml: not valid YAML: line ") == 0);
}

TEST_CASE("a token never appears in an error message") {
  std::string yaml = "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                     "clusters: [{name: c, cluster: {server: 'https://h', certificate-authority: missing.pem}}]\n"
                     "users: [{name: u, user: {token: s3cr3t-token-value}}]\n";
  auto e = error_of(yaml);
  CHECK(e.find("certificate-authority: cannot read") != std::string::npos);
  CHECK(e.find("s3cr3t") == std::string::npos);
}

TEST_CASE("KUBECONFIG lists merge: the first file defining a name or current-context wins, missing files are skipped") {
  TempDir dir;
  std::string a = dir.write("a", R"(
current-context: ctx-a
clusters: [{name: c, cluster: {server: "https://first:1"}}]
contexts: [{name: ctx-a, context: {cluster: c, user: u}}]
)");
  std::string b = dir.write("b", R"(
current-context: ctx-b
clusters: [{name: c, cluster: {server: "https://second:2"}}]
users: [{name: u, user: {token: from-b}}]
)");
  Config c = load_kubeconfig(a + ":" + (dir.path / "missing").string() + ":" + b);
  CHECK(c.server == "https://first:1");
  CHECK(c.token == "from-b");
  try {
    load_kubeconfig((dir.path / "missing").string());
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == "kubeconfig " + (dir.path / "missing").string() + ": cannot read the file");
  }
}

TEST_CASE("in-cluster configuration reads the service-account files and the service environment") {
  TempDir dir;
  ifo::kube::InClusterSource src;
  src.host = "10.0.0.1";
  src.port = "443";
  src.token_path = dir.write("token", "sa-token\n");
  src.ca_path = dir.write("ca.crt", kCaPem);
  src.namespace_path = dir.write("namespace", "operator-ns\n");
  Config c = ifo::kube::in_cluster_config(src);
  CHECK(c.server == "https://10.0.0.1:443");
  CHECK(c.token_file == src.token_path);
  CHECK(c.tls.ca_pem == kCaPem);
  CHECK(c.namespace_ == "operator-ns");
  CHECK(c.token_refresh == std::chrono::seconds(60));

  src.host = "fd00::1";
  CHECK(ifo::kube::in_cluster_config(src).server == "https://[fd00::1]:443");

  src.ca_path = (dir.path / "nope").string();
  try {
    ifo::kube::in_cluster_config(src);
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("cannot read the CA bundle " + src.ca_path) != std::string::npos);
  }
  src.host.clear();
  CHECK_THROWS_AS(ifo::kube::in_cluster_config(src), ConfigError);
}
