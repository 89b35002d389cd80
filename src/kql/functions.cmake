# Scalar functions and operators (functions/functions.h), one file per family in functions/;
# included by CMakeLists.txt. zlib: gzip_/zlib_ base64 functions (zlib1g-dev, install-deps.sh).
find_package(ZLIB REQUIRED)
# XXH64 for hash()/hash_xxhash64() (libxxhash-dev, install-deps.sh).
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
cmk_cc_library(NAME kql_functions
  SRCS functions/registry.cc functions/function_json.cc functions/conversion_text.cc
       functions/arithmetic.cc functions/comparison.cc functions/logical.cc
       functions/conversion.cc functions/conditional.cc functions/string_operators.cc
       functions/in_operators.cc functions/string.cc functions/regex.cc functions/datetime.cc
       functions/datetime_format.cc functions/math.cc functions/dynamic.cc functions/hash.cc
       functions/ip.cc functions/encoding.cc functions/url.cc functions/extract_json.cc
       functions/punycode.cc
       functions/series.cc
       functions/arrays.cc
       functions/geo.cc
       functions/misc.cc
  DEPS cmk_kql PkgConfig::RE2 OpenSSL::Crypto ZLIB::ZLIB PkgConfig::XXHASH)
# datetime_utc_to_local, datetime_local_to_utc, datetime_list_timezones: ICU's time zone
# database (libicu-dev, install-deps.sh).
find_package(ICU REQUIRED COMPONENTS uc i18n)
target_link_libraries(cmk_kql_functions PRIVATE ICU::i18n ICU::uc)
cmk_cc_test(NAME kql_functions_test
  SRCS functions/arithmetic_test.cc functions/comparison_test.cc functions/logical_test.cc
       functions/conversion_test.cc functions/conditional_test.cc
       functions/string_operators_test.cc functions/in_operators_test.cc functions/string_test.cc
       functions/regex_test.cc functions/datetime_test.cc functions/datetime_format_test.cc
       functions/math_test.cc functions/dynamic_test.cc functions/hash_test.cc
       functions/ip_test.cc functions/encoding_test.cc
       functions/registry_test.cc
  DEPS cmk_kql_functions)
