// The exported C entry points, called as a runtime calls them.
#include <gtest/gtest.h>

#include <string>

#include "delegate/abi/tflite_abi.h"

extern "C" TfLiteDelegate* tflite_plugin_create_delegate(const char* const* keys,
                                                         const char* const* values,
                                                         size_t num_options,
                                                         void (*report_error)(const char*));
extern "C" void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate);

namespace {

std::string g_reported;
void Capture(const char* message) { g_reported += message; }

TEST(PluginTest, CreatesAndDestroysWithValidOptions) {
  const char* keys[] = {"num_threads", "verbose"};
  const char* values[] = {"2", "True"};
  g_reported.clear();
  TfLiteDelegate* delegate = tflite_plugin_create_delegate(keys, values, 2, Capture);
  ASSERT_NE(delegate, nullptr) << g_reported;
  EXPECT_NE(delegate->Prepare, nullptr);
  EXPECT_EQ(delegate->flags, 0);
  tflite_plugin_destroy_delegate(delegate);
}

TEST(PluginTest, UnknownOptionReturnsNullAndNamesIt) {
  const char* keys[] = {"bogus"};
  const char* values[] = {"1"};
  g_reported.clear();
  EXPECT_EQ(tflite_plugin_create_delegate(keys, values, 1, Capture), nullptr);
  EXPECT_NE(g_reported.find("'bogus'"), std::string::npos) << g_reported;
}

TEST(PluginTest, NullReportErrorIsAllowed) {
  // benchmark_model passes no callback: the message goes to stderr instead.
  const char* keys[] = {"num_threads"};
  const char* values[] = {"zero"};
  EXPECT_EQ(tflite_plugin_create_delegate(keys, values, 1, nullptr), nullptr);
}

TEST(PluginTest, OnlyLow32BitsOfTheCountAreUsed) {
  // ctypes passes the count as a C int: the upper half of the register is
  // undefined. A garbage upper half must not make us read past the arrays.
  const char* keys[] = {"num_threads"};
  const char* values[] = {"1"};
  TfLiteDelegate* delegate =
      tflite_plugin_create_delegate(keys, values, (size_t{0xdeadbeef} << 32) | 1u, Capture);
  ASSERT_NE(delegate, nullptr);
  tflite_plugin_destroy_delegate(delegate);
}

TEST(PluginTest, DestroyNullIsANoOp) { tflite_plugin_destroy_delegate(nullptr); }

}  // namespace
