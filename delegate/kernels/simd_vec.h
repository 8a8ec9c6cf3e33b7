// The vector types that elementwise_impl.h's templates take (see there),
// one per ISA, each defined only where the file including it is compiled
// for that ISA. In an anonymous namespace: every file gets its own copies,
// compiled with its own flags (nothing built for AVX-512 can be linked into
// the scalar path). The elementwise tables and the conv kernels' stores
// (StoreOp) share them, so both compute an activation with the same
// operations.
#ifndef ACTSPARSE_DELEGATE_KERNELS_SIMD_VEC_H_
#define ACTSPARSE_DELEGATE_KERNELS_SIMD_VEC_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__AVX__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace actsparse {
namespace kernels {
namespace {

// One float per "vector": the portable tables and the scalar tails.
struct ScalarVec {
  using F = float;
  using I = int32_t;
  using U = uint32_t;
  static constexpr size_t kWidth = 1;
  static F Load(const float* p) { return *p; }
  static void Store(float* p, F v) { *p = v; }
  static F Splat(float v) { return v; }
  static I SplatInt(int32_t v) { return v; }
  static I AsInt(F v) {
    I bits;
    std::memcpy(&bits, &v, sizeof(bits));
    return bits;
  }
  static F AsFloat(I v) {
    F value;
    std::memcpy(&value, &v, sizeof(value));
    return value;
  }
  static float Lane(F v, size_t /*lane*/) { return v; }
  static F Sqrt(F v) { return std::sqrt(v); }
  static F Floor(F v) { return std::floor(v); }
  static I ToInt(F v) { return static_cast<int32_t>(v); }
  static F ToFloat(I v) { return static_cast<float>(v); }
  template <class Fn>
  static F Lanewise(F v, Fn&& f) {
    return f(v);
  }
  template <class Fn>
  static F Lanewise(F a, F b, Fn&& f) {
    return f(a, b);
  }
};

// GCC vector extensions of W floats; C-style casts between GCC vectors of
// one size (the intrinsics' __m256 / __m512 / float32x4_t included) are bit
// casts.
// (GCC drops vector_size with a template-dependent size: one spelled-out
// pair per width.)
template <size_t W>
struct GccVecTypes;
template <>
struct GccVecTypes<4> {
  typedef float F __attribute__((vector_size(16)));
  typedef int32_t I __attribute__((vector_size(16)));
  typedef uint32_t U __attribute__((vector_size(16)));
};
template <>
struct GccVecTypes<8> {
  typedef float F __attribute__((vector_size(32)));
  typedef int32_t I __attribute__((vector_size(32)));
  typedef uint32_t U __attribute__((vector_size(32)));
};
template <>
struct GccVecTypes<16> {
  typedef float F __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
  typedef uint32_t U __attribute__((vector_size(64)));
};

template <size_t W>
struct GccVec {
  using F = typename GccVecTypes<W>::F;
  using I = typename GccVecTypes<W>::I;
  using U = typename GccVecTypes<W>::U;
  static constexpr size_t kWidth = W;
  static F Load(const float* p) {
    F v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  static void Store(float* p, F v) { std::memcpy(p, &v, sizeof(v)); }
  static F Splat(float v) {
    F r;
    for (size_t i = 0; i < W; ++i) r[i] = v;
    return r;
  }
  static I SplatInt(int32_t v) {
    I r;
    for (size_t i = 0; i < W; ++i) r[i] = v;
    return r;
  }
  static I AsInt(F v) { return (I)v; }
  static F AsFloat(I v) { return (F)v; }
  static float Lane(F v, size_t lane) { return v[lane]; }
  // Correctly rounded, as std::sqrt: the ISA's vector instruction where the
  // file is compiled for one, else lane by lane.
  static F Sqrt(F v) {
#if defined(__AVX512F__)
    // The zero-masked forms with every lane kept: the plain ones start from
    // _mm512_undefined_ps, which GCC 12 reports as maybe uninitialized at
    // every inlined call.
    if constexpr (W == 16) return (F)_mm512_maskz_sqrt_ps(0xFFFF, (__m512)v);
#endif
#if defined(__AVX__)
    if constexpr (W == 8) return (F)_mm256_sqrt_ps((__m256)v);
#endif
#if defined(__aarch64__)
    if constexpr (W == 4) return (F)vsqrtq_f32((float32x4_t)v);
#endif
    F r;
    for (size_t i = 0; i < W; ++i) r[i] = std::sqrt(v[i]);
    return r;
  }
  // As std::floor, bit for bit (-0, NaN and the infinities pass).
  static F Floor(F v) {
#if defined(__AVX512F__)
    if constexpr (W == 16) {
      return (F)_mm512_maskz_roundscale_ps(0xFFFF, (__m512)v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    }
#endif
#if defined(__AVX__)
    if constexpr (W == 8) return (F)_mm256_round_ps((__m256)v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
#endif
#if defined(__aarch64__)
    if constexpr (W == 4) return (F)vrndmq_f32((float32x4_t)v);
#endif
    F r;
    for (size_t i = 0; i < W; ++i) r[i] = std::floor(v[i]);
    return r;
  }
  // The ISA's conversions (cvttps2dq / cvtdq2ps, fcvtzs / scvtf), toward
  // zero; out-of-range lanes as the ISA gives them.
  static I ToInt(F v) { return __builtin_convertvector(v, I); }
  static F ToFloat(I v) { return __builtin_convertvector(v, F); }
  // f applied lane by lane: a libm function no vector form matches bit for
  // bit (sin, cos, pow), as the builtin kernels call it.
  template <class Fn>
  static F Lanewise(F v, Fn&& f) {
    F r;
    for (size_t i = 0; i < W; ++i) r[i] = f(v[i]);
    return r;
  }
  template <class Fn>
  static F Lanewise(F a, F b, Fn&& f) {
    F r;
    for (size_t i = 0; i < W; ++i) r[i] = f(a[i], b[i]);
    return r;
  }
};

#if defined(__AVX2__)
using Avx2Vec = GccVec<8>;
#endif
#if defined(__AVX512F__)
using Avx512Vec = GccVec<16>;
#endif
#if defined(__ARM_NEON) || defined(__aarch64__)
using NeonVec = GccVec<4>;
#endif

}  // namespace
}  // namespace kernels
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_KERNELS_SIMD_VEC_H_
