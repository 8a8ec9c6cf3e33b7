// C++ reader of the "actsparse.masks" metadata entry (docs/FORMAT.md, v1).
// The Python twin is actsparse.format; both are tested against
// tests/data/format/. No TFLite types here: the glue validates the parsed
// chains against the graph.
#ifndef ACTSPARSE_DELEGATE_FORMAT_MASK_FORMAT_H_
#define ACTSPARSE_DELEGATE_FORMAT_MASK_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace actsparse {

// One masked convolution chain as listed in the metadata.
struct MaskedChain {
  std::string name;       // module path, for logs
  uint32_t subgraph = 0;
  int32_t pad_op = -1;    // -1: none
  int32_t conv_op = -1;
  int32_t mul_op = -1;
  int32_t add_op = -1;    // -1: none
  int32_t mask_tensor = -1;
  uint32_t height = 0;
  uint32_t width = 0;
  uint32_t active_count = 0;
  std::vector<uint8_t> mask;  // height*width bytes, row-major, 1 = keep

  float sparsity() const {
    return 1.0f - static_cast<float>(active_count) / static_cast<float>(height * width);
  }
};

// CRC-32 (IEEE 802.3 polynomial, as zlib's crc32).
uint32_t Crc32(const uint8_t* data, size_t size);

// Parses and checks a whole entry. On failure returns false, leaves `chains`
// empty and sets `error` to a message naming the rule that failed.
bool ParseMaskMetadata(const uint8_t* data, size_t size, std::vector<MaskedChain>* chains,
                       std::string* error);

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_FORMAT_MASK_FORMAT_H_
