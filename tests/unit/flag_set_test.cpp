// core/flag_set.h: the one flag parser of every binary (pflag-style long flags, one-line errors).
#include "core/flag_set.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ifo::core;

namespace {

struct Seen {
  std::string name;
  bool verbose = false;
  std::vector<std::string> tags;
};

FlagSet flags(Seen& s) {
  FlagSet f;
  f.value("name", [&](const std::string& v) {
    s.name = v;
    return std::string();
  });
  f.value(
      "tag",
      [&](const std::string& v) {
        s.tags.push_back(v);
        return std::string();
      },
      /*allow_empty=*/true);
  f.value("port", [&](const std::string& v) {
    return v == "80" ? std::string() : "flag --port: \"" + v + "\" is not a port number";
  });
  f.boolean("verbose", [&](const std::string& v) {
    auto b = parse_bool_flag("--verbose", v);
    if (!b) return b.error();
    s.verbose = *b;
    return std::string();
  });
  return f;
}

}  // namespace

TEST_CASE("--flag=value and --flag value are the same; a boolean stands alone or takes =true|false") {
  Seen s;
  auto r = flags(s).parse({"--name=a", "--tag", "x", "--tag=", "--verbose"});
  REQUIRE(r.ok());
  CHECK(s.name == "a");
  CHECK(s.tags == std::vector<std::string>{"x", ""});
  CHECK(s.verbose);
  CHECK_FALSE(r->help);
  REQUIRE(flags(s).parse({"--verbose=false"}).ok());
  CHECK_FALSE(s.verbose);
  REQUIRE(flags(s).parse({"--verbose", "true", "--name", "b"}).ok());
  CHECK(s.verbose);
  CHECK(s.name == "b");
  REQUIRE(flags(s).parse({"--verbose", "false"}).ok());
  CHECK_FALSE(s.verbose);
  // A value may look like a flag when it follows a flag that takes one.
  REQUIRE(flags(s).parse({"--name", "--verbose"}).ok());
  CHECK(s.name == "--verbose");
}

TEST_CASE("help and version are known to every flag set") {
  Seen s;
  CHECK(flags(s).parse({"-h"})->help);
  CHECK(flags(s).parse({"--help"})->help);
  CHECK(flags(s).parse({"--version"})->version);
  CHECK_FALSE(flags(s).parse({"--version"})->help);
}

TEST_CASE("bad flags are one line naming the flag, and the value when there is one") {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const Case table[] = {
      {{"--bogus"}, "unknown flag --bogus (see --help)"},
      {{"--bogus=1"}, "unknown flag --bogus (see --help)"},
      {{"--name"}, "flag --name needs a value"},
      {{"--name="}, "flag --name needs a non-empty value"},
      {{"--port=81"}, "flag --port: \"81\" is not a port number"},
      {{"--verbose=maybe"}, "--verbose: expected true or false, got \"maybe\""},
      {{"stray"}, "unexpected argument \"stray\" (flags start with --; see --help)"},
      {{"--verbose", "maybe"}, "unexpected argument \"maybe\" (flags start with --; see --help)"},
      {{"-name=a"}, "unexpected argument \"-name=a\" (flags start with --; see --help)"},
      {{"--", "x"}, "unexpected argument \"x\" (see --help)"},
  };
  for (const auto& row : table) {
    CAPTURE(row.error);
    Seen s;
    auto r = flags(s).parse(row.args);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == row.error);
  }
}

TEST_CASE("positional arguments only when the caller takes them; -- ends the flags") {
  Seen s;
  auto r = flags(s).parse({"files", "--name=a", "--", "--name=b"}, /*allow_positional=*/true);
  REQUIRE(r.ok());
  CHECK(r->positional == std::vector<std::string>{"files", "--name=b"});
  CHECK(s.name == "a");
}

TEST_CASE("set runs one flag's handler, for environment fallbacks") {
  Seen s;
  auto f = flags(s);
  CHECK(f.set("name", "env").empty());
  CHECK(s.name == "env");
  CHECK(f.set("port", "1") == "flag --port: \"1\" is not a port number");
  CHECK(f.has("verbose"));
  CHECK_FALSE(f.has("nope"));
}

TEST_CASE("booleans are read as pflag reads them") {
  for (const char* t : {"1", "t", "T", "true", "TRUE", "True", "yes"})
    CHECK(parse_bool_flag("--x", t).value());
  for (const char* f : {"0", "f", "F", "false", "FALSE", "False", "no"})
    CHECK_FALSE(parse_bool_flag("--x", f).value());
  CHECK_FALSE(parse_bool_flag("--x", "maybe").ok());
}
