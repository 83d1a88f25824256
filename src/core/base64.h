// Base64 (RFC 4648 standard alphabet, with padding), as Kubernetes uses it for Secret data.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace ifo::core {

// Encodes arbitrary bytes (NUL included) with '=' padding and no line breaks.
std::string base64_encode(std::string_view bytes);
// The same, appended to `out` (for answers written straight to text).
void base64_append(std::string& out, std::string_view bytes);

// Strict decoding: the length must be a multiple of 4, only the standard alphabet is accepted,
// '=' may appear only as the last one or two characters, and the unused bits before the padding
// must be zero (canonical form). Whitespace is refused. The error names the offending offset.
Result<std::string> base64_decode(std::string_view text);

}  // namespace ifo::core
