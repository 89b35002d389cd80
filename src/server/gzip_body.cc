#include "server/gzip_body.h"

#include <libdeflate.h>

#include <algorithm>
#include <cstdint>
#include <memory>

namespace cmk::server {
namespace {

struct FreeDecompressor {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

Status Invalid() {
  return InvalidArgument("The request body is not valid gzip data.", "InvalidContentEncoding");
}

}  // namespace

// libdeflate (Debian's libdeflate-dev) rather than zlib's inflate: it inflates a whole buffer
// two to three times faster, and inflating was the largest single cost of ingestion (docs/
// benchmarks.md). It needs the output's room up front, which the limit bounds anyway.
char* InflateBuffer::Reserve(size_t n) {
  if (n > capacity_) {
    data_.reset(new char[n]);  // default-initialized: not zero-filled
    capacity_ = n;
  }
  return data_.get();
}

Result<std::string_view> GunzipInto(std::string_view in, size_t limit, size_t padding, InflateBuffer& room_buf) {
  // One decompressor per thread (about 32 KB, reused): allocating it per body would cost more
  // than inflating a small one.
  thread_local std::unique_ptr<libdeflate_decompressor, FreeDecompressor> d(libdeflate_alloc_decompressor());
  if (!d) return Internal("libdeflate_alloc_decompressor failed");
  if (in.size() < 18) return Invalid();  // header (10) + trailer (8): not even an empty member
  // The last member's ISIZE (its inflated size mod 2^32) sizes the output: exact for the usual
  // single member. A hostile or multi-member value is only a first guess, capped by the limit:
  // when it is too small, the member is inflated again with room up to the limit.
  const auto* t = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
  uint32_t isize = uint32_t{t[0]} | uint32_t{t[1]} << 8 | uint32_t{t[2]} << 16 | uint32_t{t[3]} << 24;
  // A reused buffer's room counts too: a multi-member body whose last member is small then
  // needs no second pass.
  size_t room = std::min<size_t>(std::max<size_t>(isize, room_buf.capacity() > padding ? room_buf.capacity() - padding : 0),
                                 limit);
  char* out = room_buf.Reserve(room + padding);
  size_t in_at = 0, out_at = 0;
  while (in_at < in.size()) {
    size_t used_in = 0, used_out = 0;
    libdeflate_result r = libdeflate_gzip_decompress_ex(d.get(), in.data() + in_at, in.size() - in_at,
                                                        out + out_at, room - out_at, &used_in, &used_out);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
      if (room < limit) {
        // All the room the limit allows, what is inflated so far kept (the buffer may move).
        InflateBuffer bigger;
        char* bigger_out = bigger.Reserve(limit + padding);
        std::copy(out, out + out_at, bigger_out);
        room_buf = std::move(bigger);
        out = bigger_out;
        room = limit;
        continue;  // this member again
      }
      return Status(StatusCode::kPayloadTooLarge,
                    "Maximum allowed content length: " + std::to_string(limit) + " bytes (1 MB).",
                    "ContentLengthLimitExceeded");
    }
    if (r != LIBDEFLATE_SUCCESS || used_in == 0) return Invalid();
    in_at += used_in;
    out_at += used_out;
  }
  std::fill(out + out_at, out + out_at + padding, '\0');
  return std::string_view(out, out_at);
}

Result<std::string> Gunzip(std::string_view in, size_t limit, size_t padding) {
  InflateBuffer room;
  ASSIGN_OR_RETURN(std::string_view inflated, GunzipInto(in, limit, padding, room));
  std::string out;
  out.reserve(inflated.size() + padding);
  out.assign(inflated);
  return out;
}

}  // namespace cmk::server
