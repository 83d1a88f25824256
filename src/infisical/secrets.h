// The secrets list of GET /api/v3/secrets/raw: parsing, and the merge rules made deterministic.
//
// Merge rules (documented contract):
//  1. Secrets of the scope itself (in recursive mode: of the scope folder and every sub-folder) beat
//     imported secrets.
//  2. A key defined in several folders in recursive mode: the shallowest folder wins, ties broken by the
//     lexicographically smallest path; the caller gets a warning naming the key and the folders.
//     Within one folder a personal secret beats a shared one, then the smallest id wins.
//  3. Imports are walked in the order the server returns them (their position); an earlier import beats
//     a later one. Inside one import, the smallest id wins for a repeated key.
//  4. The server's order of `secrets[]` (random UUID order) never changes the outcome.
//  5. A secret whose value the server hides (secretValueHidden) is left out, with a warning.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ifo::infisical {

struct RawSecret {
  std::string id;
  std::string key;
  std::string value;
  std::string path;  // empty for imported secrets (the server does not send it)
  std::string type;  // "shared" or "personal"
  bool value_hidden = false;
};

struct RawImport {
  std::string path;
  std::string environment;
  std::vector<RawSecret> secrets;
};

struct RawSecretsResponse {
  std::vector<RawSecret> secrets;
  std::vector<RawImport> imports;
};

// Errors name the JSON location ("secrets[3].secretKey is not a string"); never a value.
core::Result<RawSecretsResponse> parse_secrets_response(std::string_view body);
// The body of GET /api/v3/secrets/raw/{secretName}: {"secret": {...}}, as a list of that one secret
// (merge_secrets then applies rule 5 to it).
core::Result<RawSecretsResponse> parse_single_secret_response(std::string_view body);

struct MergedSecrets {
  std::map<std::string, std::string> values;  // key -> value, sorted by key
  std::vector<std::string> warnings;          // never contain values
};

MergedSecrets merge_secrets(const RawSecretsResponse& response);

// "/app/" -> "/app", "" -> "/", "app" -> "/app".
std::string normalize_secret_path(std::string_view path);

}  // namespace ifo::infisical
