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

core::Result<WatchEvent> decode_watch_event(std::string_view line) {
  auto parsed = core::parse_json(line);
  if (!parsed) return core::Result<WatchEvent>::fail(fmt::format("watch event is not JSON: {}", parsed.error()));
  auto doc = std::move(parsed).value();
  if (!doc->IsObject()) return core::Result<WatchEvent>::fail("watch event is not a JSON object");
  auto type = core::get_string(*doc, "type");
  if (!type) return core::Result<WatchEvent>::fail("watch event has no string \"type\"");
  WatchEvent ev;
  if (*type == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (*type == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (*type == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (*type == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else if (*type == "ERROR") {
    ev.type = WatchEvent::Type::kError;
  } else {
    return core::Result<WatchEvent>::fail(fmt::format("watch event has unknown type \"{}\"", type->substr(0, 32)));
  }
  auto* obj = core::member(*doc, "object");
  if (obj == nullptr || !obj->IsObject())
    return core::Result<WatchEvent>::fail(fmt::format("{} watch event has no \"object\" map", *type));
  // Move the object into its own document so the event holds no wrapper.
  ev.object = core::copy_compact(*obj);
  if (ev.type == WatchEvent::Type::kError) {
    ev.error_code = static_cast<int>(core::get_int(*ev.object, "code").value_or(0));
    ev.error_reason = core::string_or(*ev.object, "reason", "");
    ev.error_message = core::string_or(*ev.object, "message", "");
  }
  return ev;
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
