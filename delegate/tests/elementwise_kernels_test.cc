// The elementwise micro-kernels of every ISA this build has (scalar, and AVX2
// or NEON) against plain C++: binary ops and clamps bit for bit, the
// exp-based activations to a few ulp, every length around the vector width
// (the tails go through a copy).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "delegate/kernels/elementwise_kernels.h"
#include "delegate/kernels/sparse_conv_kernels.h"

namespace actsparse {
namespace kernels {
namespace {

std::vector<const ElementwiseKernels*> Tables() {
  std::vector<const ElementwiseKernels*> tables = {&ElementwiseKernelsScalar()};
#if defined(__x86_64__)
  if (CpuHasAvx2Fma()) tables.push_back(&ElementwiseKernelsAvx2());
  if (CpuHasAvx512()) tables.push_back(&ElementwiseKernelsAvx512());
#endif
#if defined(__aarch64__)
  tables.push_back(&ElementwiseKernelsNeon());
#endif
  return tables;
}

std::vector<float> Random(size_t n, unsigned seed, float scale = 3.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

float Reference(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
    case BinaryOp::kMax: return std::max(a, b);
    case BinaryOp::kMin: return std::min(a, b);
    case BinaryOp::kSquaredDifference: {
      const float d = a - b;
      return d * d;
    }
    case BinaryOp::kGreater: return a > b;
    case BinaryOp::kGreaterEqual: return a >= b;
    case BinaryOp::kLess: return a < b;
    case BinaryOp::kLessEqual: return a <= b;
    case BinaryOp::kEqual: return a == b;
    case BinaryOp::kNotEqual: return a != b;
    case BinaryOp::kPow: return std::pow(a, b);
    case BinaryOp::kFloorDiv: return static_cast<float>(std::floor(static_cast<double>(a) / static_cast<double>(b)));
    case BinaryOp::kFloorMod: {
      const float mod = std::fmod(a, b);
      return mod != 0.0f && ((b < 0.0f) != (mod < 0.0f)) ? mod + b : mod;
    }
    case BinaryOp::kAtan2: return std::atan2(a, b);
    default: break;
  }
  // The int32 ops: operands and result as bits.
  int32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  const uint32_t ux = static_cast<uint32_t>(x), uy = static_cast<uint32_t>(y);
  int32_t r = 0;
  switch (op) {
    case BinaryOp::kIntAdd: r = static_cast<int32_t>(ux + uy); break;
    case BinaryOp::kIntSub: r = static_cast<int32_t>(ux - uy); break;
    case BinaryOp::kIntMul: r = static_cast<int32_t>(ux * uy); break;
    case BinaryOp::kIntMax: r = std::max(x, y); break;
    case BinaryOp::kIntMin: r = std::min(x, y); break;
    case BinaryOp::kIntGreater: return x > y;
    case BinaryOp::kIntGreaterEqual: return x >= y;
    case BinaryOp::kIntLess: return x < y;
    case BinaryOp::kIntLessEqual: return x <= y;
    case BinaryOp::kIntEqual: return x == y;
    case BinaryOp::kIntNotEqual: return x != y;
    default: break;
  }
  float bits;
  std::memcpy(&bits, &r, 4);
  return bits;
}

// Operands of the int32 ops as bits in floats: small ints with ties, and
// the ends of the range (to wrap), some of them NaN patterns as floats.
std::vector<float> RandomIntBits(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  const int32_t ends[] = {INT32_MIN, INT32_MAX, -1, 0x7fc00000, -8388607};
  std::vector<float> v(n);
  for (float& x : v) {
    const int32_t i = rng() % 5 == 0 ? ends[rng() % 5] : static_cast<int32_t>(rng() % 21) - 10;
    std::memcpy(&x, &i, 4);
  }
  return v;
}

// The same bits, NaN matching any NaN.
::testing::AssertionResult SameBits(float got, float want) {
  if ((std::isnan(got) && std::isnan(want)) || std::memcmp(&got, &want, sizeof(float)) == 0) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << got << " vs " << want;
}

// The builtin kernels' FLOOR, CEIL, ROUND (round.h's floor-based steps),
// SIGN, SIN and COS of one float, as they compute them.
float BuiltinRounding(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::kFloor: return std::floor(x);
    case UnaryOp::kCeil: return std::ceil(x);
    case UnaryOp::kRound: {
      const float f = std::floor(x), d = x - f;
      if (d < 0.5f || (d == 0.5f && static_cast<int64_t>(f) % 2 == 0)) return f;
      return f + 1.0f;
    }
    case UnaryOp::kSign: return static_cast<float>((x > 0.0f) - (x < 0.0f));
    case UnaryOp::kSin: return std::sin(x);
    case UnaryOp::kCos: return std::cos(x);
    default: return 0.0f;
  }
}

TEST(ElementwiseKernelsTest, BinaryOpsAreExactInEveryFormAndLength) {
  for (const ElementwiseKernels* k : Tables()) {
    SCOPED_TRACE(k->name);
    for (int op = 0; op < kNumBinaryOps; ++op) {
      for (int form = 0; form < kNumBinaryForms; ++form) {
        for (size_t n : {1, 3, 7, 8, 9, 15, 16, 17, 31, 45}) {
          const bool ints = IsIntBinaryOp(static_cast<BinaryOp>(op));
          const std::vector<float> a = ints ? RandomIntBits(n, 1 + n) : Random(n, 1 + n);
          const std::vector<float> b = ints ? RandomIntBits(n, 100 + n) : Random(n, 100 + n);
          for (float lo_hi : {0.0f, 1.0f}) {
            const float lo = lo_hi ? -1.0f : -std::numeric_limits<float>::infinity();
            const float hi = lo_hi ? 2.5f : std::numeric_limits<float>::infinity();
            std::vector<float> out(n + 1, 77.0f);
            k->binary[op][form](n, a.data(), b.data(), out.data(), lo, hi);
            for (size_t i = 0; i < n; ++i) {
              const float x = form == static_cast<int>(BinaryForm::kScalarVector) ? a[0] : a[i];
              const float y = form == static_cast<int>(BinaryForm::kVectorScalar) ? b[0] : b[i];
              const float result = Reference(static_cast<BinaryOp>(op), x, y);
              if (ints) {  // no clamp, and every bit (a NaN pattern is an int here)
                ASSERT_EQ(std::memcmp(&out[i], &result, 4), 0) << "op " << op << " form " << form << " n " << n;
                continue;
              }
              const float want = std::min(std::max(result, lo), hi);
              ASSERT_TRUE(SameBits(out[i], want)) << "op " << op << " form " << form << " n " << n << " i " << i;
            }
            EXPECT_EQ(out[n], 77.0f) << "wrote past the end";
          }
        }
      }
    }
  }
}

// CAST float32 <-> int32 as the builtin of ai-edge-litert 2.3 on every
// CPU: toward zero, from 2^31 up (NaN, +inf) INT32_MAX, below -2^31
// INT32_MIN; ints to the nearest float, ties to even.
TEST(ElementwiseKernelsTest, ConvertsAsTheBuiltinCast) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> floats = {0.0f,          -0.0f,  2.5f,  -2.5f, 0.99f, -0.99f, 16777217.0f, 2147483520.0f,
                                     2147483648.0f, -2147483648.0f, -2147483904.0f, 1e20f, -1e20f, inf, -inf, nan,
                                     -nan};
  const std::vector<int32_t> want = {0,         0,         2,         -2,        0,         0,
                                     16777216,  2147483520, INT32_MAX, INT32_MIN, INT32_MIN, INT32_MAX,
                                     INT32_MIN, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MAX};
  const std::vector<int32_t> ints = {0, 1, -1, 16777217, -16777219, INT32_MAX, INT32_MIN, 33554435};
  for (const ElementwiseKernels* k : Tables()) {
    SCOPED_TRACE(k->name);
    for (size_t n : {size_t{1}, size_t{7}, floats.size()}) {
      std::vector<float> out(n + 1, 77.0f);
      k->float_to_int(n, floats.data(), out.data());
      for (size_t i = 0; i < n; ++i) {
        int32_t got;
        std::memcpy(&got, &out[i], 4);
        EXPECT_EQ(got, want[i]) << "float " << floats[i];
      }
      EXPECT_EQ(out[n], 77.0f) << "wrote past the end";
    }
    std::vector<float> bits(ints.size()), out(ints.size());
    std::memcpy(bits.data(), ints.data(), ints.size() * 4);
    k->int_to_float(ints.size(), bits.data(), out.data());
    for (size_t i = 0; i < ints.size(); ++i) EXPECT_EQ(out[i], static_cast<float>(ints[i])) << "int " << ints[i];
  }
}

TEST(ElementwiseKernelsTest, BinaryOutputMayAliasAnInput) {
  for (const ElementwiseKernels* k : Tables()) {
    std::vector<float> a = Random(19, 3), b = Random(19, 4), want(19);
    for (size_t i = 0; i < 19; ++i) want[i] = a[i] + b[i];
    k->Binary(BinaryOp::kAdd, BinaryForm::kVectorVector)(19, a.data(), b.data(), a.data(), -1e30f, 1e30f);
    EXPECT_EQ(a, want) << k->name;
  }
}

// |got - want| within `ulps` units in the last place of want, or `abs` absolutely.
::testing::AssertionResult Near(float got, double want, double ulps, double abs) {
  const double ulp = std::max(std::abs(want), 1e-30) * std::numeric_limits<float>::epsilon();
  if (std::abs(got - want) <= std::max(ulps * ulp, abs)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " vs " << want;
}

TEST(ElementwiseKernelsTest, UnaryOpsMatchTheirDefinitions) {
  std::vector<float> x = Random(1001, 9, 6.0f);
  // Edges: zeros, saturation, and values past exp's clamp.
  for (float v : {0.0f, -0.0f, 3.0f, -3.0f, 6.0f, 20.0f, -20.0f, 100.0f, -100.0f, 88.5f, -88.5f}) x.push_back(v);
  const size_t n = x.size();
  for (const ElementwiseKernels* k : Tables()) {
    SCOPED_TRACE(k->name);
    UnaryParams params;
    params.alpha = 0.25f;
    std::vector<float> y(n);
    for (int op = 0; op < kNumUnaryOps; ++op) {
      const bool threshold = op == static_cast<int>(UnaryOp::kSoftplus) || op == static_cast<int>(UnaryOp::kMish);
      params.alpha = threshold ? 20.0f : 0.25f;
      k->unary[op](n, x.data(), y.data(), params);
      for (size_t i = 0; i < n; ++i) {
        const double v = x[i];
        switch (static_cast<UnaryOp>(op)) {
          case UnaryOp::kClamp: ASSERT_EQ(y[i], x[i]); break;
          case UnaryOp::kLeakyRelu: ASSERT_EQ(y[i], x[i] > 0 ? x[i] : x[i] * 0.25f); break;
          case UnaryOp::kHardSwish:
            ASSERT_EQ(y[i], x[i] * std::min(std::max(x[i] + 3.0f, 0.0f), 6.0f) * (1.0f / 6.0f)) << x[i];
            ASSERT_TRUE(Near(y[i], v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0, 2, 0)) << x[i];
            break;
          case UnaryOp::kSigmoid: ASSERT_TRUE(Near(y[i], 1.0 / (1.0 + std::exp(-v)), 6, 1e-37)) << v; break;
          case UnaryOp::kSilu: ASSERT_TRUE(Near(y[i], v / (1.0 + std::exp(-v)), 8, 1e-35)) << v; break;
          case UnaryOp::kTanh: ASSERT_TRUE(Near(y[i], std::tanh(v), 6, 2e-7)) << v; break;
          case UnaryOp::kExp:
            // The whole range: infinity past 88.72, below -87.3 gradual
            // underflow (within a subnormal's step of std::exp).
            if (v > 88.73) {
              ASSERT_EQ(y[i], std::numeric_limits<float>::infinity()) << v;
            } else {
              ASSERT_TRUE(Near(y[i], std::exp(v), 4, 1e-44)) << v;
            }
            break;
          case UnaryOp::kSoftplus:
          case UnaryOp::kMish: {
            // The threshold is alpha: 20, litert-torch's (kMish needs >= 9), run below.
            const double softplus = v > 20 ? v : std::log(std::exp(v) + 1.0);
            const double want = static_cast<UnaryOp>(op) == UnaryOp::kMish ? v * std::tanh(softplus) : softplus;
            ASSERT_TRUE(Near(y[i], want, 8, 2e-7 * std::abs(v))) << v;
            break;
          }
          case UnaryOp::kElu:
            // exp(x) - 1 in float, as EXP then SUB compute it: cancels near 0.
            ASSERT_TRUE(Near(y[i], v >= 0 ? v : std::exp(v) - 1.0, 4, 1.2e-7)) << v;
            break;
          case UnaryOp::kLog:
            if (x[i] < 0) {
              ASSERT_TRUE(std::isnan(y[i])) << x[i];
            } else if (x[i] == 0) {
              ASSERT_EQ(y[i], -std::numeric_limits<float>::infinity()) << x[i];
            } else {
              ASSERT_TRUE(Near(y[i], std::log(v), 3, 1e-12)) << v;
            }
            break;
          case UnaryOp::kRsqrt: {
            // The builtin kernel's float expression, bit for bit (NaN below 0, inf at 0).
            const float want = 1.0f / std::sqrt(x[i]);
            if (std::isnan(want)) {
              ASSERT_TRUE(std::isnan(y[i])) << x[i];
            } else {
              ASSERT_EQ(y[i], want) << x[i];
            }
            break;
          }
          case UnaryOp::kSqrt:
          case UnaryOp::kAbs:
          case UnaryOp::kNeg:
          case UnaryOp::kSquare: {
            // The builtin kernels' std::sqrt, std::abs, -x, x * x, bit for
            // bit: the sign of a zero included (ABS(-0) is +0), NaN below 0.
            const UnaryOp kind = static_cast<UnaryOp>(op);
            const float want = kind == UnaryOp::kSqrt  ? std::sqrt(x[i])
                               : kind == UnaryOp::kAbs ? std::abs(x[i])
                               : kind == UnaryOp::kNeg ? -x[i]
                                                       : x[i] * x[i];
            if (std::isnan(want)) {
              ASSERT_TRUE(std::isnan(y[i])) << x[i];
            } else {
              ASSERT_EQ(std::memcmp(&y[i], &want, sizeof(float)), 0) << op << ": " << x[i] << " -> " << y[i];
            }
            break;
          }
          case UnaryOp::kFloor:
          case UnaryOp::kCeil:
          case UnaryOp::kRound:
          case UnaryOp::kSign:
          case UnaryOp::kSin:
          case UnaryOp::kCos:
            ASSERT_TRUE(SameBits(y[i], BuiltinRounding(static_cast<UnaryOp>(op), x[i]))) << op << ": " << x[i];
            break;
          case UnaryOp::kGelu:
            // In the negative tail the rounding of z^2 costs exp(-z^2) about
            // z^2 ulp: x = -6.4 is 11 ulp off, of a value of 6e-10.
            ASSERT_TRUE(Near(y[i], 0.5 * v * std::erfc(-v * 0.70710678118654752), 8, 1e-9)) << v;
            break;
          case UnaryOp::kGeluTanh: {
            const double want = 0.5 * v * (1.0 + std::tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
            // 1 + tanh cancels for x < 0: tanh's absolute error (2e-7) times x / 2.
            ASSERT_TRUE(Near(y[i], want, 8, 2e-7 * std::max(1.0, std::abs(v)))) << v;
            break;
          }
        }
      }
    }
    // The clamp after every op: the producer's fused activation.
    params.lo = 0.1f;
    params.hi = 0.6f;
    k->Unary(UnaryOp::kSigmoid)(n, x.data(), y.data(), params);
    for (size_t i = 0; i < n; ++i) ASSERT_TRUE(y[i] >= 0.1f && y[i] <= 0.6f);
  }
}

// FLOOR, CEIL, ROUND, SIGN, SIN and COS bit for bit as the builtin kernels,
// on the values where they part: zeros of both signs, halves (ties to
// even, -0.3 rounding to +0), past 2^23 and 2^31, the infinities, NaN, and
// every length's ragged end.
TEST(ElementwiseKernelsTest, RoundingSignAndTrigAreTheBuiltinsBitForBit) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {0.0f, -0.0f, 0.3f, -0.3f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49999997f,
                          -0.49999997f, 4194303.5f, -4194303.5f, 8388607.5f, 8388608.0f, 16777217.0f, 3e9f,
                          -3e9f, 1e30f, -1e30f, 1e-40f, -1e-40f, 3.4028235e38f, inf, -inf, nan, 1e5f, -7.25f};
  const std::vector<float> random = Random(77, 31, 40.0f);
  x.insert(x.end(), random.begin(), random.end());
  for (const ElementwiseKernels* k : Tables()) {
    SCOPED_TRACE(k->name);
    for (UnaryOp op : {UnaryOp::kFloor, UnaryOp::kCeil, UnaryOp::kRound, UnaryOp::kSign, UnaryOp::kSin,
                       UnaryOp::kCos}) {
      for (size_t n : {size_t{1}, size_t{5}, size_t{17}, x.size()}) {
        std::vector<float> y(n + 1, 77.0f);
        k->Unary(op)(n, x.data(), y.data(), UnaryParams());
        for (size_t i = 0; i < n; ++i) {
          ASSERT_TRUE(SameBits(y[i], BuiltinRounding(op, x[i]))) << static_cast<int>(op) << ": " << x[i];
        }
        EXPECT_EQ(y[n], 77.0f) << "wrote past the end";
      }
    }
  }
}

// bilinear_row: each pixel's blend of its two columns of two rows, the
// builtin's expression, within an FMA's rounding of a scalar loop; channel
// counts around the vector widths; the taps as a resize makes them (the
// same column twice at an edge, fractions 0 and near 1).
TEST(ElementwiseKernelsTest, BilinearRowBlendsTwoColumnsOfTwoRows) {
  for (const ElementwiseKernels* k : Tables()) {
    SCOPED_TRACE(k->name);
    for (size_t channels : {1, 7, 8, 16, 21, 32, 45}) {
      const size_t in_width = 5, width = 9;
      const std::vector<float> top = Random(in_width * channels, 40), bottom = Random(in_width * channels, 41);
      std::vector<BilinearTap> taps(width);
      for (size_t x = 0; x < width; ++x) {
        const float at = static_cast<float>(x) * 4.0f / 8.0f;
        taps[x].lower = static_cast<int32_t>(at);
        taps[x].upper = std::min<int32_t>(taps[x].lower + 1, in_width - 1);
        taps[x].fraction = at - static_cast<float>(taps[x].lower);
      }
      const float fy = 0.3f, gy = 0.7f;
      std::vector<float> out(width * channels + 1, 77.0f);
      k->bilinear_row(width, channels, top.data(), bottom.data(), taps.data(), fy, out.data());
      for (size_t x = 0; x < width; ++x) {
        const float fx = taps[x].fraction, gx = 1.0f - fx;
        for (size_t c = 0; c < channels; ++c) {
          const size_t lo = taps[x].lower * channels + c, hi = taps[x].upper * channels + c;
          const double want = static_cast<double>(top[lo]) * gy * gx + static_cast<double>(bottom[lo]) * fy * gx +
                              static_cast<double>(top[hi]) * gy * fx + static_cast<double>(bottom[hi]) * fy * fx;
          ASSERT_TRUE(Near(out[x * channels + c], want, 8, 1e-6)) << channels << " " << x << " " << c;
        }
      }
      EXPECT_EQ(out[width * channels], 77.0f) << "wrote past the end";
    }
  }
}

// LOG and EXP over the float range: subnormals, the ends, near 1, the
// special values as std::log / std::exp give them.
TEST(ElementwiseKernelsTest, LogAndExpOverTheFloatRange) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {1e-45f, 3e-42f, 1e-39f, 1.17549435e-38f, 1e-20f, 1e-3f, 0.5f, 0.70710677f,
                                0.70710683f, 0.99999994f, 1.0f, 1.0000001f, 1.4142134f, 1.4142137f, 2.0f, 10.0f,
                                12345.678f, 1e20f, 3.4028235e38f, inf, nan, 0.0f, -0.0f, -1.0f, -inf};
  for (const ElementwiseKernels* k : Tables()) {
    SCOPED_TRACE(k->name);
    std::vector<float> y(x.size());
    k->Unary(UnaryOp::kLog)(x.size(), x.data(), y.data(), UnaryParams());
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = std::log(x[i]);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(y[i])) << x[i];
      } else if (std::isinf(want)) {
        EXPECT_EQ(y[i], want) << x[i];
      } else {
        EXPECT_TRUE(Near(y[i], std::log(static_cast<double>(x[i])), 3, 1e-12)) << x[i];
      }
    }
    const std::vector<float> e = {-inf, -200.0f, -103.0f, -95.0f, -87.5f, -87.3f, -20.0f, -1e-8f, 0.0f, 1e-8f,
                                  1.0f, 50.0f, 88.0f, 88.7f, 88.75f, 100.0f, inf, nan};
    std::vector<float> z(e.size());
    k->Unary(UnaryOp::kExp)(e.size(), e.data(), z.data(), UnaryParams());
    for (size_t i = 0; i < e.size(); ++i) {
      const float want = std::exp(e[i]);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(z[i])) << e[i];
      } else if (std::isinf(want)) {
        EXPECT_EQ(z[i], want) << e[i];
      } else {
        EXPECT_TRUE(Near(z[i], std::exp(static_cast<double>(e[i])), 4, 3e-45)) << e[i] << " gave " << z[i];
      }
    }
  }
}

