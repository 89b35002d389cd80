# cmk_cc_library(NAME name SRCS a.cc b.cc DEPS dep1 dep2)
# Defines library cmk_<name> with include root src/.
function(cmk_cc_library)
  cmake_parse_arguments(A "" "NAME;SHARDS" "SRCS;DEPS" ${ARGN})
  add_library(cmk_${A_NAME} STATIC ${A_SRCS})
  target_include_directories(cmk_${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(cmk_${A_NAME} PUBLIC ${A_DEPS})
endfunction()

# cmk_cc_test(NAME name SRCS a_test.cc DEPS cmk_x)
# One GoogleTest binary per subsystem, registered with CTest.
function(cmk_cc_test)
  if(NOT CMK_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME;SHARDS" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} cmk_testing GTest::gmock GTest::gtest_main)
  # In optimized builds the tests' own sources are compiled at -O1 (the last -O wins): the code
  # under test is the libraries', built as configured, and -O3 on test bodies (GoogleTest's
  # macros, fixtures) made them ~40% slower to compile for nothing the tests check.
  if(CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo)$")
    target_compile_options(${A_NAME} PRIVATE -O1)
  endif()
  # SHARDS n: the binary's tests are split across n CTest entries (GoogleTest's own sharding), so
  # a large suite runs on all cores and each part stays well inside the timeout under the
  # sanitizers on a slower machine (kql_engine_test took 226 s here and over 300 s in CI).
  if(A_SHARDS)
    math(EXPR last "${A_SHARDS} - 1")
    foreach(i RANGE ${last})
      add_test(NAME ${A_NAME}_${i} COMMAND ${A_NAME})
      set_tests_properties(${A_NAME}_${i} PROPERTIES TIMEOUT 300
        ENVIRONMENT "GTEST_TOTAL_SHARDS=${A_SHARDS};GTEST_SHARD_INDEX=${i}")
    endforeach()
  else()
    add_test(NAME ${A_NAME} COMMAND ${A_NAME})
    set_tests_properties(${A_NAME} PROPERTIES TIMEOUT 300)
  endif()
endfunction()
