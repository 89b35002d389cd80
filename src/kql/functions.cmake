# Scalar functions and operators (functions.h), one file per family; included by CMakeLists.txt.
cmk_cc_library(NAME kql_functions
  SRCS functions_registry.cc functions_json.cc functions_text.cc functions_arith.cc
       functions_convert.cc
  DEPS cmk_kql)
cmk_cc_test(NAME kql_functions_test
  SRCS functions_arith_test.cc
  DEPS cmk_kql_functions)
