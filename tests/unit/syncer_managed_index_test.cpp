// Routing watch events of managed Secrets: which InfisicalSecrets write a Secret (drift repair brings
// them back) and which Secret versions are only the echo of our own writes.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "syncer/managed_index.h"
#include "test_helpers.h"

using namespace ifo;
using namespace ifo::syncer;

TEST_CASE("the owners of a Secret follow each resource's current targets") {
  ManagedIndex index;
  index.set_targets("apps/a", {"apps/shared", "apps/only-a"});
  index.set_targets("apps/b", {"apps/shared"});
  CHECK(index.owners_of("apps", "shared") == std::vector<std::string>{"apps/a", "apps/b"});
  CHECK(index.owners_of("apps", "only-a") == std::vector<std::string>{"apps/a"});
  CHECK(index.owners_of("apps", "unknown").empty());
  CHECK(index.known_keys() == std::vector<std::string>{"apps/a", "apps/b"});

  index.set_targets("apps/a", {"apps/renamed"});  // a spec change moves its target
  CHECK(index.owners_of("apps", "only-a").empty());
  CHECK(index.owners_of("apps", "shared") == std::vector<std::string>{"apps/b"});
  CHECK(index.owners_of("apps", "renamed") == std::vector<std::string>{"apps/a"});

  index.forget("apps/b");
  CHECK(index.owners_of("apps", "shared").empty());
  CHECK(index.known_keys() == std::vector<std::string>{"apps/a"});
}

TEST_CASE("each own write is answered once, and only its own version") {
  ManagedIndex index;
  index.remember_write("apps", "s", test::parse_doc(R"({"metadata": {"resourceVersion": "7"}})"));
  CHECK_FALSE(index.is_own_write("apps", "s", "6"));  // someone else's version
  CHECK(index.is_own_write("apps", "s", "7"));
  CHECK_FALSE(index.is_own_write("apps", "s", "7"));  // a later event of the same version is not ours to skip

  index.remember_write("apps", "s", test::parse_doc(R"({"metadata": {"resourceVersion": "8"}})"));
  index.remember_write("apps", "s", test::parse_doc(R"({"metadata": {"resourceVersion": "9"}})"));
  CHECK_FALSE(index.is_own_write("apps", "s", "8"));  // only the last write is remembered
  CHECK(index.is_own_write("apps", "s", "9"));
  index.remember_write("apps", "s", nullptr);  // nothing written
  CHECK_FALSE(index.is_own_write("apps", "s", ""));
}
