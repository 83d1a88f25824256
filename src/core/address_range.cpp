// IP address ranges (CIDR) and the ranges refused for Infisical hosts.
#include "core/address_range.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace ifo::core {

namespace {

AddressRange make(std::string_view cidr, std::string label) {
  auto r = parse_address_range(cidr);
  r->label = std::move(label);
  return *r;
}

bool is_v4_mapped(std::span<const uint8_t> a) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return a.size() == 16 && std::equal(a.begin(), a.begin() + 12, std::begin(kPrefix));
}

}  // namespace

bool AddressRange::contains(std::span<const uint8_t> addr) const {
  if (addr.size() != (v6 ? 16u : 4u)) return false;
  const int full = prefix_len / 8, rest = prefix_len % 8;
  if (!std::equal(addr.begin(), addr.begin() + full, bytes.begin())) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (addr[full] & mask) == bytes[full];
}

std::string AddressRange::to_string() const {
  return fmt::format("{}/{}", address_to_string(std::span(bytes.data(), v6 ? 16 : 4)), prefix_len);
}

std::string address_to_string(std::span<const uint8_t> addr) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.size() == 4) {
    inet_ntop(AF_INET, addr.data(), buf, sizeof buf);
  } else if (addr.size() == 16) {
    inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
  } else {
    return fmt::format("(an address of {} bytes)", addr.size());
  }
  return buf;
}

Result<AddressRange> parse_address_range(std::string_view text) {
  using R = Result<AddressRange>;
  if (text.empty()) return R::fail("\"\": expected an address range such as 127.0.0.0/8 or an address");
  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  AddressRange r;
  if (inet_pton(AF_INET, address.c_str(), r.bytes.data()) == 1) {
    r.v6 = false;
  } else if (inet_pton(AF_INET6, address.c_str(), r.bytes.data()) == 1) {
    r.v6 = true;
  } else {
    return R::fail(fmt::format("\"{}\": \"{}\" is not an IPv4 or IPv6 address", text, address));
  }
  const int max = r.v6 ? 128 : 32;
  r.prefix_len = max;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    int n = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
    if (p.empty() || p.size() > 3 || ec != std::errc() || end != p.data() + p.size() || n < 0 || n > max)
      return R::fail(
          fmt::format("\"{}\": prefix length must be 0-{} for {}", text, max, r.v6 ? "IPv6" : "IPv4"));
    r.prefix_len = n;
  }
  // Clear the host bits, so contains() compares networks and to_string() prints the network.
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(r.prefix_len - i * 8, 0, 8);
    r.bytes[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return r;
}

Result<std::vector<AddressRange>> parse_address_ranges(const std::vector<std::string>& texts) {
  std::vector<AddressRange> out;
  for (const auto& t : texts) {
    auto r = parse_address_range(t);
    if (!r) return Result<std::vector<AddressRange>>::fail(r.error());
    out.push_back(std::move(*r));
  }
  return out;
}

const std::vector<AddressRange>& default_refused_ranges() {
  // Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) stay allowed: in-cluster and on-premises
  // Infisical servers live there. What is refused is what no Infisical server should be, and where a
  // tenant-chosen host could reach something of the node's: its own services or its cloud credentials.
  static const std::vector<AddressRange> ranges = {
      // "This network"; connecting to 0.0.0.0 reaches the local host on Linux.
      make("0.0.0.0/8", "unspecified"),
      // The syncer's own pod: sidecars, admin ports, anything listening on localhost.
      make("127.0.0.0/8", "loopback"),
      // Includes 169.254.169.254, the instance metadata service of AWS, GCP, Azure, OpenStack and
      // others, which hands out the node's cloud credentials.
      make("169.254.0.0/16", "link-local, cloud metadata"),
      // Alibaba Cloud's instance metadata service (inside 100.64.0.0/10, which otherwise stays allowed).
      make("100.100.100.200/32", "cloud metadata"),
      // Not unicast: no Infisical server answers there.
      make("224.0.0.0/4", "multicast"), make("255.255.255.255/32", "broadcast"),
      make("::/128", "unspecified"), make("::1/128", "loopback"),
      // Link-local, where metadata services and node-local agents also live.
      make("fe80::/10", "link-local"), make("ff00::/8", "multicast"),
      // AWS's instance metadata service over IPv6 (a unique-local address, a range that stays allowed).
      make("fd00:ec2::254/128", "cloud metadata"),
      // IPv4-mapped addresses (::ffff:0:0/96) are not listed: refused_by checks them as IPv4.
  };
  return ranges;
}

std::optional<AddressRange> refused_by(std::span<const uint8_t> addr,
                                       const std::vector<AddressRange>& allowed) {
  // ::ffff:127.0.0.1 reaches 127.0.0.1: judge it by its IPv4 address.
  const std::span<const uint8_t> effective = is_v4_mapped(addr) ? addr.subspan(12, 4) : addr;
  const auto& refused = default_refused_ranges();
  auto hit = std::find_if(refused.begin(), refused.end(),
                          [&](const AddressRange& r) { return r.contains(effective); });
  if (hit == refused.end()) return std::nullopt;
  for (const auto& a : allowed)
    if (a.contains(effective) || a.contains(addr)) return std::nullopt;
  return *hit;
}

}  // namespace ifo::core
