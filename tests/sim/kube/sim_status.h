// A Kubernetes `Status` failure (code, reason, message, details) as kube-sim's helper modules return it;
// the server writes `to_json()` as the response body with `code` as the HTTP status.
#pragma once

#include <string>
#include <vector>

namespace ifo::kubesim {

struct SimStatus {
  int code = 500;
  std::string reason;   // StatusReason: NotFound, Forbidden, InternalError, BadRequest, Unauthorized, ...
  std::string message;  // the exact wording the real kube-apiserver uses
  // details (omitted when all are empty)
  std::string details_name;
  std::string details_group;
  std::string details_kind;
  std::vector<std::string> cause_messages;  // details.causes[].message

  // {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",...}
  std::string to_json() const;

  // apierrors.NewNotFound(qualifiedResource, name): `<resource>[.<group>] "<name>" not found`.
  static SimStatus not_found(const std::string& group, const std::string& resource, const std::string& name);
  // apierrors.NewInternalError(err): "Internal error occurred: <err>", with the error as the only cause.
  static SimStatus internal_error(const std::string& err);
  // apierrors.NewBadRequest(reason).
  static SimStatus bad_request(const std::string& message);
  // apierrors.NewForbidden(qualifiedResource, name, err): `<resource>[.<group>] "<name>" is forbidden: <err>`.
  static SimStatus forbidden(const std::string& group, const std::string& resource, const std::string& name,
                             const std::string& err);
  // apierrors.NewInvalid-like 422 with a pre-formatted message.
  static SimStatus invalid(const std::string& group, const std::string& kind, const std::string& name,
                           const std::string& message);
};

}  // namespace ifo::kubesim
