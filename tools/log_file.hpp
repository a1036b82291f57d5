// tools/log_file.hpp — the JSON-lines logs of `stylize --log` and `video --log`: each line is written and
// flushed at once, so a killed run keeps every line before it, and a failed write (a full disk) is a one-line
// error naming the file instead of a short log and exit 0.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/error.hpp"

namespace impasto::cli {

class LogFile {
 public:
  // mode: "w" (start the file) or "a" (append, as a resumed video run does).
  LogFile(std::string path, const char* mode) : path_(std::move(path)), f_(std::fopen(path_.c_str(), mode)) {
    IMPASTO_CHECK(f_ != nullptr, "log '" << path_ << "': cannot open for writing: " << std::strerror(errno));
  }
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;
  ~LogFile() {
    if (f_) std::fclose(f_);
  }

  void line(const nlohmann::json& j) {
    const std::string s = j.dump() + "\n";
    const bool ok = std::fwrite(s.data(), 1, s.size(), f_) == s.size() && std::fflush(f_) == 0;
    IMPASTO_CHECK(ok, "log '" << path_ << "': cannot write: " << std::strerror(errno));
  }

 private:
  std::string path_;
  std::FILE* f_;
};

}  // namespace impasto::cli
