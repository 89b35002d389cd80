// The work every ingestion through the Logs Ingestion API must do whatever else it does, over
// the API benchmark's NDJSON, one thread, stage by stage: inflate the gzip bodies (the server's
// GunzipInto, libdeflate), parse them into columns (engine::ParseRecords, simdjson), encode the
// columns of each 65,536-row group (engine::EncodeColumn) and compress them with the extents'
// codec (LZ4). What the server does besides (WAL, AES-GCM and the double-encryption layer, the
// hot-cache copy, fsync, TLS, HTTP) is not in these figures: they are a floor, to compare with
// DuckDB's load of the same file (docs/benchmarks.md, "The ingestion floor").
//
//   build-release/bench/ingest_floor_bench FILE
//
// Bodies are cut as bench/api_bench.py cuts them (records of the JSON array file, one per line,
// into arrays of at most 1 MiB) and gzipped at level 1 as it sends them.
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "engine/batch.h"
#include "engine/codec.h"
#include "engine/extent.h"
#include "engine/json_rows.h"
#include "server/gzip_body.h"

namespace {

constexpr size_t kBodyBytes = size_t{1} << 20;

double ThreadCpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string Gzip(const std::string& body) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&z, body.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ingest_floor_bench FILE\n");
    return 2;
  }
  // The bodies, gzipped (not timed).
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<std::string> gz;
  size_t raw_bytes = 0;
  {
    std::string line, body = "[";
    size_t records = 0;
    auto cut = [&] {
      body += "]";
      raw_bytes += body.size();
      gz.push_back(Gzip(body));
      body = "[";
      records = 0;
    };
    while (std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty() || line == "[" || line == "]") continue;
      if (line.back() == ',') line.pop_back();
      if (records > 0 && body.size() + line.size() + 2 > kBodyBytes) cut();
      if (records > 0) body += ",";
      body += line;
      ++records;
    }
    if (records > 0) cut();
  }
  const std::vector<cmk::engine::StreamColumn> columns = {{"TimeGenerated", "datetime"}, {"Computer", "string"},
                                                          {"Level", "string"},           {"EventId", "int"},
                                                          {"DurationMs", "real"},        {"Message", "string"}};
  double inflate_s = 0, parse_s = 0, encode_s = 0, compress_s = 0;
  size_t rows = 0, encoded_bytes = 0, compressed_bytes = 0;
  std::vector<cmk::engine::Batch> batches;
  cmk::server::InflateBuffer room;
  for (const std::string& body : gz) {
    double t0 = ThreadCpu();
    auto text = cmk::server::GunzipInto(body, 64 << 20, cmk::engine::kJsonPadding, room);
    double t1 = ThreadCpu();
    if (!text.ok()) {
      std::fprintf(stderr, "gunzip: %s\n", text.status().message().c_str());
      return 1;
    }
    auto batch = cmk::engine::ParseRecords(*text, cmk::engine::kJsonPadding, columns, 64 * 1024);
    double t2 = ThreadCpu();
    if (!batch.ok()) {
      std::fprintf(stderr, "parse: %s\n", batch.status().message().c_str());
      return 1;
    }
    inflate_s += t1 - t0;
    parse_s += t2 - t1;
    rows += batch->rows;
    batches.push_back(std::move(*batch));
  }
  // Groups of kRowsPerGroup rows across the batches, each column encoded and compressed as a
  // flush does (BuildExtent), into buffers kept across blocks.
  std::vector<uint8_t> raw, out;
  std::vector<cmk::engine::BatchPiece> pieces;
  size_t b = 0, at = 0;
  while (b < batches.size()) {
    struct Range {
      size_t batch, begin, end;
    };
    std::vector<Range> group;
    for (size_t left = cmk::engine::kRowsPerGroup; left > 0 && b < batches.size();) {
      size_t take = std::min(left, batches[b].rows - at);
      group.push_back({b, at, at + take});
      left -= take;
      at += take;
      if (at == batches[b].rows) ++b, at = 0;
    }
    for (size_t c = 0; c < columns.size(); ++c) {
      pieces.clear();
      for (const Range& r : group) pieces.push_back({&batches[r.batch].columns[c], r.begin, r.end});
      raw.clear();
      out.clear();
      double t0 = ThreadCpu();
      cmk::engine::EncodeColumn(batches[0].columns[c].type, pieces, raw);
      double t1 = ThreadCpu();
      cmk::engine::CompressAppend(cmk::engine::Codec::kLz4, raw, 1, out);
      double t2 = ThreadCpu();
      encode_s += t1 - t0;
      compress_s += t2 - t1;
      encoded_bytes += raw.size();
      compressed_bytes += out.size();
    }
  }
  const double gb = static_cast<double>(raw_bytes) / 1e9;
  const double total = inflate_s + parse_s + encode_s + compress_s;
  std::printf("%zu rows, %.1f MB of JSON in %zu gzip bodies (level 1)\n", rows, raw_bytes / 1e6, gz.size());
  std::printf("inflate (libdeflate)      %6.3f CPU-s  %5.2f CPU-s/GB\n", inflate_s, inflate_s / gb);
  std::printf("parse (simdjson, columns) %6.3f CPU-s  %5.2f CPU-s/GB\n", parse_s, parse_s / gb);
  std::printf("encode columns            %6.3f CPU-s  %5.2f CPU-s/GB (%.1f MB)\n", encode_s, encode_s / gb,
              encoded_bytes / 1e6);
  std::printf("compress (LZ4)            %6.3f CPU-s  %5.2f CPU-s/GB (%.1f MB, %.2fx)\n", compress_s,
              compress_s / gb, compressed_bytes / 1e6,
              static_cast<double>(encoded_bytes) / static_cast<double>(compressed_bytes));
  std::printf("floor                     %6.3f CPU-s  %5.2f CPU-s/GB\n", total, total / gb);
  return 0;
}
