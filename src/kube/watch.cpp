// The newline-delimited watch event decoder.
#include "kube/watch.h"

#include <fmt/format.h>

namespace ifo::kube {

std::string WatchEvent::resource_version() const {
  if (!object) return {};
  const auto* rv = core::at_path(*object, {"metadata", "resourceVersion"});
  return rv != nullptr && rv->IsString() ? std::string(rv->GetString(), rv->GetStringLength()) : std::string();
}

const char* to_string(WatchEvent::Type t) {
  switch (t) {
    case WatchEvent::Type::kAdded: return "ADDED";
    case WatchEvent::Type::kModified: return "MODIFIED";
    case WatchEvent::Type::kDeleted: return "DELETED";
    case WatchEvent::Type::kBookmark: return "BOOKMARK";
    case WatchEvent::Type::kError: return "ERROR";
  }
  return "?";
}

namespace {

std::optional<WatchEvent::Type> event_type(std::string_view type) {
  if (type == "ADDED") return WatchEvent::Type::kAdded;
  if (type == "MODIFIED") return WatchEvent::Type::kModified;
  if (type == "DELETED") return WatchEvent::Type::kDeleted;
  if (type == "BOOKMARK") return WatchEvent::Type::kBookmark;
  if (type == "ERROR") return WatchEvent::Type::kError;
  return std::nullopt;
}

// The line as the API server writes it, {"type":"MODIFIED","object":{...}}: the type word and the
// object's text, which is then parsed on its own (no wrapper document, no copy of the object out of
// it). nullopt for any other shape (other member order, whitespace, escapes), which the general
// parse handles; a text that is not exactly one object fails its own parse and falls back too.
struct CanonicalEvent {
  std::string_view type;
  std::string_view object;
};
std::optional<CanonicalEvent> canonical_event(std::string_view line) {
  constexpr std::string_view kHead = R"({"type":")", kObject = R"(","object":)";
  if (!line.starts_with(kHead)) return std::nullopt;
  line.remove_prefix(kHead.size());
  const size_t type_end = line.find('"');
  if (type_end == std::string_view::npos || type_end > 16) return std::nullopt;
  CanonicalEvent ev{line.substr(0, type_end), {}};
  line.remove_prefix(type_end);
  if (!line.starts_with(kObject)) return std::nullopt;
  line.remove_prefix(kObject.size());
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  if (line.size() < 3 || line.front() != '{' || line.back() != '}') return std::nullopt;
  ev.object = line.substr(0, line.size() - 1);
  return ev;
}

// The event of a type and its object, a map: text in braces that parsed, or checked by the general path.
WatchEvent make_event(WatchEvent::Type type, std::shared_ptr<core::JsonDoc> object) {
  WatchEvent ev;
  ev.type = type;
  ev.object = std::move(object);
  if (ev.type == WatchEvent::Type::kError) {
    ev.error_code = static_cast<int>(core::get_int(*ev.object, "code").value_or(0));
    ev.error_reason = core::string_or(*ev.object, "reason", "");
    ev.error_message = core::string_or(*ev.object, "message", "");
  }
  return ev;
}

}  // namespace

core::Result<WatchEvent> decode_watch_event(std::string_view line) {
  if (const std::optional<CanonicalEvent> c = canonical_event(line)) {
    if (const std::optional<WatchEvent::Type> type = event_type(c->type)) {
      auto object = core::parse_json_compact(c->object);
      if (object) return make_event(*type, std::move(object).value());
    }
  }
  auto parsed = core::parse_json(line);
  if (!parsed) return core::Result<WatchEvent>::fail(fmt::format("watch event is not JSON: {}", parsed.error()));
  auto doc = std::move(parsed).value();
  if (!doc->IsObject()) return core::Result<WatchEvent>::fail("watch event is not a JSON object");
  auto type_name = core::get_string(*doc, "type");
  if (!type_name) return core::Result<WatchEvent>::fail("watch event has no string \"type\"");
  const std::optional<WatchEvent::Type> type = event_type(*type_name);
  if (!type)
    return core::Result<WatchEvent>::fail(fmt::format("watch event has unknown type \"{}\"", type_name->substr(0, 32)));
  auto* obj = core::member(*doc, "object");
  if (obj == nullptr || !obj->IsObject())
    return core::Result<WatchEvent>::fail(fmt::format("{} watch event has no \"object\" map", *type_name));
  // Moved into its own document so the event holds no wrapper.
  return make_event(*type, core::copy_compact(*obj));
}

core::Result<bool> WatchDecoder::decode_line(std::string_view line, std::vector<WatchEvent>& out) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  bool blank = line.find_first_not_of(" \t") == std::string_view::npos;
  if (blank) return true;
  auto ev = decode_watch_event(line);
  if (!ev) {
    error_ = fmt::format("watch event {}: {}", events_ + 1, ev.error());
    return core::Result<bool>::fail(error_);
  }
  ++events_;
  out.push_back(std::move(ev).value());
  return true;
}

core::Result<bool> WatchDecoder::feed(std::string_view chunk, std::vector<WatchEvent>& out) {
  if (!error_.empty()) return core::Result<bool>::fail(error_);
  // Lines complete within this chunk are decoded straight from it; only the tail is buffered.
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      if (buf_.size() + chunk.size() > max_line_) {
        error_ = fmt::format("watch event {}: longer than {} bytes", events_ + 1, max_line_);
        buf_.clear();
        return core::Result<bool>::fail(error_);
      }
      buf_.append(chunk);
      return true;
    }
    std::string_view piece = chunk.substr(0, nl);
    chunk.remove_prefix(nl + 1);
    if (buf_.size() + piece.size() > max_line_) {
      error_ = fmt::format("watch event {}: longer than {} bytes", events_ + 1, max_line_);
      buf_.clear();
      return core::Result<bool>::fail(error_);
    }
    core::Result<bool> r = true;
    if (buf_.empty()) {
      r = decode_line(piece, out);
    } else {
      buf_.append(piece);
      std::string line = std::move(buf_);
      buf_.clear();
      r = decode_line(line, out);
    }
    if (!r) return r;
  }
  return true;
}

core::Result<bool> WatchDecoder::finish(std::vector<WatchEvent>& out) {
  if (!error_.empty()) return core::Result<bool>::fail(error_);
  if (buf_.empty()) return true;
  std::string line = std::move(buf_);
  buf_.clear();
  return decode_line(line, out);
}

}  // namespace ifo::kube
