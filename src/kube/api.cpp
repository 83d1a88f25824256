// Helpers over the Api interface.
#include "kube/api.h"

#include "kube/errors.h"

namespace ifo::kube {

ObjectPtr get_or_null(Api& api, const Resource& r, std::string_view namespace_, std::string_view name) {
  try {
    return api.get(r, namespace_, name);
  } catch (const ApiError& e) {
    if (e.is_not_found()) return nullptr;
    throw;
  }
}

}  // namespace ifo::kube
