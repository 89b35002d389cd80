#pragma once
// A batch of rows flowing between the executor's operators (exec.h). Each column is held by a
// shared pointer: borrowed from an immutable scan chunk (an aliasing pointer keeps that chunk
// alive, so scans copy nothing), borrowed from a table the caller keeps alive (View), or owned
// by the batch (Add). Operators read columns through col(i) and never modify a shared column;
// projecting or renaming moves pointers, filtering gathers only the surviving rows.
// Thread safety: plain values; a Chunk is used by one thread.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kql/core/column.h"

namespace cmk::kql {

class Chunk {
 public:
  size_t rows = 0;

  size_t width() const { return cols_.size(); }
  const Column& col(size_t i) const { return *cols_[i]; }
  const std::shared_ptr<const Column>& shared(size_t i) const { return cols_[i]; }

  // Appends a column owned by this batch.
  void Add(Column c) {
    cols_.push_back(std::make_shared<Column>(std::move(c)));
    owned_.push_back(1);
  }
  // Appends a shared (borrowed) column; it is never modified or moved from.
  void AddShared(std::shared_ptr<const Column> c) {
    cols_.push_back(std::move(c));
    owned_.push_back(0);
  }
  // Column i as a value: moved out when this batch owns it alone, else copied.
  Column Take(size_t i) {
    if (owned_[i] != 0 && cols_[i].use_count() == 1) {
      // Created non-const by Add and referenced only here, so moving from it is safe.
      return std::move(const_cast<Column&>(*cols_[i]));
    }
    return *cols_[i];
  }

  // Every column of `t`, borrowed without ownership: `t` must outlive the chunk.
  static Chunk View(const Table& t) {
    Chunk c;
    c.rows = t.rows;
    for (const Column& col : t.columns) c.AddShared(std::shared_ptr<const Column>(std::shared_ptr<const Column>(), &col));
    return c;
  }
  // Takes the columns of `t`.
  static Chunk Own(Table&& t) {
    Chunk c;
    c.rows = t.rows;
    for (Column& col : t.columns) c.Add(std::move(col));
    return c;
  }

 private:
  std::vector<std::shared_ptr<const Column>> cols_;
  std::vector<uint8_t> owned_;
};

}  // namespace cmk::kql
