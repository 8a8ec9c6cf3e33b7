// Leveled logging to stderr for the delegate glue. Each delegate instance owns
// its Logger (two delegates in one process may log at different levels).
// Kernels and operators never log: they return status to the glue.
#ifndef ACTSPARSE_DELEGATE_COMMON_LOG_H_
#define ACTSPARSE_DELEGATE_COMMON_LOG_H_

#include <cstdio>
#include <string>

namespace actsparse {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

const char* LogLevelName(LogLevel level);

class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::kWarning) : level_(level) {}

  LogLevel level() const { return level_; }
  bool Enabled(LogLevel level) const { return level <= level_; }

  // Writes "actsparse [<level>] <message>\n" to stderr if `level` is enabled.
  void Log(LogLevel level, const std::string& message) const;

  // printf-style convenience; the formatted text goes through Log().
  void Logf(LogLevel level, const char* format, ...) const
      __attribute__((format(printf, 3, 4)));

 private:
  LogLevel level_;
};

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_COMMON_LOG_H_
