// Routing watch events of managed Secrets: which InfisicalSecrets write a Secret (drift repair brings
// them back) and which Secret versions are only the echo of our own writes.
#include <doctest/doctest.h>
#include <fmt/format.h>

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

namespace {

Object written(const char* resource_version) {
  return test::parse_doc(fmt::format(R"({{"metadata": {{"resourceVersion": "{}"}}}})", resource_version));
}

// An index whose owners brought back are recorded.
struct Routing {
  Routing() {
    index.set_targets("apps/app", {"apps/s"});
    index.set_requeue([this](const std::string& key) { requeued.push_back(key); });
  }
  void write(const char* resource_version) {
    index.begin_write("apps", "s");
    index.end_write("apps", "s", written(resource_version));
  }
  ManagedIndex index;
  std::vector<std::string> requeued;
};

}  // namespace

TEST_CASE("each own write is answered once, and only its own version") {
  Routing r;
  r.write("7");
  CHECK_FALSE(r.index.absorbs_event("apps", "s", "6"));  // someone else's version
  CHECK(r.index.absorbs_event("apps", "s", "7"));
  CHECK_FALSE(
      r.index.absorbs_event("apps", "s", "7"));  // a later event of the same version is not ours to skip

  r.write("8");
  r.write("9");
  CHECK_FALSE(r.index.absorbs_event("apps", "s", "8"));  // only the last write is remembered
  CHECK(r.index.absorbs_event("apps", "s", "9"));
  r.index.begin_write("apps", "s");
  r.index.end_write("apps", "s", nullptr);  // nothing written
  CHECK_FALSE(r.index.absorbs_event("apps", "s", ""));
  CHECK(r.requeued.empty());  // nothing was held
}

TEST_CASE("the echo of a write that arrives before the write's answer brings nobody back") {
  Routing r;
  r.index.begin_write("apps", "s");
  CHECK(r.index.absorbs_event("apps", "s", "7"));  // held: the write has not answered yet
  r.index.end_write("apps", "s", written("7"));
  CHECK(r.requeued.empty());
  // Settled: the same version again (a relist) is not absorbed a second time.
  CHECK_FALSE(r.index.absorbs_event("apps", "s", "7"));
}

TEST_CASE("a change by someone else during our write brings the owners back when the write ends") {
  // Our write's echo is version 7; theirs comes before it (6) or after it (8), both before our answer.
  for (const auto& arriving : {std::vector<std::string>{"6", "7"}, std::vector<std::string>{"7", "8"}}) {
    CAPTURE(arriving.front());
    Routing r;
    r.index.begin_write("apps", "s");
    for (const auto& rv : arriving) CHECK(r.index.absorbs_event("apps", "s", rv));
    CHECK(r.requeued.empty());  // held until the answer
    r.index.end_write("apps", "s", written("7"));
    CHECK(r.requeued == std::vector<std::string>{"apps/app"});
  }
  {  // a write that failed: whatever arrived was someone else's
    Routing r;
    r.index.begin_write("apps", "s");
    CHECK(r.index.absorbs_event("apps", "s", "6"));
    r.index.end_write("apps", "s", nullptr);
    CHECK(r.requeued == std::vector<std::string>{"apps/app"});
    CHECK_FALSE(r.index.absorbs_event("apps", "s", "6"));  // no longer held: routed as a change
  }
}

TEST_CASE("two writes of one Secret in flight settle together when the last ends") {
  Routing r;
  r.index.begin_write("apps", "s");
  r.index.begin_write("apps", "s");
  CHECK(r.index.absorbs_event("apps", "s", "7"));
  r.index.end_write("apps", "s", written("8"));  // the later write answered first; its echo is still to come
  CHECK(r.requeued.empty());
  CHECK(r.index.absorbs_event("apps", "s", "8"));  // our remembered version, not held
  r.index.end_write("apps", "s", written("7"));
  CHECK(r.requeued.empty());
  CHECK_FALSE(r.index.absorbs_event("apps", "s", "9"));
}
