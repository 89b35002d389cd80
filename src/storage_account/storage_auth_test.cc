#include "storage_account/storage_auth.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/testing.h"
#include "storage_account/http_date.h"

namespace cmk::storage_account {
namespace {

// The key bytes 0..63; signatures below were computed by the Debian Python SDKs'
// SharedKeyCredentialPolicy (azure-storage-blob 12.15.0b1, azure-data-tables 12.4.2).
SecretBytes Key() {
  std::vector<uint8_t> k(64);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return SecretBytes(k);
}

TEST(StorageAuthTest, BlobStringToSignMatchesThePythonSdk) {
  StorageRequest r;
  r.method = "PUT";
  r.account = "acct1";
  r.raw_path = "/data/a%20b";
  r.path = "/data/a b";
  r.query = {{"comp", "block"}, {"blockid", "QUJD"}};
  r.headers = {{"x-ms-version", "2021-12-02"}, {"x-ms-date", "Thu, 03 Dec 2026 14:34:44 GMT"},
               {"Content-Length", "3"}, {"Content-Type", "application/octet-stream"},
               {"x-ms-client-request-id", "r1"}};
  EXPECT_EQ(BlobStringToSign(r),
            "PUT\n\n\n3\n\napplication/octet-stream\n\n\n\n\n\n\nx-ms-client-request-id:r1\n"
            "x-ms-date:Thu, 03 Dec 2026 14:34:44 GMT\nx-ms-version:2021-12-02\n/acct1/data/a%20b\nblockid:QUJD\ncomp:block");
  EXPECT_EQ(SignString(Key(), BlobStringToSign(r)), "qoh4YeMI0DhOsxdlMDKvWRuOs7pUGr6taquGlG0V+8s=");
}

TEST(StorageAuthTest, BlobStringToSignLeavesAZeroContentLengthEmpty) {
  StorageRequest r;
  r.method = "DELETE";
  r.account = "a";
  r.raw_path = "/c";
  r.headers = {{"Content-Length", "0"}};
  r.query = {{"restype", "container"}, {"include", ""}};
  EXPECT_EQ(BlobStringToSign(r), "DELETE\n\n\n\n\n\n\n\n\n\n\n\n/a/c\ninclude:\nrestype:container");
}

TEST(StorageAuthTest, TableStringToSignKeepsOnlyCompOfTheQuery) {
  StorageRequest r;
  r.method = "GET";
  r.account = "acct1";
  r.raw_path = "/t1()";
  r.query = {{"$filter", "PartitionKey eq 'p'"}};
  r.headers = {{"x-ms-date", "Thu, 03 Dec 2026 14:34:44 GMT"}, {"Date", "Thu, 03 Dec 2026 14:34:44 GMT"}};
  EXPECT_EQ(TableStringToSign(r, false), "GET\n\n\nThu, 03 Dec 2026 14:34:44 GMT\n/acct1/t1()");
  EXPECT_EQ(SignString(Key(), TableStringToSign(r, false)), "9qxEZFyv5rEP/FJ5Z4bTHUcYP1sRMYhQRIR0fgjFL9U=");
  EXPECT_EQ(TableStringToSign(r, true), "Thu, 03 Dec 2026 14:34:44 GMT\n/acct1/t1()");
  r.query.emplace_back("comp", "acl");
  EXPECT_EQ(TableStringToSign(r, true), "Thu, 03 Dec 2026 14:34:44 GMT\n/acct1/t1()?comp=acl");
}

TEST(StorageAuthTest, HttpDatesRoundTripAndRejectOtherForms) {
  auto t = ParseHttpDate("Thu, 03 Dec 2026 14:34:44 GMT");
  ASSERT_THAT(t, testing::IsOk());
  EXPECT_EQ(FormatRfc3339(*t, 0), "2026-12-03T14:34:44Z");
  EXPECT_EQ(FormatHttpDate(*t), "Thu, 03 Dec 2026 14:34:44 GMT");
  EXPECT_EQ(FormatHttpDate(FromUnixSeconds(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
  for (const char* bad : {"", "2026-12-03T14:34:44Z", "Thu, 03 Dec 2026 14:34:44 UTC", "Thu, 3 Dec 2026 14:34:44 GMT",
                          "Thu, 03 Dex 2026 14:34:44 GMT", "Thu, 03 Dec 2026 25:34:44 GMT"}) {
    EXPECT_FALSE(ParseHttpDate(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace cmk::storage_account
