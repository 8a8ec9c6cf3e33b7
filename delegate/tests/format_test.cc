// The C++ metadata parser against the shared vectors (tests/data/format),
// the same files the Python reader is tested with.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "delegate/format/mask_format.h"

namespace actsparse {
namespace {

const char kVectors[] = "tests/data/format/";

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Expected {
  std::string file;
  bool valid = false;
  std::string keyword;
  std::vector<MaskedChain> chains;
};

std::vector<Expected> ReadManifest() {
  std::ifstream in(std::string(kVectors) + "manifest.txt");
  EXPECT_TRUE(in.good()) << "manifest.txt missing from the test's runfiles";
  std::vector<Expected> entries;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string kind;
    fields >> kind;
    if (kind == "valid" || kind == "invalid") {
      Expected e;
      e.valid = kind == "valid";
      fields >> e.file;
      if (!e.valid) {  // the keyword is the rest of the line
        std::getline(fields >> std::ws, e.keyword);
      }
      entries.push_back(e);
    } else if (kind == "layer") {
      MaskedChain c;
      std::string rows;
      fields >> c.name >> c.subgraph >> c.pad_op >> c.conv_op >> c.mul_op >> c.add_op >>
          c.mask_tensor >> c.height >> c.width >> c.active_count >> rows;
      for (char bit : rows) {
        if (bit != '/') c.mask.push_back(static_cast<uint8_t>(bit - '0'));
      }
      entries.back().chains.push_back(c);
    }
  }
  return entries;
}

TEST(MaskFormatTest, SharedVectors) {
  const std::vector<Expected> manifest = ReadManifest();
  ASSERT_GE(manifest.size(), 10u);
  int valid = 0, invalid = 0;
  for (const Expected& e : manifest) {
    SCOPED_TRACE(e.file);
    const std::vector<uint8_t> data = ReadFile(std::string(kVectors) + e.file);
    std::vector<MaskedChain> chains;
    std::string error;
    const bool ok = ParseMaskMetadata(data.data(), data.size(), &chains, &error);
    if (e.valid) {
      ++valid;
      ASSERT_TRUE(ok) << error;
      ASSERT_EQ(chains.size(), e.chains.size());
      for (size_t i = 0; i < chains.size(); ++i) {
        const MaskedChain& got = chains[i];
        const MaskedChain& want = e.chains[i];
        EXPECT_EQ(got.name, want.name);
        EXPECT_EQ(got.subgraph, want.subgraph);
        EXPECT_EQ(got.pad_op, want.pad_op);
        EXPECT_EQ(got.conv_op, want.conv_op);
        EXPECT_EQ(got.mul_op, want.mul_op);
        EXPECT_EQ(got.add_op, want.add_op);
        EXPECT_EQ(got.mask_tensor, want.mask_tensor);
        EXPECT_EQ(got.height, want.height);
        EXPECT_EQ(got.width, want.width);
        EXPECT_EQ(got.active_count, want.active_count);
        EXPECT_EQ(got.mask, want.mask);
      }
    } else {
      ++invalid;
      EXPECT_FALSE(ok);
      EXPECT_TRUE(chains.empty());
      EXPECT_NE(error.find(e.keyword), std::string::npos) << "'" << e.keyword << "' not in: " << error;
    }
  }
  EXPECT_EQ(valid, 3);
  EXPECT_GE(invalid, 15);
}

TEST(MaskFormatTest, EverySingleBitFlipIsRejected) {
  std::vector<uint8_t> data = ReadFile(std::string(kVectors) + "three_layers.bin");
  std::vector<MaskedChain> chains;
  std::string error;
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(ParseMaskMetadata(data.data(), data.size(), &chains, &error)) << "bit " << bit;
    data[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
  EXPECT_TRUE(ParseMaskMetadata(data.data(), data.size(), &chains, &error)) << error;
}

TEST(MaskFormatTest, EveryTruncationIsRejected) {
  const std::vector<uint8_t> data = ReadFile(std::string(kVectors) + "three_layers.bin");
  std::vector<MaskedChain> chains;
  std::string error;
  for (size_t size = 0; size < data.size(); ++size) {
    EXPECT_FALSE(ParseMaskMetadata(data.data(), size, &chains, &error)) << size;
  }
  EXPECT_FALSE(ParseMaskMetadata(nullptr, 0, &chains, &error));
}

TEST(MaskFormatTest, Crc32MatchesZlib) {
  const std::string text = "123456789";
  EXPECT_EQ(Crc32(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0xCBF43926u);
  EXPECT_EQ(Crc32(nullptr, 0), 0u);
}

}  // namespace
}  // namespace actsparse
