// fuzz/fuzz_support.hpp — what the fuzz targets share: the input bytes as a file (the readers under test take a
// path), and the check that turns a broken promise of the code under test into a crash that libFuzzer (or
// replay_main.cpp) reports.
#pragma once

#include <stdlib.h>  // mkdtemp

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace impasto::fuzz {

// A folder of this process's own under $TMPDIR (or /tmp), made once and removed at a normal exit, so that
// parallel jobs (-jobs, -fork) never share a file. Never freed: the exit handler still needs it.
inline const std::string& scratch_dir() {
  static const std::string* dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto* made = new std::string(std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/impasto-fuzz-XXXXXX");
    if (mkdtemp(made->data()) == nullptr) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return made;
  }();
  return *dir;
}

// Writes the input to scratch_dir()/name, replacing the previous one, and returns its path.
inline std::string write_input(const std::uint8_t* data, std::size_t size, const char* name) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  const bool ok = f != nullptr && (size == 0 || std::fwrite(data, 1, size, f) == size);
  if (f == nullptr || std::fclose(f) != 0 || !ok) {
    std::perror(("fuzz: cannot write " + path).c_str());
    std::abort();
  }
  return path;
}

// A promise of the code under test that the input broke: a finding, reported as a crash (abort).
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: broken invariant: %s\n", what);
    std::abort();
  }
}

}  // namespace impasto::fuzz
