// The sparse conv operator (scalar micro-kernels) against a naive direct
// convolution, over a grid of shapes, strides, dilations, paddings, depthwise
// multipliers, batch sizes, activations and mask densities.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "delegate/operator/sparse_conv.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {
namespace {

struct Case {
  int batch, in_h, in_w, cin, cout, kh, kw, stride, dilation, pad_top, pad_left;
  bool depthwise;
  int multiplier;
  float density;  // fraction of active pixels
  float out_min, out_max;
};

std::vector<float> Reference(const Case& c, const SparseConvParams& p, const std::vector<float>& in,
                             const std::vector<float>& w, const std::vector<float>& cb,
                             const std::vector<float>& ab, const std::vector<uint8_t>& mask) {
  std::vector<float> out(static_cast<size_t>(c.batch) * p.output_height * p.output_width * p.output_channels);
  for (int n = 0; n < c.batch; ++n)
    for (int oy = 0; oy < p.output_height; ++oy)
      for (int ox = 0; ox < p.output_width; ++ox)
        for (int co = 0; co < p.output_channels; ++co) {
          double acc = 0;
          for (int ky = 0; ky < c.kh; ++ky)
            for (int kx = 0; kx < c.kw; ++kx) {
              const int iy = oy * c.stride - c.pad_top + ky * c.dilation;
              const int ix = ox * c.stride - c.pad_left + kx * c.dilation;
              if (iy < 0 || iy >= c.in_h || ix < 0 || ix >= c.in_w) continue;
              const float* x = &in[((static_cast<size_t>(n) * c.in_h + iy) * c.in_w + ix) * c.cin];
              if (c.depthwise) {
                acc += x[co / c.multiplier] * w[(ky * c.kw + kx) * p.output_channels + co];
              } else {
                for (int ci = 0; ci < c.cin; ++ci)
                  acc += x[ci] * w[((static_cast<size_t>(co) * c.kh + ky) * c.kw + kx) * c.cin + ci];
              }
            }
          const bool keep = mask[oy * p.output_width + ox] != 0;
          const float v = keep ? static_cast<float>(acc) + cb[co] + ab[co] : ab[co];
          out[((static_cast<size_t>(n) * p.output_height + oy) * p.output_width + ox) * p.output_channels + co] =
              std::min(std::max(v, c.out_min), c.out_max);
        }
  return out;
}

// Checks one case against the naive conv; `result` (optional) gets the output.
void RunCase(const Case& c, ThreadPool* pool, unsigned seed, std::vector<float>* result = nullptr,
             const ConvBlocking& blocking = ConvBlocking()) {
  SparseConvParams p;
  p.batch = c.batch;
  p.input_height = c.in_h;
  p.input_width = c.in_w;
  p.input_channels = c.cin;
  p.kernel_height = c.kh;
  p.kernel_width = c.kw;
  p.stride_height = p.stride_width = c.stride;
  p.dilation_height = p.dilation_width = c.dilation;
  p.padding_top = c.pad_top;
  p.padding_left = c.pad_left;
  p.depthwise = c.depthwise;
  p.depth_multiplier = c.multiplier;
  p.output_channels = c.depthwise ? c.cin * c.multiplier : c.cout;
  // Symmetric padding: bottom/right = top/left.
  p.output_height = (c.in_h + 2 * c.pad_top - c.dilation * (c.kh - 1) - 1) / c.stride + 1;
  p.output_width = (c.in_w + 2 * c.pad_left - c.dilation * (c.kw - 1) - 1) / c.stride + 1;
  p.output_min = c.out_min;
  p.output_max = c.out_max;
  ASSERT_GT(p.output_height, 0);
  ASSERT_GT(p.output_width, 0);

  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform;
  auto fill = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = normal(rng);
    return v;
  };
  const size_t taps = static_cast<size_t>(c.kh) * c.kw;
  std::vector<float> in = fill(static_cast<size_t>(c.batch) * c.in_h * c.in_w * c.cin);
  std::vector<float> w = fill(c.depthwise ? taps * p.output_channels : taps * c.cin * p.output_channels);
  std::vector<float> cb = fill(p.output_channels), ab = fill(p.output_channels);
  std::vector<uint8_t> mask(static_cast<size_t>(p.output_height) * p.output_width);
  for (uint8_t& m : mask) m = uniform(rng) < c.density;

