// IP address ranges (CIDR) and the ranges the operator refuses to connect Infisical hosts to (DESIGN.md §8).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ifo::core {

// An IPv4 or IPv6 network: `prefix_len` leading bits of `bytes` (host bits are zero).
struct AddressRange {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4
  int prefix_len = 0;
  std::string label;  // why the range is refused ("loopback"); empty for ranges parsed from configuration

  // `addr` is 4 (IPv4) or 16 (IPv6) bytes in network order; an address of the other family never matches.
  bool contains(std::span<const uint8_t> addr) const;
  // "127.0.0.0/8", "::1/128".
  std::string to_string() const;
};

// "127.0.0.0/8", "::1/128" or a bare address ("169.254.169.254": a /32 or /128). Host bits below the
// prefix are cleared ("10.1.2.3/8" is 10.0.0.0/8). Errors quote the input and say what is wrong.
Result<AddressRange> parse_address_range(std::string_view text);

// Every entry parsed; the first error stops.
Result<std::vector<AddressRange>> parse_address_ranges(const std::vector<std::string>& texts);

// The ranges an Infisical host's resolved address must not be in unless the admin allows them.
const std::vector<AddressRange>& default_refused_ranges();

// The refused range `addr` (4 or 16 bytes) is in, unless a range of `allowed` contains it; nullopt when
// the address may be connected to. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are checked as IPv4.
std::optional<AddressRange> refused_by(std::span<const uint8_t> addr,
                                       const std::vector<AddressRange>& allowed);

// The printable form of a 4 or 16 byte address ("169.254.169.254", "fd00:ec2::254").
std::string address_to_string(std::span<const uint8_t> addr);

}  // namespace ifo::core
