# Binder, planner, vectorized executor and aggregates behind engine.h (kql::Execute).
set(CMK_KQL_ENGINE_SRCS
  ${CMAKE_CURRENT_SOURCE_DIR}/engine.cc ${CMAKE_CURRENT_SOURCE_DIR}/binder.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/binder_expr.cc ${CMAKE_CURRENT_SOURCE_DIR}/binder_ops.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/binder_ops2.cc ${CMAKE_CURRENT_SOURCE_DIR}/eval.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec.cc ${CMAKE_CURRENT_SOURCE_DIR}/exec_join.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec_extra.cc ${CMAKE_CURRENT_SOURCE_DIR}/aggregates.cc)
if(NOT TARGET cmk_kql_functions AND DEFINED CMK_KQL_FUNCTIONS_STUB)
  # Scratch builds only, until functions.cmake lands: a stub registry outside the tree.
  cmk_cc_library(NAME kql_functions SRCS ${CMK_KQL_FUNCTIONS_STUB} DEPS cmk_kql)
endif()
if(TARGET cmk_kql_functions)
  cmk_cc_library(NAME kql_engine SRCS ${CMK_KQL_ENGINE_SRCS} DEPS cmk_kql_functions)
  cmk_cc_test(NAME kql_engine_test
    SRCS ${CMAKE_CURRENT_SOURCE_DIR}/engine_test.cc ${CMAKE_CURRENT_SOURCE_DIR}/governance_test.cc
    DEPS cmk_kql_engine)
endif()
