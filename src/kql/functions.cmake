# Scalar functions and operators (functions/functions.h), one file per family in functions/;
# included by CMakeLists.txt. zlib: gzip_/zlib_ base64 functions (zlib1g-dev, install-deps.sh).
find_package(ZLIB REQUIRED)
# XXH64 for hash()/hash_xxhash64() (libxxhash-dev, install-deps.sh).
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
# geo_* functions (install-deps.sh): S2 cells and spherical geometry (libs2-dev, which ships
# neither a CMake config nor a .pc file, and its Abseil dependency libabsl-dev), GEOS through
# its stable C API (libgeos-dev), WGS-84 geodesics (libgeographiclib-dev).
find_path(S2_INCLUDE_DIR s2/s2cell_id.h REQUIRED)
find_library(S2_LIBRARY s2 REQUIRED)
add_library(cmk_s2 INTERFACE)
target_include_directories(cmk_s2 SYSTEM INTERFACE ${S2_INCLUDE_DIR})
# S2's inline code calls Abseil's raw logging (S2_DCHECK in debug builds) and hashing (the
# flat_hash_set of S2ShapeIndexRegion::VisitIntersectingShapes).
find_package(absl CONFIG REQUIRED)
target_link_libraries(cmk_s2 INTERFACE ${S2_LIBRARY} absl::raw_logging_internal
                      absl::flat_hash_set)
find_package(GEOS 3.11 CONFIG REQUIRED)
pkg_check_modules(GEOGRAPHICLIB REQUIRED IMPORTED_TARGET geographiclib)
set(CMK_S2_SOURCES functions/geo.cc functions/geo_util.cc functions/geo_cells.cc
    functions/geo_shapes.cc functions/geo_edit.cc functions/geo_relations.cc
    functions/geo_overlay.cc functions/geo_wkt.cc functions/geo_index.cc
    functions/geo_h3.cc)
if(CMK_SANITIZE)
  # Abseil's btree lays its nodes out differently under ASan (ABSL_BTREE_ENABLE_GENERATIONS) and
  # libs2 was built without it: S2's inline index code instantiated in an ASan-built file would
  # disagree with the library about the same objects (MutableS2ShapeIndex then loops forever).
  # The files that include S2 are built without ASan; UBSan stays on.
  set_property(SOURCE ${CMK_S2_SOURCES} APPEND PROPERTY COMPILE_OPTIONS -fno-sanitize=address)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 -O3 reports -Wmaybe-uninitialized inside Abseil's InlinedVector as inlined from S2's
  # edge queries (system headers, but the warning is attributed to the including file).
  set_property(SOURCE ${CMK_S2_SOURCES} APPEND PROPERTY COMPILE_OPTIONS -Wno-maybe-uninitialized)
endif()
cmk_cc_library(NAME kql_functions
  SRCS functions/registry.cc functions/function_json.cc functions/conversion_text.cc
       functions/arithmetic.cc functions/comparison.cc functions/logical.cc
       functions/conversion.cc functions/conditional.cc functions/string_operators.cc
       functions/in_operators.cc functions/has_list.cc functions/string.cc functions/regex.cc
       functions/datetime.cc
       functions/datetime_format.cc functions/math.cc functions/dynamic.cc functions/hash.cc
       functions/ip.cc functions/encoding.cc functions/url.cc functions/extract_json.cc
       functions/punycode.cc
       functions/series.cc
       functions/series_util.cc
       functions/series_fit.cc
       functions/series_filter.cc
       functions/series_decompose.cc
       functions/math_units.cc
       functions/arrays.cc functions/arrays_bags.cc
       functions/sketch.cc functions/sketch_functions.cc
       functions/geo.cc
       functions/geo_util.cc
       functions/geo_cells.cc
       functions/geo_shapes.cc
       functions/geo_edit.cc
       functions/geo_relations.cc
       functions/geo_overlay.cc
       functions/geo_wkt.cc
       functions/geo_index.cc
       functions/geo_h3.cc
       functions/geo_h3_grid.cc
       functions/geo_h3_coords.cc
       functions/geo_h3_disk.cc
       functions/geo_h3_polyfill.cc
       functions/geo_h3_tables.cc
       functions/misc.cc
  DEPS cmk_kql PkgConfig::RE2 OpenSSL::Crypto ZLIB::ZLIB PkgConfig::XXHASH
       cmk_s2 GEOS::geos_c PkgConfig::GEOGRAPHICLIB)
# datetime_utc_to_local, datetime_local_to_utc, datetime_list_timezones: ICU's time zone
# database (libicu-dev); parse_xml: expat (libexpat1-dev); parse_user_agent: uap-core's rules
# read with yaml-cpp (uap-core, libyaml-cpp-dev). All in install-deps.sh.
find_package(ICU REQUIRED COMPONENTS uc i18n)
find_package(EXPAT REQUIRED)
find_package(yaml-cpp REQUIRED)
target_sources(cmk_kql_functions PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/functions/user_agent.cc)
target_link_libraries(cmk_kql_functions PRIVATE ICU::i18n ICU::uc EXPAT::EXPAT yaml-cpp)
cmk_cc_test(NAME kql_functions_test
  SRCS functions/arithmetic_test.cc functions/comparison_test.cc functions/logical_test.cc
       functions/conversion_test.cc functions/conditional_test.cc
       functions/string_operators_test.cc functions/in_operators_test.cc functions/has_list_test.cc
       functions/string_test.cc
       functions/regex_test.cc functions/datetime_test.cc functions/datetime_format_test.cc
       functions/math_test.cc functions/dynamic_test.cc functions/hash_test.cc
       functions/ip_test.cc functions/encoding_test.cc
       functions/registry_test.cc
       functions/series_test.cc
       functions/geo_h3_test.cc functions/sketch_test.cc
  DEPS cmk_kql_functions)
