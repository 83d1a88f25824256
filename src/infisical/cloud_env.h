// Where the cloud credential sources live: the standard environment variables of AWS, GCP and Azure,
// read once into a value so that tests point them at loopback without touching the process environment.
#pragma once

#include <chrono>
#include <string>

namespace ifo::infisical {

// Environment variable names (the AWS ones are the AWS SDKs'; the GCP IAM and Azure ones are ours or the
// Azure SDK's where a standard one exists).
inline constexpr const char* kEnvAwsAccessKeyId = "AWS_ACCESS_KEY_ID";
inline constexpr const char* kEnvAwsSecretAccessKey = "AWS_SECRET_ACCESS_KEY";
inline constexpr const char* kEnvAwsSessionToken = "AWS_SESSION_TOKEN";
inline constexpr const char* kEnvAwsRegion = "AWS_REGION";
inline constexpr const char* kEnvAwsDefaultRegion = "AWS_DEFAULT_REGION";
inline constexpr const char* kEnvAwsWebIdentityTokenFile = "AWS_WEB_IDENTITY_TOKEN_FILE";
inline constexpr const char* kEnvAwsRoleArn = "AWS_ROLE_ARN";
inline constexpr const char* kEnvAwsRoleSessionName = "AWS_ROLE_SESSION_NAME";
inline constexpr const char* kEnvAwsContainerFullUri = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
inline constexpr const char* kEnvAwsContainerRelativeUri = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
inline constexpr const char* kEnvAwsContainerAuthToken = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
inline constexpr const char* kEnvAwsContainerAuthTokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
inline constexpr const char* kEnvAwsEndpointUrlSts = "AWS_ENDPOINT_URL_STS";
inline constexpr const char* kEnvAwsEndpointUrl = "AWS_ENDPOINT_URL";
inline constexpr const char* kEnvAwsImdsEndpoint = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
inline constexpr const char* kEnvAwsImdsDisabled = "AWS_EC2_METADATA_DISABLED";
inline constexpr const char* kEnvAwsCaBundle = "AWS_CA_BUNDLE";
inline constexpr const char* kEnvGceMetadataHost = "GCE_METADATA_HOST";
inline constexpr const char* kEnvGcpIamEndpoint = "INFISICAL_GCP_IAM_ENDPOINT";
inline constexpr const char* kEnvAzureImdsEndpoint = "AZURE_POD_IDENTITY_AUTHORITY_HOST";

struct CloudEnv {
  // AWS: static keys, web identity (IRSA), ECS container credentials, EC2 IMDSv2.
  std::string aws_access_key_id;
  std::string aws_secret_access_key;
  std::string aws_session_token;
  std::string aws_region;  // AWS_REGION, else AWS_DEFAULT_REGION; empty: ask IMDS
  std::string aws_web_identity_token_file;
  std::string aws_role_arn;
  std::string aws_role_session_name;
  std::string aws_container_full_uri;
  std::string aws_container_relative_uri;
  std::string aws_container_auth_token;
  std::string aws_container_auth_token_file;
  std::string aws_endpoint_url_sts;  // AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL
  std::string aws_imds_endpoint = "http://169.254.169.254";
  bool aws_imds_disabled = false;
  std::string aws_ecs_host = "http://169.254.170.2";  // base of the relative container credentials URI
  // GCP
  std::string gce_metadata_host = "metadata.google.internal";  // host[:port], plain HTTP
  std::string gcp_iam_endpoint = "https://iamcredentials.googleapis.com";
  // Azure
  std::string azure_imds_endpoint = "http://169.254.169.254";
  // Trust for the HTTPS cloud endpoints (STS, Google); empty: the system store.
  std::string ca_pem;
  // Metadata services answer on the local network in milliseconds; do not hang when there is none.
  std::chrono::milliseconds metadata_timeout{3000};

  // Reads the variables above from the process environment (AWS_CA_BUNDLE's file is read here too).
  static CloudEnv from_environment();
};

}  // namespace ifo::infisical
