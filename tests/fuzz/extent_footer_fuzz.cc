// Fuzzes an extent's footer as ExtentReader reads it once AES-GCM has authenticated it: the
// schema, the row groups and their block entries (offsets, sizes, null counts, extremes or term
// filters) and the time range, then every block and term filter read through them. The footer
// of a real extent (four columns of three types, a text column with term filters, two row
// groups) is edited by the input and sealed again with the extent's
// key, so the fuzzer starts from a footer that parses and explores what a damaged or hostile
// one (a key holder's) does: nothing may crash, read out of bounds or allocate by a count.
//
// Input: bytes 0-1 a position in the footer's plaintext (LE, modulo its size + 1), byte 2 a
// mode (bit 0: cut the footer there and append the rest; else overwrite from there, extending
// it), then the bytes written.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/codec.h"
#include "engine/extent.h"
#include "engine/term_filter.h"
#include "env/env.h"
#include "kql/functions/terms.h"
#include "storage/sealed_block.h"

namespace {

using namespace cmk;  // NOLINT: a fuzz harness

struct Fixture {
  Fixture() : random(7), aek(random.NewSecret(32)) {
    random.Fill(h.id);
    h.account = "acct";
    kql::Table t;
    t.name = "App_CL";
    kql::Column time(kql::Type::kDateTime), level(kql::Type::kString), n(kql::Type::kReal), msg(kql::Type::kString);
    for (size_t r = 0; r < engine::kRowsPerGroup + 40; ++r) {
      time.AppendInt(17'000'000'000'000'000 + static_cast<int64_t>(r) * 10'000'000);
      level.AppendString(r % 3 == 0 ? "Error" : "Info");
      if (r % 7 == 0) n.AppendNull();
      else n.AppendReal(static_cast<double>(r) / 4);
      msg.AppendString("request " + std::to_string(r) + " done");
    }
    t.AddColumn("TimeGenerated", std::move(time));
    t.AddColumn("Level", std::move(level));
    t.AddColumn("N", std::move(n));
    t.AddColumn("Msg", std::move(msg));
    t.rows = engine::kRowsPerGroup + 40;
    object = std::move(*engine::BuildExtent(h, "ws", t, aek, random));
    const uint8_t* tr = object.data() + object.size() - 16;
    at = engine::LoadU64(tr);
    uint32_t size = engine::LoadU32(tr + 8);
    clear_header.assign(object.begin(), object.begin() + 28 + 1 + 4);
    auto opened = storage::OpenBlock(aek, Where(), std::span<const uint8_t>(object).subspan(at, size));
    footer = *engine::Decompress(opened->span());
  }
  storage::BlockAddress Where() const { return {h.id, 0xFFFFFFFFu, "#footer", clear_header}; }

  env::SeededRandom random;
  SecretBytes aek;
  engine::ExtentHeader h;
  std::vector<uint8_t> object, clear_header, footer;
  uint64_t at = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* f = new Fixture();
  if (size < 3) return 0;
  std::vector<uint8_t> footer = f->footer;
  const size_t pos = (size_t{data[0]} | size_t{data[1]} << 8) % (footer.size() + 1);
  const std::span<const uint8_t> edit(data + 3, size - 3);
  if ((data[2] & 1) != 0) {
    footer.resize(pos);
    footer.insert(footer.end(), edit.begin(), edit.end());
  } else {
    if (footer.size() < pos + edit.size()) footer.resize(pos + edit.size());
    std::copy(edit.begin(), edit.end(), footer.begin() + static_cast<std::ptrdiff_t>(pos));
  }
  std::vector<uint8_t> object(f->object.begin(), f->object.begin() + static_cast<std::ptrdiff_t>(f->at));
  std::vector<uint8_t> sealed;
  if (!storage::SealBlockAppend(f->aek, f->h.aek_generation, f->Where(),
                                engine::Compress(engine::Codec::kNone, footer), f->random, sealed)
           .ok()) {
    return 0;
  }
  object.insert(object.end(), sealed.begin(), sealed.end());
  engine::PutU64(object, f->at);
  engine::PutU32(object, static_cast<uint32_t>(sealed.size()));
  object.insert(object.end(), f->object.end() - 4, f->object.end());
  auto r = engine::ExtentReader::Open(std::move(object), f->aek, engine::ExtentPlace{f->h.id, "acct", "ws", "App_CL"});
  if (!r.ok()) return 0;
  for (size_t g = 0; g < r->groups(); ++g) {
    (void)r->GroupTimeRange(g);
    for (size_t c = 0; c < r->info().schema.size(); ++c) {
      (void)r->Extremes(g, c);
      if (r->HasTermFilter(g, c)) {
        auto filter = r->ReadTermFilter(g, c, f->aek);
        uint64_t terms[] = {kql::TermHash("request"), kql::TermHash("absent")};
        if (filter.ok()) (void)engine::TermFilterMayHold(**filter, terms);
      }
      auto block = r->ReadBlock(g, c, f->aek);
      if (block.ok() && block->stored() != r->group_rows(g)) std::abort();
    }
  }
  (void)r->Read({}, std::nullopt, std::nullopt, f->aek);
  return 0;
}
