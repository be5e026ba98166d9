// Splitting a CSR matrix's rows between threads by work, not by count: in a graph
// whose hubs are numbered together (a generated power-law graph numbers them first),
// halving the rows would hand one thread most of the nonzeros.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "kiln/core/threads.hpp"

namespace kiln::detail {

// The boundaries of up to `tasks` runs of rows of about equal work, counting a row as its
// nonzeros plus one (its output): run t is rows [start[t], start[t + 1]), start[0] = 0 and
// the last entry is rows; a run may be empty. row_ptr (rows + 1 offsets into nnz entries)
// is only read here, not trusted: a malformed one gives some split into whole rows.
inline std::vector<std::int64_t> split_rows_by_work(std::int64_t rows, const std::int64_t* row_ptr,
                                                    std::int64_t nnz, std::int64_t tasks) {
  tasks = std::max<std::int64_t>(tasks, 1);
  std::vector<std::int64_t> start(tasks + 1, std::max<std::int64_t>(rows, 0));
  start[0] = 0;
  if (rows <= 0) return start;
  // Work before row r: its offset, clamped into [0, nnz] so no value overflows, plus r.
  const auto work_before = [&](std::int64_t r) { return std::clamp<std::int64_t>(row_ptr[r], 0, nnz) + r; };
  const std::int64_t total = nnz + rows;
  // Run t starts at the first row with work_before(row) >= t * total / tasks: a binary
  // search that stays inside [0, rows] whatever row_ptr holds.
  for (std::int64_t t = 1; t < tasks; ++t) {
    const std::int64_t target = total / tasks * t;
    std::int64_t lo = start[t - 1], hi = rows;
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (work_before(mid) < target)
        lo = mid + 1;
      else
        hi = mid;
    }
    start[t] = lo;
  }
  return start;
}

// Runs fn(first_row, end_row) over [0, rows) in up to get_num_threads() tasks of about
// equal work (split_rows_by_work). Each entry costs work_per_entry units; below
// min_task_work units per task fewer tasks run (one for a small matrix). A malformed
// row_ptr gives some split into whole rows, and the caller's kernel still checks every
// row it reads.
inline void parallel_rows_by_work(std::int64_t rows, const std::int64_t* row_ptr, std::int64_t nnz,
                                  std::int64_t work_per_entry, std::int64_t min_task_work,
                                  const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (rows <= 0) return;
  const std::int64_t total = nnz + rows;
  const std::int64_t by_size =
      total / std::max<std::int64_t>(1, min_task_work / std::max<std::int64_t>(1, work_per_entry));
  const std::int64_t tasks =
      std::clamp<std::int64_t>(by_size, 1, std::min<std::int64_t>(get_num_threads(), rows));
  if (tasks == 1) {
    fn(0, rows);
    return;
  }
  const std::vector<std::int64_t> start = split_rows_by_work(rows, row_ptr, nnz, tasks);
  parallel_for(0, tasks, 1, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t t = first; t < last; ++t)
      if (start[t] < start[t + 1]) fn(start[t], start[t + 1]);
  });
}

}  // namespace kiln::detail
