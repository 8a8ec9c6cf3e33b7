// Picks the micro-kernels for the CPU we run on.
#include <cstdlib>
#include <cstring>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/kernels/sparse_conv_kernels.h"

namespace actsparse {
namespace kernels {
namespace {

enum class Isa { kScalar, kAvx2, kAvx512, kNeon };

// The widest instruction set this CPU runs, capped by ACTSPARSE_KERNELS
// ("scalar": the portable kernels; "avx2": no AVX-512), for comparisons.
Isa SelectIsa() {
  const char* forced = std::getenv("ACTSPARSE_KERNELS");
  if (forced != nullptr && std::strcmp(forced, "scalar") == 0) return Isa::kScalar;
#if defined(__x86_64__)
  const bool avx2_only = forced != nullptr && std::strcmp(forced, "avx2") == 0;
  if (CpuHasAvx512() && !avx2_only) return Isa::kAvx512;
  if (CpuHasAvx2Fma()) return Isa::kAvx2;
#endif
#if defined(__aarch64__)
  return Isa::kNeon;
#endif
  return Isa::kScalar;
}

}  // namespace

bool CpuHasAvx2Fma() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool CpuHasAvx512() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return CpuHasAvx2Fma() && __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

// ConvRows has no AVX-512 version: AVX-512 CPUs run the AVX2 one (and send
// every conv to igemm, see SelectIgemm).
ConvRowsFn SelectConvRows(const char** name) {
  switch (SelectIsa()) {
#if defined(__x86_64__)
    case Isa::kAvx512:
    case Isa::kAvx2:
      if (name) *name = "avx2";
      return ConvRowsAvx2;
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      if (name) *name = "neon";
      return ConvRowsNeon;
#endif
    default:
      if (name) *name = "scalar";
      return ConvRowsScalar;
  }
}

DepthwiseRowsFn SelectDepthwiseRows(const char** name) {
  switch (SelectIsa()) {
#if defined(__x86_64__)
    case Isa::kAvx512:
      if (name) *name = "avx512";
      return DepthwiseRowsAvx512;
    case Isa::kAvx2:
      if (name) *name = "avx2";
      return DepthwiseRowsAvx2;
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      if (name) *name = "neon";
      return DepthwiseRowsNeon;
#endif
    default:
      if (name) *name = "scalar";
      return DepthwiseRowsScalar;
  }
}

namespace {

// The image-rows depthwise kernel for this CPU and the narrowest output rows
// it is worth taking for (see DepthwiseImageRowsMinWidth), in one place so
// the two always describe the same kernel.
struct ImageRowsKernel {
  DepthwiseImageRowsFn fn;
  const char* name;
  size_t min_width;
};

ImageRowsKernel SelectImageRowsKernel() {
  switch (SelectIsa()) {
#if defined(__x86_64__)
    case Isa::kAvx512:
      return {DepthwiseImageRowsAvx512, "avx512", 1};
    case Isa::kAvx2:
      return {DepthwiseImageRowsAvx2, "avx2", 28};
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      return {DepthwiseImageRowsNeon, "neon", 1};
#endif
    default:
      return {nullptr, "none", 1};
  }
}

}  // namespace

DepthwiseImageRowsFn SelectDepthwiseImageRows(const char** name) {
  const ImageRowsKernel kernel = SelectImageRowsKernel();
  if (name) *name = kernel.name;
  return kernel.fn;
}

size_t DepthwiseImageRowsMinWidth() { return SelectImageRowsKernel().min_width; }

IgemmKernel SelectIgemm() {
  constexpr size_t kAll = static_cast<size_t>(-1);
  switch (SelectIsa()) {
#if defined(__x86_64__)
    case Isa::kAvx512:
      return {IgemmAvx512, "avx512", kIgemmRowsAvx512, 2, kAll, kAll};
    case Isa::kAvx2:
      return {IgemmAvx2, "avx2", kIgemmRowsAvx2, 1, 2048, 512};
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      return {IgemmNeon, "neon", kIgemmRowsNeon, 1, 2048, 2048};
#endif
    default:
      return {IgemmScalar, "scalar", kIgemmRowsScalar, 1, kAll, kAll};
  }
}

// Elementwise kernels have no AVX-512 table: AVX2's is memory-bound already.
const ElementwiseKernels& SelectElementwiseKernels() {
  switch (SelectIsa()) {
#if defined(__x86_64__)
    case Isa::kAvx512:
      return ElementwiseKernelsAvx512();
    case Isa::kAvx2:
      return ElementwiseKernelsAvx2();
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      return ElementwiseKernelsNeon();
#endif
    default:
      return ElementwiseKernelsScalar();
  }
}

}  // namespace kernels
}  // namespace actsparse
