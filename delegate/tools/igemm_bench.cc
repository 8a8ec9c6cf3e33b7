// Times the igemm micro-kernel this CPU selects (ACTSPARSE_KERNELS caps it)
// alone, hot in cache, on the 1x1 conv shapes of MobileNetV2, and prints
// GFLOP/s beside the core's FMA bound measured by a loop of independent
// FMAs. A tool for working on the kernel's loops, not a test: the operator,
// threads and memory traffic between ops are left out on purpose (see
// conv_bench for those).
//
//   bazel run -c opt //delegate:igemm_bench -- [--rounds R] [--shapes TEXT]  (only shapes whose name has TEXT, e.g. L1)
//
// Medians of R rounds (default 21). With a loaded host, compare two
// builds' figures only in runs made close together; better, keep both
// kernels in one binary and interleave (benchmarks/README.md, sixth
// session, has how the AVX-512 loops were judged).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "delegate/kernels/sparse_conv_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace actsparse {
namespace {

struct Shape {
  const char* name;
  size_t pixels, in_channels, out_channels;
};

// MobileNetV2's 1x1 convs at 224x224 (one of each kind), and bands of the largest.
const Shape kShapes[] = {
    {"project112 32->16", 12544, 32, 16}, {"expand112 16->96", 12544, 16, 96}, {"expand56 24->144", 3136, 24, 144},
    {"project56 144->24", 3136, 144, 24}, {"expand28 32->192", 784, 32, 192}, {"project28 192->32", 784, 192, 32},
    {"expand14 64->384", 196, 64, 384},   {"project14 384->64", 196, 384, 64}, {"expand7 160->960", 49, 160, 960},
    {"last7 320->1280", 49, 320, 1280},
    // Eight rows of the 112x112 ones: what a banded step computes per call, in L2.
    {"project112/8 32->16", 896, 32, 16}, {"expand112/8 16->96", 896, 16, 96}, {"mnv3 112/8 16->16", 896, 16, 16},
    {"L1 16->96", 80, 16, 96}, {"L1 24->144", 60, 24, 144}, {"L1 144->24", 60, 144, 24}, {"L1 32->16", 200, 32, 16},
    {"L1 96->24", 80, 96, 24},
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename Fn>
double MedianSeconds(int rounds, Fn&& fn) {
  std::vector<double> t;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return Median(t);
}

#if defined(__x86_64__)
// Twelve independent FMA chains: bound by the FMA ports, not latency.
// Returns seconds for `iters` iterations.
__attribute__((target("avx512f"))) double FmaLoop512(long iters) {
  __m512 acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = _mm512_set1_ps(0.001f * j);
  const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(0.0001f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm512_fmadd_ps(acc[j], x, y);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float sink = 0;
  for (int j = 0; j < 12; ++j) sink += _mm512_reduce_add_ps(acc[j]);
  if (sink == 12345.0f) std::puts("");  // keeps the chains
  return s;
}
__attribute__((target("avx2,fma"))) double FmaLoop256(long iters) {
  __m256 acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = _mm256_set1_ps(0.001f * j);
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(0.0001f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], x, y);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float lanes[8], sink = 0;
  for (int j = 0; j < 12; ++j) {
    _mm256_storeu_ps(lanes, acc[j]);
    sink += lanes[0];
  }
  if (sink == 12345.0f) std::puts("");
  return s;
}
#endif

double PeakGflops(const char* isa, int rounds) {
#if defined(__x86_64__)
  constexpr long kIters = 20000000;
  const bool avx512 = std::strcmp(isa, "avx512") == 0;
  if (avx512 || std::strcmp(isa, "avx2") == 0) {
    double best = 1e30;
    for (int r = 0; r < rounds; ++r) best = std::min(best, avx512 ? FmaLoop512(kIters) : FmaLoop256(kIters));
    return 2.0 * kIters * 12 * (avx512 ? 16 : 8) / best / 1e9;
  }
#endif
  (void)isa;
  (void)rounds;
  return 0;  // not measured for this ISA
}

int Main(int argc, char** argv) {
  int rounds = 21;
  const char* only = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--shapes") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: igemm_bench [--rounds R] [--shapes TEXT]\n");
      return 2;
    }
  }
  const kernels::IgemmKernel kernel = kernels::SelectIgemm();
  const double peak = PeakGflops(kernel.name, 5);
  std::printf("igemm kernel: %s (%zu rows per block); FMA bound of one core: ", kernel.name, kernel.block_rows);
  if (peak > 0) {
    std::printf("%.1f GFLOP/s\n", peak);
  } else {
    std::printf("not measured for this ISA\n");
  }
  std::printf("%-20s %10s %10s %8s\n", "1x1 conv", "us", "GFLOP/s", "of bound");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const Shape& s : kShapes) {
    if (only != nullptr && std::strstr(s.name, only) == nullptr) continue;
    std::vector<float> input(s.pixels * s.in_channels), output(s.pixels * s.out_channels);
    std::vector<float> ohwi(s.out_channels * s.in_channels), bias(s.out_channels);
    for (float& v : input) v = uniform(rng);
    for (float& v : ohwi) v = uniform(rng);
    for (float& v : bias) v = uniform(rng);
    std::vector<float> packed(kernels::PackedIgemmWeightsSize(1, s.in_channels, s.out_channels));
    kernels::PackIgemmWeights(ohwi.data(), bias.data(), 1, s.in_channels, s.out_channels, packed.data());
    const float* first_input = input.data();
    float* first_output = output.data();
    kernels::IgemmArgs a;
    a.channels = s.out_channels;
    a.tap_channels = s.in_channels;
    a.indirection_stride = 1;
    a.packed = packed.data();
    a.tile_stride = kernels::IgemmTileFloats(1, s.in_channels);
    a.lo = 0.0f;
    a.hi = 6.0f;
    const double flops = 2.0 * s.pixels * s.in_channels * s.out_channels;
    const int reps = std::max(1, static_cast<int>(2e8 / flops));
    auto run = [&] {
      for (int rep = 0; rep < reps; ++rep) {
        // As the operator calls it: all of a task's rows, by arithmetic.
        a.rows = s.pixels;
        a.indirection = &first_input;
        a.outputs = &first_output;
        a.direct_input_stride = s.in_channels;
        a.direct_output_stride = s.out_channels;
        kernel.fn(a);
      }
    };
    run();  // warm the caches
    const double seconds = MedianSeconds(rounds, run) / reps;
    const double gflops = flops / seconds / 1e9;
    std::printf("%-20s %10.1f %10.1f", s.name, seconds * 1e6, gflops);
    if (peak > 0) std::printf(" %7.0f%%", 100.0 * gflops / peak);
    std::printf("\n");
  }
  return 0;
}

}  // namespace
}  // namespace actsparse

int main(int argc, char** argv) { return actsparse::Main(argc, argv); }
