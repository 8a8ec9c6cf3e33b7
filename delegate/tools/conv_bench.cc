// Times the conv operator on network layer shapes under several cache
// blockings, interleaved in one process (round robin, medians), so that the
// host's outside load hits every variant alike. A tool for choosing the
// defaults of ConvBlocking, not a test; the depthwise layers time its
// depthwise kernels (the regular conv variants are alike for them; the
// dw-* ones force pointers or image rows). The igemm kernel is the widest this
// CPU has (ACTSPARSE_KERNELS=avx2 or scalar caps it).
//
//   bazel run -c opt //delegate:conv_bench -- [--threads N] [--rounds R] [--layers resnet18|mobilenet_v2|mobilenet_v3|all|NETWORK.LAYER]
//                                              [--cold 1]  (caches evicted before every run)
//                                              [--density D]  (random mask keeping a fraction D of the pixels;
//                                                              the layer without a mask runs interleaved too:
//                                                              eff = D x its time / the variant's)
//                                              [--variants A,B]  (only these, e.g. default,dw-pointers)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "delegate/operator/shape.h"
#include "delegate/operator/sparse_conv.h"
#include "delegate/operator/thread_pool.h"

namespace actsparse {
namespace {

struct Layer {
  const char* network;
  const char* name;
  int size, cin, cout, kernel, stride;  // square input of `size`, SAME padding
  bool depthwise = false;               // cout == cin, multiplier 1
};

const Layer kLayers[] = {
    {"resnet18", "stem7x7", 224, 3, 64, 7, 2},   {"resnet18", "layer1", 56, 64, 64, 3, 1},
    {"resnet18", "layer2.s2", 56, 64, 128, 3, 2}, {"resnet18", "layer2", 28, 128, 128, 3, 1},
    {"resnet18", "layer3", 14, 256, 256, 3, 1},   {"resnet18", "layer4", 7, 512, 512, 3, 1},
    {"mobilenet_v2", "stem", 224, 3, 32, 3, 2},       {"mobilenet_v2", "project112", 112, 32, 16, 1, 1}, {"mobilenet_v2", "expand112", 112, 16, 96, 1, 1}, {"mobilenet_v2", "project56", 56, 144, 24, 1, 1},
    {"mobilenet_v2", "expand56", 56, 24, 144, 1, 1},  {"mobilenet_v2", "expand14", 14, 64, 384, 1, 1},
    {"mobilenet_v2", "project14", 14, 384, 64, 1, 1}, {"mobilenet_v2", "last7", 7, 320, 1280, 1, 1},
    {"mobilenet_v2", "dw112", 112, 32, 32, 3, 1, true},   {"mobilenet_v2", "dw112.s2", 112, 96, 96, 3, 2, true},
    {"mobilenet_v2", "dw56", 56, 144, 144, 3, 1, true},   {"mobilenet_v2", "dw28", 28, 192, 192, 3, 1, true},
    {"mobilenet_v2", "dw14", 14, 384, 384, 3, 1, true},   {"mobilenet_v2", "dw7", 7, 960, 960, 3, 1, true},
    {"mobilenet_v2", "dw56.s2", 56, 144, 144, 3, 2, true}, {"mobilenet_v2", "dw28.s2", 28, 192, 192, 3, 2, true},
    {"mobilenet_v2", "dw14.s2", 14, 576, 576, 3, 2, true},
    {"mobilenet_v3", "stem", 224, 3, 16, 3, 2},        {"mobilenet_v3", "conv112", 112, 16, 16, 1, 1},
    {"mobilenet_v3", "expand112", 112, 16, 64, 1, 1}, {"mobilenet_v3", "dw112", 112, 16, 16, 3, 1, true},
    {"mobilenet_v3", "project56", 56, 72, 24, 1, 1},  {"mobilenet_v3", "expand28", 28, 40, 120, 1, 1},
    {"mobilenet_v3", "dw112.s2", 112, 64, 64, 3, 2, true}, {"mobilenet_v3", "dw56.s2.5x5", 56, 72, 72, 5, 2, true},
    {"mobilenet_v3", "dw28.5x5", 28, 120, 120, 5, 1, true},  {"mobilenet_v3", "dw7.5x5", 7, 960, 960, 5, 1, true},
    {"mobilenet_v3", "dw14.s2.5x5", 14, 672, 672, 5, 2, true},
};

struct Variant {
  const char* name;
  ConvBlocking blocking;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main(int argc, char** argv) {
  int threads = 1, rounds = 31;
  bool cold = false;  // evict the caches before every run, as a network's next layer finds them
  double density = 1.0;
  std::string which = "all", only;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--layers")) which = argv[i + 1];
    else if (!std::strcmp(argv[i], "--cold")) cold = std::atoi(argv[i + 1]) != 0;
    else if (!std::strcmp(argv[i], "--density")) density = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--variants")) only = std::string(",") + argv[i + 1] + ",";
  }
  std::vector<Variant> variants;
  variants.push_back({"default", ConvBlocking()});
  ConvBlocking rows_kernel;
  rows_kernel.igemm_max_reduction = 1;  // every conv through ConvRows
  variants.push_back({"conv-rows", rows_kernel});
  ConvBlocking igemm;
  igemm.igemm_max_reduction = static_cast<size_t>(-1);  // every conv through igemm
  variants.push_back({"igemm", igemm});
  ConvBlocking pointers;
  pointers.depthwise_image_rows = ConvBlocking::ImageRows::kNever;
  variants.push_back({"dw-pointers", pointers});
  ConvBlocking image_rows;
  image_rows.depthwise_image_rows = ConvBlocking::ImageRows::kAlways;
  variants.push_back({"dw-image-rows", image_rows});
  if (!only.empty()) {
    std::string known;
    for (const Variant& v : variants) known += (known.empty() ? "" : ", ") + std::string(v.name);
    variants.erase(std::remove_if(variants.begin(), variants.end(),
                                  [&](const Variant& v) {
                                    return only.find(std::string(",") + v.name + ",") == std::string::npos;
                                  }),
                   variants.end());
    if (variants.empty()) {
      std::fprintf(stderr, "--variants %s: none of %s\n", only.substr(1, only.size() - 2).c_str(), known.c_str());
      return 1;
    }
  }

