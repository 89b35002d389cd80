// Block sealing throughput (HKDF-derived DEK + AES-256-GCM with header and AAD, and opening),
// against raw AES-256-GCM on the same machine in the same run, as `openssl speed -evp
// aes-256-gcm` measures it (one context, a new IV per block).
//
//   bench/seal_bench [--seconds S]
#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "crypto/aead.h"
#include "storage/sealed_block.h"

using Clock = std::chrono::steady_clock;

namespace {

double RawGcmMBps(size_t block, double seconds) {
  std::vector<uint8_t> key(32, 1), iv(12, 2), in(block, 3), out(block + 16), tag(16);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_CIPHER* gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  EVP_EncryptInit_ex2(ctx, gcm, key.data(), iv.data(), nullptr);
  uint64_t n = 0;
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  auto t0 = Clock::now();
  while (Clock::now() < end) {
    for (int i = 0; i < 64; ++i) {
      int len = 0;
      iv[0]++;
      EVP_EncryptInit_ex2(ctx, nullptr, nullptr, iv.data(), nullptr);
      EVP_EncryptUpdate(ctx, nullptr, &len, in.data(), 13);
      EVP_EncryptUpdate(ctx, out.data(), &len, in.data(), static_cast<int>(block));
      EVP_EncryptFinal_ex(ctx, out.data() + len, &len);
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag.data());
    }
    n += 64;
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  EVP_CIPHER_free(gcm);
  EVP_CIPHER_CTX_free(ctx);
  return static_cast<double>(n * block) / s / 1e6;
}

// Nanoseconds per call of `fn`, run for `seconds`.
template <typename Fn>
double NsPerOp(double seconds, Fn fn) {
  uint64_t n = 0;
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  auto t0 = Clock::now();
  while (Clock::now() < end) {
    for (int i = 0; i < 16; ++i) fn();
    n += 16;
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return s * 1e9 / static_cast<double>(n);
}

// MB/s of `fn` over `block` bytes per call.
template <typename Fn>
double Rate(size_t block, double seconds, Fn fn) {
  return static_cast<double>(block) / NsPerOp(seconds, fn) * 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
  }
  cmk::env::SecureRandom random;
  cmk::SecretBytes aek = random.NewSecret(32);
  cmk::storage::ExtentId extent{};
  std::printf("%-8s %14s %14s %14s %8s %8s\n", "block", "raw_gcm_MB/s", "seal_MB/s", "open_MB/s", "seal%", "open%");
  for (size_t block : {16384, 65536, 262144}) {
    std::vector<uint8_t> data(block, 0x5a);
    uint32_t index = 0;
    double raw = RawGcmMBps(block, seconds);
    double seal = Rate(block, seconds, [&] {
      auto r = cmk::storage::SealBlock(aek, 1, {extent, index++, "Message"}, data, random);
      if (!r.ok()) std::abort();
    });
    auto sealed = *cmk::storage::SealBlock(aek, 1, {extent, 7, "Message"}, data, random);
    double open = Rate(block, seconds, [&] {
      auto r = cmk::storage::OpenBlock(aek, {extent, 7, "Message"}, sealed);
      if (!r.ok()) std::abort();
    });
    std::printf("%-8zu %14.0f %14.0f %14.0f %7.0f%% %7.0f%%\n", block, raw, seal, open, 100 * seal / raw, 100 * open / raw);
  }
  // Fixed costs: a DEK derivation alone, and a WAL-sized record (256 B, AES-256-GCM with a
  // 64-byte AAD) sealed into a reused buffer and opened.
  uint32_t index = 0;
  double dek_ns = NsPerOp(seconds, [&] {
    if (!cmk::storage::DeriveDek(aek, extent, index++).ok()) std::abort();
  });
  std::vector<uint8_t> record(256, 0x5a), aad(64, 0x11), out;
  double wal_seal_ns = NsPerOp(seconds, [&] {
    out.clear();
    if (!cmk::crypto::AesGcmSealAppend(aek, {record}, aad, random, out).ok()) std::abort();
  });
  double wal_open_ns = NsPerOp(seconds, [&] {
    if (!cmk::crypto::AesGcmOpen(aek, out, aad).ok()) std::abort();
  });
  // The infrastructure layer (ChaCha20-Poly1305 over a whole object), 1 MiB objects.
  std::vector<uint8_t> object(1 << 20, 0x5a);
  double infra_seal = Rate(object.size(), seconds, [&] {
    if (!cmk::storage::SealObject(aek, 1, "blob", object, random).ok()) std::abort();
  });
  auto sealed_object = *cmk::storage::SealObject(aek, 1, "blob", object, random);
  double infra_open = Rate(object.size(), seconds, [&] {
    if (!cmk::storage::OpenObject(aek, "blob", sealed_object).ok()) std::abort();
  });
  std::printf(
      "dek_ns %.0f  wal256_seal_ns %.0f  wal256_open_ns %.0f  infra1M_seal_MB/s %.0f  "
      "infra1M_open_MB/s %.0f\n",
      dek_ns, wal_seal_ns, wal_open_ns, infra_seal, infra_open);
  return 0;
}
