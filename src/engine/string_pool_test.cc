#include "engine/string_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

#include "base/testing.h"
#include "engine/codec.h"
#include "engine/log_store_internal.h"

namespace cmk::engine {
namespace {

using testing::IsOk;

// A plain (undictionaried) string block of `rows` values: value(r).
template <typename F>
std::vector<uint8_t> PlainBlock(size_t rows, F value) {
  kql::Column c(kql::Type::kString);
  for (size_t r = 0; r < rows; ++r) c.AppendString(value(r));
  std::vector<uint8_t> out;
  ColumnPiece piece{&c, 0, rows};
  EncodeColumn(c.type, std::span<const ColumnPiece>(&piece, 1), out, /*dictionaries=*/false);
  return out;
}

kql::Column Decode(const std::vector<uint8_t>& block, size_t rows) {
  std::span<const uint8_t> in(block);
  auto c = DecodeColumn(kql::Type::kString, rows, in);
  EXPECT_THAT(c, IsOk());
  return c.ok() ? std::move(*c) : kql::Column();
}

std::string Long(size_t r, char fill) { return std::string(40 + r % 50, fill) + std::to_string(r); }

// Releases a decoded table the way a scan does (ShareWipeable's deleter).
void Release(kql::Column c, bool wiped) {
  kql::Table t;
  t.rows = c.strings.size();
  t.AddColumn("Message", std::move(c));
  auto wipe = std::make_shared<std::atomic<bool>>(wiped);
  ShareWipeable(std::move(t), wipe).reset();
}

TEST(StringPoolTest, AReleasedBlocksBuffersAreReusedByTheNextDecodeWithTheNewValues) {
  while (PooledStringVectorsForTest() > 0) TakeStrings(0);
  constexpr size_t kRows = 4096;
  kql::Column first = Decode(PlainBlock(kRows, [](size_t r) { return Long(r, 'a'); }), kRows);
  const char* buffer = first.strings[7].data();
  Release(std::move(first), /*wiped=*/false);
  ASSERT_EQ(PooledStringVectorsForTest(), 1u);

  // Fewer, shorter and longer values: each one exactly the new block's, the old buffers reused.
  constexpr size_t kFewer = 3000;
  kql::Column second = Decode(PlainBlock(kFewer, [](size_t r) { return r % 2 ? Long(r, 'b') : "x"; }), kFewer);
  EXPECT_EQ(PooledStringVectorsForTest(), 0u);
  ASSERT_EQ(second.strings.size(), kFewer);
  for (size_t r = 0; r < kFewer; ++r) ASSERT_EQ(second.strings[r], r % 2 ? Long(r, 'b') : "x") << r;
  EXPECT_EQ(second.strings[7].data(), buffer);  // no allocation for that row
}

TEST(StringPoolTest, AWipedTableIsNeverPooled) {
  while (PooledStringVectorsForTest() > 0) TakeStrings(0);
  constexpr size_t kRows = 2048;
  Release(Decode(PlainBlock(kRows, [](size_t r) { return Long(r, 'c'); }), kRows), /*wiped=*/true);
  EXPECT_EQ(PooledStringVectorsForTest(), 0u);
}

TEST(StringPoolTest, ThePoolIsBoundedInVectorsAndBytes) {
  while (PooledStringVectorsForTest() > 0) TakeStrings(0);
  for (size_t i = 0; i < kPooledVectors + 2; ++i) GiveStrings(std::vector<std::string>(2048, std::string(100, 'd')));
  EXPECT_EQ(PooledStringVectorsForTest(), kPooledVectors);
  while (PooledStringVectorsForTest() > 0) TakeStrings(0);
  // Buffers past the byte bound (a column of large JSON values, say) are freed, not kept.
  GiveStrings(std::vector<std::string>(2048, std::string(kPooledBytes / 2048, 'e')));
  EXPECT_EQ(PooledStringVectorsForTest(), 0u);
  // Small vectors are not worth keeping.
  GiveStrings(std::vector<std::string>(10, std::string(100, 'f')));
  EXPECT_EQ(PooledStringVectorsForTest(), 0u);
}

}  // namespace
}  // namespace cmk::engine
