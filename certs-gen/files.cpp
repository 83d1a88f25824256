// Atomic PEM file I/O for `certs-gen files` and `ensure --out-dir`.
#include "certs-gen/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "core/constants.h"

namespace ifo::certsgen {
namespace {

core::Result<std::string> read_optional(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::string();
    return core::Result<std::string>::fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) return core::Result<std::string>::fail(fmt::format("cannot read {}: not a regular file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Result<std::string>::fail(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

core::Result<Material> read_material(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    return core::Result<Material>::fail(fmt::format("{} is not a directory", dir));
  Material m;
  std::pair<std::string_view, std::string*> files[] = {{core::kCaCertKey, &m.ca_bundle},
                                                       {core::kCaPrivateKeyKey, &m.ca_key},
                                                       {core::kTlsCertKey, &m.cert},
                                                       {core::kTlsPrivateKeyKey, &m.key}};
  for (auto& [name, into] : files) {
    auto r = read_optional(fmt::format("{}/{}", dir, name));
    if (!r) return core::Result<Material>::fail(r.error());
    *into = std::move(*r);
  }
  return m;
}

core::Result<bool> write_file_atomic(const std::string& path, const std::string& content, bool secret) {
  using R = core::Result<bool>;
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0) return R::fail(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return R::fail(fmt::format("cannot write {}: {}", tmp, std::strerror(e)));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return R::fail(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return R::fail(fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(e)));
  }
  return true;
}

core::Result<bool> write_material(const std::string& dir, const Material& m, bool with_ca_key) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return core::Result<bool>::fail(fmt::format("cannot create directory {}: {}", dir, std::strerror(errno)));
  // The key first, then the certificate: a watcher that sees a new certificate finds its key in place.
  std::tuple<std::string_view, const std::string*, bool> files[] = {{core::kTlsPrivateKeyKey, &m.key, true},
                                                                    {core::kTlsCertKey, &m.cert, false},
                                                                    {core::kCaCertKey, &m.ca_bundle, false},
                                                                    {core::kCaPrivateKeyKey, &m.ca_key, true}};
  for (auto& [name, content, secret] : files) {
    if (!with_ca_key && name == core::kCaPrivateKeyKey) continue;
    auto r = write_file_atomic(fmt::format("{}/{}", dir, name), *content, secret);
    if (!r) return r;
  }
  return true;
}

}  // namespace ifo::certsgen

namespace ifo::certsgen {

core::Result<std::string> refresh_files(const std::string& dir, const Policy& policy, TimePoint now) {
  using R = core::Result<std::string>;
  auto m = read_material(dir);
  if (!m) return R::fail(m.error());
  Material cur = *m;
  std::string what;
  auto ca = decide_ca(cur, policy, now);
  if (ca.action != CaAction::kKeep) {
    auto next = ca.action == CaAction::kCreate ? create_material(policy, now) : rotate_ca(cur, policy, now);
    if (!next) return R::fail(next.error());
    cur = *next;
    what = (ca.action == CaAction::kCreate ? "new CA: " : "rotated CA: ") + ca.reason;
  }
  auto serving = decide_serving(cur, policy, now);
  if (serving.action == ServingAction::kIssue) {
    auto next = reissue_serving(cur, policy, now);
    if (!next) return R::fail(next.error());
    cur = *next;
    what += (what.empty() ? "" : "; ") + ("new serving certificate: " + serving.reason);
  }
  if (what.empty()) return "reused: " + serving.reason;
  auto w = write_material(dir, cur, true);
  if (!w) return R::fail(w.error());
  return what;
}

}  // namespace ifo::certsgen
