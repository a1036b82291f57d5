// engine/image_optimizer.cpp — see image_optimizer.hpp.
#include "engine/image_optimizer.hpp"

#include <string>

#include "engine/error.hpp"

namespace impasto {

ImageOptimizer::ImageOptimizer(Backend& backend, Shape shape, bool use_adam, const LbfgsParams& lbfgs,
                               const AdamParams& adam) {
  if (use_adam) {
    adam_ = std::make_unique<Adam>(backend, shape, adam);
    max_iterations_ = adam.max_iterations;
  } else {
    IMPASTO_CHECK(lbfgs.max_line_search_evals < kRecent,
                  "L-BFGS: max_line_search_evals " << lbfgs.max_line_search_evals << " must be below " << kRecent);
    lbfgs_ = std::make_unique<Lbfgs>(backend, shape, lbfgs);
    max_iterations_ = lbfgs.max_iterations;
  }
}

OptimizeResult ImageOptimizer::run(Tensor& x, int iterations, const Evaluate& f, const OnIteration& on_iteration) {
  LossTerms pending;
  const QueuedEvaluate blocking{[&](const Tensor& xx, Tensor& grad) { pending = f(xx, grad); },
                                [&](const double*) { return pending; }};
  return run(x, iterations, blocking, on_iteration);
}

OptimizeResult ImageOptimizer::run(Tensor& x, int iterations, const QueuedEvaluate& f,
                                   const OnIteration& on_iteration) {
  IMPASTO_CHECK(iterations >= 0 && iterations <= max_iterations_,
                iterations << " iterations asked of an optimizer made for at most " << max_iterations_);
  int count = 0;  // evaluations so far: evaluation k (1-based) is in recent_[(k − 1) % kRecent]
  const QueuedObjective objective{f.queue, [&](const double* values) {
                                    const LossTerms t = f.terms(values);
                                    recent_[std::size_t(count++ % kRecent)] = t;
                                    return t.total;
                                  }};
  bool capped = false;  // stopped because `iterations` was reached, not by on_iteration
  const IterationCallback callback = [&](const IterationInfo& info, const Tensor& xx) {
    // The accepted evaluation is among the last kRecent: a line search makes fewer (constructor).
    IMPASTO_ASSERT(info.accepted_evaluation >= 1 && info.accepted_evaluation <= count &&
                   count - info.accepted_evaluation < kRecent);
    const LossTerms& terms = recent_[std::size_t((info.accepted_evaluation - 1) % kRecent)];
    if (on_iteration && !on_iteration(info, terms, xx)) return false;
    capped = info.iteration >= iterations;
    return !capped;
  };
  OptimizeResult result = adam_ ? adam_->minimize(x, objective, callback) : lbfgs_->minimize(x, objective, callback);
  if (capped) result.stop_reason = "max iterations";
  return result;
}

}  // namespace impasto
