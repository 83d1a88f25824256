// The one command-line parser of every binary: Kubernetes/pflag style long flags.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ifo::core {

// Flags are "--name=value" or "--name value"; a boolean flag also stands alone ("--leader-elect" is
// true). "-h"/"--help" and "--version" are always known; "--" ends the flags. A flag's handler checks
// and stores its value and returns an empty string, or one line naming the flag and the bad value.
// Parsing is pure: handlers write into the caller's struct, nothing else.
class FlagSet {
 public:
  using Handler = std::function<std::string(const std::string& value)>;

  // A flag that takes a value. Unless allow_empty, "--name=" is refused ("needs a non-empty value").
  void value(std::string name, Handler handler, bool allow_empty = false);
  // A flag that may stand alone (true) or take "=true"/"=false"; a next argument is its value only
  // when it is literally true or false. Its handler receives "true" when it stands alone.
  void boolean(std::string name, Handler handler);

  bool has(std::string_view name) const;
  // Runs the handler of `name` (without "--") on `value`, e.g. for an environment fallback; the error
  // is the handler's.
  std::string set(std::string_view name, const std::string& value) const;

  struct Parsed {
    bool help = false;
    bool version = false;
    std::vector<std::string> positional;  // only when positional arguments are allowed
  };
  // Parses args (without the program name) in order; the first bad flag is the error. Errors: an
  // unknown flag, a missing value, a positional argument unless allowed, or the handler's message.
  Result<Parsed> parse(const std::vector<std::string>& args, bool allow_positional = false) const;

 private:
  struct Flag {
    std::string name;
    Handler handler;
    bool is_bool = false;
    bool allow_empty = false;
  };
  const Flag* find(std::string_view name) const;
  std::vector<Flag> flags_;
};

// Parses a boolean flag value as pflag (strconv.ParseBool) does: 1, t, T, TRUE, true, True and the
// false spellings; "yes"/"no" are also accepted, as the syncer always did.
Result<bool> parse_bool_flag(std::string_view flag, std::string_view value);

}  // namespace ifo::core
