// Picks the micro-kernels for the CPU we run on.
#include <cstdlib>
#include <cstring>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/kernels/sparse_conv_kernels.h"

namespace actsparse {
namespace kernels {

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

ConvRowsFn SelectConvRows(const char** name) {
  const char* forced = std::getenv("ACTSPARSE_KERNELS");
  const bool scalar_only = forced != nullptr && std::strcmp(forced, "scalar") == 0;
#if defined(__x86_64__)
  if (!scalar_only && CpuHasAvx2Fma()) {
    if (name) *name = "avx2";
    return ConvRowsAvx2;
  }
#endif
#if defined(__aarch64__)
  if (!scalar_only) {
    if (name) *name = "neon";
    return ConvRowsNeon;
  }
#endif
  (void)scalar_only;
  if (name) *name = "scalar";
  return ConvRowsScalar;
}

DepthwiseRowsFn SelectDepthwiseRows(const char** name) {
  const char* conv_name = nullptr;
  SelectConvRows(&conv_name);
#if defined(__x86_64__)
  const char* forced = std::getenv("ACTSPARSE_KERNELS");
  const bool avx2_only = forced != nullptr && std::strcmp(forced, "avx2") == 0;
  if (std::strcmp(conv_name, "avx2") == 0 && !avx2_only && CpuHasAvx512()) {
    if (name) *name = "avx512";
    return DepthwiseRowsAvx512;
  }
  if (std::strcmp(conv_name, "avx2") == 0) {
    if (name) *name = "avx2";
    return DepthwiseRowsAvx2;
  }
#endif
#if defined(__aarch64__)
  if (std::strcmp(conv_name, "neon") == 0) {
    if (name) *name = "neon";
    return DepthwiseRowsNeon;
  }
#endif
  if (name) *name = "scalar";
  return DepthwiseRowsScalar;
}

IgemmKernel SelectIgemm() {
  const char* conv_name = nullptr;
  SelectConvRows(&conv_name);
  constexpr size_t kAll = static_cast<size_t>(-1);
#if defined(__x86_64__)
  const char* forced = std::getenv("ACTSPARSE_KERNELS");
  const bool avx2_only = forced != nullptr && std::strcmp(forced, "avx2") == 0;
  if (std::strcmp(conv_name, "avx2") == 0 && !avx2_only && CpuHasAvx512()) return {IgemmAvx512, "avx512", 7, kAll};
  if (std::strcmp(conv_name, "avx2") == 0) return {IgemmAvx2, "avx2", 6, 2048};
#endif
#if defined(__aarch64__)
  if (std::strcmp(conv_name, "neon") == 0) return {IgemmNeon, "neon", 4, 2048};
#endif
  return {IgemmScalar, "scalar", 4, kAll};
}

const ElementwiseKernels& SelectElementwiseKernels() {
  const char* conv_name = nullptr;
  SelectConvRows(&conv_name);
#if defined(__x86_64__)
  if (std::strcmp(conv_name, "avx2") == 0) return ElementwiseKernelsAvx2();
#endif
#if defined(__aarch64__)
  if (std::strcmp(conv_name, "neon") == 0) return ElementwiseKernelsNeon();
#endif
  return ElementwiseKernelsScalar();
}

}  // namespace kernels
}  // namespace actsparse
