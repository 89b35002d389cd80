// geo_from_wkt: Well-known text to GeoJSON through GEOS's stable C API (its WKT reader and
// GeoJSON writer). The GeoJSON is then read back and checked like any geo argument: every
// position a valid [longitude, latitude] (an altitude is dropped), no empty geometry, at most
// kMaxGeoVertices positions; anything else is null, as the docs say for invalid or unsupported
// text.
#include <geos_c.h>

#include <memory>

#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {
namespace {

// WKT longer than this is refused before parsing: at ~20 characters a position it is already
// past kMaxGeoVertices.
constexpr size_t kMaxWktBytes = 32 << 20;

// GEOS reports errors through handlers (printing by default); keep them quiet, the null result
// says enough. One context per thread: GEOS contexts are not thread-safe.
void Quiet(const char*, void*) {}

class Geos {
 public:
  Geos() : ctx_(GEOS_init_r()) {
    GEOSContext_setNoticeMessageHandler_r(ctx_, Quiet, nullptr);
    GEOSContext_setErrorMessageHandler_r(ctx_, Quiet, nullptr);
    reader_ = GEOSWKTReader_create_r(ctx_);
    writer_ = GEOSGeoJSONWriter_create_r(ctx_);
  }
  ~Geos() {
    GEOSGeoJSONWriter_destroy_r(ctx_, writer_);
    GEOSWKTReader_destroy_r(ctx_, reader_);
    GEOS_finish_r(ctx_);
  }
  Geos(const Geos&) = delete;
  Geos& operator=(const Geos&) = delete;

  // GeoJSON text of the WKT, or nullopt when GEOS cannot read it or it is empty.
  std::optional<std::string> ToGeoJson(const std::string& wkt) {
    GEOSGeometry* g = GEOSWKTReader_read_r(ctx_, reader_, wkt.c_str());
    if (g == nullptr) return std::nullopt;
    std::optional<std::string> out;
    if (GEOSisEmpty_r(ctx_, g) == 0) {
      if (char* json = GEOSGeoJSONWriter_writeGeometry_r(ctx_, writer_, g, -1)) {
        out = json;
        GEOSFree_r(ctx_, json);
      }
    }
    GEOSGeom_destroy_r(ctx_, g);
    return out;
  }

 private:
  GEOSContextHandle_t ctx_;
  GEOSWKTReader* reader_ = nullptr;
  GEOSGeoJSONWriter* writer_ = nullptr;
};

// Rewrites the coordinates in place: positions to [lng, lat], checked; false when invalid.
bool CheckCoordinates(bj::value& v, size_t& budget, int depth) {
  bj::array* a = v.if_array();
  if (a == nullptr || depth > 4) return false;
  if (!a->empty() && (*a)[0].is_number()) {
    if (a->size() < 2 || budget == 0) return false;
    --budget;
    double lng = (*a)[0].to_number<double>(), lat = (*a)[1].to_number<double>();
    if (!ValidLngLat(lng, lat)) return false;
    a->resize(2);
    return true;
  }
  for (bj::value& m : *a) {
    if (!CheckCoordinates(m, budget, depth + 1)) return false;
  }
  return !a->empty();
}

bool CheckGeometry(bj::value& v, size_t& budget, int depth) {
  bj::object* o = v.if_object();
  if (o == nullptr || depth > 8) return false;
  if (bj::value* members = o->if_contains("geometries")) {
    bj::array* a = members->if_array();
    if (a == nullptr || a->empty()) return false;
    for (bj::value& g : *a) {
      if (!CheckGeometry(g, budget, depth + 1)) return false;
    }
    return true;
  }
  bj::value* coords = o->if_contains("coordinates");
  return coords != nullptr && CheckCoordinates(*coords, budget, 0);
}

// GEOS reads nested collections recursively: refuse deep nesting before it can exhaust the stack.
bool ShallowNesting(std::string_view wkt) {
  int depth = 0;
  for (char c : wkt) {
    depth += c == '(' ? 1 : c == ')' ? -1 : 0;
    if (depth > 16) return false;
  }
  return true;
}

Result<Column> FromWkt(Args a, const FunctionContext& ctx) {
  thread_local Geos geos;
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::string_view wkt = a[0]->Str(i);
    if (wkt.empty() || wkt.size() > kMaxWktBytes || !ShallowNesting(wkt)) return std::nullopt;
    std::optional<std::string> json = geos.ToGeoJson(std::string(wkt));
    if (!json) return std::nullopt;
    std::optional<bj::value> v = ParseJson(*json);
    size_t budget = kMaxGeoVertices;
    if (!v || !CheckGeometry(*v, budget, 0)) return std::nullopt;
    return WriteJson(*v);
  });
}

}  // namespace

void RegisterGeoWkt(Registry& r) {
  r.Function({"geo_from_wkt", 1, 1, GeoSignature("geo_from_wkt", "s", Type::kDynamic), FromWkt});
}

}  // namespace cmk::kql::fn
