// The default store codec: the parsed object, kept as it is.
#include "kube/store_codec.h"

namespace ifo::kube {

namespace {

class ParsedObject final : public StoredObject {
 public:
  explicit ParsedObject(ConstObjectPtr obj) : obj_(std::move(obj)) {}
  ConstObjectPtr object() const override { return obj_; }

 private:
  ConstObjectPtr obj_;
};

}  // namespace

StoredPtr ParsedCodec::encode(const ConstObjectPtr& obj) { return std::make_shared<const ParsedObject>(obj); }

}  // namespace ifo::kube