  std::string error;
  auto op = SparseConvOperator::Create(p, w.data(), cb.data(), ab.data(), mask.data(), &error);
  ASSERT_NE(op, nullptr) << error;
  op->set_blocking(blocking);
  std::vector<float> out(static_cast<size_t>(c.batch) * p.output_height * p.output_width * p.output_channels, NAN);
  op->Run(in.data(), out.data(), pool);
  const std::vector<float> expected = Reference(c, p, in, w, cb, ab, mask);
  // fp32 rounding of a K-term sum of unit-scale products grows like sqrt(K).
  const float reduction = static_cast<float>(c.depthwise ? taps : taps * c.cin);
  const float tolerance = 2e-5f * std::max(5.0f, std::sqrt(reduction));
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_NEAR(out[i], expected[i], tolerance * (1.0f + std::fabs(expected[i]))) << "element " << i;
  }
  // A second run on a moved input (the runtime's arena can move) re-plans.
  std::vector<float> moved = in;
  std::vector<float> out2(out.size(), NAN);
  op->Run(moved.data(), out2.data(), pool);
  EXPECT_EQ(out, out2);
  // New values at the same address (the next inference): nothing of the
  // input may be cached from the previous run.
  for (float& x : moved) x = 0.25f - 0.5f * x;
  op->Run(moved.data(), out2.data(), pool);
  const std::vector<float> expected2 = Reference(c, p, moved, w, cb, ab, mask);
  for (size_t i = 0; i < out2.size(); ++i) {
    ASSERT_NEAR(out2[i], expected2[i], tolerance * (1.0f + std::fabs(expected2[i]))) << "element " << i << ", new input";
  }
  if (result != nullptr) *result = out;
}

std::vector<Case> Grid() {
  std::vector<Case> cases;
  const float kInf = 3.402823466e+38f;
  unsigned i = 0;
  for (int k : {1, 3, 5, 7})
    for (int stride : {1, 2})
      for (int dilation : {1, 2})
        for (bool depthwise : {false, true})
          for (float density : {0.0f, 0.4f, 1.0f}) {
            ++i;
            Case c;
            c.batch = 1 + static_cast<int>(i % 2);
            c.in_h = 9 + static_cast<int>(i % 3);
            c.in_w = 8 + static_cast<int>(i % 4);
            c.cin = 3 + static_cast<int>(i % 3) * 2;
            c.cout = 5 + static_cast<int>(i % 4);
            c.kh = c.kw = k;
            c.stride = stride;
            c.dilation = dilation;
            c.pad_top = c.pad_left = (k / 2) * dilation;
            c.depthwise = depthwise;
            c.multiplier = depthwise ? 1 + static_cast<int>(i % 2) : 1;
            c.density = density;
            const int act = static_cast<int>(i % 4);
            c.out_min = act == 0 ? -kInf : (act == 2 ? -1.0f : 0.0f);
            c.out_max = act == 0 || act == 1 ? kInf : (act == 2 ? 1.0f : 6.0f);
            cases.push_back(c);
          }
  return cases;
}

TEST(SparseConvTest, MatchesNaiveConvolutionSingleThread) {
  unsigned seed = 1;
  for (const Case& c : Grid()) {
    SCOPED_TRACE(testing::Message() << "k=" << c.kh << " s=" << c.stride << " d=" << c.dilation
                                    << " dw=" << c.depthwise << " density=" << c.density);
    RunCase(c, nullptr, seed++);
  }
}

