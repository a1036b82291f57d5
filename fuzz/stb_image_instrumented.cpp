// fuzz/stb_image_instrumented.cpp — in the libFuzzer build only (IMPASTO_FUZZ): stb_image compiled from Debian's
// header with the fuzzer's coverage and ASan, linked into fuzz_image where its definitions take the place of the
// uninstrumented system libstb's, so that libFuzzer sees the decoders' branches and ASan checks their memory
// accesses. UBSan stays off here: this is third-party code, and its findings would stop the run before ours.
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
