#pragma once
// SecretBytes: key material and secrets. Wiped (OPENSSL_cleanse) on destruction and on move-from;
// no stream operator, no implicit conversion to std::string, copies are explicit (Clone()).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace cmk {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size) : data_(size) {}
  explicit SecretBytes(std::span<const uint8_t> bytes) : data_(bytes.begin(), bytes.end()) {}
  static SecretBytes FromString(std::string_view s) {
    return SecretBytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  ~SecretBytes() { Wipe(); }
  SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)) { other.data_.clear(); }
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes Clone() const { return SecretBytes(span()); }
  uint8_t* data() { return data_.data(); }
  const uint8_t* data() const { return data_.data(); }
  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  std::span<const uint8_t> span() const { return {data_.data(), data_.size()}; }
  std::span<uint8_t> mutable_span() { return {data_.data(), data_.size()}; }
  // A view for APIs that want characters (PEM parsers). The caller must not copy it into a
  // std::string that outlives the call.
  std::string_view AsStringView() const {
    return {reinterpret_cast<const char*>(data_.data()), data_.size()};
  }
  // Zeroes and releases the bytes.
  void Wipe();

 private:
  std::vector<uint8_t> data_;
};

// Overwrites `bytes` with zeros in a way the compiler keeps (explicit_bzero): for plaintext
// left in buffers that are reused rather than freed.
void WipeBytes(std::span<uint8_t> bytes);

// Constant-time comparison (CRYPTO_memcmp) of equal-length inputs; different lengths compare
// unequal (the length is not secret).
bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b);
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace cmk
