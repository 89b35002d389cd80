#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Ip, ParseIpv4MasksWithTheTextPrefix) {
  EXPECT_EQ(Fn("parse_ipv4",
               {Strs({"192.168.1.1", "192.168.1.1/24", "255.255.255.255/31", "", "1.2.3.4/33",
                      "1.2.3", "01.2.3.4"})},
               7),
            (V{"3232235777", "3232235776", "4294967294", "<null>", "<null>", "<null>", "<null>"}));
}

TEST(Ip, CompareUsesTheShortestPrefix) {
  EXPECT_EQ(Fn("ipv4_compare",
               {Strs({"192.168.1.1/30", "10.0.0.1", "10.0.0.2"}),
                Strs({"192.168.1.255/24", "10.0.0.2", "10.0.0.1"})},
               3),
            (V{"0", "-1", "1"}));
  EXPECT_EQ(Fn("ipv4_is_match", {Str("192.168.1.1"), Str("192.168.1.0"), Long(31)}), (V{"true"}));
  EXPECT_EQ(Fn("ipv4_is_match", {Str("192.168.1.1"), Str("192.168.1.0"), Long(33)}), (V{"<null>"}));
}

TEST(Ip, Ipv6TakesIpv4AsMappedAddresses) {
  EXPECT_EQ(
      Fn("parse_ipv6", {Strs({"192.168.255.255/24", "::192.168.255.255", "fe80::1", "x"})}, 4),
      (V{"0000:0000:0000:0000:0000:ffff:c0a8:ff00", "0000:0000:0000:0000:0000:ffff:c0a8:ffff",
         "fe80:0000:0000:0000:0000:0000:0000:0001", ""}));
  EXPECT_EQ(Fn("ipv6_is_match", {Str("192.168.1.1"), Str("::ffff:c0a8:0101")}), (V{"true"}));
}

TEST(Ip, InAnyRangeParsesPerRowWhenRangesVary) {
  EXPECT_EQ(
      Fn("ipv4_is_in_any_range", {Str("10.1.1.1"), Strs({"10.0.0.0/8", "11.0.0.0/8", "bad"})}, 3),
      (V{"true", "false", "<null>"}));
  EXPECT_EQ(Fn("ipv4_is_in_any_range", {Str("10.1.1.1"), Dyn({R"(["9.0.0.0/8","10.1.0.0/16"])"})}),
            (V{"true"}));
}

TEST(Ip, HasIpv4NeedsDelimitedValidAddresses) {
  EXPECT_EQ(Fn("has_ipv4",
               {Strs({"a 1.2.3.4 b", "a1.2.3.4", "1.2.3.4.5", "1.2.3.4"}), Str("1.2.3.4")}, 4),
            (V{"true", "false", "false", "true"}));
  EXPECT_EQ(Fn("has_any_ipv4_prefix", {Str("x 10.20.30.40"), Str("10.2."), Str("10.20.")}),
            (V{"true"}));
}

TEST(Ip, RangeToCidrListCoversTheRangeExactly) {
  EXPECT_EQ(Fn("ipv4_range_to_cidr_list", {Str("1.1.128.0"), Str("1.1.140.255")}),
            (V{R"(["1.1.128.0/21","1.1.136.0/22","1.1.140.0/24"])"}));
  EXPECT_EQ(Fn("ipv4_range_to_cidr_list", {Str("0.0.0.0"), Str("255.255.255.255")}),
            (V{R"(["0.0.0.0/0"])"}));
}

TEST(Ip, PrefixArgumentsMustBeNumbers) {
  EXPECT_THAT(TypeOf(FindFunction("ipv4_is_match"), {Type::kString, Type::kString, Type::kString}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

}  // namespace
}  // namespace cmk::kql
