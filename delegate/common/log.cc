#include "delegate/common/log.h"

#include <cstdarg>
#include <vector>

namespace actsparse {

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}

void Logger::Log(LogLevel level, const std::string& message) const {
  if (!Enabled(level)) return;
  // One fprintf per line so lines from concurrent interpreters do not interleave.
  std::fprintf(stderr, "actsparse [%s] %s\n", LogLevelName(level), message.c_str());
}

void Logger::Logf(LogLevel level, const char* format, ...) const {
  if (!Enabled(level)) return;
  va_list args;
  va_start(args, format);
  va_list args_copy;
  va_copy(args_copy, args);
  const int length = std::vsnprintf(nullptr, 0, format, args_copy);
  va_end(args_copy);
  std::string text;
  if (length > 0) {
    std::vector<char> buffer(static_cast<size_t>(length) + 1);
    std::vsnprintf(buffer.data(), buffer.size(), format, args);
    text.assign(buffer.data(), static_cast<size_t>(length));
  }
  va_end(args);
  Log(level, text);
}

}  // namespace actsparse