// Comparisons give 1.0 / 0.0; SELECT takes the first value where the
// condition is not 0.
TEST(ElementwiseKernelsTest, SelectTakesTheFirstValueWhereTheConditionHolds) {
  for (const ElementwiseKernels* k : Tables()) {
    for (size_t n : {1, 7, 8, 17, 45}) {
      const std::vector<float> a = Random(n, 60), b = Random(n, 61), x = Random(n, 62);
      std::vector<float> cond(n), out(n + 1, 77.0f);
      k->Binary(BinaryOp::kGreater, BinaryForm::kVectorScalar)(n, x.data(), std::vector<float>{0.0f}.data(),
                                                              cond.data(), -1e30f, 1e30f);
      k->select(n, cond.data(), a.data(), b.data(), out.data());
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(cond[i], x[i] > 0 ? 1.0f : 0.0f);
        ASSERT_EQ(out[i], x[i] > 0 ? a[i] : b[i]) << k->name << " " << i;
      }
      EXPECT_EQ(out[n], 77.0f) << "wrote past the end";
    }
  }
}

TEST(ElementwiseKernelsTest, Reductions) {
  for (const ElementwiseKernels* k : Tables()) {
    for (size_t n : {1, 5, 8, 13, 64, 1000}) {
      const std::vector<float> x = Random(n, 40 + n);
      double sum = 0;
      for (float v : x) sum += v;
      EXPECT_EQ(k->reduce_max(n, x.data()), *std::max_element(x.begin(), x.end())) << k->name << " " << n;
      EXPECT_EQ(k->reduce_min(n, x.data()), *std::min_element(x.begin(), x.end())) << k->name << " " << n;
      EXPECT_NEAR(k->reduce_sum(n, x.data()), sum, 1e-5 * n) << k->name << " " << n;
    }
  }
}