TEST(SparseConvTest, MatchesNaiveConvolutionWithThreads) {
  ThreadPool pool(3);
  unsigned seed = 100;
  for (const Case& c : Grid()) RunCase(c, &pool, seed++);
}

// Both regular-conv kernels on the whole grid: the tap-blocked one (with
// reduction blocks of 8 values, so every case splits), igemm (with one tile
// per pass) and igemm with reduction blocks of 8 values, at 1 and 2 threads.
TEST(SparseConvTest, GridWithEachConvKernel) {
  ThreadPool pool(2);
  ConvBlocking rows_kernel;
  rows_kernel.igemm_max_reduction = 1;  // every conv through ConvRows
  rows_kernel.reduction_block = 8;
  ConvBlocking igemm;
  igemm.igemm_max_reduction = static_cast<size_t>(-1);
  igemm.tile_pass_bytes = 1;
  ConvBlocking igemm_blocked = igemm;
  igemm_blocked.igemm_blocked_from = 0;
  igemm_blocked.igemm_reduction_block = 8;
  unsigned seed = 500;
  for (const ConvBlocking& blocking : {rows_kernel, igemm, igemm_blocked}) {
    for (const Case& c : Grid()) {
      RunCase(c, nullptr, seed, nullptr, blocking);
      RunCase(c, &pool, seed++, nullptr, blocking);
    }
  }
}

TEST(SparseConvTest, AsymmetricPaddingAndOddShapes) {
  Case c{2, 7, 5, 3, 4, 3, 3, 2, 1, 0, 1, false, 1, 0.7f, -3.4e38f, 3.4e38f};
  RunCase(c, nullptr, 7);
}

TEST(SparseConvTest, ManyInputChannelsAndFewRows) {
  // cin 300 with 3x3 taps: the reduction runs in several tap blocks that
  // accumulate in the output rows; cin 1100: one tap is split into channel
  // blocks; with threads and few active pixels the output channels are split
  // into chunks (40 and 70 channels: 16-wide tile tails).
  for (float density : {0.1f, 0.5f, 1.0f}) {
    for (int threads : {1, 2, 3}) {
      SCOPED_TRACE(testing::Message() << "density=" << density << " threads=" << threads);
      Case c{1, 6, 5, 300, 40, 3, 3, 1, 1, 1, 1, false, 1, density, 0.0f, 6.0f};
      ThreadPool pool(threads);
      RunCase(c, threads > 1 ? &pool : nullptr, 300 + threads);
      c.cin = 1100;  // one tap split into two channel blocks
      c.cout = 70;
      RunCase(c, threads > 1 ? &pool : nullptr, 400 + threads);
    }
  }
}

// `c` at 2, 3 and 4 threads gives the same bits as at one thread.
void ExpectEveryThreadCountGivesOneThreadsBits(const Case& c, unsigned seed) {
  std::vector<float> single;
  RunCase(c, nullptr, seed, &single);
  for (int threads : {2, 3, 4}) {
    SCOPED_TRACE(testing::Message() << "threads=" << threads);
    ThreadPool pool(threads);
    std::vector<float> split;
    RunCase(c, &pool, seed, &split);
    EXPECT_EQ(single, split);
  }
}

TEST(SparseConvTest, EveryWorkSplitGivesTheSameBits) {
  // Active rows in balanced chunks (not multiples of the register tile), the
  // task count rounded up to a multiple of the threads, output channels in
  // chunks that divide the tiles (96 channels: 6 tiles) or, where no divisor
  // gives every thread as many (80: 5 tiles, a prime), balanced chunks one
  // tile apart: each output's sum runs in the same order whatever the split.
  for (int cout : {96, 80}) {
    for (float density : {0.13f, 0.71f}) {
      SCOPED_TRACE(testing::Message() << "cout=" << cout << " density=" << density);
      ExpectEveryThreadCountGivesOneThreadsBits({1, 21, 19, 12, cout, 3, 3, 1, 1, 1, 1, false, 1, density, 0.0f, 6.0f},
                                                900);
    }
  }
}

