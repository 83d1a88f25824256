// Address ranges: CIDR parsing and its errors, and the table of addresses the operator refuses to connect
// an Infisical host to (loopback, link-local and cloud metadata, ...) unless the admin allows the range.
#include "core/address_range.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ifo::core;

namespace {

// The address in network order, parsed independently of the code under test.
std::vector<uint8_t> bytes_of(const std::string& text) {
  std::vector<uint8_t> b(16);
  if (inet_pton(AF_INET, text.c_str(), b.data()) == 1) {
    b.resize(4);
  } else {
    REQUIRE_MESSAGE(inet_pton(AF_INET6, text.c_str(), b.data()) == 1, text);
  }
  return b;
}

AddressRange range(std::string_view text) {
  auto r = parse_address_range(text);
  REQUIRE_MESSAGE(r.ok(), std::string(text));
  return *r;
}

}  // namespace

TEST_CASE("parse_address_range reads CIDRs and bare addresses") {
  struct Case {
    const char* text;
    const char* canonical;
  };
  const Case cases[] = {
      {"127.0.0.0/8", "127.0.0.0/8"},
      {"::1/128", "::1/128"},
      {"169.254.169.254", "169.254.169.254/32"},
      {"fd00:ec2::254", "fd00:ec2::254/128"},
      {"10.1.2.3/8", "10.0.0.0/8"},  // host bits cleared
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"fe80::1/10", "fe80::/10"},
      {"::ffff:127.0.0.1/104", "::ffff:127.0.0.0/104"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(range(c.text).to_string() == c.canonical);
  }
}

TEST_CASE("parse_address_range errors quote the input and say what is wrong") {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"10.0.0.0/33", "\"10.0.0.0/33\": prefix length must be 0-32 for IPv4"},
      {"::1/129", "\"::1/129\": prefix length must be 0-128 for IPv6"},
      {"10.0.0.0/", "\"10.0.0.0/\": prefix length must be 0-32 for IPv4"},
      {"10.0.0.0/-1", "\"10.0.0.0/-1\": prefix length must be 0-32 for IPv4"},
      {"10.0.0.0/8x", "\"10.0.0.0/8x\": prefix length must be 0-32 for IPv4"},
      {"10.0.0.0/0008", "\"10.0.0.0/0008\": prefix length must be 0-32 for IPv4"},
      {"localhost", "\"localhost\": \"localhost\" is not an IPv4 or IPv6 address"},
      {"127.1", "\"127.1\": \"127.1\" is not an IPv4 or IPv6 address"},
      {"256.0.0.0/8", "\"256.0.0.0/8\": \"256.0.0.0\" is not an IPv4 or IPv6 address"},
      {"fe80::1%eth0", "\"fe80::1%eth0\": \"fe80::1%eth0\" is not an IPv4 or IPv6 address"},
      {"", "\"\": expected an address range such as 127.0.0.0/8 or an address"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = parse_address_range(c.text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == c.error);
  }
  auto all = parse_address_ranges({"127.0.0.0/8", "nope", "::1"});
  REQUIRE_FALSE(all.ok());
  CHECK(all.error() == "\"nope\": \"nope\" is not an IPv4 or IPv6 address");
}

TEST_CASE("contains compares the prefix bits and never matches the other family") {
  CHECK(range("10.0.0.0/8").contains(bytes_of("10.255.1.2")));
  CHECK_FALSE(range("10.0.0.0/8").contains(bytes_of("11.0.0.0")));
  CHECK(range("172.16.0.0/12").contains(bytes_of("172.31.255.255")));
  CHECK_FALSE(range("172.16.0.0/12").contains(bytes_of("172.32.0.0")));
  CHECK(range("0.0.0.0/0").contains(bytes_of("8.8.8.8")));
  CHECK_FALSE(range("0.0.0.0/0").contains(bytes_of("::1")));
  CHECK_FALSE(range("::/0").contains(bytes_of("127.0.0.1")));
  CHECK(range("fe80::/10").contains(bytes_of("febf::1")));
  CHECK_FALSE(range("fe80::/10").contains(bytes_of("fec0::1")));
  CHECK(range("::1").contains(bytes_of("::1")));
  CHECK_FALSE(range("::1").contains(bytes_of("::2")));
}

