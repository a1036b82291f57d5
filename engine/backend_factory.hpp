// engine/backend_factory.hpp — choosing a backend at run time (--device auto|cpu|cuda): the one place above the
// seam that knows both implementations. A build without CUDA answers "no device" with a one-line reason.
#pragma once

#include <memory>
#include <string>

#include "engine/backend.hpp"

namespace impasto {

// True when this build has the CUDA backend and a device is present.
bool cuda_available();
// Why cuda_available() is false, in one line ("" when it is true).
std::string cuda_unavailable_reason();
// The backend for a device; Device::cuda without a build or a device throws a one-line Error. `slot` picks the
// GPU when a machine has several (slot modulo their count): the node-local rank of an MPI job.
std::unique_ptr<Backend> make_backend(Device d, int slot = 0);
Device parse_device(const std::string& s);  // "auto" (cuda when available, else cpu) | "cpu" | "cuda" ("gpu")

}  // namespace impasto