TEST(SparseConvTest, FullyConnectedRowsSplitChannels) {
  // One row per image (a fully connected layer, a squeeze-excitation's 1x1
  // convs) or two (batch 2): only the output channels split. 1000 channels
  // (63 tiles, odd: balanced chunks one tile apart at 2 and 4 threads, 63 / 9
  // at 3), 240 (15 tiles), 1000 from a reduction above igemm_blocked_from
  // (blocks whose calls prefetch each other's weights, or not on one row).
  const float kInf = 3.402823466e+38f;
  for (int cout : {1000, 240}) {
    for (int batch : {1, 2}) {
      SCOPED_TRACE(testing::Message() << "cout=" << cout << " batch=" << batch);
      ExpectEveryThreadCountGivesOneThreadsBits({batch, 1, 1, 40, cout, 1, 1, 1, 1, 0, 0, false, 1, 1.0f, -kInf, kInf},
                                                970);
    }
  }
  ExpectEveryThreadCountGivesOneThreadsBits({1, 1, 1, 3100, 1000, 1, 1, 1, 1, 0, 0, false, 1, 1.0f, 0.0f, 6.0f}, 980);
}

TEST(SparseConvTest, DeepLayersSplitChannels) {
  // Few active rows and large weights (ResNet's deep layers): the threads
  // split the output channels (7x7: one row chunk for all threads; 14x14:
  // about one row chunk per thread), 200 channels with a tile tail.
  for (int cout : {512, 200}) {
    for (int size : {7, 14}) {
      SCOPED_TRACE(testing::Message() << "cout=" << cout << " size=" << size);
      ExpectEveryThreadCountGivesOneThreadsBits({1, size, size, 64, cout, 3, 3, 1, 1, 1, 1, false, 1, 0.7f, 0.0f, 6.0f},
                                                950);
    }
  }
}

TEST(SparseConvTest, IgemmReductionBlocksGiveOnePassBits) {
  // Reductions above igemm_blocked_from run in blocks whose partial sums wait
  // in the output rows: ResNet's 7x7 layer (3x3 taps of 512 channels, one
  // tap per block) and a 1x1 conv of 3200 channels read directly (one tap
  // split into blocks of channels). The sums are the one-pass kernel's, in
  // its order: the same bits, at 1 and 2 threads.
  ConvBlocking one_pass;
  one_pass.igemm_reduction_block = 0;
  ThreadPool pool(2);
  const Case cases[] = {{1, 7, 7, 512, 96, 3, 3, 1, 1, 1, 1, false, 1, 0.7f, 0.0f, 6.0f},
                        {1, 5, 6, 3200, 40, 1, 1, 1, 1, 0, 0, false, 1, 1.0f, -3.4e38f, 3.4e38f}};
  for (const Case& c : cases) {
    for (ThreadPool* threads : {static_cast<ThreadPool*>(nullptr), &pool}) {
      SCOPED_TRACE(testing::Message() << "cin=" << c.cin << (threads ? " 2 threads" : " 1 thread"));
      std::vector<float> blocked, whole;
      RunCase(c, threads, 960, &blocked);
      RunCase(c, threads, 960, &whole, one_pass);
      EXPECT_EQ(blocked, whole);
    }
  }
}

