// libFuzzer entry point for the metadata parser. Built with clang
// -fsanitize=fuzzer by scripts/fuzz.sh; the same function replays the seed
// corpus in a googletest (format_fuzz_replay_test) under every Bazel config.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "delegate/format/mask_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<actsparse::MaskedChain> chains;
  std::string error;
  if (actsparse::ParseMaskMetadata(data, size, &chains, &error)) {
    // Whatever parses must be self-consistent.
    for (const auto& chain : chains) {
      if (chain.mask.size() != static_cast<size_t>(chain.height) * chain.width) __builtin_trap();
      uint32_t active = 0;
      for (uint8_t bit : chain.mask) active += bit;
      if (active != chain.active_count) __builtin_trap();
    }
  } else if (error.empty() || !chains.empty()) {
    __builtin_trap();
  }
  return 0;
}
