// Indexing on the GPU: row selection (index_select, embeddings) and element
// gathers along a dimension (gather, nll_loss), with their scatter-add adjoints;
// searchsorted's binary searches.
#pragma once

#include "kernels/cuda/cuda_kernels.hpp"

namespace kiln::cuda_kernels {

void index_rows(Scalar t, std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner, const void* x,
                const std::int64_t* index, void* out, ReportSlot bad_index);
void index_add_rows(Scalar t, std::int64_t outer, std::int64_t n, std::int64_t m, std::int64_t inner,
                    const void* g, const std::int64_t* index, void* gx, ReportSlot bad_index);
void gather(Scalar t, const Loop& loop, std::int64_t n, std::int64_t dim_stride, bool wrap, const void* x,
            const std::int64_t* index, void* out, ReportSlot bad_index);
void gather_add(Scalar t, const Loop& loop, std::int64_t n, std::int64_t dim_stride, bool wrap, const void* g,
                const std::int64_t* index, void* gx);
void searchsorted(Scalar t, std::int64_t rows, std::int64_t m, std::int64_t n, bool shared, const void* seq,
                  const void* values, bool right, std::int64_t* out);

}  // namespace kiln::cuda_kernels