TEST(SparseConvTest, MergedKernelRowsOnFewChannels) {
  // Few input channels: a kernel row is read as one span of the input, or of
  // a zero-padded patch where it crosses the left or right edge.
  // Cases: the 7x7 stride-2 stem shape; VALID padding where the last input
  // rows/columns lie beyond every receptive field; batch 2; a 5x3 kernel;
  // a kernel wider than the input (rows crossing both edges); dilation 2
  // (not merged: its taps are apart in a row) beside the merged cases.
  const float kInf = 3.402823466e+38f;
  std::vector<Case> cases = {
      {2, 23, 21, 3, 20, 7, 7, 2, 1, 3, 3, false, 1, 0.6f, 0.0f, kInf},
      {1, 10, 11, 2, 17, 3, 3, 2, 1, 0, 0, false, 1, 0.8f, -kInf, kInf},
      {2, 9, 8, 8, 9, 5, 3, 1, 1, 2, 1, false, 1, 1.0f, -1.0f, 1.0f},
      {1, 6, 4, 3, 5, 3, 7, 1, 1, 1, 3, false, 1, 0.9f, -kInf, kInf},
      {1, 12, 13, 4, 6, 3, 3, 2, 2, 2, 2, false, 1, 0.7f, 0.0f, 6.0f},
  };
  unsigned seed = 700;
  for (const Case& c : cases) {
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      RunCase(c, threads > 1 ? &pool : nullptr, seed++);
    }
  }
}

TEST(SparseConvTest, RejectsBadParameters) {
  SparseConvParams p;  // zero sizes
  std::string error;
  float w = 1, cb = 0, ab = 0;
  uint8_t mask = 1;
  EXPECT_EQ(SparseConvOperator::Create(p, &w, &cb, &ab, &mask, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

// Chunk starts cover [0, total) in order: guided (each participant's share
// in shrinking chunks) when the chunks split evenly among the participants,
// else equal chunks.
TEST(ThreadPoolTest, GuidedOrEqualChunksCoverTheTotal) {
  for (size_t participants : {1, 2, 3})
    for (size_t chunks : {1, 2, 3, 4, 6, 7, 8})
      for (size_t total : {7, 14, 56, 113}) {
        SCOPED_TRACE(testing::Message() << participants << " participants, " << chunks << " chunks of " << total);
        EXPECT_EQ(ThreadPool::GuidedOrEqualChunkStart(0, chunks, participants, total), 0u);
        EXPECT_EQ(ThreadPool::GuidedOrEqualChunkStart(chunks, chunks, participants, total), total);
        for (size_t c = 0; c < chunks; ++c) {
          const size_t start = ThreadPool::GuidedOrEqualChunkStart(c, chunks, participants, total);
          const size_t end = ThreadPool::GuidedOrEqualChunkStart(c + 1, chunks, participants, total);
          ASSERT_LE(start, end);
          if (chunks % participants == 0) {
            EXPECT_EQ(start, ThreadPool::GuidedChunkStart(c, chunks, participants, total));
          } else {
            EXPECT_EQ(start, c * total / chunks);
          }
        }
      }
}

TEST(ThreadPoolTest, WithoutWorkersEveryTaskRunsOnTheCallerInOrder) {
  ThreadPool pool(3);
  pool.UseWorkers(false);
  EXPECT_EQ(pool.num_threads(), 3);  // the operators still split for three
  std::vector<size_t> order;
  std::vector<std::thread::id> ran_on;
  pool.ParallelFor(50, [&](size_t i) {  // unsynchronised pushes: one thread only, or a race ASan/TSan would see
    order.push_back(i);
    ran_on.push_back(std::this_thread::get_id());
  });
  ASSERT_EQ(order.size(), 50u);
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(order[i], i);
    EXPECT_EQ(ran_on[i], std::this_thread::get_id());
  }
  pool.UseWorkers(true);
  std::atomic<int> sum{0};
  pool.ParallelFor(50, [&](size_t i) { sum += static_cast<int>(i); });
  EXPECT_EQ(sum.load(), 49 * 50 / 2);
}

TEST(ThreadPoolTest, RunsEveryTaskOnceAcrossManyCalls) {
  ThreadPool pool(4);
  for (int round = 0; round < 200; ++round) {
    std::vector<int> hits(static_cast<size_t>(round % 37 + 1), 0);
    pool.ParallelFor(hits.size(), [&](size_t i) { hits[i] += 1; });
    for (int h : hits) ASSERT_EQ(h, 1);
  }
}

// Many short calls: workers often wake after the caller has run every task
// and returned, and must then claim nothing (a stale claim would run a task
// whose captures are gone; ASan reports that as stack-use-after-scope).
TEST(ThreadPoolTest, LateWorkersNeverRunAFinishedCall) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    for (int round = 0; round < 20000; ++round) {
      std::vector<int> hits(static_cast<size_t>(round % 3 + 2), 0);
      pool.ParallelFor(hits.size(), [&hits](size_t i) { hits[i] += 1; });
      for (int h : hits) ASSERT_EQ(h, 1) << "round " << round;
    }
  }
}

