#include "delegate/format/mask_format.h"

#include <array>
#include <cstring>

namespace actsparse {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the format is little-endian and read with memcpy");

constexpr uint8_t kMagic[4] = {'A', 'S', 'P', 'M'};
constexpr uint16_t kVersion = 1;
constexpr size_t kHeaderSize = 16;
constexpr size_t kRecordFixedSize = 48;
constexpr size_t kCrcSize = 4;
// Far beyond any conv output; keeps height*width and bit counts in range.
constexpr uint32_t kMaxExtent = 1u << 15;

template <typename T>
T Load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

int PopCount(uint8_t byte) {
  int count = 0;
  for (; byte; byte &= static_cast<uint8_t>(byte - 1)) ++count;
  return count;
}

}  // namespace

uint32_t Crc32(const uint8_t* data, size_t size) {
  static const std::array<uint32_t, 256> table = MakeCrcTable();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

bool ParseMaskMetadata(const uint8_t* data, size_t size, std::vector<MaskedChain>* chains,
                       std::string* error) {
  chains->clear();
  auto fail = [&](const std::string& message) {
    chains->clear();
    *error = message;
    return false;
  };
  if (data == nullptr || size < kHeaderSize + kCrcSize) {
    return fail("entry is " + std::to_string(size) + " bytes, shorter than a header and CRC");
  }
  if (std::memcmp(data, kMagic, 4) != 0) return fail("bad magic: not an actsparse.masks entry");
  const uint16_t version = Load<uint16_t>(data + 4);
  if (version != kVersion) {
    return fail("format version " + std::to_string(version) + " is not supported (this reader knows 1)");
  }
  const uint16_t header_size = Load<uint16_t>(data + 6);
  if (header_size != kHeaderSize) {
    return fail("header_size is " + std::to_string(header_size) + ", expected 16");
  }
  const uint32_t count = Load<uint32_t>(data + 8);
  const uint32_t total = Load<uint32_t>(data + 12);
  if (total != size) {
    return fail("total_size says " + std::to_string(total) + " bytes but the entry has " +
                std::to_string(size));
  }
  const size_t crc_offset = size - kCrcSize;
  if (Crc32(data, crc_offset) != Load<uint32_t>(data + crc_offset)) {
    return fail("checksum mismatch: the entry is corrupt");
  }
  size_t offset = kHeaderSize;
  for (uint32_t index = 0; index < count; ++index) {
    const std::string where =
        "layer record " + std::to_string(index) + " (offset " + std::to_string(offset) + ")";
    if (offset + kRecordFixedSize > crc_offset) return fail(where + " runs past the end of the records");
    const uint8_t* r = data + offset;
    const uint32_t record_size = Load<uint32_t>(r);
    if (record_size % 4 != 0 || record_size < kRecordFixedSize || record_size > crc_offset - offset) {
      return fail(where + ": record_size " + std::to_string(record_size) +
                  " is not a multiple of 4 or runs past the end");
    }
    MaskedChain chain;
    chain.subgraph = Load<uint32_t>(r + 4);
    chain.pad_op = Load<int32_t>(r + 8);
    chain.conv_op = Load<int32_t>(r + 12);
    chain.mul_op = Load<int32_t>(r + 16);
    chain.add_op = Load<int32_t>(r + 20);
    chain.mask_tensor = Load<int32_t>(r + 24);
    chain.height = Load<uint32_t>(r + 28);
    chain.width = Load<uint32_t>(r + 32);
    chain.active_count = Load<uint32_t>(r + 36);
    const uint16_t name_length = Load<uint16_t>(r + 44);
    if (chain.height == 0 || chain.width == 0 || chain.height > kMaxExtent ||
        chain.width > kMaxExtent) {
      return fail(where + ": mask is " + std::to_string(chain.height) + "x" +
                  std::to_string(chain.width) + "; height and width must be in [1, 32768]");
    }
    if (chain.conv_op < 0 || chain.mul_op < 0 || chain.mask_tensor < 0 || chain.pad_op < -1 ||
        chain.add_op < -1) {
      return fail(where + ": negative operator or tensor index");
    }
    const size_t pixels = static_cast<size_t>(chain.height) * chain.width;
    const size_t bits_start = kRecordFixedSize + name_length + ((4 - name_length % 4) % 4);
    const size_t bits_length = (pixels + 7) / 8;
    if (bits_start + bits_length > record_size) {
      return fail(where + ": name and mask bits exceed record_size " + std::to_string(record_size));
    }
    chain.name.assign(reinterpret_cast<const char*>(r + kRecordFixedSize), name_length);
    const uint8_t* bits = r + bits_start;
    const size_t spare = bits_length * 8 - pixels;
    if (spare != 0 && (bits[bits_length - 1] >> (8 - spare)) != 0) {
      return fail(where + " (" + chain.name + "): unused bits after the mask are set");
    }
    uint32_t active = 0;
    for (size_t i = 0; i < bits_length; ++i) active += static_cast<uint32_t>(PopCount(bits[i]));
    if (active != chain.active_count) {
      return fail(where + " (" + chain.name + "): active_count " +
                  std::to_string(chain.active_count) + " but " + std::to_string(active) +
                  " bits are set");
    }
    chain.mask.resize(pixels);
    for (size_t p = 0; p < pixels; ++p) chain.mask[p] = (bits[p / 8] >> (p % 8)) & 1u;
    chains->push_back(std::move(chain));
    offset += record_size;
  }
  if (offset != crc_offset) {
    return fail(std::to_string(crc_offset - offset) + " bytes after the last record");
  }
  return true;
}

}  // namespace actsparse
