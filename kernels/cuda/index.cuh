// Indexing on the GPU: row selection (index_select, embeddings) and element
// gathers along a dimension (gather, nll_loss), with their scatter-add adjoints.
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

}  // namespace kiln::cuda_kernels