  std::unique_ptr<ThreadPool> pool = threads > 1 ? std::make_unique<ThreadPool>(threads) : nullptr;
  // Workers spin between runs, as between the steps of a delegate partition.
  if (pool) pool->HoldWorkers(true);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::printf("%d thread(s), %d rounds, mask density %.2f; ms per run (median) and GFLOP/s of the dense conv\n",
              threads, rounds, density);
  for (const Layer& layer : kLayers) {
    if (which != "all" && which != layer.network && which != std::string(layer.network) + "." + layer.name) continue;
    SparseConvParams p;
    p.input_height = p.input_width = layer.size;
    p.input_channels = layer.cin;
    p.output_channels = layer.cout;
    p.kernel_height = p.kernel_width = layer.kernel;
    p.stride_height = p.stride_width = layer.stride;
    p.output_height = p.output_width = (layer.size + layer.stride - 1) / layer.stride;
    const int pad = std::max((p.output_height - 1) * layer.stride + layer.kernel - layer.size, 0);
    p.padding_top = p.padding_left = pad / 2;
    p.output_min = 0.0f;
    p.depthwise = layer.depthwise;
    const int kernel_channels = layer.depthwise ? 1 : layer.cin;
    std::vector<float> weights(static_cast<size_t>(layer.cout) * layer.kernel * layer.kernel * kernel_channels);
    for (float& w : weights) w = normal(rng) * 0.05f;
    // 64-byte aligned as the delegate's arena: a vector's malloc'd block
    // would split every vector load across two cache lines.
    AlignedFloats input(static_cast<size_t>(layer.size) * layer.size * layer.cin);
    for (float& x : input) x = normal(rng);
    AlignedFloats output(static_cast<size_t>(p.output_height) * p.output_width * layer.cout);
    std::vector<uint8_t> mask(static_cast<size_t>(p.output_height) * p.output_width);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    for (uint8_t& m : mask) m = uniform(rng) < density;
    std::vector<std::unique_ptr<SparseConvOperator>> ops;
    std::string error;
    // With a mask, the same layer without one (default blocking) runs
    // interleaved too, last: what the masked variants are worth per active
    // pixel (efficiency = density x dense time / masked time).
    const bool masked = density < 1.0;
    for (size_t v = 0; v < variants.size() + (masked ? 1 : 0); ++v) {
      const bool dense_reference = v == variants.size();
      ops.push_back(SparseConvOperator::Create(p, weights.data(), nullptr, nullptr,
                                               dense_reference ? nullptr : (masked ? mask.data() : nullptr), &error));
      if (!ops.back()) {
        std::fprintf(stderr, "%s: %s\n", layer.name, error.c_str());
        return 1;
      }
      ops.back()->set_blocking(dense_reference ? ConvBlocking() : variants[v].blocking);
      ops.back()->Run(input.data(), output.data(), pool.get());
    }
    std::vector<float> evict(cold ? 64 << 20 >> 2 : 0, 1.0f);  // 64 MB
    std::vector<std::vector<double>> times(ops.size());
    for (int r = 0; r < rounds; ++r) {
      for (size_t k = 0; k < ops.size(); ++k) {
        const size_t v = (r % 2 == 0) ? k : ops.size() - 1 - k;
        for (size_t i = 0; i < evict.size(); i += 16) evict[i] += 1.0f;
        const auto start = std::chrono::steady_clock::now();
        ops[v]->Run(input.data(), output.data(), pool.get());
        times[v].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      }
    }
    const double flops = 2.0 * p.output_height * p.output_width * layer.cout * layer.kernel * layer.kernel * kernel_channels;
    std::printf("%-13s %-10s", layer.network, layer.name);
    const double base = Median(times[0]);
    for (size_t v = 0; v < variants.size(); ++v) {
      const double ms = Median(times[v]);
      std::printf("  %s %.3f %5.1f x%.2f", variants[v].name, ms, flops / ms / 1e6, base / ms);
      if (masked) std::printf(" eff %.2f", density * Median(times.back()) / ms);
    }
    if (masked) std::printf("  dense %.3f", Median(times.back()));
    std::printf("\n");
  }
  return 0;
}

}  // namespace
}  // namespace actsparse

int main(int argc, char** argv) { return actsparse::Main(argc, argv); }
