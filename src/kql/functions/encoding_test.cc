#include "base/encoding.h"

#include <zlib.h>

#include "kql/core/budget.h"
#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Encoding, Base64RoundTripsAndRejectsBadText) {
  EXPECT_EQ(Fn("base64_encode_tostring", {Str("Kusto")}), (V{"S3VzdG8="}));
  EXPECT_EQ(Fn("base64_decode_tostring", {Strs({"S3VzdG8=", "S3VzdG8", "/w=="})}, 3),
            (V{"Kusto", "", ""}));  // unpadded, and 0xff is not UTF-8
  EXPECT_EQ(Fn("base64_decode_toarray", {Str("/w==")}), (V{"[255]"}));
}

TEST(Encoding, GuidBytesFollowDotNetOrder) {
  Column g = Str("ae3133f2-6e22-49ae-b06a-16e6a9b212eb");
  g.type = Type::kGuid;
  EXPECT_EQ(Fn("base64_encode_fromguid", {g}), (V{"8jMxriJurkmwahbmqbIS6w=="}));
  EXPECT_EQ(Fn("base64_decode_toguid", {Str("8jMxriJurkmwahbmqbIS6w==")}),
            (V{"ae3133f2-6e22-49ae-b06a-16e6a9b212eb"}));
}

TEST(Encoding, CompressionReproducesTheDocumentedBytes) {
  EXPECT_EQ(Fn("gzip_compress_to_base64_string", {Str("1234567890qwertyuiop")}),
            (V{"H4sIAAAAAAAA/wEUAOv/MTIzNDU2Nzg5MHF3ZXJ0eXVpb3A6m7f2FAAAAA=="}));
  EXPECT_EQ(Fn("zlib_compress_to_base64_string", {Str("1234567890qwertyuiop")}),
            (V{"eAEBFADr/zEyMzQ1Njc4OTBxd2VydHl1aW9wOAkGdw=="}));
}

// A few kilobytes of base64 that inflate to 4 MiB must not get past a 1 MiB query budget.
TEST(Encoding, DecompressionBombStopsAtTheQueryBudget) {
  std::string zeros(4 << 20, 'a');
  uLongf size = compressBound(zeros.size());
  std::vector<uint8_t> packed(size);
  ASSERT_EQ(compress2(packed.data(), &size, reinterpret_cast<const Bytef*>(zeros.data()),
                      zeros.size(), 9),
            Z_OK);
  packed.resize(size);
  Column arg = Str(Base64Encode(packed));
  const ScalarFunction* f = FindFunction("zlib_decompress_from_base64_string");
  ASSERT_NE(f, nullptr);
  QueryBudget budget(BudgetLimits{1 << 20});
  FunctionContext ctx{1, {}, &budget};
  const Column* args[] = {&arg};
  EXPECT_THAT(f->eval(args, ctx).status(), StatusIs(StatusCode::kResourceExhausted));
  QueryBudget roomy(BudgetLimits{64 << 20});
  FunctionContext ok_ctx{1, {}, &roomy};
  Result<Column> r = f->eval(args, ok_ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Str(0).size(), zeros.size());
}

}  // namespace
}  // namespace cmk::kql
