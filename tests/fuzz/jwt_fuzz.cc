// Fuzzes bearer-token validation: JWS decoding, JSON claims, signature check, claim rules.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "env/env.h"
#include "identity/jwt.h"
#include "identity/token_service.h"
#include "meta/metadata_store.h"

namespace {

struct Fixture {
  Fixture() {
    std::string dir = std::filesystem::temp_directory_path() / ("jwt_fuzz_" + random.NewGuid());
    std::filesystem::create_directories(dir);
    store = std::move(*cmk::meta::MetadataStore::Open(dir + "/meta.db"));
    master = random.NewSecret(32);
    cmk::identity::TokenServiceOptions o;
    o.login_url = "https://login.localhost:8443";
    tokens = std::move(*cmk::identity::TokenService::Create(
        cmk::env::Env{&clock, &random, &fs}, store.get(), master, o));
  }
  cmk::env::SimulatedClock clock{cmk::FromUnixSeconds(1795416367)};
  cmk::env::SeededRandom random{1};
  cmk::env::PosixFileSystem fs;
  std::unique_ptr<cmk::meta::MetadataStore> store;
  cmk::SecretBytes master;
  std::unique_ptr<cmk::identity::TokenService> tokens;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* f = new Fixture();
  std::string_view token(reinterpret_cast<const char*>(data), size);
  (void)cmk::identity::DecodeJwt(token);
  (void)f->tokens->Validate(token, cmk::identity::Audience::kArm);
  return 0;
}
