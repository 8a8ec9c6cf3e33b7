#include "delegate/common/options.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <set>

namespace actsparse {
namespace {

std::string Lower(const std::string& text) {
  std::string out = text;
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

bool ParseInt(const std::string& text, long* value) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long parsed = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return false;
  *value = parsed;
  return true;
}

bool ParseBool(const std::string& text, bool* value) {
  const std::string lower = Lower(text);
  if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") {
    *value = true;
    return true;
  }
  if (lower == "0" || lower == "false" || lower == "no" || lower == "off") {
    *value = false;
    return true;
  }
  return false;
}

bool ParseLogLevel(const std::string& text, LogLevel* level) {
  const std::string lower = Lower(text);
  static const struct {
    const char* name;
    const char* digit;
    LogLevel level;
  } kLevels[] = {
      {"error", "0", LogLevel::kError},
      {"warning", "1", LogLevel::kWarning},
      {"info", "2", LogLevel::kInfo},
      {"debug", "3", LogLevel::kDebug},
  };
  for (const auto& entry : kLevels) {
    if (lower == entry.name || lower == entry.digit) {
      *level = entry.level;
      return true;
    }
  }
  if (lower == "warn") {
    *level = LogLevel::kWarning;
    return true;
  }
  return false;
}

std::string BadValue(const std::string& key, const std::string& value,
                     const std::string& expected) {
  return "delegate option " + key + "='" + value + "' is invalid: expected " + expected;
}

}  // namespace

const char* DelegateOptionsHelp() {
  return "num_threads=<1..256 or -1 for the interpreter's count>, "
         "log_level=<error|warning|info|debug or 0..3>, verbose=<true|false>, "
         "profile=<true|false>, claim=<graph|chains>, fuse=<true|false>";
}

bool ParseDelegateOptions(const char* const* keys, const char* const* values,
                          size_t count, DelegateOptions* options, std::string* error) {
  DelegateOptions parsed;
  bool verbose = false;
  bool log_level_given = false;
  std::set<std::string> seen;
  if (count > 0 && (keys == nullptr || values == nullptr)) {
    *error = "delegate options: null key or value array";
    return false;
  }
  for (size_t i = 0; i < count; ++i) {
    if (keys[i] == nullptr || values[i] == nullptr) {
      *error = "delegate options: null key or value at position " + std::to_string(i);
      return false;
    }
    const std::string key = Trim(keys[i]);
    const std::string value = Trim(values[i]);
    if (!seen.insert(key).second) {
      *error = "delegate option '" + key + "' is given more than once";
      return false;
    }
    if (key == "num_threads") {
      long threads = 0;
      if (!ParseInt(value, &threads) ||
          !(threads == DelegateOptions::kAutoThreads ||
            (threads >= 1 && threads <= DelegateOptions::kMaxThreads))) {
        *error = BadValue(key, value, "an integer in [1, 256], or -1 for the interpreter's count");
        return false;
      }
      parsed.num_threads = static_cast<int>(threads);
    } else if (key == "log_level") {
      if (!ParseLogLevel(value, &parsed.log_level)) {
        *error = BadValue(key, value, "one of error, warning, info, debug (or 0..3)");
        return false;
      }
      log_level_given = true;
    } else if (key == "profile") {
      if (!ParseBool(value, &parsed.profile)) {
        *error = BadValue(key, value, "true or false");
        return false;
      }
    } else if (key == "claim") {
      if (value == "graph") {
        parsed.claim = DelegateOptions::Claim::kGraph;
      } else if (value == "chains") {
        parsed.claim = DelegateOptions::Claim::kChains;
      } else {
        *error = BadValue(key, value, "graph or chains");
        return false;
      }
    } else if (key == "fuse") {
      if (!ParseBool(value, &parsed.fuse)) {
        *error = BadValue(key, value, "true or false");
        return false;
      }
    } else if (key == "verbose") {
      if (!ParseBool(value, &verbose)) {
        *error = BadValue(key, value, "true or false");
        return false;
      }
    } else {
      *error = "unknown delegate option '" + key + "' (accepted: " + DelegateOptionsHelp() + ")";
      return false;
    }
  }
  // verbose=true means at least info; an explicit log_level=debug stays debug.
  if (verbose && (!log_level_given || parsed.log_level < LogLevel::kInfo)) {
    parsed.log_level = LogLevel::kInfo;
  }
  *options = parsed;
  return true;
}

int ResolveNumThreads(const DelegateOptions& options, int recommended_num_threads) {
  if (options.num_threads != DelegateOptions::kAutoThreads) return options.num_threads;
  if (recommended_num_threads >= 1) {
    return std::min(recommended_num_threads, DelegateOptions::kMaxThreads);
  }
  return 1;
}

}  // namespace actsparse
