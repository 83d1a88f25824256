// DeflateCodec: zlib raw deflate against a preset dictionary, and the parse of a read.
#include "kube/deflate_codec.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace ifo::kube {

namespace {

constexpr int kWindowBits = -12;  // raw deflate, 4 KiB window: covers a dictionary and an object
constexpr int kMemLevel = 6;
constexpr size_t kMaxDictionary = 4096;

Bytef* bytes(const std::string& s) { return reinterpret_cast<Bytef*>(const_cast<char*>(s.data())); }
uInt length(const std::string& s) { return static_cast<uInt>(s.size()); }

// One raw inflate stream, used by one read at a time: readers run concurrently, each with its own.
class Inflater {
 public:
  Inflater() { ok_ = inflateInit2(&z_, kWindowBits) == Z_OK; }
  ~Inflater() {
    if (ok_) inflateEnd(&z_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates `packed` into `out`, which is already sized to the text's exact length.
  bool inflate_into(const char* packed, uint32_t packed_size, const std::string& dictionary,
                    std::string& out) {
    if (!ok_ || inflateReset(&z_) != Z_OK) return false;
    // A raw stream takes its dictionary before the first inflate call.
    if (!dictionary.empty() && inflateSetDictionary(&z_, bytes(dictionary), length(dictionary)) != Z_OK) return false;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed));
    z_.avail_in = packed_size;
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = length(out);
    return inflate(&z_, Z_FINISH) == Z_STREAM_END && z_.avail_out == 0;
  }

 private:
  z_stream z_{};
  bool ok_ = false;
};

// Inflate streams kept between reads, one pool per codec (a stream takes any dictionary). Setting one
// up allocates its state and window (about 11 KiB) and costs more than inflating a 2 KiB object; an
// idle resync at bench/syncer-scale's 10,000 reads 20,000 objects per interval. Keeps at most
// kMaxKept streams (more reads than that at once make and drop their own).
class InflaterPool {
 public:
  static constexpr size_t kMaxKept = 16;

  std::unique_ptr<Inflater> take() {
    std::lock_guard lock(mu_);
    if (free_.empty()) return std::make_unique<Inflater>();
    std::unique_ptr<Inflater> i = std::move(free_.back());
    free_.pop_back();
    return i;
  }
  void give(std::unique_ptr<Inflater> i) {
    std::lock_guard lock(mu_);
    if (free_.size() < kMaxKept) free_.push_back(std::move(i));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Inflater>> free_;
};

}  // namespace

struct DeflateCodec::Dictionary {
  std::string text;
  std::shared_ptr<InflaterPool> inflaters;  // the codec's, shared by all its dictionaries
};

namespace {

using Dictionary = DeflateCodec::Dictionary;

// Sized to fit a 64-byte allocation with its shared_ptr control block (one per object of a store).
class DeflatedObject final : public StoredObject {
 public:
  DeflatedObject(std::unique_ptr<char[]> packed, uint32_t packed_size,
                 std::shared_ptr<const Dictionary> dictionary, uint32_t text_size)
      : packed_(std::move(packed)),
        dictionary_(std::move(dictionary)),
        packed_size_(packed_size),
        text_size_(text_size) {}

  ConstObjectPtr object() const override {
    std::string text(text_size_, '\0');
    InflaterPool& pool = *dictionary_->inflaters;
    std::unique_ptr<Inflater> inflater = pool.take();
    const bool inflated = inflater->inflate_into(packed_.get(), packed_size_, dictionary_->text, text);
    pool.give(std::move(inflater));
    if (!inflated) return nullptr;  // cannot happen: our own stream
    // Parsed into a pool sized for it, not RapidJSON's default 64 KiB first chunk: sixteen workers
    // each holding a few objects they read stay small.
    auto parsed = core::parse_json_compact(text);
    if (!parsed) return nullptr;  // cannot happen: our own serialisation
    return std::move(parsed).value();
  }

 private:
  std::unique_ptr<char[]> packed_;                // the raw deflate stream of the JSON text
  std::shared_ptr<const Dictionary> dictionary_;  // the preset dictionary it was deflated with
  uint32_t packed_size_;                          // the length of packed_
  uint32_t text_size_;                            // the length of the JSON text
};
static_assert(sizeof(DeflatedObject) <= 40, "with make_shared's 16-byte control block: one 64-byte malloc chunk");

}  // namespace

// One deflate stream per codec, reset for each object: initialising a stream allocates and clears its
// window and hash tables, which costs more than compressing a 2 KiB object.
class DeflateCodec::Deflater {
 public:
  Deflater() { ok_ = deflateInit2(&z_, Z_BEST_SPEED, Z_DEFLATED, kWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) == Z_OK; }
  ~Deflater() {
    if (ok_) deflateEnd(&z_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // The raw deflate stream of `text` in buffer(); nullopt only when zlib cannot allocate.
  std::optional<uint32_t> pack(const std::string& text, const std::string& dictionary) {
    if (!ok_ || deflateReset(&z_) != Z_OK) return std::nullopt;
    if (!dictionary.empty() && deflateSetDictionary(&z_, bytes(dictionary), length(dictionary)) != Z_OK)
      return std::nullopt;
    buffer_.resize(deflateBound(&z_, text.size()) + 64);
    z_.next_in = bytes(text);
    z_.avail_in = length(text);
    z_.next_out = reinterpret_cast<Bytef*>(buffer_.data());
    z_.avail_out = length(buffer_);
    if (deflate(&z_, Z_FINISH) != Z_STREAM_END) return std::nullopt;
    return static_cast<uint32_t>(buffer_.size() - z_.avail_out);
  }
  // What the last pack() wrote.
  const char* buffer() const { return buffer_.data(); }

 private:
  z_stream z_{};
  bool ok_ = false;
  std::string buffer_;  // reused: grows to the largest object's bound
};

DeflateCodec::DeflateCodec() : deflater_(std::make_unique<Deflater>()) {
  auto empty = std::make_shared<Dictionary>();
  empty->inflaters = std::make_shared<InflaterPool>();
  dictionary_ = std::move(empty);
}

DeflateCodec::~DeflateCodec() = default;

StoredPtr DeflateCodec::encode(const ConstObjectPtr& obj) {
  std::string text = core::to_json(*obj);
  if (text.size() <= kMaxDictionary && dictionary_->text.size() * 4 < text.size() * 3) {
    auto bigger = std::make_shared<Dictionary>();
    bigger->text = text;
    bigger->inflaters = dictionary_->inflaters;
    dictionary_ = std::move(bigger);
  }
  const std::optional<uint32_t> packed_size = deflater_->pack(text, dictionary_->text);
  // Only when zlib cannot allocate: keep the object parsed rather than lose it.
  if (!packed_size) return ParsedCodec().encode(obj);
  // Copied out of the deflater's buffer at its exact size.
  auto packed = std::make_unique_for_overwrite<char[]>(*packed_size);
  std::copy_n(deflater_->buffer(), *packed_size, packed.get());
  return std::make_shared<const DeflatedObject>(std::move(packed), *packed_size, dictionary_,
                                                static_cast<uint32_t>(text.size()));
}

}  // namespace ifo::kube
