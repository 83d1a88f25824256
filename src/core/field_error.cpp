// Rendering and building of field paths.
#include "core/field_error.h"

#include <fmt/format.h>

#include <iterator>

namespace ifo::core {

std::string format_field_errors(const std::vector<FieldError>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    if (!e.path.empty()) {
      out += e.path;
      out += ": ";
    }
    out += e.message;
  }
  return out;
}

std::string FieldPath::str() const {
  std::string out;
  append_to(out);
  return out;
}

void FieldPath::append_to(std::string& out) const {
  if (parent_ != nullptr) parent_->append_to(out);
  if (index_ != kNoIndex) {
    fmt::format_to(std::back_inserter(out), "[{}]", index_);
    return;
  }
  if (!out.empty()) out.push_back('.');
  out.append(name_);
}

std::string key_path(std::string_view parent, std::string_view key) {
  return fmt::format("{}[{}]", parent, abbreviate(key, 253));
}

std::string abbreviate(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  // Never split a UTF-8 sequence: the message may end up in a JSON response.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{}…(+{} bytes)", text.substr(0, cut), text.size() - cut);
}

bool path_within(std::string_view path, std::string_view prefix) {
  if (prefix.empty()) return true;
  if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  if (path.size() == prefix.size()) return true;
  char next = path[prefix.size()];
  return next == '.' || next == '[';
}

}  // namespace ifo::core
