// engine/optimizer.hpp — the optimizers of the image: L-BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed.,
// Alg. 7.4 two-loop recursion; Alg. 3.5/3.6 strong-Wolfe line search) and Adam (Kingma & Ba 2015, Alg. 1).
// DESIGN.md "Optimizers".
//
// Both are backend-neutral: their vectors and history are Tensors on the backend, made once in the constructor,
// and every vector operation is a Backend op. The host sees only the scalars its decisions need (dot products,
// norms, the loss). minimize() allocates no tensors.
//
// Protocol shared by both optimizers:
// - The objective f(x, grad) evaluates the loss at x, writes its gradient into grad (same shape) and returns the
//   loss. It must not modify x. With the strong-Wolfe line search it is also called at trial points that the
//   search then rejects, so the last evaluation is not always the accepted iterate.
// - The callback is called once for the initial point (iteration 0, before any step) and once after every
//   iteration with the loss at the new x; returning false stops the run ("callback").
// - A non-finite loss or gradient stops the run with an impasto::Error naming what and when ("loss became NaN
//   at iteration 12"); before the throw, x is restored to the last good iterate (the last x whose loss and
//   gradient were finite and that the callback has seen).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/tensor.hpp"

namespace impasto {

// f(x, grad) -> loss.
using Objective = std::function<double(const Tensor& x, Tensor& grad)>;

struct IterationInfo {
  int iteration = 0;    // 0 = the initial point
  double loss = 0;      // loss at the current x
  int evaluations = 0;  // objective evaluations so far, this one included
};
// Return false to stop the run after this iteration.
using IterationCallback = std::function<bool(const IterationInfo&, const Tensor& x)>;

struct OptimizeResult {
  int iterations = 0;   // steps taken (0 when the run stopped at the initial point)
  int evaluations = 0;  // objective evaluations
  double final_loss = 0;
  // Both: "max iterations" | "callback". L-BFGS also: "loss change below tolerance" | "gradient zero" |
  // "line search made no progress" (strong Wolfe found no step that decreases f; x is the last iterate).
  std::string stop_reason;
  int curvature_skips = 0;  // L-BFGS: (s, y) pairs dropped by the curvature guard
};

struct LbfgsParams {
  enum class LineSearch { none, strong_wolfe };

  int history = 100;         // m: (s, y) pairs kept
  int max_iterations = 1000;
  // none: one evaluation per iteration with step learning_rate (the first step is min(1, 1/‖g‖₁)·learning_rate),
  // as torch.optim.LBFGS and Torch's optim.lbfgs used by jcjohnson/neural-style. strong_wolfe (default):
  // bracketing + zoom from the same initial step; robust where the objective is concave, e.g. style terms
  // from a noise image, where `none` crawls.
  LineSearch line_search = LineSearch::strong_wolfe;
  double learning_rate = 1.0;
  // 0 = off; else stop when |f_k − f_{k−window}| <= tolerance_change·max(1, |f_k|).
  double tolerance_change = 0;
  int tolerance_window = 10;
  // Stop when ‖g‖∞ <= tolerance_grad ("gradient zero"); 0 stops on an exactly zero gradient only.
  double tolerance_grad = 0;
  // Curvature guard: a pair is kept only when sᵀy > curvature_eps·yᵀy.
  double curvature_eps = 1e-10;
  double wolfe_c1 = 1e-4, wolfe_c2 = 0.9;  // 0 < c1 < c2 < 1
  int max_line_search_evals = 25;          // evaluations per strong-Wolfe line search

  void validate() const;  // throws impasto::Error naming the bad parameter
};

struct AdamParams {
  double learning_rate = 1.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int max_iterations = 1000;

  void validate() const;  // throws impasto::Error naming the bad parameter
};

namespace detail {

// The protocol both optimizers share: counting evaluations, the non-finite check that restores the last good x,
// and the callback. Internal: declared here only so that lbfgs.cpp and adam.cpp run the same code.
class RunState {
 public:
  // `name` prefixes error messages ("L-BFGS", "Adam").
  RunState(Backend& backend, Tensor& x, Tensor& x_good, const Objective& f, const IterationCallback& callback,
           const char* name);