// softmax_rows is the max, sub, mul, exp and sum kernels, then a mul by the
// sum's reciprocal, in turn, bit
// for bit, on rows shorter and longer than a vector, in place or not.
TEST(ElementwiseKernelsTest, SoftmaxRowsIsItsStepsInTurn) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (const ElementwiseKernels* k : Tables()) {
    SCOPED_TRACE(k->name);
    for (size_t n : {1, 7, 16, 42, 45, 129, 2688}) {  // 2688: several of the sum's blocks
      for (float beta : {1.0f, 0.5f}) {
        const size_t rows = 5;
        const std::vector<float> x = Random(rows * n, static_cast<unsigned>(n), 30.0f);
        std::vector<float> want(rows * n), got(rows * n), in_place = x;
        for (size_t r = 0; r < rows; ++r) {
          const float* in = x.data() + r * n;
          float* out = want.data() + r * n;
          const float max = k->reduce_max(n, in);
          k->Binary(BinaryOp::kSub, BinaryForm::kVectorScalar)(n, in, &max, out, -kInf, kInf);
          k->Binary(BinaryOp::kMul, BinaryForm::kVectorScalar)(n, out, &beta, out, -kInf, kInf);
          k->Unary(UnaryOp::kExp)(n, out, out, UnaryParams());
          const float scale = 1.0f / k->reduce_sum(n, out);
          k->Binary(BinaryOp::kMul, BinaryForm::kVectorScalar)(n, out, &scale, out, -kInf, kInf);
        }
        k->softmax_rows(rows, n, x.data(), got.data(), beta);
        k->softmax_rows(rows, n, in_place.data(), in_place.data(), beta);
        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << n << " " << beta;
        ASSERT_EQ(std::memcmp(in_place.data(), want.data(), got.size() * sizeof(float)), 0) << n;
      }
    }
  }
}

