// CPU cost of one KeyManager::Check() — the periodic AEK unwrap of one storage account — with an
// RSA-2048 RSA-OAEP-256 key in a FakeVault (no HTTP, no TLS: the vault is in-process), against
// the bare RSA-OAEP-256 decrypt of the same key in the same run (the floor).
//
//   bench/key_check_bench [--seconds S]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "storage/fake_vault_for_test.h"
#include "storage/key_manager.h"

namespace {

using Clock = std::chrono::steady_clock;

double ThreadCpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Microseconds of thread CPU per call of `fn`, over about `seconds`.
template <typename Fn>
double CpuMicrosPerCall(double seconds, Fn fn) {
  uint64_t n = 0;
  double c0 = ThreadCpu();
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    for (int i = 0; i < 16; ++i) fn();
    n += 16;
  }
  return (ThreadCpu() - c0) / static_cast<double>(n) * 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cmk;
  double seconds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
  }
  env::SimulatedClock clock(FromUnixSeconds(1795132800));  // no timer fires: only our calls check
  env::SecureRandom random;
  env::Env e{&clock, &random, nullptr};
  storage::FakeVault vault;
  keyvault::KeyRef key{"https://kv.vault.localhost:8443", "kek", ""};
  auto km = storage::KeyManager::Create(e, &vault, key, std::nullopt, storage::KeyManagerOptions{},
                                        [](const storage::WrappedAek&) { return OkStatus(); });
  if (!km.ok() || !(*km)->Start().ok() || (*km)->state() != storage::KeyState::kHealthy) {
    std::fprintf(stderr, "key manager did not start\n");
    return 1;
  }
  storage::WrappedAek w = (*km)->wrapped();
  auto ref = *keyvault::KeyRefFromKid(w.kid);

  std::printf("%-6s %22s %22s %8s\n", "run", "RSA-OAEP-256 decrypt us", "KeyManager::Check us", "ratio");
  std::vector<double> checks;
  for (int run = 1; run <= 3; ++run) {
    double raw = CpuMicrosPerCall(seconds, [&] {
      if (!vault.UnwrapKey(ref, w.alg, w.ciphertext).ok()) std::abort();
    });
    int before = vault.unwraps;
    double check = CpuMicrosPerCall(seconds, [&] { (*km)->Check(); });
    if (vault.unwraps == before || (*km)->state() != storage::KeyState::kHealthy) std::abort();
    checks.push_back(check);
    std::printf("%-6d %22.1f %22.1f %8.2f\n", run, raw, check, check / raw);
  }
  std::sort(checks.begin(), checks.end());
  double median = checks[1];
  // One check per account per interval (default 30 s; Azure's range is 6-60 s).
  for (int interval : {6, 30, 60}) {
    std::printf("check every %2d s: %.4f%% of a core per account; %.0f accounts per core\n", interval,
                median / 1e6 / interval * 100, interval / (median / 1e6));
  }
  return 0;
}
