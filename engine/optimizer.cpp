// engine/optimizer.cpp — what L-BFGS (lbfgs.cpp) and Adam (adam.cpp) share: parameter validation and the run
// protocol (evaluation count, non-finite check with restore of the last good x, callback). DESIGN.md "Optimizers".
#include <cmath>
#include <memory>
#include <sstream>

#include "engine/error.hpp"
#include "engine/optimizer.hpp"

namespace impasto {

namespace {

// "L-BFGS parameter wolfe_c2 must be in (wolfe_c1, 1) (got 0.0001)"
void check_param(bool ok, const char* owner, const char* name, double value, const char* requirement) {
  IMPASTO_CHECK(ok, owner << " parameter " << name << " must be " << requirement << " (got " << value << ")");
}

const char* non_finite_word(double v) { return std::isnan(v) ? "NaN" : "Inf"; }

}  // namespace

void LbfgsParams::validate() const {
  const char* o = "L-BFGS";
  check_param(history >= 1, o, "history", history, ">= 1");
  check_param(direction == Direction::compact || direction == Direction::two_loop, o, "direction", int(direction),
              "compact or two_loop");
  check_param(max_iterations >= 0, o, "max_iterations", max_iterations, ">= 0");
  check_param(line_search == LineSearch::none || line_search == LineSearch::strong_wolfe, o, "line_search",
              int(line_search), "none or strong_wolfe");
  check_param(std::isfinite(learning_rate) && learning_rate > 0, o, "learning_rate", learning_rate,
              "finite and > 0");
  check_param(std::isfinite(tolerance_change) && tolerance_change >= 0, o, "tolerance_change", tolerance_change,
              "finite and >= 0 (0 = off)");
  check_param(tolerance_window >= 1, o, "tolerance_window", tolerance_window, ">= 1");
  check_param(tolerance_rule == ToleranceRule::sliding || tolerance_rule == ToleranceRule::checkpoints, o,
              "tolerance_rule", int(tolerance_rule), "sliding or checkpoints");
  check_param(std::isfinite(tolerance_grad) && tolerance_grad >= 0, o, "tolerance_grad", tolerance_grad,
              "finite and >= 0");
  check_param(std::isfinite(curvature_eps) && curvature_eps >= 0, o, "curvature_eps", curvature_eps,
              "finite and >= 0");
  check_param(wolfe_c1 > 0 && wolfe_c1 < 1, o, "wolfe_c1", wolfe_c1, "in (0, 1)");
  check_param(wolfe_c2 > wolfe_c1 && wolfe_c2 < 1, o, "wolfe_c2", wolfe_c2, "in (wolfe_c1, 1)");
  check_param(max_line_search_evals >= 1, o, "max_line_search_evals", max_line_search_evals, ">= 1");
}

void AdamParams::validate() const {
  const char* o = "Adam";
  check_param(std::isfinite(learning_rate) && learning_rate > 0, o, "learning_rate", learning_rate,
              "finite and > 0");
  check_param(beta1 >= 0 && beta1 < 1, o, "beta1", beta1, "in [0, 1)");
  check_param(beta2 >= 0 && beta2 < 1, o, "beta2", beta2, "in [0, 1)");
  check_param(std::isfinite(eps) && eps > 0, o, "eps", eps, "finite and > 0");
  check_param(max_iterations >= 0, o, "max_iterations", max_iterations, ">= 0");
}

QueuedObjective queued(Objective f) {
  if (!f) return {};  // RunState names the missing function
  auto loss = std::make_shared<double>(0.0);
  return {[f = std::move(f), loss](const Tensor& x, Tensor& grad) { *loss = f(x, grad); },
          [loss](const double*) { return *loss; }};
}

detail::RunState::RunState(Backend& backend, Tensor& x, Tensor& x_good, const QueuedObjective& f,
                           const IterationCallback& callback, const char* name)
    : backend_(backend), x_(x), x_good_(x_good), f_(f), callback_(callback), name_(name) {
  IMPASTO_CHECK(f_.queue && f_.loss, name_ << ": no objective function given");
}

void detail::RunState::queue(Tensor& grad) {
  ++evaluations_;
  f_.queue(x_, grad);
  if (!backend_.deferring()) backend_.begin_deferred();  // a blocking objective queued nothing
  // The NaN-propagating L∞ norm is finite exactly when every element is: one reduction checks the gradient
  // and gives L-BFGS its "gradient zero" test.
  abs_max_slot_ = backend_.deferred_count();
  backend_.queue_reduction(Backend::Reduction::abs_max, grad);
}

double detail::RunState::resolve(const double* values, int iteration) {
  const double loss = f_.loss(values);
  gradient_abs_max_ = values[abs_max_slot_];
  const bool loss_ok = std::isfinite(loss);
  if (loss_ok && std::isfinite(gradient_abs_max_)) return loss;

  // Name the first bad quantity, then put the last good iterate back before reporting.
  const char* what = loss_ok ? "gradient" : "loss";
  const char* word = loss_ok ? non_finite_word(gradient_abs_max_) : non_finite_word(loss);
  if (last_good_ >= 0) backend_.copy(x_good_, x_);
  std::ostringstream where;
  if (last_good_ >= 0)
    where << "; x restored to iteration " << last_good_;
  else
    where << "; x left at the initial point";
  std::ostringstream message;
  message << name_ << ": " << what << " became " << word << " at iteration " << iteration << " (evaluation "
          << evaluations_ << ")" << where.str();
  throw NonFiniteError(message.str());
}

double detail::RunState::evaluate(Tensor& grad, int iteration) {
  queue(grad);
  backend_.take_deferred(values_.data());
  return resolve(values_.data(), iteration);
}

bool detail::RunState::accept(int iteration, double loss, int evaluation) {
  backend_.copy(x_, x_good_);
  last_good_ = iteration;
  if (!callback_) return true;
  return callback_(IterationInfo{iteration, loss, evaluations_, evaluation > 0 ? evaluation : evaluations_}, x_);
}

OptimizeResult detail::RunState::finish(int iterations, double loss, const char* reason) const {
  return OptimizeResult{iterations, evaluations_, loss, reason};
}

}  // namespace impasto