// l2_normalize_rows against the builtin kernel's formula in double: x /
// max(sqrt(sum x^2), epsilon); a row of zeros and a tiny row take epsilon.
TEST(ElementwiseKernelsTest, L2NormalizeRowsDividesByTheNormOrEpsilon) {
  for (const ElementwiseKernels* k : Tables()) {
    SCOPED_TRACE(k->name);
    for (size_t n : {1, 7, 16, 45, 129, 1100}) {
      const size_t rows = 4;
      std::vector<float> x = Random(rows * n, static_cast<unsigned>(n));
      std::fill(x.begin() + n, x.begin() + 2 * n, 0.0f);      // row 1: zeros
      for (size_t i = 2 * n; i < 3 * n; ++i) x[i] *= 1e-9f;  // row 2: norm below epsilon
      std::vector<float> y(rows * n);
      k->l2_normalize_rows(rows, n, x.data(), y.data(), 1e-6f);
      for (size_t r = 0; r < rows; ++r) {
        double squares = 0;
        for (size_t i = 0; i < n; ++i) squares += static_cast<double>(x[r * n + i]) * x[r * n + i];
        const double divisor = std::max(std::sqrt(squares), 1e-6);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_TRUE(Near(y[r * n + i], x[r * n + i] / divisor, 4, 1e-30)) << n << " row " << r << " " << i;
        }
      }
      k->l2_normalize_rows(rows, n, x.data(), x.data(), 1e-6f);  // in place
      ASSERT_EQ(std::memcmp(x.data(), y.data(), y.size() * sizeof(float)), 0);
    }
  }
}