TEST_CASE("refused_by: the default refused ranges, and each admitted when allowed explicitly") {
  struct Case {
    const char* address;
    const char* refused_range;  // nullptr: allowed by default
    const char* label;
  };
  const Case cases[] = {
      {"127.0.0.1", "127.0.0.0/8", "loopback"},
      {"127.5.5.5", "127.0.0.0/8", "loopback"},
      {"169.254.169.254", "169.254.0.0/16", "link-local, cloud metadata"},
      {"169.254.1.1", "169.254.0.0/16", "link-local, cloud metadata"},
      {"100.100.100.200", "100.100.100.200/32", "cloud metadata"},
      {"0.0.0.0", "0.0.0.0/8", "unspecified"},
      {"224.0.0.1", "224.0.0.0/4", "multicast"},
      {"239.255.255.250", "224.0.0.0/4", "multicast"},
      {"255.255.255.255", "255.255.255.255/32", "broadcast"},
      {"::", "::/128", "unspecified"},
      {"::1", "::1/128", "loopback"},
      {"::ffff:127.0.0.1", "127.0.0.0/8", "loopback"},
      {"::ffff:169.254.169.254", "169.254.0.0/16", "link-local, cloud metadata"},
      {"fe80::1", "fe80::/10", "link-local"},
      {"ff02::1", "ff00::/8", "multicast"},
      {"fd00:ec2::254", "fd00:ec2::254/128", "cloud metadata"},
      // Private and public unicast stay allowed: in-cluster and on-premises Infisical servers live there.
      {"10.1.2.3", nullptr, nullptr},
      {"192.168.1.10", nullptr, nullptr},
      {"172.16.0.1", nullptr, nullptr},
      {"100.100.100.201", nullptr, nullptr},
      {"93.184.216.34", nullptr, nullptr},
      {"::ffff:93.184.216.34", nullptr, nullptr},
      {"2606:4700::1", nullptr, nullptr},
      {"fd00:ec2::253", nullptr, nullptr},
      {"fd12:3456::1", nullptr, nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.address);
    auto addr = bytes_of(c.address);
    auto refused = refused_by(addr, {});
    if (c.refused_range == nullptr) {
      CHECK_FALSE(refused.has_value());
      continue;
    }
    REQUIRE(refused.has_value());
    CHECK(refused->to_string() == c.refused_range);
    CHECK(refused->label == c.label);
    // The admin allows exactly that range, or just this address: admitted.
    CHECK_FALSE(refused_by(addr, {range(c.refused_range)}).has_value());
    CHECK_FALSE(refused_by(addr, {range(c.address)}).has_value());
    // Allowing some other range changes nothing.
    CHECK(refused_by(addr, {range("10.0.0.0/8"), range("2001:db8::/32")}).has_value());
  }
}

TEST_CASE("refused_by: an allowed range admits only what it contains") {
  const std::vector<AddressRange> allowed = {range("127.0.0.0/8")};
  CHECK_FALSE(refused_by(bytes_of("127.0.0.1"), allowed).has_value());
  CHECK_FALSE(refused_by(bytes_of("::ffff:127.0.0.1"), allowed).has_value());  // mapped: judged as IPv4
  CHECK(refused_by(bytes_of("::1"), allowed).has_value());  // IPv6 loopback is another range
  CHECK(refused_by(bytes_of("169.254.169.254"), allowed).has_value());
  // Allowing 169.254.169.254 alone keeps the rest of link-local refused.
  CHECK(refused_by(bytes_of("169.254.169.253"), {range("169.254.169.254")}).has_value());
  // An IPv4-mapped allowed range also admits the mapped form.
  CHECK_FALSE(refused_by(bytes_of("::ffff:127.0.0.1"), {range("::ffff:127.0.0.0/104")}).has_value());
}

TEST_CASE("every default refused range says why, and is in its canonical form") {
  for (const auto& r : default_refused_ranges()) {
    CAPTURE(r.to_string());
    CHECK_FALSE(r.label.empty());
    CHECK(range(r.to_string()).to_string() == r.to_string());
  }
}

TEST_CASE("address_to_string prints both families") {
  CHECK(address_to_string(bytes_of("169.254.169.254")) == "169.254.169.254");
  CHECK(address_to_string(bytes_of("fd00:ec2::254")) == "fd00:ec2::254");
  CHECK(address_to_string(bytes_of("::ffff:127.0.0.1")) == "::ffff:127.0.0.1");
}
