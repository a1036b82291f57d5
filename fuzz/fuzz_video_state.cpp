// fuzz/fuzz_video_state.cpp — fuzz target: any bytes as a video run's resume state (OUT/impasto-video.json)
// through impasto::read_video_state. An impasto::Error is the expected answer to a bad file; a crash, a sanitizer
// report, another exception (nlohmann::json's included) or a state whose outputs are not frame or out.avi names
// is a finding: `impasto video --force` removes what that list names.
#include <cstdint>
#include <regex>

#include "engine/error.hpp"
#include "engine/video.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using impasto::fuzz::require;
  const std::string path = impasto::fuzz::write_input(data, size, "impasto-video.json");
  try {
    const impasto::VideoState s = impasto::read_video_state(path);
    // The names --force may remove (video.hpp), spelled out again so that a change of the reader's rule shows.
    // The first and last thousand only: a version-1 state lists up to 10^7 generated names.
    static const std::regex names(R"((pass[1-9][0-9]{0,5}/)?frame_[0-9]{4,9}\.png|out\.avi)");
    const std::size_t n = s.outputs.size();
    for (std::size_t k = 0; k < n; ++k) {
      if (k == 1000 && n > 2000) k = n - 1000;
      require(std::regex_match(s.outputs[k], names), "read_video_state: output names");
    }
    require(s.described.is_object(), "read_video_state: described is an object");
  } catch (const impasto::Error&) {
  }
  return 0;
}
