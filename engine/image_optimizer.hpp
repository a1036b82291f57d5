// engine/image_optimizer.hpp — one image's optimization, shared by stills (stylize.cpp, per pyramid level) and
// video frames (video.cpp, per frame): the optimizer the options choose (L-BFGS or Adam), made once per image
// shape, and the loss terms of each iterate the optimizer accepts. A strong-Wolfe line search evaluates trial
// points it may reject; the optimizer reports which evaluation it accepted (IterationInfo::accepted_evaluation)
// and the terms are looked up by that index, never by comparing losses.
#pragma once

#include <array>
#include <functional>
#include <memory>

#include "engine/losses.hpp"
#include "engine/optimizer.hpp"

namespace impasto {

class ImageOptimizer {
 public:
  // f(x, grad): the terms at x (x not modified), the gradient of their total into grad.
  using Evaluate = std::function<LossTerms(const Tensor& x, Tensor& grad)>;
  // Called for the initial point and after every iteration with the accepted iterate's terms; false stops.
  using OnIteration = std::function<bool(const IterationInfo& info, const LossTerms& terms, const Tensor& x)>;

  // Allocates the optimizer's state for images of `shape` (Lbfgs / Adam constructors); max_iterations of the
  // chosen params bounds every run().
  ImageOptimizer(Backend& backend, Shape shape, bool use_adam, const LbfgsParams& lbfgs, const AdamParams& adam);

  // f in two phases (the QueuedObjective protocol of engine/optimizer.hpp, StyleObjective::queue / terms): its
  // terms' values join the optimizer's scalars in one round trip per iteration.
  struct QueuedEvaluate {
    std::function<void(const Tensor& x, Tensor& grad)> queue;
    std::function<LossTerms(const double* values)> terms;
  };

  // At most `iterations` iterations from x (≤ the params' max_iterations). Stop reasons as the optimizers';
  // "max iterations" when `iterations` is reached. A NonFiniteError propagates with x at the last good iterate.
  OptimizeResult run(Tensor& x, int iterations, const QueuedEvaluate& f, const OnIteration& on_iteration);
  OptimizeResult run(Tensor& x, int iterations, const Evaluate& f, const OnIteration& on_iteration);

 private:
  // The terms of the last evaluations, by index: more than one line search makes (LbfgsParams'
  // max_line_search_evals, checked in the constructor). Fixed size: nothing allocates per iteration.
  static constexpr int kRecent = 32;
  std::array<LossTerms, kRecent> recent_{};
  int max_iterations_ = 0;
  std::unique_ptr<Lbfgs> lbfgs_;
  std::unique_ptr<Adam> adam_;
};

}  // namespace impasto
