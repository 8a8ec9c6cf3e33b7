// Replays the fuzz seed corpus (the shared vectors plus every truncation and
// single-byte mutation of them) through the libFuzzer entry point, so the
// harness runs under every Bazel config (host, ASan/UBSan, aarch64/qemu),
// where libFuzzer itself is not available.
#include <gtest/gtest.h>

#include <dirent.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST(FuzzReplayTest, SeedCorpusAndMutations) {
  const std::string dir = "tests/data/format/";
  DIR* handle = opendir(dir.c_str());
  ASSERT_NE(handle, nullptr);
  int files = 0;
  while (dirent* entry = readdir(handle)) {
    const std::string name = entry->d_name;
    if (name.size() < 4 || name.substr(name.size() - 4) != ".bin") continue;
    std::ifstream in(dir + name, std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++files;
    for (size_t size = 0; size <= data.size(); ++size) LLVMFuzzerTestOneInput(data.data(), size);
    for (size_t i = 0; i < data.size(); ++i) {
      const uint8_t original = data[i];
      for (uint8_t value : {uint8_t{0}, uint8_t{0xFF}, static_cast<uint8_t>(original + 1)}) {
        data[i] = value;
        LLVMFuzzerTestOneInput(data.data(), data.size());
      }
      data[i] = original;
    }
  }
  closedir(handle);
  EXPECT_GE(files, 18);
}

}  // namespace
