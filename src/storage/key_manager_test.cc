#include "storage/key_manager.h"

#include <gtest/gtest.h>


#include "base/testing.h"
#include "storage/fake_vault_for_test.h"

namespace cmk::storage {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using testing::IsOk;
using testing::StatusIs;

class KeyManagerTest : public ::testing::Test {
 protected:
  env::Env env() { return env::Env{&clock_, &random_, nullptr}; }
  std::unique_ptr<KeyManager> Make(std::string version, std::optional<WrappedAek> existing = std::nullopt) {
    KeyManagerOptions o;
    o.check_interval = seconds(10);
    auto m = KeyManager::Create(env(), &vault_, {"https://kv.vault.localhost:8443", "kek", version}, existing, o,
                                [this](const WrappedAek& w) {
                                  persisted_.push_back(w);
                                  return OkStatus();
                                });
    EXPECT_THAT(m, IsOk());
    return std::move(*m);
  }
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_{5};
  FakeVault vault_;
  std::vector<WrappedAek> persisted_;
};

TEST_F(KeyManagerTest, NewAccountWrapsItsAekUnderTheCurrentVersion) {
  auto m = Make("");
  ASSERT_THAT(m->Start(), IsOk());
  EXPECT_EQ(m->state(), KeyState::kHealthy);
  ASSERT_EQ(persisted_.size(), 1u);
  EXPECT_EQ(persisted_[0].kid, vault_.Kid("v1"));
  auto aek = m->Aek();
  ASSERT_THAT(aek, IsOk());
  EXPECT_EQ(aek->size(), 32u);
  // A restarted manager unwraps the persisted AEK to the same bytes.
  auto again = Make("", persisted_[0]);
  ASSERT_THAT(again->Start(), IsOk());
  EXPECT_TRUE(ConstantTimeEquals(again->Aek()->span(), aek->span()));
}

TEST_F(KeyManagerTest, ShortOutageKeepsServingLongOutageMakesItUnavailable) {
  auto m = Make("");
  ASSERT_THAT(m->Start(), IsOk());
  SecretBytes aek = std::move(*m->Aek());
  vault_.outage = true;
  clock_.Advance(minutes(20));
  EXPECT_EQ(m->state(), KeyState::kDegraded);
  EXPECT_THAT(m->Aek(), IsOk());
  clock_.Advance(minutes(11));
  EXPECT_EQ(m->state(), KeyState::kUnavailable);
  EXPECT_THAT(m->Aek(), StatusIs(StatusCode::kUnavailable, "KeyVaultUnavailable"));
  vault_.outage = false;
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->state(), KeyState::kHealthy);
  EXPECT_TRUE(ConstantTimeEquals(m->Aek()->span(), aek.span()));
}

TEST_F(KeyManagerTest, DisabledKeyRevokesWithinOneIntervalAndReenablingRestores) {
  auto m = Make("");
  ASSERT_THAT(m->Start(), IsOk());
  SecretBytes aek = std::move(*m->Aek());
  std::vector<std::pair<KeyState, KeyState>> transitions;
  m->set_on_transition([&](KeyState a, KeyState b, const Status&) { transitions.emplace_back(a, b); });
  vault_.disabled.insert("v1");
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->state(), KeyState::kRevoked);
  auto denied = m->Aek();
  EXPECT_THAT(denied, StatusIs(StatusCode::kPermissionDenied, "KeyVaultAccessRevoked"));
  EXPECT_NE(denied.status().message().find("kek"), std::string::npos);
  vault_.disabled.clear();
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->state(), KeyState::kHealthy);
  EXPECT_TRUE(ConstantTimeEquals(m->Aek()->span(), aek.span()));
  ASSERT_EQ(transitions.size(), 2u);
  EXPECT_EQ(transitions[0].second, KeyState::kRevoked);
  EXPECT_EQ(transitions[1].second, KeyState::kHealthy);
}

TEST_F(KeyManagerTest, RemovedAccessRevokesAndAnOutageDoesNotUnrevoke) {
  auto m = Make("");
  ASSERT_THAT(m->Start(), IsOk());
  vault_.access_removed = true;
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->state(), KeyState::kRevoked);
  vault_.access_removed = false;
  vault_.outage = true;
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->state(), KeyState::kRevoked);
  vault_.outage = false;
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->state(), KeyState::kHealthy);
}

TEST_F(KeyManagerTest, TrackingLatestRewrapsAfterRotationWithoutChangingTheAek) {
  auto m = Make("");
  ASSERT_THAT(m->Start(), IsOk());
  SecretBytes aek = std::move(*m->Aek());
  std::string v2 = vault_.Rotate();
  clock_.Advance(seconds(10));
  ASSERT_EQ(persisted_.size(), 2u);
  EXPECT_EQ(persisted_.back().kid, vault_.Kid(v2));
  EXPECT_EQ(m->wrapped().kid, vault_.Kid(v2));
  // The old version can now be disabled: the AEK is wrapped by the new one.
  vault_.disabled.insert("v1");
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->state(), KeyState::kHealthy);
  EXPECT_TRUE(ConstantTimeEquals(m->Aek()->span(), aek.span()));
}

TEST_F(KeyManagerTest, ExplicitVersionIgnoresRotationUntilUpdated) {
  auto m = Make("v1");
  ASSERT_THAT(m->Start(), IsOk());
  std::string v2 = vault_.Rotate();
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->wrapped().kid, vault_.Kid("v1"));
  ASSERT_THAT(m->UpdateKey({"https://kv.vault.localhost:8443", "kek", v2}), IsOk());
  EXPECT_EQ(m->wrapped().kid, vault_.Kid(v2));
  vault_.disabled.insert("v1");
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->state(), KeyState::kHealthy);
}

TEST_F(KeyManagerTest, DisablingTheExplicitVersionBeforeTheUpdateRevokes) {
  auto m = Make("v1");
  ASSERT_THAT(m->Start(), IsOk());
  vault_.Rotate();
  vault_.disabled.insert("v1");
  clock_.Advance(seconds(10));
  EXPECT_EQ(m->state(), KeyState::kRevoked);
  EXPECT_THAT(m->UpdateKey({"https://kv.vault.localhost:8443", "kek", "v2"}), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(KeyManagerTest, OptionsAreValidated) {
  KeyManagerOptions o;
  o.check_interval = seconds(5);
  EXPECT_THAT(o.Validate(), StatusIs(StatusCode::kInvalidArgument));
  o.check_interval = seconds(61);
  EXPECT_THAT(o.Validate(), StatusIs(StatusCode::kInvalidArgument));
  o.check_interval = seconds(6);
  EXPECT_THAT(o.Validate(), IsOk());
}

}  // namespace
}  // namespace cmk::storage
