// Label and field selector parsing and matching.
#include "sim/kube/selector.h"

#include <fmt/format.h>

#include <cctype>

#include "sim/kube/store.h"

namespace ifo::kubesim {

namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> split_top(std::string_view s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool valid_label_value(std::string_view v) {
  if (v.size() > 63) return false;
  if (v.empty()) return true;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(v.front()) || !alnum(v.back())) return false;
  for (char c : v)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

bool valid_label_key(std::string_view k) {
  if (k.empty()) return false;
  auto slash = k.rfind('/');
  std::string_view name = slash == std::string_view::npos ? k : k.substr(slash + 1);
  if (name.empty()) return false;
  return valid_label_value(name) && (slash == std::string_view::npos || slash > 0);
}

StatusError selector_error(std::string_view text, std::string_view why) {
  return bad_request(fmt::format("unable to parse requirement: {}", why.empty() ? std::string(text) : std::string(why)));
}

// "key!=value", "key==value" or "key=value" (the forms label and field selectors share) into r;
// false when s holds none of these operators.
bool parse_equality(const std::string& s, Requirement& r) {
  if (auto ne = s.find("!="); ne != std::string::npos) {
    r.key = trim(s.substr(0, ne));
    r.op = Requirement::Op::kNotEquals;
    r.values.push_back(trim(s.substr(ne + 2)));
  } else if (auto eq2 = s.find("=="); eq2 != std::string::npos) {
    r.key = trim(s.substr(0, eq2));
    r.values.push_back(trim(s.substr(eq2 + 2)));
  } else if (auto eq = s.find('='); eq != std::string::npos) {
    r.key = trim(s.substr(0, eq));
    r.values.push_back(trim(s.substr(eq + 1)));
  } else {
    return false;
  }
  return true;
}

Requirement parse_label_requirement(const std::string& raw) {
  std::string s = trim(raw);
  Requirement r;
  if (s.empty()) throw bad_request("unable to parse requirement: found '', expected: identifier");
  if (s[0] == '!') {
    r.key = trim(s.substr(1));
    r.op = Requirement::Op::kDoesNotExist;
  } else {
    // set-based: key in (a,b) / key notin (a,b)
    auto sp = s.find(' ');
    auto paren = s.find('(');
    if (paren != std::string::npos && sp != std::string::npos && sp < paren) {
      r.key = trim(s.substr(0, sp));
      std::string op = trim(s.substr(sp, paren - sp));
      if (op == "in") r.op = Requirement::Op::kIn;
      else if (op == "notin") r.op = Requirement::Op::kNotIn;
      else throw selector_error(s, fmt::format("found '{}', expected: in, notin, =, ==, !=, gt, lt", op));
      auto close = s.rfind(')');
      if (close == std::string::npos || close < paren)
        throw selector_error(s, "found '', expected: ')'");
      for (auto& v : split_top(s.substr(paren + 1, close - paren - 1))) {
        std::string tv = trim(v);
        if (!valid_label_value(tv)) throw selector_error(s, fmt::format("invalid label value: \"{}\"", tv));
        r.values.push_back(tv);
      }
    } else if (!parse_equality(s, r)) {
      r.key = s;
      r.op = Requirement::Op::kExists;
    }
  }
  if (!valid_label_key(r.key))
    throw bad_request(fmt::format("unable to parse requirement: invalid label key \"{}\": name part must consist of "
                                  "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                                  "alphanumeric character",
                                  r.key));
  for (auto& v : r.values)
    if (!valid_label_value(v))
      throw bad_request(fmt::format("unable to parse requirement: invalid label value: \"{}\": a valid label must be an "
                                    "empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
                                    "start and end with an alphanumeric character",
                                    v));
  return r;
}

bool requirement_matches(const Requirement& r, const std::string* value) {
  switch (r.op) {
    case Requirement::Op::kExists: return value != nullptr;
    case Requirement::Op::kDoesNotExist: return value == nullptr;
    case Requirement::Op::kEquals: return value && *value == r.values[0];
    case Requirement::Op::kNotEquals: return !value || *value != r.values[0];
    case Requirement::Op::kIn:
      if (!value) return false;
      for (auto& v : r.values)
        if (v == *value) return true;
      return false;
    case Requirement::Op::kNotIn:
      if (!value) return true;
      for (auto& v : r.values)
        if (v == *value) return false;
      return true;
  }
  return false;
}

}  // namespace

LabelSelector LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  if (trim(text).empty()) return sel;
  for (auto& part : split_top(text)) sel.reqs_.push_back(parse_label_requirement(part));
  return sel;
}

