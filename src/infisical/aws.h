// AWS IAM auth: the standard credential chain (environment, web identity, ECS, EC2 IMDSv2), the region,
// and the SigV4-signed STS GetCallerIdentity request that Infisical forwards to STS to learn who we are.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"
#include "infisical/cloud_env.h"
#include "infisical/http_call.h"
#include "infisical/sigv4.h"

namespace ifo::infisical {

class AwsCredentialProvider {
 public:
  AwsCredentialProvider(const CloudEnv& env, const core::Clock& clock) : env_(env), clock_(clock) {}

  // Cached until 5 minutes before they expire. Throws ApiError(kCredentialSource) naming every source tried.
  AwsCredentials credentials(const HttpCall& http);
  // AWS_REGION, AWS_DEFAULT_REGION, else the EC2 instance identity document. Throws ApiError.
  std::string region(const HttpCall& http);

 private:
  AwsCredentials from_web_identity(const HttpCall& http);
  AwsCredentials from_container(const HttpCall& http);
  AwsCredentials from_imds(const HttpCall& http);
  std::string imds_token(const HttpCall& http);
  std::string sts_endpoint();

  const CloudEnv& env_;
  const core::Clock& clock_;
  std::mutex mu_;
  std::optional<AwsCredentials> cached_;
  std::string region_;
};

// The three iam* fields of POST /api/v1/auth/aws-auth/login.
struct AwsLoginFields {
  std::string iam_http_request_method;  // "POST"
  std::string iam_request_body;         // base64 of the form body
  std::string iam_request_headers;      // base64 of the JSON object of headers
};

// Signs POST https://sts.{region}.amazonaws.com/ Action=GetCallerIdentity&Version=2011-06-15 at `now`.
AwsLoginFields build_aws_login_fields(const AwsCredentials& credentials, const std::string& region,
                                      std::chrono::system_clock::time_point now);

// The text of the first <tag>...</tag> in an XML document, entities decoded (STS answers XML).
std::optional<std::string> xml_text(std::string_view xml, std::string_view tag);
// ISO 8601 UTC ("2026-01-01T00:00:00Z", fractional seconds allowed).
std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);

}  // namespace ifo::infisical
