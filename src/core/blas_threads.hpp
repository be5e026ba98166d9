// Internal: tells the BLAS library how many threads to use.
#pragma once

namespace kiln::detail {
void set_blas_threads(int n);
}
