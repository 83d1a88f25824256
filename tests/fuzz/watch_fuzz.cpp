// libFuzzer target: arbitrary bytes as a Kubernetes watch stream through kube::WatchDecoder, the only
// watch decoding in the code base (the syncer's kube::Informers and the webhook's digest cache get
// their events from kube::Client::watch, which feeds this decoder with whatever chunks libcurl delivers).
//
// The same bytes are fed three ways: in one chunk, one byte at a time, and in pseudo-random chunks
// derived from the input. Each way is compared with a line-by-line reference model:
//  - after every feed(), exactly the events of the lines completed so far have come out: never an
//    event from a line whose newline has not arrived (no partial event), never one held back;
//  - the decoder fails exactly when the reference does (an over-long line as soon as more than the
//    limit is buffered; a bad line when its newline arrives), keeps failing afterwards, and the error
//    text is the same for every chunking;
//  - every event has an object; an ERROR event's code is the Status object's code;
//  - an error message never quotes the stream's data (the secret marker in objects never comes back).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "fuzz_common.h"
#include "kube/watch.h"

namespace {

using namespace ifo;
using fuzz::check;

constexpr size_t kMaxLine = 1024;

struct RefEvent {
  std::string repr;   // type + canonical object
  size_t ready_at;    // emitted once more than this many bytes were fed (the newline's offset);
                      // SIZE_MAX = only by finish()
};

struct Reference {
  std::vector<RefEvent> events;
  bool fails = false;
  size_t fail_after = SIZE_MAX;  // feed fails once more than this many bytes were fed; SIZE_MAX = at finish()
  bool quoted_type_has_marker = false;
};

std::string repr(const kube::WatchEvent& ev) {
  check(ev.object != nullptr, "event without object");
  check(ev.object->IsObject(), "event object is not an object");
  std::string out = kube::to_string(ev.type);
  out += ' ';
  out += core::to_json(*ev.object);
  if (ev.type == kube::WatchEvent::Type::kError) {
    auto code = core::get_int(*ev.object, "code");
    check(ev.error_code == static_cast<int>(code.value_or(0)), "ERROR event code differs from its Status");
    out += " code=" + std::to_string(ev.error_code) + " reason=" + ev.error_reason + " message=" + ev.error_message;
    (void)ev.is_gone_error();
  }
  (void)ev.resource_version();
  return out;
}

Reference reference(std::string_view s) {
  Reference ref;
  size_t start = 0;
  auto decode = [&](std::string_view line, size_t ready_at) -> bool {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return true;
    if (auto doc = core::parse_json(line); doc && (*doc)->IsObject()) {
      if (auto t = core::get_string(**doc, "type"); t && fuzz::contains(*t, fuzz::kSecretMarker))
        ref.quoted_type_has_marker = true;
    }
    auto ev = kube::decode_watch_event(line);
    if (!ev) {
      ref.fails = true;
      ref.fail_after = ready_at;
      return false;
    }
    ref.events.push_back({repr(*ev), ready_at});
    return true;
  };
  while (start <= s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string_view::npos) {
      std::string_view tail = s.substr(start);
      if (tail.size() > kMaxLine) {
        ref.fails = true;
        ref.fail_after = start + kMaxLine;
      } else {
        decode(tail, SIZE_MAX);
      }
      return ref;
    }
    if (nl - start > kMaxLine) {
      ref.fails = true;
      ref.fail_after = start + kMaxLine;
      return ref;
    }
    if (!decode(s.substr(start, nl - start), nl)) return ref;
    start = nl + 1;
  }
  return ref;
}

struct Outcome {
  std::vector<std::string> events;
  std::optional<std::string> error;
};

Outcome run(std::string_view s, const std::vector<size_t>& chunk_sizes, const Reference& ref) {
  kube::WatchDecoder d(kMaxLine);
  Outcome out;
  size_t fed = 0;
  size_t next = 0;
  while (fed < s.size()) {
    size_t n = std::min(chunk_sizes[next++ % chunk_sizes.size()], s.size() - fed);
    std::vector<kube::WatchEvent> evs;
    auto r = d.feed(s.substr(fed, n), evs);
    fed += n;
    for (const auto& ev : evs) out.events.push_back(repr(ev));
    if (!r) {
      out.error = r.error();
      check(ref.fails && fed > ref.fail_after, "decoder failed where the reference does not", r.error());
      check(out.events.size() == ref.events.size(), "events before a failure differ from the reference");
      std::vector<kube::WatchEvent> more;
      check(!d.feed("{}\n", more).ok() && more.empty(), "decoder recovered after a failure");
      check(!d.finish(more).ok() && more.empty(), "finish() succeeded after a failure");
      return out;
    }
    check(!(ref.fails && fed > ref.fail_after), "decoder did not fail where the reference does");
    size_t expected = 0;
    while (expected < ref.events.size() && ref.events[expected].ready_at < fed) ++expected;
    check(out.events.size() == expected, "events out of step with the completed lines (partial or held back)");
  }
  std::vector<kube::WatchEvent> evs;
  auto r = d.finish(evs);
  for (const auto& ev : evs) out.events.push_back(repr(ev));
  if (!r) out.error = r.error();
  check(r.ok() != ref.fails, "finish() outcome differs from the reference");
  check(out.events.size() == ref.events.size(), "event count differs from the reference");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  const Reference ref = reference(s);

  const Outcome whole = run(s, {s.size() + 1}, ref);
  for (size_t i = 0; i < ref.events.size() && i < whole.events.size(); ++i)
    check(whole.events[i] == ref.events[i].repr, "event differs from the reference");
  if (whole.error && !ref.quoted_type_has_marker)
    check(!fuzz::contains(*whole.error, fuzz::kSecretMarker), "error message quotes stream data", *whole.error);

  // Pseudo-random chunk sizes from the input (FNV-1a), so a failing input replays the same way.
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : std::string_view(s)) h = (h ^ b) * 1099511628211ull;
  std::vector<size_t> sizes;
  for (int i = 0; i < 16; ++i) {
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    sizes.push_back(1 + (h % ((i % 4 == 0) ? 200 : 9)));
  }
  for (const auto& chunks : {std::vector<size_t>{1}, sizes}) {
    const Outcome o = run(s, chunks, ref);
    check(o.events == whole.events, "events depend on the chunking");
    check(o.error == whole.error, "error depends on the chunking", o.error.value_or("(none)"));
  }
  return 0;
}
