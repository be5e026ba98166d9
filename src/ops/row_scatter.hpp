// Internal: what loops over rows picked by an index share (index_select, index_add,
// the inner-product decoder): asking for rows ahead of use, and which thread owns a
// destination row when threads split a scatter-add between them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/core/threads.hpp"

namespace kiln::detail {

// How many rows ahead a loop asks for the row it will touch: far enough to hide a miss
// to DRAM behind the rows in between. (Rows of 16 floats from a 64 MiB table: 16 is
// 2.5-3x faster than no prefetch; 32 to 128 measured no faster.)
inline constexpr std::int64_t kRowsAhead = 16;

// Asks for the cache lines that hold the first and the last byte of a row (a read
// prefetch, which never faults, whatever the address; a row of 0 bytes asks for its start).
inline void prefetch_row(const void* row, std::size_t bytes) {
  const char* p = static_cast<const char*>(row);
  __builtin_prefetch(p);
  __builtin_prefetch(p + (bytes > 0 ? bytes - 1 : 0));
}

// Threads splitting a scatter-add into rows: each owns the rows of some blocks of 64
// (blocks dealt out by a multiplicative hash, so skewed indices, a graph's hubs, still
// spread), scans every index and adds only into its own rows. Each row then gets its
// additions in index order, the same bits on any number of threads; a block spans 64
// times a row's bytes, whole cache lines, so no two threads write one line.
class RowOwners {
 public:
  // One owner for rows of one cache line or for little work: there the scan of every
  // index costs each thread as much as its share of the additions saves (2M rows of 16
  // floats into a 64 MiB table: 1 thread faster than 2; rows of 64 floats: 2 faster).
  static RowOwners for_scatter(std::int64_t values_added, std::size_t row_bytes) {
    const bool split = row_bytes > 64 && values_added >= 4 * kElementwiseGrain;
    return RowOwners(split ? get_num_threads() : 1);
  }
  std::int64_t count() const { return count_; }
  std::int64_t of(std::int64_t row) const {
    const std::uint64_t mixed = (static_cast<std::uint64_t>(row) >> 6) * 0x9E3779B97F4A7C15ull;
    return static_cast<std::int64_t>(((mixed >> 32) * static_cast<std::uint64_t>(count_)) >> 32);
  }

 private:
  explicit RowOwners(std::int64_t count) : count_(count) {}
  std::int64_t count_;
};

}  // namespace kiln::detail
