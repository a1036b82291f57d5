// engine/memory_plan.hpp — how much memory a run will hold at its peak, by part, and the check made before a
// run starts: when the request cannot fit the device, one line naming the need, what is free and what would
// fit (a smaller --size, a shorter --lbfgs-history) instead of an out-of-memory failure part way through.
// The parts are computed by the same layout code that allocates them (Vgg19::plan_bytes and plan_forward_bytes,
// StyleObjective::output_bytes, Lbfgs::state_bytes, ...); tests/cpu/test_memory_plan.cpp holds the estimate
// against the backend's measured peak.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "engine/backend.hpp"
#include "engine/image.hpp"
#include "engine/losses.hpp"
#include "engine/optimizer.hpp"
#include "engine/vgg19.hpp"

namespace impasto {

struct MemoryNeed {
  std::size_t weights = 0;    // the network's weights on the device
  std::size_t network = 0;    // VGG-19's plan: activations, tap gradients, scratch
  std::size_t workspace = 0;  // the convolution workspace (the largest any plan of the run reserves)
  std::size_t objective = 0;  // style and content targets, mask pyramids, loss scratch (video: temporal terms)
  std::size_t optimizer = 0;  // L-BFGS history or Adam moments, gradient, last good image
  std::size_t images = 0;     // the image being optimized and the uploads alive with it
  std::size_t backend = 0;    // the backend's own buffers, held from its creation (Backend::fixed_bytes)
  std::size_t total() const { return weights + network + workspace + objective + optimizer + images + backend; }
  std::string str() const;    // "12.3 GiB (network 8.1, optimizer 3.9, workspace 0.2, ...)"
};
// The larger of two needs by total (a run's peak is its largest phase).
const MemoryNeed& max_need(const MemoryNeed& a, const MemoryNeed& b);

// The phases of a run in the order it allocates them — each style's target (the network planned at the style
// image's size with the Grams made so far), then the optimization at the output size — and the largest of
// them. The convolution workspace only grows, so each phase holds the largest reserved so far. Used by
// Stylizer::memory_needed (per pyramid level) and VideoStylizer::memory_needed.
class RunMemory {
 public:
  RunMemory(Vgg19& net, const LossConfig& config);
  // A style target made from an h×w style image for an `out` output after `earlier_styles` others, with what
  // else the run holds then (optimizer state, image uploads).
  void style_phase(ImageSize style, ImageSize out, int earlier_styles, bool masked, std::size_t optimizer,
                   std::size_t images);
  // The optimization at h×w: the network planned for every tap, the objective (plus `extra_objective`, e.g. a
  // video's temporal buffers), the optimizer and the images.
  void output_phase(ImageSize out, int styles, int masked_styles, std::size_t extra_objective,
                    std::size_t optimizer, std::size_t images);
  const MemoryNeed& peak() const { return peak_; }

 private:
  MemoryNeed phase(const VggPlanBytes& plan);
  Vgg19& net_;
  const LossConfig& config_;
  std::vector<Tap> style_taps_, all_taps_;
  MemoryNeed peak_;
};

// The optimizer's state for an image of `shape` (Adam or L-BFGS with these parameters).
std::size_t optimizer_bytes(bool use_adam, const LbfgsParams& lbfgs, Shape shape);
// Bytes of n floats.
inline std::size_t float_bytes(std::int64_t n) { return std::size_t(n) * sizeof(float); }

// The memory a run may take: the backend's available memory plus what it already holds (the weights), capped
// by the user's limit (GiB, 0 = none).
struct MemoryBudget {
  std::size_t bytes = 0;
  std::string source;  // "free on NVIDIA H100 80GB HBM3", "MemAvailable of this host", "--max-memory"
};
MemoryBudget memory_budget(const Backend& backend, double limit_gib);

// need(size, history): what a run needs at this size (the --size meaning of the command) with L-BFGS of this
// history, or with Adam when history is 0.
using NeedFn = std::function<MemoryNeed(int size, int history)>;
// Whether `need` fits `budget` with a margin for what is not counted (the libraries' own allocations, cuDNN
// kernels loaded on first use, allocator rounding): 5 % + 256 MiB.
bool fits(const MemoryNeed& need, const MemoryBudget& budget);
// Throws OutOfMemoryError (one line) when need(size, history) does not fit the budget, naming the need by part,
// the budget, the largest --size that fits and, when history > 0 (L-BFGS), the largest --lbfgs-history that fits
// at this size and whether Adam would. `what` names the request ("a 3840x2160 stylization"). need() may throw an Error for sizes
// too small for the network: such sizes count as not fitting.
// Returns need(size, history) when it fits.
MemoryNeed check_memory(const NeedFn& need, int size, int history, const MemoryBudget& budget, const std::string& what);

// The fewest L-BFGS pairs history_that_fits offers: below this L-BFGS loses most of its curvature model (scipy's
// L-BFGS-B keeps 10 by default, LBFGSpp 6), so a run that needs fewer is refused with check_memory's advice.
inline constexpr int kFewestFittedPairs = 5;
// The L-BFGS history a run at `size` takes when its user did not choose one: `history` when need(size, history)
// fits the budget, else the longest history in [kFewestFittedPairs, history) that fits, else `history` (which
// check_memory then refuses, naming what fits). The history is most of an image's memory at the default 100
// pairs (2·100 image-sized vectors), so shortening it is what lets a large image fit at all.
int history_that_fits(const NeedFn& need, int size, int history, const MemoryBudget& budget);

std::string format_gib(std::size_t bytes);  // "12.3 GiB"

}  // namespace impasto