// The caller returns only after tasks still running on a worker finished:
// short ones it spins for, long ones (beyond the spin limit) it sleeps for.
TEST(ThreadPoolTest, WaitsForTasksStillRunningOnWorkers) {
  ThreadPool pool(2);
  const std::thread::id caller = std::this_thread::get_id();
  for (int round = 0; round < 60; ++round) {
    const auto worker_task = std::chrono::microseconds(round % 3 == 0 ? 2000 : 10 + 40 * (round % 3));
    std::atomic<int> finished{0};
    pool.ParallelFor(2, [&](size_t) {
      if (std::this_thread::get_id() != caller) std::this_thread::sleep_for(worker_task);
      finished.fetch_add(1);
    });
    ASSERT_EQ(finished.load(), 2) << "round " << round;
  }
}

// Held workers spin between calls instead of sleeping. They must still run
// every task exactly once, take part in the calls (the point of holding
// them), and fall back to sleeping when the hold is released or the next
// call is late (here: 2 ms, longer than the spin limit).
TEST(ThreadPoolTest, HeldWorkersJoinEveryCallAndStillSleepWhenReleased) {
  ThreadPool pool(3);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> on_workers{0};
  for (int round = 0; round < 300; ++round) {
    pool.HoldWorkers(round % 10 != 9);  // every tenth call is a burst's last
    std::vector<int> hits(static_cast<size_t>(round % 7 + 4), 0);
    pool.ParallelFor(hits.size(), [&](size_t i) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      if (std::this_thread::get_id() != caller) on_workers.fetch_add(1);
      hits[i] += 1;
    });
    for (int h : hits) ASSERT_EQ(h, 1) << "round " << round;
    if (round % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_GT(on_workers.load(), 0);
}

// Held workers join a call without the mutex, reading the task the caller
// published: a worker late for one call may read the next call's task, and
// must then run nothing of either until it sees the next call (a stale
// claim would run a task whose captures are gone: ASan). Every tenth call
// has a long task on a worker, so the caller goes to sleep and must still
// be woken by the worker that finishes last.
TEST(ThreadPoolTest, HeldWorkersJoinShortCallsAndWakeASleepingCaller) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    const std::thread::id caller = std::this_thread::get_id();
    pool.HoldWorkers(true);
    for (int round = 0; round < 20000; ++round) {
      std::vector<int> hits(static_cast<size_t>(round % 3 + 2), 0);
      const bool long_task = round % 1000 == 999;
      pool.ParallelFor(hits.size(), [&hits, long_task, caller](size_t i) {
        if (long_task && std::this_thread::get_id() != caller) {
          std::this_thread::sleep_for(std::chrono::microseconds(1000));
        }
        hits[i] += 1;
      });
      for (int h : hits) ASSERT_EQ(h, 1) << "round " << round;
    }
    pool.HoldWorkers(false);
  }
}

// Destroying a pool whose workers are held and spinning must not hang.
TEST(ThreadPoolTest, DestroysWhileWorkersAreHeld) {
  for (int round = 0; round < 100; ++round) {
    ThreadPool pool(3);
    pool.HoldWorkers(true);
    std::atomic<int> done{0};
    pool.ParallelFor(6, [&done](size_t) { done.fetch_add(1); });
    ASSERT_EQ(done.load(), 6);
  }
}

}  // namespace
}  // namespace actsparse
