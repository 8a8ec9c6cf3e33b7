#include "delegate/common/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace actsparse {
namespace {

struct Parsed {
  bool ok;
  DelegateOptions options;
  std::string error;
};

Parsed Parse(const std::vector<std::pair<const char*, const char*>>& pairs) {
  std::vector<const char*> keys, values;
  for (const auto& p : pairs) {
    keys.push_back(p.first);
    values.push_back(p.second);
  }
  Parsed result;
  result.ok = ParseDelegateOptions(keys.data(), values.data(), pairs.size(), &result.options,
                                   &result.error);
  return result;
}

TEST(OptionsTest, DefaultsWhenEmpty) {
  Parsed p = Parse({});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.options.num_threads, DelegateOptions::kAutoThreads);
  EXPECT_EQ(p.options.log_level, LogLevel::kWarning);
}

TEST(OptionsTest, AcceptsEveryKnownKey) {
  Parsed p = Parse({{"num_threads", "4"}, {"log_level", "debug"}, {"verbose", "False"}, {"profile", "on"}});
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.options.num_threads, 4);
  EXPECT_EQ(p.options.log_level, LogLevel::kDebug);
  EXPECT_TRUE(p.options.profile);
  EXPECT_FALSE(Parse({}).options.profile);
  EXPECT_FALSE(Parse({{"profile", "false"}}).options.profile);
  Parsed bad = Parse({{"profile", "sometimes"}});
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.error.find("profile='sometimes'"), std::string::npos) << bad.error;
}

TEST(OptionsTest, VerboseRaisesToInfoButKeepsDebug) {
  EXPECT_EQ(Parse({{"verbose", "True"}}).options.log_level, LogLevel::kInfo);
  EXPECT_EQ(Parse({{"verbose", "1"}, {"log_level", "error"}}).options.log_level, LogLevel::kInfo);
  EXPECT_EQ(Parse({{"verbose", "yes"}, {"log_level", "3"}}).options.log_level, LogLevel::kDebug);
}

TEST(OptionsTest, LogLevelByNameOrDigit) {
  EXPECT_EQ(Parse({{"log_level", "0"}}).options.log_level, LogLevel::kError);
  EXPECT_EQ(Parse({{"log_level", "WARNING"}}).options.log_level, LogLevel::kWarning);
  EXPECT_EQ(Parse({{"log_level", "info"}}).options.log_level, LogLevel::kInfo);
}

TEST(OptionsTest, UnknownKeyIsNamed) {
  Parsed p = Parse({{"num_threads", "2"}, {"bogus", "1"}});
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find("'bogus'"), std::string::npos) << p.error;
  EXPECT_NE(p.error.find("num_threads"), std::string::npos) << "lists accepted keys: " << p.error;
}

TEST(OptionsTest, BadValuesAreNamed) {
  for (const char* bad : {"0", "-2", "257", "two", "", "3.5", "4x"}) {
    Parsed p = Parse({{"num_threads", bad}});
    EXPECT_FALSE(p.ok) << bad;
    EXPECT_NE(p.error.find("num_threads='" + std::string(bad) + "'"), std::string::npos)
        << p.error;
  }
  EXPECT_FALSE(Parse({{"log_level", "loud"}}).ok);
  EXPECT_FALSE(Parse({{"verbose", "maybe"}}).ok);
}

TEST(OptionsTest, RepeatedKeyIsAnError) {
  Parsed p = Parse({{"num_threads", "2"}, {"num_threads", "3"}});
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.error.find("more than once"), std::string::npos) << p.error;
}

TEST(OptionsTest, NullPointersAreErrorsNotCrashes) {
  DelegateOptions options;
  std::string error;
  EXPECT_FALSE(ParseDelegateOptions(nullptr, nullptr, 1, &options, &error));
  const char* keys[] = {"num_threads"};
  const char* values[] = {nullptr};
  EXPECT_FALSE(ParseDelegateOptions(keys, values, 1, &options, &error));
  EXPECT_TRUE(ParseDelegateOptions(nullptr, nullptr, 0, &options, &error));
}

TEST(OptionsTest, ResolveNumThreads) {
  DelegateOptions automatic;
  EXPECT_EQ(ResolveNumThreads(automatic, -1), 1);
  EXPECT_EQ(ResolveNumThreads(automatic, 0), 1);
  EXPECT_EQ(ResolveNumThreads(automatic, 3), 3);
  DelegateOptions fixed;
  fixed.num_threads = 2;
  EXPECT_EQ(ResolveNumThreads(fixed, 8), 2);
}

}  // namespace
}  // namespace actsparse
