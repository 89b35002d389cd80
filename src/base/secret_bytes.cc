#include "base/secret_bytes.h"

#include <openssl/crypto.h>
#include <string.h>

namespace cmk {

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    other.data_.clear();
  }
  return *this;
}

void SecretBytes::Wipe() {
  if (!data_.empty()) OPENSSL_cleanse(data_.data(), data_.size());
  data_.clear();
  data_.shrink_to_fit();
}

void WipeBytes(std::span<uint8_t> bytes) {
  // glibc's explicit_bzero is memset (vector stores) behind a barrier the compiler keeps;
  // OPENSSL_cleanse stores 8 bytes at a time, and this wipes tens of MB per flush.
  if (!bytes.empty()) explicit_bzero(bytes.data(), bytes.size());
}

bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return ConstantTimeEquals(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), a.size()),
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

}  // namespace cmk
