// engine/adam.cpp — Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, Alg. 1) on
// backend tensors: one Backend::adam_step per iteration with bias-corrected moments. DESIGN.md "Optimizers".
#include "engine/error.hpp"
#include "engine/optimizer.hpp"
#include "engine/profile.hpp"

namespace impasto {

std::size_t Adam::state_bytes(Shape shape) {
  return 4 * std::size_t(shape.numel()) * sizeof(float);  // m_, v_, g_, x_good_
}

Adam::Adam(Backend& backend, Shape shape, AdamParams params) : backend_(backend), shape_(shape), params_(params) {
  params_.validate();
  IMPASTO_CHECK(shape.numel() > 0, "Adam: cannot optimize an empty tensor " << shape.str());
  m_ = backend_.empty(shape);
  v_ = backend_.empty(shape);
  g_ = backend_.empty(shape);
  x_good_ = backend_.empty(shape);
}

OptimizeResult Adam::minimize(Tensor& x, const Objective& f, const IterationCallback& callback) {
  const QueuedObjective q = queued(f);
  return minimize(x, q, callback);
}

OptimizeResult Adam::minimize(Tensor& x, const QueuedObjective& f, const IterationCallback& callback) {
  IMPASTO_CHECK(x.shape() == shape_,
                "Adam: x has shape " << x.shape().str() << " but the optimizer was made for " << shape_.str());
  backend_.fill(m_, 0.0f);
  backend_.fill(v_, 0.0f);
  DeferralGuard deferral(backend_);  // an exception inside an evaluation leaves no queue open
  detail::RunState run(backend_, x, x_good_, f, callback, "Adam");

  double loss = run.evaluate(g_, 0);
  if (!run.accept(0, loss)) return run.finish(0, loss, "callback");
  for (int k = 1; k <= params_.max_iterations; ++k) {
    ProfileRange iteration_range("iteration");  // NVTX ranges / phase timing (engine/profile.hpp)
    ProfileRange step_range("optimizer");
    backend_.adam_step(x, g_, m_, v_, float(params_.learning_rate), float(params_.beta1), float(params_.beta2),
                       float(params_.eps), k);
    step_range.end();
    loss = run.evaluate(g_, k);
    if (!run.accept(k, loss)) return run.finish(k, loss, "callback");
  }
  return run.finish(params_.max_iterations, loss, "max iterations");
}

}  // namespace impasto