  // Evaluates f at the current x into grad during iteration `iteration`; counts it. When the loss or grad is
  // not finite, restores x from x_good and throws "<name>: loss became NaN at iteration 12 (evaluation 15);
  // x restored to iteration 11".
  double evaluate(Tensor& grad, int iteration);
  // x is accepted as iterate `iteration` with `loss`: copies it to x_good and calls the callback.
  // Returns false when the callback asks to stop.
  bool accept(int iteration, double loss);
  OptimizeResult finish(int iterations, double loss, const char* reason) const;

  int evaluations() const { return evaluations_; }

 private:
  Backend& backend_;
  Tensor& x_;
  Tensor& x_good_;
  const Objective& f_;
  const IterationCallback& callback_;
  const char* name_;
  int evaluations_ = 0;
  int last_good_ = -1;  // iteration held by x_good (-1: none yet)
};

}  // namespace detail

class Lbfgs {
 public:
  // Validates params and allocates all state for tensors of shape `shape`: history pairs, direction, gradients,
  // the last good x and the line-search gradients. Memory: 2·(history + 1) + 3 tensors of `shape` with none,
  // two more with strong_wolfe.
  Lbfgs(Backend& backend, Shape shape, LbfgsParams params);

  // Minimizes from x (shape as constructed) in place; x holds the last iterate on return. Each call starts
  // with an empty history.
  OptimizeResult minimize(Tensor& x, const Objective& f, const IterationCallback& callback = {});

  const LbfgsParams& params() const { return params_; }

 private:
  struct Point;  // a point of the line search: step, loss, directional derivative, gradient slot
  static constexpr int kLineSearchSlots = 2;

  void reset_history();
  // Two-loop recursion: d = −H·g.
  void compute_direction();
  // Offers the pair (s, y) written into the spare slot; keeps it when it passes the curvature guard.
  bool push_pair();
  bool gradient_zero();
  // Records the loss of `iteration`; true when the loss-change tolerance says stop.
  bool loss_stalled(int iteration, double loss);
  // Strong-Wolfe line search along d from x_good_ (= x_k, loss f0, gradient g_, gᵀd = gtd0) with initial step t.
  // On return x and g_ hold the accepted point and new_loss its loss; returns its step (0: no acceptable step,
  // x and g_ back at x_k).
  double strong_wolfe(Tensor& x, double f0, double gtd0, double t, double& new_loss, detail::RunState& run,
                      int iteration);
  // Evaluates at x = x_good_ + t·d into ls_g_[slot].
  Point evaluate_at(Tensor& x, double t, int slot, detail::RunState& run, int iteration);

  Backend& backend_;
  Shape shape_;
  LbfgsParams params_;
  std::vector<Tensor> s_, y_;  // history + 1 slots; the spare receives the next candidate pair
  std::vector<int> order_;     // slot indices of the kept pairs, oldest first (capacity history)
  int spare_ = 0;              // slot that receives the next candidate pair
  std::vector<double> rho_, alpha_;
  double h_diag_ = 1;          // H0 = (sᵀy / yᵀy)·I of the newest pair
  Tensor d_, g_, x_good_;
  std::vector<Tensor> ls_g_;   // strong-Wolfe trial gradients (kLineSearchSlots)
  std::vector<double> recent_loss_;  // ring of the last tolerance_window + 1 losses
};

class Adam {
 public:
  // Validates params and allocates the moments m, v, the gradient and the last good x.
  Adam(Backend& backend, Shape shape, AdamParams params);

  // Minimizes from x in place; each call starts with zero moments.
  OptimizeResult minimize(Tensor& x, const Objective& f, const IterationCallback& callback = {});

  const AdamParams& params() const { return params_; }

 private:
  Backend& backend_;
  Shape shape_;
  AdamParams params_;
  Tensor m_, v_, g_, x_good_;
};

}  // namespace impasto
