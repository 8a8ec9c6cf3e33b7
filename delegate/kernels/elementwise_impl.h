// The elementwise micro-kernels written once, over a vector type `V` from
// simd_vec.h (GCC vector extensions: 16 floats for AVX-512, 8 for AVX2, 4
// for NEON, a plain float for the scalar table). Every
// function here is a template of V, so each ISA file gets its own copies,
// compiled with its own flags: nothing compiled for AVX2 can be linked into
// the scalar path.
//
// V provides: F (float vector), I (int32 vector of the same width), kWidth,
// Load, Store, Splat, SplatInt, AsInt / AsFloat (bit casts), Lane (read lane i).
#ifndef ACTSPARSE_DELEGATE_KERNELS_ELEMENTWISE_IMPL_H_
#define ACTSPARSE_DELEGATE_KERNELS_ELEMENTWISE_IMPL_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "delegate/kernels/elementwise_kernels.h"

namespace actsparse {
namespace kernels {
namespace elementwise_impl {

// std::min / std::max semantics (the builtin kernels use them), lane-wise.
template <class V>
inline typename V::F Min(typename V::F a, typename V::F b) {
  return b < a ? b : a;
}
template <class V>
inline typename V::F Max(typename V::F a, typename V::F b) {
  return a < b ? b : a;
}
template <class V>
inline typename V::F Clamp(typename V::F x, typename V::F lo, typename V::F hi) {
  return Min<V>(Max<V>(x, lo), hi);
}

// exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln(2)/2, for x already
// clamped: p = exp(r) and n as an int. exp(r) from a degree-6 polynomial
// fitted here for the least maximum relative error on that interval (1.7e-8
// with its coefficients rounded to float; the Taylor series needs degree 7
// for 6e-9: a multiply-add more, and SiLU's exp is most of a SiLU network's
// elementwise time).
template <class V>
struct ExpParts {
  typename V::F p;
  typename V::I n;
};

template <class V>
inline ExpParts<V> SplitExp(typename V::F x) {
  using F = typename V::F;
  // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits.
  const F magic = V::Splat(12582912.0f);
  const F t = x * V::Splat(1.44269504088896341f) + magic;
  const F n = t - magic;
  // ln 2 in two parts: n * kLn2Hi is exact for |n| < 2^8.
  F r = x - n * V::Splat(0.693145751953125f);
  r = r - n * V::Splat(1.428606765330187045e-06f);
  F p = V::Splat(1.383680734e-3f);
  p = p * r + V::Splat(8.374810219e-3f);
  p = p * r + V::Splat(4.166822508e-2f);
  p = p * r + V::Splat(1.666641980e-1f);
  p = p * r + V::Splat(4.999999106e-1f);
  p = p * r + V::Splat(1.0f);
  p = p * r + V::Splat(1.0f);
  return {p, V::AsInt(t) - V::AsInt(magic)};
}

// exp(x) to about 2 ulp for x in [-87, 88]; inputs outside are clamped there
// (exp(-87) = 1.6e-38 stands for anything smaller: sigmoid, tanh and softmax
// only ever see it added to 1 or normalised away).
template <class V>
inline typename V::F Exp(typename V::F x) {
  const ExpParts<V> e = SplitExp<V>(Clamp<V>(x, V::Splat(-87.0f), V::Splat(88.0f)));
  // 2^n: n + 127 in the exponent field (n is in [-126, 127] after the clamp;
  // masked to the field so a NaN's garbage n shifts without overflow).
  return e.p * V::AsFloat(((e.n + V::SplatInt(127)) & V::SplatInt(0xff)) << 23);
}

// 1 / (1 + exp(-x)): exp(-x) overflowing the clamp only makes the quotient
// the tiny value it should be, so no split by the sign of x is needed.
template <class V>
inline typename V::F Sigmoid(typename V::F x) {
  const typename V::F one = V::Splat(1.0f);
  return one / (one + Exp<V>(V::Splat(0.0f) - x));
}

// exp(x) over the whole float range, for EXP: infinity past ln(FLT_MAX) =
// 88.72, gradual underflow to 0 below -87.3, NaN kept. Exp's reduction with
// 2^n applied as two factors 2^(n/2) and 2^(n - n/2), each a normal float,
// so n may run from -150 to 128.
template <class V>
inline typename V::F ExpFullRange(typename V::F x) {
  const ExpParts<V> e = SplitExp<V>(Clamp<V>(x, V::Splat(-104.0f), V::Splat(89.0f)));
  const typename V::I half = e.n >> 1;
  const typename V::F first = V::AsFloat(((half + V::SplatInt(127)) & V::SplatInt(0xff)) << 23);
  const typename V::F second = V::AsFloat(((e.n - half + V::SplatInt(127)) & V::SplatInt(0xff)) << 23);
  return e.p * first * second;
}

// log(x) for LOG: x = m * 2^e, m in [sqrt(1/2), sqrt(2)), log(x) = e * ln 2
// + log1p(f), f = m - 1 (exact), log1p(f) = f - f^2 / 2 + f^3 * P(f), P of
// degree 7 fitted here for the least maximum relative error over f in
// [sqrt(1/2) - 1, sqrt(2) - 1] (6e-9 with its coefficients rounded to float;
// 1.2e-7 evaluated in float). Subnormal x is scaled by 2^23 first; 0 gives
// -inf, x < 0 NaN, inf inf, NaN NaN, as std::log.
template <class V>
inline typename V::F Log(typename V::F x) {
  using F = typename V::F;
  using I = typename V::I;
  const F zero = V::Splat(0.0f), inf = V::Splat(__builtin_inff());
  const F tiny = V::Splat(1.17549435e-38f);
  const F scaled = x < tiny ? x * V::Splat(8388608.0f) : x;
  const I bits = V::AsInt(scaled);
  F m = V::AsFloat((bits & V::SplatInt(0x007fffff)) | V::SplatInt(0x3f800000));
  // The exponent as a float: an integer below 2^22 added to 1.5 * 2^23.
  F e = V::AsFloat((bits >> 23) - V::SplatInt(127) + V::AsInt(V::Splat(12582912.0f))) - V::Splat(12582912.0f);
  e = x < tiny ? e - V::Splat(23.0f) : e;
  const F big = V::Splat(1.41421356f);
  e = m > big ? e + V::Splat(1.0f) : e;
  m = m > big ? m * V::Splat(0.5f) : m;
  const F f = m - V::Splat(1.0f);
  F p = V::Splat(-0.07634423673152924f);
  p = p * f + V::Splat(0.12761469185352325f);
  p = p * f + V::Splat(-0.13160158693790436f);
  p = p * f + V::Splat(0.14201770722866058f);
  p = p * f + V::Splat(-0.1662336140871048f);
  p = p * f + V::Splat(0.20001226663589478f);
  p = p * f + V::Splat(-0.2500081956386566f);
  p = p * f + V::Splat(0.3333333134651184f);
  const F f2 = f * f;
  // ln 2 in two parts, the small one first: e * kLn2Hi is exact.
  F y = f2 * f * p + e * V::Splat(-2.12194440e-4f);
  y = y - V::Splat(0.5f) * f2 + f;
  y = y + e * V::Splat(0.693359375f);
  y = x < zero ? V::Splat(__builtin_nanf("")) : y;
  y = x == zero ? zero - inf : y;
  y = x == inf ? inf : y;
  return x != x ? x : y;
}


template <class V>
inline typename V::F Tanh(typename V::F x) {
  using F = typename V::F;
  const F zero = V::Splat(0.0f), one = V::Splat(1.0f);
  const F e = Exp<V>(V::Splat(2.0f) * Min<V>(x, zero - x));
  const F t = (one - e) / (one + e);
  return x < zero ? zero - t : t;
}

// Phi(x) = 0.5 * erfc(-x / sqrt(2)), the standard normal distribution.
// With z = |x| / sqrt(2): erfc(z) = exp(-z^2) * t * P(t), t = 1 / (1 +
// z / 2), P of degree 8 fitted here for the least maximum relative error
// over z in [0, 9] (6e-8 with its coefficients rounded to float); past 9,
// exp's clamp leaves a tail below 1e-37. Phi = q or 1 - q by the sign of x,
// q = erfc(z) / 2: each side keeps its relative precision.
template <class V>
inline typename V::F NormalCdf(typename V::F x) {
  using F = typename V::F;
  const F zero = V::Splat(0.0f), one = V::Splat(1.0f);
  const F ax = Max<V>(x, zero - x);
  const F z = ax * V::Splat(0.70710678118654752f);
  const F t = one / (one + V::Splat(0.5f) * z);
  F p = V::Splat(-2.932143770e-2f);
  p = p * t + V::Splat(1.412411332e-1f);
  p = p * t + V::Splat(-2.414170206e-1f);
  p = p * t + V::Splat(1.365146488e-1f);
  p = p * t + V::Splat(-1.156030875e-2f);
  p = p * t + V::Splat(1.005933434e-1f);
  p = p * t + V::Splat(1.217440292e-1f);
  p = p * t + V::Splat(1.411608160e-1f);
  p = p * t + V::Splat(1.410447657e-1f);
  // 0.5 * erfc(z) = exp(-z^2) * t * P(t): P's coefficients are the fit's halved.
  const F q = Exp<V>(zero - z * z) * t * p;
  return x < zero ? q : one - q;
}

// A comparison (kGreater ... kNotEqual) of two vectors of floats or of ints: the lanes' mask.
template <BinaryOp Op, class T>
inline auto Holds(T a, T b) {
  if constexpr (Op == BinaryOp::kGreater) return a > b;
  if constexpr (Op == BinaryOp::kGreaterEqual) return a >= b;
  if constexpr (Op == BinaryOp::kLess) return a < b;
  if constexpr (Op == BinaryOp::kLessEqual) return a <= b;
  if constexpr (Op == BinaryOp::kEqual) return a == b;
  if constexpr (Op == BinaryOp::kNotEqual) return a != b;
}

template <class V, BinaryOp Op>
inline typename V::F ApplyBinary(typename V::F a, typename V::F b) {
  if constexpr (Op == BinaryOp::kAdd) return a + b;
  if constexpr (Op == BinaryOp::kSub) return a - b;
  if constexpr (Op == BinaryOp::kMul) return a * b;
  if constexpr (Op == BinaryOp::kDiv) return a / b;
  if constexpr (Op == BinaryOp::kMax) return Max<V>(a, b);
  if constexpr (Op == BinaryOp::kMin) return Min<V>(a, b);
  if constexpr (Op == BinaryOp::kSquaredDifference) {
    const typename V::F d = a - b;
    return d * d;
  }
  const typename V::F one = V::Splat(1.0f), zero = V::Splat(0.0f);
  if constexpr (IsComparisonOp(Op) && !IsIntBinaryOp(Op)) return Holds<Op>(a, b) ? one : zero;
  if constexpr (Op == BinaryOp::kPow) return V::Lanewise(a, b, [](float x, float y) { return std::pow(x, y); });
  if constexpr (Op == BinaryOp::kFloorDiv) {
    return V::Lanewise(a, b, [](float x, float y) {
      return static_cast<float>(std::floor(static_cast<double>(x) / static_cast<double>(y)));
    });
  }
  if constexpr (Op == BinaryOp::kFloorMod) {
    return V::Lanewise(a, b, [](float x, float y) {
      const float mod = std::fmod(x, y);
      return mod != 0.0f && ((y < 0.0f) != (mod < 0.0f)) ? mod + y : mod;
    });
  }
  if constexpr (Op == BinaryOp::kAtan2) return V::Lanewise(a, b, [](float x, float y) { return std::atan2(x, y); });
  if constexpr (IsIntBinaryOp(Op)) {
    using I = typename V::I;
    using U = typename V::U;
    const I x = V::AsInt(a), y = V::AsInt(b);
    // Wrapping arithmetic through unsigned lanes (signed overflow is undefined in C++).
    if constexpr (Op == BinaryOp::kIntAdd) return V::AsFloat((I)((U)x + (U)y));
    if constexpr (Op == BinaryOp::kIntSub) return V::AsFloat((I)((U)x - (U)y));
    if constexpr (Op == BinaryOp::kIntMul) return V::AsFloat((I)((U)x * (U)y));
    if constexpr (Op == BinaryOp::kIntMax) return V::AsFloat(x < y ? y : x);
    if constexpr (Op == BinaryOp::kIntMin) return V::AsFloat(y < x ? y : x);
    // The int comparisons come in the float ones' order.
    constexpr int kShift = static_cast<int>(BinaryOp::kIntGreater) - static_cast<int>(BinaryOp::kGreater);
    constexpr BinaryOp kAsFloats = static_cast<BinaryOp>(static_cast<int>(Op) - kShift);
    if constexpr (IsComparisonOp(Op)) return Holds<kAsFloats>(x, y) ? one : zero;
  }
}

// Clamps a float op's result; an int op's bits pass as they are.
template <class V, BinaryOp Op>
inline typename V::F ClampResult(typename V::F r, typename V::F lo, typename V::F hi) {
  if constexpr (IsIntBinaryOp(Op)) return r;
  return Clamp<V>(r, lo, hi);
}

template <class V, UnaryOp Op>
inline typename V::F ApplyUnary(typename V::F x, typename V::F alpha) {
  using F = typename V::F;
  if constexpr (Op == UnaryOp::kClamp) return x;
  if constexpr (Op == UnaryOp::kLeakyRelu) return V::Splat(0.0f) < x ? x : x * alpha;
  if constexpr (Op == UnaryOp::kSigmoid) return Sigmoid<V>(x);
  if constexpr (Op == UnaryOp::kTanh) return Tanh<V>(x);
  if constexpr (Op == UnaryOp::kHardSwish) {
    const F relu6 = Min<V>(Max<V>(x + V::Splat(3.0f), V::Splat(0.0f)), V::Splat(6.0f));
    // Times 1/6, not divided by 6 (within an ulp of the builtin kernel's
    // quotient): a vector division issues once per 5-10 cycles, and every
    // conv with a fused hard-swish paid it per vector stored (MobileNetV3-
    // Large's stem 132 -> 122 us, its 14x14 convs 2-8 us each, at 1 thread).
    return x * relu6 * V::Splat(1.0f / 6.0f);
  }
  // x * sigmoid(x) as one quotient (a multiply fewer, within an ulp).
  if constexpr (Op == UnaryOp::kSilu) return x / (V::Splat(1.0f) + Exp<V>(V::Splat(0.0f) - x));
  if constexpr (Op == UnaryOp::kExp) return ExpFullRange<V>(x);
  if constexpr (Op == UnaryOp::kLog) return Log<V>(x);
  // The builtin kernels' std::sqrt, std::abs, -x and x * x, bit for bit.
  if constexpr (Op == UnaryOp::kSqrt) return V::Sqrt(x);
  if constexpr (Op == UnaryOp::kAbs) return V::AsFloat(V::AsInt(x) & V::SplatInt(0x7fffffff));
  if constexpr (Op == UnaryOp::kNeg) return -x;
  if constexpr (Op == UnaryOp::kSquare) return x * x;
  if constexpr (Op == UnaryOp::kSoftplus) return x > alpha ? x : Log<V>(ExpFullRange<V>(x) + V::Splat(1.0f));
  if constexpr (Op == UnaryOp::kMish) {
    // tanh(log(1 + e)) = n / (n + 2), n = e * (e + 2), e = exp(x): one exp
    // and one division where the ops' own expression takes an exp, a log
    // and a tanh (a 3x3 conv with a Mish ran 0.26 ms, 0.06 with a ReLU).
    // Past the threshold softplus is x, and tanh(x > 9) is 1 in float (the
    // fusion takes only thresholds of at least 9; litert-torch's is 20).
    const F e = ExpFullRange<V>(Min<V>(x, alpha));
    const F n = e * (e + V::Splat(2.0f));
    return x > alpha ? x : x * n / (n + V::Splat(2.0f));
  }
  if constexpr (Op == UnaryOp::kElu) return x >= V::Splat(0.0f) ? x : ExpFullRange<V>(x) - V::Splat(1.0f);
  // The builtin kernel's 1 / sqrt(x), both correctly rounded.
  if constexpr (Op == UnaryOp::kRsqrt) return V::Splat(1.0f) / V::Sqrt(x);
  if constexpr (Op == UnaryOp::kGelu) return x * NormalCdf<V>(x);
  if constexpr (Op == UnaryOp::kGeluTanh) {
    const F inner = V::Splat(0.79788456080286536f) * (x + V::Splat(0.044715f) * x * x * x);
    return V::Splat(0.5f) * x * (V::Splat(1.0f) + Tanh<V>(inner));
  }
  if constexpr (Op == UnaryOp::kFloor) return V::Floor(x);
  if constexpr (Op == UnaryOp::kCeil) return -V::Floor(-x);
  if constexpr (Op == UnaryOp::kRound) {
    // The builtin's steps: f = floor(x), d = x - f; f when d < 0.5, or d is
    // 0.5 and f even, else f + 1 (so -0.3 rounds to +0, where nearbyint
    // keeps -0). f even <=> floor(f / 2) == f / 2 (f / 2 exact: f is an
    // integer, and d is 0.5 only below 2^23).
    const F half = V::Splat(0.5f);
    const F f = V::Floor(x);
    const F d = x - f;
    const F halved = f * half;
    return (d < half) | ((d == half) & (V::Floor(halved) == halved)) ? f : f + V::Splat(1.0f);
  }
  if constexpr (Op == UnaryOp::kSign) {
    const F zero = V::Splat(0.0f), one = V::Splat(1.0f);
    return (x > zero ? one : zero) - (x < zero ? one : zero);
  }
  if constexpr (Op == UnaryOp::kSin) return V::Lanewise(x, [](float v) { return std::sin(v); });
  if constexpr (Op == UnaryOp::kCos) return V::Lanewise(x, [](float v) { return std::cos(v); });
}

template <class V, BinaryOp Op, BinaryForm Form>
void BinaryRun(size_t n, const float* a, const float* b, float* out, float lo, float hi) {
  using F = typename V::F;
  constexpr size_t W = V::kWidth;
  const F vlo = V::Splat(lo), vhi = V::Splat(hi);
  const F sa = V::Splat(a[0]), sb = V::Splat(b[0]);
  size_t i = 0;
  for (; i + W <= n; i += W) {
    const F x = Form == BinaryForm::kScalarVector ? sa : V::Load(a + i);
    const F y = Form == BinaryForm::kVectorScalar ? sb : V::Load(b + i);
    V::Store(out + i, ClampResult<V, Op>(ApplyBinary<V, Op>(x, y), vlo, vhi));
  }
  if (i == n) return;
  // The tail through one full vector on a copy (lanes past n are zeros).
  float ta[W] = {}, tb[W] = {}, to[W];
  for (size_t j = i; j < n; ++j) {
    if (Form != BinaryForm::kScalarVector) ta[j - i] = a[j];
    if (Form != BinaryForm::kVectorScalar) tb[j - i] = b[j];
  }
  const F x = Form == BinaryForm::kScalarVector ? sa : V::Load(ta);
  const F y = Form == BinaryForm::kVectorScalar ? sb : V::Load(tb);
  V::Store(to, ClampResult<V, Op>(ApplyBinary<V, Op>(x, y), vlo, vhi));
  for (size_t j = i; j < n; ++j) out[j] = to[j - i];
}

// A row that is not a whole number of vectors ends in a tail run through a
// copy, which costs about as much as the rest of a short row: with one
// operand repeated over the rows (stride 0) and the other contiguous, the
// repeated row is copied kRepeatFloats / width times into a buffer and the
// rows go through the vector-vector form that many at a time (the same
// operation on each float, so the same bits).
template <class V, BinaryOp Op>
void BinaryRowsRun(size_t rows, size_t width, const float* a, size_t a_stride, const float* b, size_t b_stride,
                   float* out, float lo, float hi) {
  constexpr size_t kRepeatFloats = 1024;
  const bool repeat_b = b_stride == 0 && a_stride == width, repeat_a = a_stride == 0 && b_stride == width;
  if (width % V::kWidth != 0 && rows > 1 && 2 * width <= kRepeatFloats && (repeat_a || repeat_b)) {
    float repeated[kRepeatFloats];
    const size_t per_run = kRepeatFloats / width;
    const float* row = repeat_b ? b : a;
    for (size_t r = 0; r < per_run; ++r) std::copy(row, row + width, repeated + r * width);
    for (size_t r0 = 0; r0 < rows; r0 += per_run) {
      const size_t n = std::min(per_run, rows - r0) * width;
      const float* x = repeat_b ? a + r0 * width : repeated;
      const float* y = repeat_b ? repeated : b + r0 * width;
      BinaryRun<V, Op, BinaryForm::kVectorVector>(n, x, y, out + r0 * width, lo, hi);
    }
    return;
  }
  for (size_t r = 0; r < rows; ++r) {
    BinaryRun<V, Op, BinaryForm::kVectorVector>(width, a + r * a_stride, b + r * b_stride, out + r * width, lo, hi);
  }
}

// out[j] = f(in[j]) for the n < W floats of a ragged end, through one full
// vector on a copy (lanes past n are zeros, never stored). `out` may alias `in`.
template <class V, class Fn>
inline void RaggedEnd(size_t n, const float* in, float* out, Fn&& f) {
  if (n == 0) return;
  float lanes[V::kWidth] = {};
  for (size_t j = 0; j < n; ++j) lanes[j] = in[j];
  V::Store(lanes, f(V::Load(lanes)));
  for (size_t j = 0; j < n; ++j) out[j] = lanes[j];
}

template <class V, UnaryOp Op>
void UnaryRun(size_t n, const float* x, float* y, const UnaryParams& params) {
  using F = typename V::F;
  constexpr size_t W = V::kWidth;
  // The float range's ends clamp nothing (UnaryParams): infinities pass.
  constexpr float kInf = __builtin_inff();
  const F vlo = V::Splat(params.lo == UnaryParams().lo ? -kInf : params.lo);
  const F vhi = V::Splat(params.hi == UnaryParams().hi ? kInf : params.hi);
  const F alpha = V::Splat(params.alpha);
  size_t i = 0;
  for (; i + W <= n; i += W) {
    V::Store(y + i, Clamp<V>(ApplyUnary<V, Op>(V::Load(x + i), alpha), vlo, vhi));
  }
  RaggedEnd<V>(n - i, x + i, y + i, [&](F v) { return Clamp<V>(ApplyUnary<V, Op>(v, alpha), vlo, vhi); });
}

// The larger of two (kMinimum: the smaller), `a` kept on a tie or a NaN
// `b`: the builtin REDUCE_MAX / REDUCE_MIN's step, (in > current) ? in :
// current, so a NaN never wins.
template <class V, bool kMinimum>
inline typename V::F Extreme(typename V::F a, typename V::F b) {
  return kMinimum ? Min<V>(a, b) : Max<V>(a, b);
}
template <bool kMinimum>
inline float Extreme(float a, float b) {
  return kMinimum ? (b < a ? b : a) : (a < b ? b : a);
}
template <bool kMinimum>
constexpr float ExtremeStart() {  // the builtin's initial value
  return kMinimum ? 3.402823466e+38f : -3.402823466e+38f;
}

template <class V, bool kMinimum>
float ReduceExtreme(size_t n, const float* x) {
  constexpr size_t W = V::kWidth;
  typename V::F acc = V::Splat(ExtremeStart<kMinimum>());
  size_t i = 0;
  for (; i + W <= n; i += W) acc = Extreme<V, kMinimum>(acc, V::Load(x + i));
  float best = ExtremeStart<kMinimum>();
  // A row shorter than a vector skips the lanes, which hold only the start
  // (the maximum over 7 classes per pixel spent its time there).
  if (i > 0) {
    for (size_t lane = 0; lane < W; ++lane) best = Extreme<kMinimum>(best, V::Lane(acc, lane));
  }
  for (; i < n; ++i) best = Extreme<kMinimum>(best, x[i]);
  return best;
}
// The sum of n floats (kSquares: of their squares, an L2 norm's), in blocks
// of kSumBlockRows vectors, then the blocks.
template <class V, bool kSquares = false>
float ReduceSum(size_t n, const float* x) {
  using F = typename V::F;
  constexpr size_t W = V::kWidth;
  auto term = [](F v) { return kSquares ? v * v : v; };
  F total = V::Splat(0.0f);
  size_t i = 0;
  while (i + W <= n) {
    F acc = term(V::Load(x + i));
    i += W;
    for (size_t v = 1; v < kSumBlockRows && i + W <= n; ++v, i += W) acc = acc + term(V::Load(x + i));
    total = total + acc;
  }
  float sum = 0.0f;
  if (i > 0) {  // a row shorter than a vector: the lanes hold zeros
    for (size_t lane = 0; lane < W; ++lane) sum += V::Lane(total, lane);
  }
  for (; i < n; ++i) sum += kSquares ? x[i] * x[i] : x[i];
  return sum;
}

// Rows shorter than this go through softmax_rows's block passes.
constexpr size_t kShortSoftmaxRow = 256;

// ElementwiseKernels::softmax_rows: per row, ReduceMax; exp((x - max) *
// beta) stored, and summed as it is stored in ReduceSum's blocks (the sum
// ReduceSum of the stored row gives, bit for bit); each times 1 / sum, as
// the builtin's optimized kernel and XNNPACK scale by the reciprocal (a
// vector division per float cost attention's 2688-wide rows a third of
// their time). Two passes over a row (attention's rows of 16 or 42 floats
// spent most of their time in calls and ragged ends when each step was a
// call of its own).
template <class V>
void SoftmaxRows(size_t rows, size_t n, const float* in, float* out, float beta) {
  using F = typename V::F;
  constexpr size_t W = V::kWidth;
  const F vbeta = V::Splat(beta);
  const size_t full = n / W * W;
  if (n < kShortSoftmaxRow && rows > 1) {
    // Short rows (attention over a few dozen tokens): each row's (x - max)
    // * beta stored, then one exp pass over the block (one ragged end, not
    // one per row: they were most of a 43-float row's time), then each
    // row's sum and scale. The same operations on each float.
    for (size_t r = 0; r < rows; ++r) {
      const float* x = in + r * n;
      float* y = out + r * n;
      const float max = ReduceExtreme<V, false>(n, x);
      const F vmax = V::Splat(max);
      for (size_t i = 0; i < full; i += W) V::Store(y + i, (V::Load(x + i) - vmax) * vbeta);
      // A subtraction and a product have one rounding each: a scalar tail
      // gives a vector lane's bits, without RaggedEnd's copies.
      for (size_t i = full; i < n; ++i) y[i] = (x[i] - max) * beta;
    }
    const size_t total = rows * n, block_full = total / W * W;
    for (size_t i = 0; i < block_full; i += W) V::Store(out + i, ExpFullRange<V>(V::Load(out + i)));
    RaggedEnd<V>(total - block_full, out + block_full, out + block_full, [](F v) { return ExpFullRange<V>(v); });
    for (size_t r = 0; r < rows; ++r) {
      float* y = out + r * n;
      const float scale = 1.0f / ReduceSum<V>(n, y);
      const F vscale = V::Splat(scale);
      for (size_t i = 0; i < full; i += W) V::Store(y + i, V::Load(y + i) * vscale);
      for (size_t i = full; i < n; ++i) y[i] *= scale;
    }
    return;
  }
  for (size_t r = 0; r < rows; ++r, in += n, out += n) {
    const F vmax = V::Splat(ReduceExtreme<V, false>(n, in));
    auto exp = [&](F v) { return ExpFullRange<V>((v - vmax) * vbeta); };
    F total = V::Splat(0.0f);
    for (size_t i = 0; i < full;) {
      F e = exp(V::Load(in + i));
      V::Store(out + i, e);
      F acc = e;
      i += W;
      for (size_t v = 1; v < kSumBlockRows && i < full; ++v, i += W) {
        e = exp(V::Load(in + i));
        V::Store(out + i, e);
        acc = acc + e;
      }
      total = total + acc;
    }
    RaggedEnd<V>(n - full, in + full, out + full, exp);
    float sum = 0.0f;
    for (size_t lane = 0; lane < W; ++lane) sum += V::Lane(total, lane);
    for (size_t i = full; i < n; ++i) sum += out[i];
    const F scale = V::Splat(1.0f / sum);
    auto times = [&](F v) { return v * scale; };
    for (size_t i = 0; i < full; i += W) V::Store(out + i, times(V::Load(out + i)));
    RaggedEnd<V>(n - full, out + full, out + full, times);
  }
}

// ElementwiseKernels::l2_normalize_rows: per row, the sum of squares (in
// ReduceSum's blocks), its square root, at least epsilon, and each float
// divided by it (the builtin kernel's expression; its sum runs in order).
template <class V>
void L2NormalizeRows(size_t rows, size_t n, const float* in, float* out, float epsilon) {
  using F = typename V::F;
  constexpr size_t W = V::kWidth;
  const size_t full = n / W * W;
  for (size_t r = 0; r < rows; ++r, in += n, out += n) {
    const float norm = std::sqrt(ReduceSum<V, true>(n, in));
    const F divisor = V::Splat(norm > epsilon ? norm : epsilon);
    auto divide = [&](F v) { return v / divisor; };
    for (size_t i = 0; i < full; i += W) V::Store(out + i, divide(V::Load(in + i)));
    RaggedEnd<V>(n - full, in + full, out + full, divide);
  }
}

// ElementwiseKernels::sum_rows: kBlock vectors of sums at a time walk
// every row, so a row costs its loads alone (a pass of vector adds into a
// sums row in memory, a call per row, ran MobileNetV3's global pools at 3
// floats per cycle); each block of kSumBlockRows rows is summed in registers,
// then added to `sums`.
template <class V>
void SumRows(size_t rows, size_t width, const float* in, size_t stride, float* sums) {
  using F = typename V::F;
  constexpr size_t W = V::kWidth;
  constexpr size_t kBlock = 8;
  for (size_t r0 = 0; r0 < rows; r0 += kSumBlockRows) {
    const size_t r1 = std::min(rows, r0 + kSumBlockRows);
    const float* first = in + r0 * stride;
    size_t c = 0;
    for (; c + kBlock * W <= width; c += kBlock * W) {
      F acc[kBlock];
#pragma GCC unroll 8
      for (size_t j = 0; j < kBlock; ++j) acc[j] = V::Load(first + c + j * W);
      for (size_t r = r0 + 1; r < r1; ++r) {
        const float* row = in + r * stride + c;
#pragma GCC unroll 8
        for (size_t j = 0; j < kBlock; ++j) acc[j] = acc[j] + V::Load(row + j * W);
      }
      if (r0 > 0) {
#pragma GCC unroll 8
        for (size_t j = 0; j < kBlock; ++j) acc[j] = V::Load(sums + c + j * W) + acc[j];
      }
#pragma GCC unroll 8
      for (size_t j = 0; j < kBlock; ++j) V::Store(sums + c + j * W, acc[j]);
    }
    for (; c + W <= width; c += W) {
      F acc = V::Load(first + c);
      for (size_t r = r0 + 1; r < r1; ++r) acc = acc + V::Load(in + r * stride + c);
      if (r0 > 0) acc = V::Load(sums + c) + acc;
      V::Store(sums + c, acc);
    }
    for (; c < width; ++c) {
      float acc = first[c];
      for (size_t r = r0 + 1; r < r1; ++r) acc += in[r * stride + c];
      sums[c] = r0 > 0 ? sums[c] + acc : acc;
    }
  }
}

// ElementwiseKernels::max_rows / min_rows: SumRows's walk (kBlock vectors
// of maxima or minima in registers across every row) with Extreme from the
// builtin's initial value.
template <class V, bool kMinimum>
void ExtremeRows(size_t rows, size_t width, const float* in, size_t stride, float* out) {
  using F = typename V::F;
  constexpr size_t W = V::kWidth;
  constexpr size_t kBlock = 8;
  constexpr float kStart = ExtremeStart<kMinimum>();
  size_t c = 0;
  for (; c + kBlock * W <= width; c += kBlock * W) {
    F acc[kBlock];
#pragma GCC unroll 8
    for (size_t j = 0; j < kBlock; ++j) acc[j] = V::Splat(kStart);
    for (size_t r = 0; r < rows; ++r) {
      const float* row = in + r * stride + c;
#pragma GCC unroll 8
      for (size_t j = 0; j < kBlock; ++j) acc[j] = Extreme<V, kMinimum>(acc[j], V::Load(row + j * W));
    }
#pragma GCC unroll 8
    for (size_t j = 0; j < kBlock; ++j) V::Store(out + c + j * W, acc[j]);
  }
  for (; c + W <= width; c += W) {
    F acc = V::Splat(kStart);
    for (size_t r = 0; r < rows; ++r) acc = Extreme<V, kMinimum>(acc, V::Load(in + r * stride + c));
    V::Store(out + c, acc);
  }
  for (; c < width; ++c) {
    float acc = kStart;
    for (size_t r = 0; r < rows; ++r) acc = Extreme<kMinimum>(acc, in[r * stride + c]);
    out[c] = acc;
  }
}

// ElementwiseKernels::pool: four vectors of channels at a time over every
// input, in registers (a vector op per input with a load and a store of the
// running result, a call per input, ran ResNet-18's 3x3 max pool at a
// fifth of its loads' speed).
template <class V, PoolOp Op>
void PoolPixel(size_t taps, const float* const* inputs, size_t width, float* out, float lo, float hi) {
  using F = typename V::F;
  constexpr size_t W = V::kWidth;
  constexpr size_t kBlock = 4;
  const F vlo = V::Splat(lo), vhi = V::Splat(hi), count = V::Splat(static_cast<float>(taps));
  auto combine = [](F acc, F x) { return Op == PoolOp::kMax ? Max<V>(acc, x) : acc + x; };
  auto finish = [&](F acc) { return Clamp<V>(Op == PoolOp::kAverage ? acc / count : acc, vlo, vhi); };
  size_t c = 0;
  for (; c + kBlock * W <= width; c += kBlock * W) {
    F acc[kBlock];
#pragma GCC unroll 4
    for (size_t j = 0; j < kBlock; ++j) acc[j] = V::Load(inputs[0] + c + j * W);
    for (size_t t = 1; t < taps; ++t) {
#pragma GCC unroll 4
      for (size_t j = 0; j < kBlock; ++j) acc[j] = combine(acc[j], V::Load(inputs[t] + c + j * W));
    }
#pragma GCC unroll 4
    for (size_t j = 0; j < kBlock; ++j) V::Store(out + c + j * W, finish(acc[j]));
  }
  for (; c + W <= width; c += W) {
    F acc = V::Load(inputs[0] + c);
    for (size_t t = 1; t < taps; ++t) acc = combine(acc, V::Load(inputs[t] + c));
    V::Store(out + c, finish(acc));
  }
  if (c == width) return;
  // The tail through one full vector on a copy, as BinaryRun's.
  float lanes[W] = {}, result[W];
  for (size_t j = c; j < width; ++j) lanes[j - c] = inputs[0][j];
  F acc = V::Load(lanes);
  for (size_t t = 1; t < taps; ++t) {
    for (size_t j = c; j < width; ++j) lanes[j - c] = inputs[t][j];
    acc = combine(acc, V::Load(lanes));
  }
  V::Store(result, finish(acc));
  for (size_t j = c; j < width; ++j) out[j] = result[j - c];
}

template <class V>
void ScaleRows(size_t rows, size_t width, const float* in, const float* scale, float* out) {
  constexpr size_t W = V::kWidth;
  for (size_t r = 0; r < rows; ++r) {
    const typename V::F factor = V::Splat(scale[r]);
    const float* from = in + r * width;
    float* to = out + r * width;
    size_t c = 0;
    for (; c + W <= width; c += W) V::Store(to + c, V::Load(from + c) * factor);
    for (; c < width; ++c) to[c] = from[c] * scale[r];
  }
}

template <class V, BinaryOp Op>
void FillBinary(ElementwiseKernels* k) {
  k->binary_rows[static_cast<int>(Op)] = &BinaryRowsRun<V, Op>;
  k->binary[static_cast<int>(Op)][static_cast<int>(BinaryForm::kVectorVector)] =
      &BinaryRun<V, Op, BinaryForm::kVectorVector>;
  k->binary[static_cast<int>(Op)][static_cast<int>(BinaryForm::kVectorScalar)] =
      &BinaryRun<V, Op, BinaryForm::kVectorScalar>;
  k->binary[static_cast<int>(Op)][static_cast<int>(BinaryForm::kScalarVector)] =
      &BinaryRun<V, Op, BinaryForm::kScalarVector>;
}

// Two vectors' lanes interleaved: the low halves (a0 b0 a1 b1 ...) or the
// high halves. Repeating "row i and row i + W/2 to rows 2i and 2i + 1"
// log2(W) times transposes a W x W block.
template <class V, bool kHigh>
inline typename V::F Zip(typename V::F a, typename V::F b) {
  using I = typename V::I;
  if constexpr (V::kWidth == 8) {
    return kHigh ? __builtin_shuffle(a, b, I{4, 12, 5, 13, 6, 14, 7, 15}) : __builtin_shuffle(a, b, I{0, 8, 1, 9, 2, 10, 3, 11});
  } else {
    static_assert(V::kWidth == 4, "Zip: 4 or 8 lanes");
    return kHigh ? __builtin_shuffle(a, b, I{2, 6, 3, 7}) : __builtin_shuffle(a, b, I{0, 4, 1, 5});
  }
}

// W columns of three rows (an RGB image's planes) into 3 * W floats,
// a0 b0 c0 a1 b1 c1 ...: a's and b's into place, then c's.
template <class V>
inline void Interleave3(typename V::F a, typename V::F b, typename V::F c, float* out) {
  using I = typename V::I;
  if constexpr (V::kWidth == 8) {
    V::Store(out, __builtin_shuffle(__builtin_shuffle(a, b, I{0, 8, 0, 1, 9, 0, 2, 10}), c, I{0, 1, 8, 3, 4, 9, 6, 7}));
    V::Store(out + 8,
             __builtin_shuffle(__builtin_shuffle(a, b, I{0, 3, 11, 0, 4, 12, 0, 5}), c, I{10, 1, 2, 11, 4, 5, 12, 7}));
    V::Store(out + 16,
             __builtin_shuffle(__builtin_shuffle(a, b, I{13, 0, 6, 14, 0, 7, 15, 0}), c, I{0, 13, 2, 3, 14, 5, 6, 15}));
  } else {
    static_assert(V::kWidth == 4, "Interleave3: 4 or 8 lanes");
    V::Store(out, __builtin_shuffle(__builtin_shuffle(a, b, I{0, 4, 0, 1}), c, I{0, 1, 4, 3}));
    V::Store(out + 4, __builtin_shuffle(__builtin_shuffle(a, b, I{5, 0, 2, 6}), c, I{0, 5, 2, 3}));
    V::Store(out + 8, __builtin_shuffle(__builtin_shuffle(a, b, I{0, 3, 7, 0}), c, I{6, 1, 2, 7}));
  }
}

template <class V>
void Transpose(size_t rows, size_t cols, const float* in, size_t in_stride, float* out, size_t out_stride) {
  constexpr size_t W = V::kWidth;
  size_t r0 = 0;
  if constexpr (W > 1) {
    using F = typename V::F;
    if (rows == 3 && out_stride == 3) {  // planes to pixels: rows of the output end to end
      size_t c = 0;
      for (; c + W <= cols; c += W) {
        Interleave3<V>(V::Load(in + c), V::Load(in + in_stride + c), V::Load(in + 2 * in_stride + c), out + 3 * c);
      }
      for (; c < cols; ++c) {
        for (size_t r = 0; r < 3; ++r) out[c * 3 + r] = in[r * in_stride + c];
      }
      return;
    }
    for (; r0 + W <= rows; r0 += W) {
      size_t c0 = 0;
      for (; c0 + W <= cols; c0 += W) {
        F v[W], t[W];
#pragma GCC unroll 8
        for (size_t i = 0; i < W; ++i) v[i] = V::Load(in + (r0 + i) * in_stride + c0);
#pragma GCC unroll 3
        for (size_t stage = W; stage > 1; stage /= 2) {
#pragma GCC unroll 4
          for (size_t i = 0; i < W / 2; ++i) {
            t[2 * i] = Zip<V, false>(v[i], v[i + W / 2]);
            t[2 * i + 1] = Zip<V, true>(v[i], v[i + W / 2]);
          }
#pragma GCC unroll 8
          for (size_t i = 0; i < W; ++i) v[i] = t[i];
        }
#pragma GCC unroll 8
        for (size_t i = 0; i < W; ++i) V::Store(out + (c0 + i) * out_stride + r0, v[i]);
      }
      for (size_t c = c0; c < cols; ++c) {
        for (size_t r = r0; r < r0 + W; ++r) out[c * out_stride + r] = in[r * in_stride + c];
      }
    }
  }
  for (size_t c = 0; c < cols; ++c) {
    for (size_t r = r0; r < rows; ++r) out[c * out_stride + r] = in[r * in_stride + c];
  }
}

// ElementwiseKernels::fill_rows. A loop of vector copies: a memcpy call per
// row (a masked conv's masked pixels, 24-960 floats each) cost a fifth of a
// 1x1 conv's time at s=0.3 (MobileNetV2's 24 -> 144 conv at 56x56 alone).
template <class V>
void FillRows(size_t rows, float* const* outputs, const float* value, size_t count) {
  constexpr size_t W = V::kWidth;
  for (size_t r = 0; r < rows; ++r) {
    float* out = outputs[r];
    size_t i = 0;
    for (; i + W <= count; i += W) V::Store(out + i, V::Load(value + i));
    for (; i < count; ++i) out[i] = value[i];
  }
}

template <class V, UnaryOp Op>
void FillUnary(ElementwiseKernels* k) {
  k->unary[static_cast<int>(Op)] = &UnaryRun<V, Op>;
}

// Every unary op of the table, over V.
template <class V>
void FillUnaries(ElementwiseKernels* k) {
  FillUnary<V, UnaryOp::kClamp>(k);
  FillUnary<V, UnaryOp::kLeakyRelu>(k);
  FillUnary<V, UnaryOp::kSigmoid>(k);
  FillUnary<V, UnaryOp::kTanh>(k);
  FillUnary<V, UnaryOp::kHardSwish>(k);
  FillUnary<V, UnaryOp::kSilu>(k);
  FillUnary<V, UnaryOp::kExp>(k);
  FillUnary<V, UnaryOp::kRsqrt>(k);
  FillUnary<V, UnaryOp::kGelu>(k);
  FillUnary<V, UnaryOp::kGeluTanh>(k);
  FillUnary<V, UnaryOp::kLog>(k);
  FillUnary<V, UnaryOp::kSqrt>(k);
  FillUnary<V, UnaryOp::kAbs>(k);
  FillUnary<V, UnaryOp::kNeg>(k);
  FillUnary<V, UnaryOp::kSquare>(k);
  FillUnary<V, UnaryOp::kSoftplus>(k);
  FillUnary<V, UnaryOp::kMish>(k);
  FillUnary<V, UnaryOp::kElu>(k);
  FillUnary<V, UnaryOp::kFloor>(k);
  FillUnary<V, UnaryOp::kCeil>(k);
  FillUnary<V, UnaryOp::kRound>(k);
  FillUnary<V, UnaryOp::kSign>(k);
  FillUnary<V, UnaryOp::kSin>(k);
  FillUnary<V, UnaryOp::kCos>(k);
}

template <class V>
void BilinearRow(size_t width, size_t channels, const float* top, const float* bottom, const BilinearTap* taps,
                 float fy, float* out) {
  using F = typename V::F;
  constexpr size_t W = V::kWidth;
  const float gy = 1.0f - fy;
  const F vfy = V::Splat(fy), vgy = V::Splat(gy);
  for (size_t x = 0; x < width; ++x, out += channels) {
    const float fx = taps[x].fraction, gx = 1.0f - fx;
    const size_t lo = static_cast<size_t>(taps[x].lower) * channels, hi = static_cast<size_t>(taps[x].upper) * channels;
    const float *in00 = top + lo, *in01 = top + hi, *in10 = bottom + lo, *in11 = bottom + hi;
    const F vfx = V::Splat(fx), vgx = V::Splat(gx);
    auto blend = [&](size_t k) {
      V::Store(out + k, V::Load(in00 + k) * vgy * vgx + V::Load(in10 + k) * vfy * vgx + V::Load(in01 + k) * vgy * vfx +
                            V::Load(in11 + k) * vfy * vfx);
    };
    size_t k = 0;
    for (; k + W <= channels; k += W) blend(k);
    if (k < channels && channels >= W) {
      // The ragged end as one more vector ending at the last channel: the
      // lanes it shares with the one before get the same values again (a
      // 21-class map spent a third of its time in a scalar tail).
      blend(channels - W);
      continue;
    }
    for (; k < channels; ++k) out[k] = in00[k] * gy * gx + in10[k] * fy * gx + in01[k] * gy * fx + in11[k] * fy * fx;
  }
}

template <class V>
void Select(size_t n, const float* cond, const float* a, const float* b, float* out) {
  constexpr size_t W = V::kWidth;
  const typename V::F zero = V::Splat(0.0f);
  size_t i = 0;
  for (; i + W <= n; i += W) {
    V::Store(out + i, V::Load(cond + i) != zero ? V::Load(a + i) : V::Load(b + i));
  }
  for (; i < n; ++i) out[i] = cond[i] != 0.0f ? a[i] : b[i];
}

// CAST float32 -> int32 as the builtin CAST computes it (TFLite 2.21,
// ai-edge-litert 2.3, on every CPU): toward zero; from 2^31 up, +inf and NaN
// to INT32_MAX; below -2^31 and -inf to INT32_MIN. The ISA's conversion
// (x86: INT32_MIN past the range and for NaN; ARM: the nearest end, NaN 0)
// then the ends set by comparisons.
inline int32_t SaturatingToInt(float x) {
  return !(x < 2147483648.0f) ? INT32_MAX : x < -2147483648.0f ? INT32_MIN : static_cast<int32_t>(x);
}

template <class V>
inline typename V::I SaturatingToInt(typename V::F x) {
  if constexpr (V::kWidth == 1) return SaturatingToInt(x);  // static_cast of the range only
  const typename V::I converted = V::ToInt(x);
  const typename V::I low = x < V::Splat(-2147483648.0f) ? V::SplatInt(INT32_MIN) : converted;
  return x < V::Splat(2147483648.0f) ? low : V::SplatInt(INT32_MAX);
}

// CAST float32 <-> int32 over bits in float buffers; int -> float rounds
// to nearest even. The tail one lane at a time, the same steps.
template <class V, bool kToInt>
void Convert(size_t n, const float* in, float* out) {
  constexpr size_t W = V::kWidth;
  size_t i = 0;
  for (; i + W <= n; i += W) {
    const typename V::F x = V::Load(in + i);
    V::Store(out + i, kToInt ? V::AsFloat(SaturatingToInt<V>(x)) : V::ToFloat(V::AsInt(x)));
  }
  for (; i < n; ++i) {
    if constexpr (kToInt) {
      const int32_t bits = SaturatingToInt(in[i]);
      std::memcpy(out + i, &bits, sizeof(bits));
    } else {
      int32_t bits;
      std::memcpy(&bits, in + i, sizeof(bits));
      out[i] = static_cast<float>(bits);
    }
  }
}

template <class V>
ElementwiseKernels MakeElementwiseKernels(const char* name) {
  ElementwiseKernels k{};
  k.name = name;
  FillBinary<V, BinaryOp::kAdd>(&k);
  FillBinary<V, BinaryOp::kSub>(&k);
  FillBinary<V, BinaryOp::kMul>(&k);
  FillBinary<V, BinaryOp::kDiv>(&k);
  FillBinary<V, BinaryOp::kMax>(&k);
  FillBinary<V, BinaryOp::kMin>(&k);
  FillBinary<V, BinaryOp::kSquaredDifference>(&k);
  FillBinary<V, BinaryOp::kGreater>(&k);
  FillBinary<V, BinaryOp::kGreaterEqual>(&k);
  FillBinary<V, BinaryOp::kLess>(&k);
  FillBinary<V, BinaryOp::kLessEqual>(&k);
  FillBinary<V, BinaryOp::kEqual>(&k);
  FillBinary<V, BinaryOp::kNotEqual>(&k);
  FillBinary<V, BinaryOp::kPow>(&k);
  FillBinary<V, BinaryOp::kFloorDiv>(&k);
  FillBinary<V, BinaryOp::kFloorMod>(&k);
  FillBinary<V, BinaryOp::kAtan2>(&k);
  FillBinary<V, BinaryOp::kIntAdd>(&k);
  FillBinary<V, BinaryOp::kIntSub>(&k);
  FillBinary<V, BinaryOp::kIntMul>(&k);
  FillBinary<V, BinaryOp::kIntMax>(&k);
  FillBinary<V, BinaryOp::kIntMin>(&k);
  FillBinary<V, BinaryOp::kIntGreater>(&k);
  FillBinary<V, BinaryOp::kIntGreaterEqual>(&k);
  FillBinary<V, BinaryOp::kIntLess>(&k);
  FillBinary<V, BinaryOp::kIntLessEqual>(&k);
  FillBinary<V, BinaryOp::kIntEqual>(&k);
  FillBinary<V, BinaryOp::kIntNotEqual>(&k);
  FillUnaries<V>(&k);
  k.reduce_max = &ReduceExtreme<V, false>;
  k.reduce_min = &ReduceExtreme<V, true>;
  k.reduce_sum = &ReduceSum<V>;
  k.softmax_rows = &SoftmaxRows<V>;
  k.l2_normalize_rows = &L2NormalizeRows<V>;
  k.sum_rows = &SumRows<V>;
  k.max_rows = &ExtremeRows<V, false>;
  k.min_rows = &ExtremeRows<V, true>;
  k.select = &Select<V>;
  k.scale_rows = &ScaleRows<V>;
  k.pool[static_cast<int>(PoolOp::kMax)] = &PoolPixel<V, PoolOp::kMax>;
  k.pool[static_cast<int>(PoolOp::kAverage)] = &PoolPixel<V, PoolOp::kAverage>;
  k.pool[static_cast<int>(PoolOp::kSum)] = &PoolPixel<V, PoolOp::kSum>;
  k.transpose = &Transpose<V>;
  k.fill_rows = &FillRows<V>;
  k.bilinear_row = &BilinearRow<V>;
  k.float_to_int = &Convert<V, true>;
  k.int_to_float = &Convert<V, false>;
  return k;
}

}  // namespace elementwise_impl
}  // namespace kernels
}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_KERNELS_ELEMENTWISE_IMPL_H_
