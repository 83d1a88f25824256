// FlagSet: "--flag value", "--flag=value", boolean flags, help and version, one-line errors.
#include "core/flag_set.h"

#include <fmt/format.h>

#include <algorithm>

namespace ifo::core {

void FlagSet::value(std::string name, Handler handler, bool allow_empty) {
  flags_.push_back(Flag{std::move(name), std::move(handler), false, allow_empty});
}

void FlagSet::boolean(std::string name, Handler handler) {
  flags_.push_back(Flag{std::move(name), std::move(handler), true, false});
}

const FlagSet::Flag* FlagSet::find(std::string_view name) const {
  auto it = std::find_if(flags_.begin(), flags_.end(), [&](const Flag& f) { return f.name == name; });
  return it == flags_.end() ? nullptr : &*it;
}

bool FlagSet::has(std::string_view name) const {
  return find(name) != nullptr;
}

std::string FlagSet::set(std::string_view name, const std::string& value) const {
  const Flag* f = find(name);
  if (f == nullptr) return fmt::format("unknown flag --{}", name);
  return f->handler(value);
}

Result<FlagSet::Parsed> FlagSet::parse(const std::vector<std::string>& args, bool allow_positional) const {
  using R = Result<Parsed>;
  Parsed out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      out.help = true;
      continue;
    }
    if (arg == "--version") {
      out.version = true;
      continue;
    }
    if (arg == "--") {
      if (i + 1 < args.size() && !allow_positional)
        return R::fail(fmt::format("unexpected argument {:?} (see --help)", args[i + 1]));
      out.positional.insert(out.positional.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (!arg.starts_with("--")) {
      if (allow_positional) {
        out.positional.push_back(arg);
        continue;
      }
      return R::fail(fmt::format("unexpected argument {:?} (flags start with --; see --help)", arg));
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    const Flag* flag = find(name);
    if (flag == nullptr) return R::fail(fmt::format("unknown flag --{} (see --help)", name));
    if (!has_value) {
      if (flag->is_bool) {
        // "--allow-insecure-http false" was the webhook's documented form: a literal true or false
        // after a boolean flag stays its value (pflag would make it a positional argument, which no
        // binary here takes).
        const bool literal = i + 1 < args.size() && (args[i + 1] == "true" || args[i + 1] == "false");
        value = literal ? args[++i] : "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return R::fail(fmt::format("flag --{} needs a value", name));
      }
    }
    if (value.empty() && !flag->allow_empty)
      return R::fail(fmt::format("flag --{} needs a non-empty value", name));
    if (auto err = flag->handler(value); !err.empty()) return R::fail(std::move(err));
  }
  return out;
}

Result<bool> parse_bool_flag(std::string_view flag, std::string_view v) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True" || v == "yes")
    return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False" || v == "no")
    return false;
  return Result<bool>::fail(fmt::format("{}: expected true or false, got \"{}\"", flag, v));
}

}  // namespace ifo::core