LabelSelector LabelSelector::from_json(const core::JsonValue& selector) {
  LabelSelector sel;
  if (!selector.IsObject()) return sel;
  if (auto* ml = core::member(selector, "matchLabels"); ml && ml->IsObject()) {
    for (auto it = ml->MemberBegin(); it != ml->MemberEnd(); ++it) {
      if (!it->value.IsString()) continue;
      sel.reqs_.push_back({it->name.GetString(), Requirement::Op::kEquals, {it->value.GetString()}});
    }
  }
  if (auto* me = core::member(selector, "matchExpressions"); me && me->IsArray()) {
    for (auto& e : me->GetArray()) {
      Requirement r;
      r.key = core::string_or(e, "key", "");
      std::string op = core::string_or(e, "operator", "");
      if (op == "In") r.op = Requirement::Op::kIn;
      else if (op == "NotIn") r.op = Requirement::Op::kNotIn;
      else if (op == "Exists") r.op = Requirement::Op::kExists;
      else if (op == "DoesNotExist") r.op = Requirement::Op::kDoesNotExist;
      else continue;
      if (auto* vals = core::member(e, "values"); vals && vals->IsArray())
        for (auto& v : vals->GetArray())
          if (v.IsString()) r.values.emplace_back(v.GetString());
      sel.reqs_.push_back(std::move(r));
    }
  }
  return sel;
}

bool LabelSelector::matches(const core::JsonValue* labels) const {
  for (auto& r : reqs_) {
    std::string value;
    const std::string* vp = nullptr;
    if (labels && labels->IsObject()) {
      if (auto* v = core::member(*labels, r.key); v && v->IsString()) {
        value.assign(v->GetString(), v->GetStringLength());
        vp = &value;
      }
    }
    if (!requirement_matches(r, vp)) return false;
  }
  return true;
}

FieldSelector FieldSelector::parse(std::string_view text, const std::vector<std::string>& allowed, bool custom_resource) {
  FieldSelector sel;
  if (trim(text).empty()) return sel;
  for (auto& raw : split_top(text)) {
    std::string s = trim(raw);
    Requirement r;
    if (!parse_equality(s, r)) throw bad_request(fmt::format("invalid selector: '{}'; can't understand '{}'", text, s));
    bool ok = r.key == "metadata.name" || r.key == "metadata.namespace";
    for (auto& a : allowed) ok = ok || a == r.key;
    if (!ok) {
      if (custom_resource)
        throw bad_request(fmt::format("\"{}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"", r.key));
      throw bad_request(fmt::format("field label not supported: {}", r.key));
    }
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

bool FieldSelector::matches(const core::JsonValue& object) const {
  for (auto& r : reqs_) {
    const core::JsonValue* cur = &object;
    size_t start = 0;
    while (cur && start <= r.key.size()) {
      auto dot = r.key.find('.', start);
      std::string part = r.key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      cur = core::member(*cur, part);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    std::string value;
    if (cur && cur->IsString()) value.assign(cur->GetString(), cur->GetStringLength());
    else if (cur && cur->IsBool()) value = cur->GetBool() ? "true" : "false";
    else if (cur && cur->IsNumber()) value = core::to_json(*cur);
    // A missing field compares as "" (as the apiserver's field sets do).
    if (!requirement_matches(r, &value)) return false;
  }
  return true;
}

std::string FieldSelector::exact_name() const {
  for (auto& r : reqs_)
    if (r.key == "metadata.name" && r.op == Requirement::Op::kEquals) return r.values[0];
  return {};
}

std::vector<std::string> field_labels_for(const ResourceType& t) {
  if (t.group.empty() && t.resource == "secrets") return {"type"};
  if (t.group.empty() && t.resource == "events")
    return {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
            "reportingComponent", "source", "type"};
  if (t.group == "events.k8s.io")
    return {"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "reason", "type",
            "reportingController"};
  if (t.group.empty() && t.resource == "namespaces") return {"status.phase"};
  if (t.group.empty() && t.resource == "pods") return {"spec.nodeName", "status.phase", "spec.serviceAccountName"};
  if (t.group.empty() && t.resource == "serviceaccounts") return {};
  return {};
}

}  // namespace ifo::kubesim
