#pragma once
// The numeric tables that define H3's grid (geo_h3_grid.cc uses them). Transcribed from Uber's
// reference library, uber/h3 v4.1.0 (https://github.com/uber/h3): faceCenterGeo,
// faceCenterPoint, faceAxesAzRadsCII and faceNeighbors from src/h3lib/lib/faceijk.c (Copyright
// 2016-2021 Uber Technologies, Inc.), baseCellData, faceIjkBaseCells, baseCellNeighbors and
// baseCellNeighbor60CCWRots from baseCells.c (Copyright 2016-2020 Uber Technologies, Inc.);
// Apache License 2.0 (LICENSES/Apache-2.0.txt; see THIRD_PARTY_NOTICES.md). They are the grid's
// definition, as WGS-84's constants are the ellipsoid's, and no other choice gives the same cell
// indexes.
#include <cstdint>

namespace cmk::kql::fn::h3 {

inline constexpr int kFaces = 20;
inline constexpr int kBaseCells = 122;

struct FaceCenter {
  struct {
    double lat, lng;  // radians
  } geo;
  struct {
    double x, y, z;  // the same point on the unit sphere
  } point;
  double i_azimuth;  // azimuth of the face's Class II i axis from its centre
};
extern const FaceCenter kFaceCenters[kFaces];

// Per face, for the neighbouring faces across its IJ, KI and JK edges (in that order): the
// neighbour's face number, the translation (i, j, k, in units of the resolution-0 cell) and the
// number of 60-degree counter-clockwise rotations into that face's coordinates.
extern const int8_t kFaceNeighbors[kFaces * 3 * 5];

// Per base cell: home face, home i, j, k, is-pentagon, and for pentagons the two faces on which
// the pentagon's coordinates are offset clockwise (-1 for none).
extern const int8_t kBaseCellData[kBaseCells * 7];

// Derived tables, transcribed rather than recomputed (the rotations at the icosahedron's
// vertices are easy to get subtly wrong; geo_h3_test.cc checks them against each other):
// per face and resolution-0 i, j, k in 0..2, the base cell there and the 60-degree ccw rotations
// into its coordinate system;
extern const int8_t kFaceIjkBaseCells[kFaces * 27 * 2];
// per base cell and direction digit 0..6, the neighbouring base cell (127 for none: a
// pentagon's missing K axis) and the rotations into the neighbour's coordinate system.
extern const int8_t kBaseCellNeighbors[kBaseCells * 7];
extern const int8_t kBaseCellNeighborRotations[kBaseCells * 7];

}  // namespace cmk::kql::fn::h3
