# Scalar functions and operators (functions.h), one file per family; included by CMakeLists.txt.
cmk_cc_library(NAME kql_functions
  SRCS functions_registry.cc functions_json.cc functions_text.cc functions_arith.cc
       functions_convert.cc functions_strops.cc functions_in.cc functions_string.cc
       functions_regex.cc functions_datetime.cc functions_format.cc functions_math.cc
       functions_dynamic.cc
  DEPS cmk_kql PkgConfig::RE2)
cmk_cc_test(NAME kql_functions_test
  SRCS functions_arith_test.cc functions_convert_test.cc functions_string_test.cc
       functions_datetime_test.cc functions_misc_test.cc
  DEPS cmk_kql_functions)
