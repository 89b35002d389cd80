# Binder (semantic/), vectorized executor (exec/) and aggregates (functions/aggregates.cc, which
# uses exec's value helpers) behind engine.h (kql::Execute).
set(CMK_KQL_ENGINE_SRCS
  ${CMAKE_CURRENT_SOURCE_DIR}/engine.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/catalog.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_expr.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_tabular.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_summarize.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_join.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_union.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_mv_expand.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_parse.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_pushdown.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_window.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_subquery.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_evaluate.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_misc_ops.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_scan.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_find.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/semantic/binder_search.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/eval.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/exec.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/scan_filter.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/project.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/summarize.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/sort.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/join.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/union.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/mv_expand.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/parse.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/parse_kv.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/make_series.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/window.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/subquery.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/sample.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/top_nested.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/scan_op.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/reduce.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/registry.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/bag_unpack.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/narrow.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/lookup.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/analytics.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/analytics_activity.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/analytics_util.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/analytics_cohorts.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/analytics_sequence.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/schema_merge.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/exec/plugins/analytics_basket.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/functions/aggregates.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/functions/aggregates_stats.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/functions/aggregates_sketch.cc)
if(NOT TARGET cmk_kql_functions AND DEFINED CMK_KQL_FUNCTIONS_STUB)
  # Scratch builds only, until functions.cmake lands: a stub registry outside the tree.
  cmk_cc_library(NAME kql_functions SRCS ${CMK_KQL_FUNCTIONS_STUB} DEPS cmk_kql)
endif()
if(TARGET cmk_kql_functions)
  cmk_cc_library(NAME kql_engine SRCS ${CMK_KQL_ENGINE_SRCS} DEPS cmk_kql_functions)
  cmk_cc_test(NAME kql_engine_test SHARDS 4
    SRCS ${CMAKE_CURRENT_SOURCE_DIR}/engine_test.cc ${CMAKE_CURRENT_SOURCE_DIR}/governance_test.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/coded_test.cc ${CMAKE_CURRENT_SOURCE_DIR}/exec/summarize_push_test.cc
    DEPS cmk_kql_engine)
endif()
