// Fills the kernel table's normalisation entries with the scalar references
// (norm_ref.hpp). Compiled with -ffp-contract=off, as the SIMD variants are.
#include "norm_ref.hpp"
#include "../kernel_table.hpp"

namespace kiln::cpu {
namespace {

template <class T>
void fill(KernelTable<T>& t) {
  t.norm_moments = norm_ref::moments<T>;
  t.norm_apply = norm_ref::apply<T>;
  t.norm_grad_sums = norm_ref::grad_sums<T>;
  t.norm_grad_apply = norm_ref::grad_apply<T>;
}

}  // namespace

void fill_norm_scalar(KernelTable<float>& table) { fill(table); }
void fill_norm_scalar(KernelTable<double>& table) { fill(table); }

}  // namespace kiln::cpu