TEST(ElementwiseKernelsTest, BinaryRowsIsTheVectorFormRowByRow) {
  // Either operand broadcast over the rows (stride 0) or both full; widths
  // around the vector widths; few rows and rows past the kernel's repeated
  // block; bit for bit as the one-run kernel.
  for (const ElementwiseKernels* k : Tables()) {
    SCOPED_TRACE(k->name);
    for (int op = 0; op < kNumBinaryOps; ++op) {
      for (size_t width : {1, 7, 8, 9, 45, 129}) {
        for (int broadcast = 0; broadcast < 6; ++broadcast) {
          const size_t rows = broadcast < 3 ? 5 : 60;
          const size_t a_stride = broadcast % 3 == 1 ? 0 : width, b_stride = broadcast % 3 == 2 ? 0 : width;
          const bool ints = IsIntBinaryOp(static_cast<BinaryOp>(op));
          const std::vector<float> a = ints ? RandomIntBits(rows * width, 7 + width) : Random(rows * width, 7 + width);
          const std::vector<float> b =
              ints ? RandomIntBits(rows * width, 70 + width) : Random(rows * width, 70 + width);
          std::vector<float> out(rows * width + 1, 77.0f), want(width);
          k->BinaryRows(static_cast<BinaryOp>(op))(rows, width, a.data(), a_stride, b.data(), b_stride, out.data(),
                                                   -4.0f, 5.0f);
          for (size_t r = 0; r < rows; ++r) {
            k->binary[op][static_cast<int>(BinaryForm::kVectorVector)](width, a.data() + r * a_stride,
                                                                      b.data() + r * b_stride, want.data(), -4.0f, 5.0f);
            for (size_t c = 0; c < width; ++c) {
              ASSERT_TRUE(ints ? std::memcmp(&out[r * width + c], &want[c], 4) == 0
                               : SameBits(out[r * width + c], want[c]))
                  << "op " << op << " width " << width << " broadcast " << broadcast;
            }
          }
          EXPECT_EQ(out[rows * width], 77.0f) << "wrote past the end";
        }
      }
    }
  }
}

