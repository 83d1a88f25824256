// Decoding of watch streams: newline-delimited JSON events {"type": ..., "object": ...}.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace ifo::kube {

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  // The object (for kBookmark only metadata.resourceVersion is meaningful; for kError a metav1.Status).
  std::shared_ptr<core::JsonDoc> object;
  // Filled for kError from the Status object: code 410 means the resourceVersion is too old (relist).
  int error_code = 0;
  std::string error_reason;
  std::string error_message;

  // metadata.resourceVersion of the object ("" if absent).
  std::string resource_version() const;
  bool is_gone_error() const {
    return type == Type::kError && (error_code == 410 || error_reason == "Expired" || error_reason == "Gone");
  }
};

const char* to_string(WatchEvent::Type t);

// Incremental decoder: feed() any chunking of the byte stream (split inside a line, several lines
// in one chunk, "\r\n" endings) and get the complete events. A line longer than max_line_bytes, a line
// that is not a JSON object with a known "type" and an object "object", is an error; after an error
// the decoder stays failed (the caller drops the watch and starts a new one).
class WatchDecoder {
 public:
  static constexpr size_t kDefaultMaxLineBytes = 16u << 20;
  explicit WatchDecoder(size_t max_line_bytes = kDefaultMaxLineBytes) : max_line_(max_line_bytes) {}

  // Appends decoded events to `out`; the error (if any) names what was wrong, never the line's content.
  core::Result<bool> feed(std::string_view chunk, std::vector<WatchEvent>& out);
  // At end of stream: an unterminated final line is decoded if it is a complete event.
  core::Result<bool> finish(std::vector<WatchEvent>& out);
  size_t buffered() const { return buf_.size(); }

 private:
  core::Result<bool> decode_line(std::string_view line, std::vector<WatchEvent>& out);

  size_t max_line_;
  std::string buf_;
  std::string error_;
  size_t events_ = 0;
};

// Decodes one event line (no newline); exposed for tests and for servers that relay events.
core::Result<WatchEvent> decode_watch_event(std::string_view line);

}  // namespace ifo::kube
