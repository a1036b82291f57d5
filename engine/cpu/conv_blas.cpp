// engine/cpu/conv_blas.cpp — see conv_blas.hpp: re-selects OpenBLAS's kernels when its CPU detection fell
// back to SSE3 on a CPU it does not know (OpenBLAS driver/others/dynamic.c: force_coretype, get_coretype).
#include "engine/cpu/conv_blas.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

// Weak references: present in a DYNAMIC_ARCH OpenBLAS, null with any other BLAS.
extern "C" {
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
char* openblas_get_corename(void) __attribute__((weak));
}

namespace impasto::cpu {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

// The cores OpenBLAS's x86-64 detection falls back to for an unknown CPU: none uses AVX2 or FMA.
bool is_fallback_core(const std::string& core) {
  static const char* const kFallbacks[] = {"prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge"};
  const std::string c = lower(core);
  return std::any_of(std::begin(kFallbacks), std::end(kFallbacks), [&](const char* f) { return c == f; });
}

// The best OpenBLAS core this CPU and OS can run, or nullptr. __builtin_cpu_supports also checks that the OS
// saves the AVX / AVX-512 state (XCR0).
const char* best_core() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

}  // namespace

std::string blas_core_name() {
  if (openblas_get_corename == nullptr) return "";
  const char* name = openblas_get_corename();
  return name != nullptr ? name : "";
}

void select_blas_kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (gotoblas_dynamic_init == nullptr || gotoblas_dynamic_quit == nullptr) return;
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice stands
    if (!is_fallback_core(blas_core_name())) return;
    const char* core = best_core();
    if (core == nullptr) return;
    // dynamic_init reads OPENBLAS_CORETYPE (force_coretype); set it only for that call.
    setenv("OPENBLAS_CORETYPE", core, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
  });
}

}  // namespace impasto::cpu