TEST(ElementwiseKernelsTest, PoolTakesTheMaxTheAverageOrTheSumInInputOrder) {
  // Widths around the vector widths and the kernels' blocks (4 vectors);
  // 1, 4 and 9 inputs scattered in a buffer; a clamp; bit for bit as a
  // plain loop in the inputs' order.
  for (const ElementwiseKernels* k : Tables()) {
    for (size_t width : {1, 3, 8, 13, 32, 33, 64, 70}) {
      for (size_t taps : {1, 4, 9}) {
        const std::vector<float> buffer = Random(10 * (width + 3), static_cast<unsigned>(width + taps));
        std::vector<const float*> inputs;
        for (size_t t = 0; t < taps; ++t) inputs.push_back(buffer.data() + ((t * 7) % 10) * (width + 3));
        for (int op = 0; op < kNumPoolOps; ++op) {
          std::vector<float> out(width + 1, 77.0f);
          k->pool[op](taps, inputs.data(), width, out.data(), -1.5f, 2.0f);
          for (size_t c = 0; c < width; ++c) {
            float acc = inputs[0][c];
            for (size_t t = 1; t < taps; ++t) acc = op == 0 ? (acc < inputs[t][c] ? inputs[t][c] : acc) : acc + inputs[t][c];
            if (op == 1) acc = acc / static_cast<float>(taps);
            ASSERT_EQ(out[c], std::min(std::max(acc, -1.5f), 2.0f))
                << k->name << " op " << op << " width " << width << " taps " << taps << " at " << c;
          }
          EXPECT_EQ(out[width], 77.0f) << "wrote past the end";
        }
      }
    }
  }
}

