// UTF-8 as the API server reads it: Go's JSON decoder turns each byte that does not start a
// well-formed UTF-8 sequence into U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace ifo::core {

// `s` with every byte that does not start a well-formed UTF-8 sequence (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF) replaced by U+FFFD, as Go's encoding/json decodes it. A
// string written into a ConfigMap's data is stored this way.
std::string go_decoded_utf8(std::string_view s);

}  // namespace ifo::core
