#pragma once
#include <array>
#include <cstdint>
#include <span>

namespace cmk::crypto {

std::array<uint8_t, 32> Sha256(std::span<const uint8_t> data);
std::array<uint8_t, 32> HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

}  // namespace cmk::crypto