TEST(ElementwiseKernelsTest, ScaleRowsMultipliesEachRowByItsFactor) {
  for (const ElementwiseKernels* k : Tables()) {
    for (size_t width : {1, 7, 8, 16, 17, 45}) {
      const size_t rows = 6;
      const std::vector<float> in = Random(rows * width, static_cast<unsigned>(width)), scale = Random(rows, 99);
      std::vector<float> out(rows * width + 1, 77.0f);
      k->scale_rows(rows, width, in.data(), scale.data(), out.data());
      for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < width; ++c) {
          ASSERT_EQ(out[r * width + c], in[r * width + c] * scale[r]) << k->name << " width " << width;
        }
      }
      EXPECT_EQ(out[rows * width], 77.0f) << "wrote past the end";
    }
  }
}

TEST(ElementwiseKernelsTest, SumRowsAddsEachColumnInBlocksOfRows) {
  // Widths below, at and past the kernels' blocks (8 vectors), strides wider
  // than the row, rows within one block and across three; each block of
  // kSumBlockRows rows summed in order, then added to the total, as the loop
  // here adds them (bit for bit).
  for (const ElementwiseKernels* k : Tables()) {
    for (size_t width : {1, 3, 8, 9, 33, 64, 65, 120, 129, 200}) {
      for (size_t rows : {1, 2, 49, 70}) {
        const size_t stride = width + (rows == 2 ? 3 : 0);
        const std::vector<float> in = Random(rows * stride, static_cast<unsigned>(width * 10 + rows));
        std::vector<float> sums(width + 1, 77.0f);
        k->sum_rows(rows, width, in.data(), stride, sums.data());
        for (size_t c = 0; c < width; ++c) {
          float want = 0.0f;
          for (size_t r0 = 0; r0 < rows; r0 += kSumBlockRows) {
            float block = in[r0 * stride + c];
            for (size_t r = r0 + 1; r < std::min(rows, r0 + kSumBlockRows); ++r) block += in[r * stride + c];
            want = r0 == 0 ? block : want + block;
          }
          ASSERT_EQ(sums[c], want) << k->name << " width " << width << " rows " << rows << " column " << c;
        }
        EXPECT_EQ(sums[width], 77.0f) << "wrote past the end";
      }
    }
  }
}

// max_rows from the lowest float keeping the larger, min_rows from the
// highest keeping the smaller (REDUCE_MAX / REDUCE_MIN): a NaN never wins.
TEST(ElementwiseKernelsTest, MaxAndMinRowsKeepTheBuiltinsExtreme) {
  for (const ElementwiseKernels* k : Tables()) {
    for (bool minimum : {false, true}) {
      const float start = minimum ? std::numeric_limits<float>::max() : std::numeric_limits<float>::lowest();
      auto keep = [minimum](float in, float current) { return minimum ? (in < current) : (in > current); };
      for (size_t width : {1, 9, 64, 65, 129}) {
        for (size_t rows : {1, 3, 40}) {
          std::vector<float> in = Random(rows * width, static_cast<unsigned>(width + rows));
          in[0] = std::numeric_limits<float>::quiet_NaN();  // never wins
          std::vector<float> out(width + 1, 77.0f);
          (minimum ? k->min_rows : k->max_rows)(rows, width, in.data(), width, out.data());
          for (size_t c = 0; c < width; ++c) {
            float want = start;
            for (size_t r = 0; r < rows; ++r) want = keep(in[r * width + c], want) ? in[r * width + c] : want;
            ASSERT_EQ(out[c], want) << k->name << " min " << minimum << " width " << width << " rows " << rows
                                    << " column " << c;
          }
          EXPECT_EQ(out[width], 77.0f) << "wrote past the end";
          float all = start;
          for (float v : in) all = keep(v, all) ? v : all;
          EXPECT_EQ((minimum ? k->reduce_min : k->reduce_max)(rows * width, in.data()), all) << k->name;
        }
      }
    }
  }
}

TEST(ElementwiseKernelsTest, LongSumsOfEqualValuesStayAccurate) {
  // A masked map's global mean: thousands of equal values. Added one by one
  // in float, 2688 of 0.1f come out 2.7e-5 off (every add rounds the same
  // way); in blocks, within 1e-6.
  for (const ElementwiseKernels* k : Tables()) {
    const size_t rows = 2688, width = 40;
    const std::vector<float> in(rows * width, 0.1f);
    std::vector<float> sums(width);
    k->sum_rows(rows, width, in.data(), width, sums.data());
    const double exact = static_cast<double>(0.1f) * rows;
    for (size_t c = 0; c < width; ++c) ASSERT_NEAR(sums[c], exact, 1e-6 * exact) << k->name << " column " << c;
    const std::vector<float> x(rows, 0.1f);
    EXPECT_NEAR(k->reduce_sum(x.size(), x.data()), exact, 1e-6 * exact) << k->name;
  }
}

TEST(ElementwiseKernelsTest, TransposeBlocksOfEverySize) {
  // Around the vector widths (4, 8), three rows (planes to pixels), strides
  // wider than the block.
  const std::vector<size_t> sizes = {1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 33};
  for (const ElementwiseKernels* k : Tables()) {
    for (size_t rows : sizes) {
      for (size_t cols : sizes) {
        for (size_t pad : {size_t{0}, size_t{3}}) {
          const size_t in_stride = cols + pad, out_stride = rows + (pad ? 5 : 0);
          const std::vector<float> in = Random(rows * in_stride, static_cast<unsigned>(rows * 100 + cols));
          std::vector<float> out(cols * out_stride, -9.0f);
          k->transpose(rows, cols, in.data(), in_stride, out.data(), out_stride);
          for (size_t c = 0; c < cols; ++c) {
            for (size_t o = 0; o < out_stride; ++o) {
              const float expected = o < rows ? in[o * in_stride + c] : -9.0f;  // the gaps stay untouched
              ASSERT_EQ(out[c * out_stride + o], expected)
                  << k->name << " rows " << rows << " cols " << cols << " stride pad " << pad << " at " << c << "," << o;
            }
          }
        }
      }
    }
  }
}

TEST(ElementwiseKernelsTest, FillRowsCopiesTheValueIntoEveryRowAndNothingElse) {
  // Around the vector widths; rows scattered in a buffer (as masked pixels'
  // rows lie in an image), the floats between them untouched.
  for (const ElementwiseKernels* k : Tables()) {
    for (size_t count : {1, 3, 4, 7, 8, 16, 17, 45, 129}) {
      const std::vector<float> value = Random(count, static_cast<unsigned>(count));
      const size_t stride = count + 5;
      std::vector<float> buffer(6 * stride, -9.0f);
      float* rows[3] = {&buffer[4 * stride + 1], &buffer[1], &buffer[2 * stride + 2]};
      k->fill_rows(3, rows, value.data(), count);
      for (size_t i = 0; i < buffer.size(); ++i) {
        float expected = -9.0f;
        for (float* row : rows) {
          const size_t start = static_cast<size_t>(row - buffer.data());
          if (i >= start && i < start + count) expected = value[i - start];
        }
        ASSERT_EQ(buffer[i], expected) << k->name << " count " << count << " at " << i;
      }
    }
  }
}

TEST(ElementwiseKernelsTest, SimdTablesAgreeWithScalarOnActivations) {
  // The same polynomial in every table: a few ulp apart at most (FMA
  // contraction); GELU's erfc polynomial alternates in sign, so rounding
  // differs more (16 ulp, or 1e-9 in its tail, as against the definition).
  const std::vector<float> x = Random(517, 21, 5.0f);
  std::vector<float> want(x.size()), got(x.size());
  for (const ElementwiseKernels* k : Tables()) {
    for (UnaryOp op : {UnaryOp::kSigmoid, UnaryOp::kTanh, UnaryOp::kSilu, UnaryOp::kExp, UnaryOp::kGelu,
                       UnaryOp::kGeluTanh}) {
      ElementwiseKernelsScalar().Unary(op)(x.size(), x.data(), want.data(), UnaryParams());
      k->Unary(op)(x.size(), x.data(), got.data(), UnaryParams());
      const bool gelu = op == UnaryOp::kGelu || op == UnaryOp::kGeluTanh;
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_TRUE(Near(got[i], want[i], gelu ? 16 : 4, gelu ? 1e-9 : 1e-37)) << k->name << " x " << x[i];
      }
    }
  }
}

}  // namespace
}  // namespace kernels
}  // namespace actsparse
