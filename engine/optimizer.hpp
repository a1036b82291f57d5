// engine/optimizer.hpp — the optimizers of the image: L-BFGS (direction from the compact representation of
// Byrd, Nocedal & Schnabel 1994, Theorem 2.2 eq. 2.6, or the two-loop recursion of Nocedal & Wright, Numerical
// Optimization, 2nd ed., Alg. 7.4; Alg. 3.5/3.6 strong-Wolfe line search) and Adam (Kingma & Ba 2015, Alg. 1).
// DESIGN.md "Optimizers".
//
// Both are backend-neutral: their vectors and history are Tensors on the backend, made once in the constructor,
// and every vector operation is a Backend op. The host sees only the scalars its decisions need (dot products,
// norms, the loss, L-BFGS's small 2m-vectors). minimize() allocates no tensors.
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

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/tensor.hpp"

namespace impasto {

// f(x, grad) -> loss.
using Objective = std::function<double(const Tensor& x, Tensor& grad)>;

// An objective in two phases, so that its loss values reach the host in the optimizer's one round trip per
// iteration (Backend::take_deferred) instead of one of their own:
// - queue(x, grad) does the device work for f and ∇f at x into grad and either leaves its loss values queued on
//   the backend, having opened the deferral itself (Backend::begin_deferred) and left it open, or computes the
//   loss at once and leaves no deferral open;
// - loss(values) makes the loss from the values taken from that deferral (those queue() queued come first).
// The optimizer queues its own scalars behind them and takes them all at once.
struct QueuedObjective {
  std::function<void(const Tensor& x, Tensor& grad)> queue;
  std::function<double(const double* values)> loss;
};
// A blocking objective in the two-phase form (queue evaluates it, loss returns what it returned).
QueuedObjective queued(Objective f);

struct IterationInfo {
  int iteration = 0;    // 0 = the initial point
  double loss = 0;      // loss at the current x
  int evaluations = 0;  // objective evaluations so far, this one included
  // The evaluation (1-based, ≤ evaluations) whose loss and gradient are those of the current x: the last one
  // unless a line search accepted an earlier trial point. Callers find the accepted iterate's terms by it.
  int accepted_evaluation = 0;
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
  enum class Direction { compact, two_loop };

  int history = 100;         // m: (s, y) pairs kept
  // How d = −H·g is computed (the same H, so the same direction up to rounding). compact (default): Byrd,
  // Nocedal & Schnabel's representation with two passes over the history per iteration (one GEMM when a pair
  // is offered, one GEMV for the direction) and one device→host transfer of 6m + 9 floats; two_loop: Alg. 7.4,
  // 2m dot products, each a device→host sync (the reference).
  Direction direction = Direction::compact;
  int max_iterations = 1000;
  // none: one evaluation per iteration with step learning_rate (the first step is min(1, 1/‖g‖₁)·learning_rate),
  // as torch.optim.LBFGS and Torch's optim.lbfgs used by jcjohnson/neural-style; under TF32 or bf16, where that
  // step drowns in rounding, the first step is min(1, 1/‖g‖₂)·learning_rate (lbfgs.cpp). strong_wolfe (default):
  // bracketing + zoom from min(1, 1/‖g‖₂)·learning_rate when there is no curvature information (L-BFGS-B's
  // first step); robust where the objective is concave, e.g. style terms from a noise image, where `none`
  // crawls.
  LineSearch line_search = LineSearch::strong_wolfe;
  double learning_rate = 1.0;
  // How the loss change is judged (0 = off). sliding: after every iteration k >= window, stop when
  // |f_k − f_{k−window}| <= tolerance_change·max(1, |f_k|). checkpoints: manuelruder/artistic-videos' lbfgs.lua
  // (tolFunRelative), only at k = 2·window, 3·window, …: stop when |f_k − f_{k−window}| < tolerance_change·|f_{k−window}|.
  enum class ToleranceRule { sliding, checkpoints };
  double tolerance_change = 0;
  int tolerance_window = 10;
  ToleranceRule tolerance_rule = ToleranceRule::sliding;
  // Stop when ‖g‖∞ <= tolerance_grad ("gradient zero"); 0 stops on an exactly zero gradient only.
  double tolerance_grad = 0;
  // Curvature guard: a pair is kept only when sᵀy > curvature_eps·yᵀy.
  double curvature_eps = 1e-10;
  double wolfe_c1 = 1e-4, wolfe_c2 = 0.9;  // 0 < c1 < c2 < 1
  int max_line_search_evals = 25;          // evaluations per strong-Wolfe line search

  void validate() const;  // throws impasto::Error naming the bad parameter
};
template <>
struct EnumNames<LbfgsParams::LineSearch> {
  static constexpr const char* what = "line search";
  static constexpr EnumName<LbfgsParams::LineSearch> table[] = {
      {LbfgsParams::LineSearch::none, "none"}, {LbfgsParams::LineSearch::strong_wolfe, "strong-wolfe"}};
};
template <>
struct EnumNames<LbfgsParams::ToleranceRule> {
  static constexpr const char* what = "tolerance rule";
  static constexpr EnumName<LbfgsParams::ToleranceRule> table[] = {
      {LbfgsParams::ToleranceRule::sliding, "sliding"}, {LbfgsParams::ToleranceRule::checkpoints, "checkpoints"}};
};
template <>
struct EnumNames<LbfgsParams::Direction> {
  static constexpr const char* what = "L-BFGS direction";
  static constexpr EnumName<LbfgsParams::Direction> table[] = {
      {LbfgsParams::Direction::compact, "compact"}, {LbfgsParams::Direction::two_loop, "two_loop"}};
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
  RunState(Backend& backend, Tensor& x, Tensor& x_good, const QueuedObjective& f, const IterationCallback& callback,
           const char* name);

  // One evaluation at the current x into grad during iteration `iteration`, in two halves around the caller's
  // own queued work: queue() counts it, runs f.queue, opens the backend's deferral if f left none open and
  // queues ‖grad‖∞ (the finiteness check, and L-BFGS's "gradient zero" test); after the caller's
  // take_deferred, resolve(values) makes the loss and checks it. When the loss or grad is not finite, resolve
  // restores x from x_good and throws "<name>: loss became NaN at iteration 12 (evaluation 15); x restored to
  // iteration 11".
  void queue(Tensor& grad);
  double resolve(const double* values, int iteration);
  // queue, take_deferred, resolve: one round trip.
  double evaluate(Tensor& grad, int iteration);
  // ‖grad‖∞ of the last resolved evaluation.
  double gradient_abs_max() const { return gradient_abs_max_; }
  // x is accepted as iterate `iteration` with `loss`, the value of evaluation `evaluation` (1-based; 0: the
  // last one): copies it to x_good and calls the callback. Returns false when the callback asks to stop.
  bool accept(int iteration, double loss, int evaluation = 0);
  OptimizeResult finish(int iterations, double loss, const char* reason) const;

  int evaluations() const { return evaluations_; }

 private:
  Backend& backend_;
  Tensor& x_;
  Tensor& x_good_;
  const QueuedObjective& f_;
  const IterationCallback& callback_;
  const char* name_;
  int evaluations_ = 0;
  int last_good_ = -1;    // iteration held by x_good (-1: none yet)
  int abs_max_slot_ = 0;  // the deferred slot of the queued ‖grad‖∞
  double gradient_abs_max_ = 0;
  std::vector<double> values_ = std::vector<double>(Backend::kMaxDeferred);  // evaluate()'s take
};

// The L-BFGS memory and the product d = −H·g (engine/lbfgs_history.cpp). Internal: declared here for Lbfgs and
// for the tests that compare the two directions on given pairs.
//
// The kept pairs are the rows of one (2m, n) matrix [S Y], interleaved (pair i: s_i in row 2i, y_i in row
// 2i + 1) and filled as a ring (in order 0, 1, … until full, then the oldest is replaced), so the kept pairs are
// always rows [0, 2·size) and one GEMM or GEMV covers them. The host keeps SᵀY and YᵀY (m×m, double, indexed by
// pair slot) up to date. offer(g) takes the candidate pair and the gradient g at the new iterate: one GEMM gives
// the products of s, y and g with every kept row (Sᵀy, Yᵀy, Yᵀs for the matrices; Sᵀg, Yᵀg for the next
// direction), one small one those of s, y, g with each other, and one download brings them all to the host —
// or the offer is queued and its products ride on the caller's take_deferred (queue_offer / take_offer).
class LbfgsHistory {
 public:
  // Allocates [S Y] (2m, n) and the candidate rows (3, n: s, y and a copy of g) as one matrix, and one
  // (10m + 12)-float vector for the small products and coefficients. n = shape.numel().
  LbfgsHistory(Backend& backend, Shape shape, int capacity, double curvature_eps);
  // The bytes the constructor allocates.
  static std::size_t bytes(Shape shape, int capacity);

  void clear();
  int size() const { return count_; }
  double gamma() const { return gamma_; }  // H0 = γ·I, γ = sᵀy / yᵀy of the newest pair (N&W eq. 7.20)

  // The candidate pair: the caller writes s and y (shape as constructed), then offers it.
  Tensor& candidate_s() { return candidate_s_; }
  Tensor& candidate_y() { return candidate_y_; }
  // Keeps the candidate when sᵀy > curvature_eps·yᵀy (curvature guard; also rejects NaN), dropping the oldest
  // pair when full. Returns whether it was kept. g (shape as constructed) is the gradient at the new iterate:
  // it is copied, and its products with the history (as it stands after the offer) serve next_direction().
  // One device→host transfer (6·size + 9 floats).
  bool offer(const Tensor& g);
  // offer() in two halves around the caller's round trip: queue_offer(g) does the device work (only that, so
  // that it can be recorded: Backend::record), the caller downloads offer_products() into offer_host()
  // (Backend::take_deferred's extra), then take_offer() decides.
  void queue_offer(const Tensor& g);
  const Tensor& offer_products();
  float* offer_host() { return host_.data(); }
  bool take_offer();
  double offered_gg() const { return offered_gg_; }  // gᵀg of the offered g (from the offer's products)

  // d = −H·g (d = −g when empty). compact: one GEMM and one download of 2·size floats for the products of g,
  // one upload of as many coefficients and one GEMV; two_loop: 2·size dot products. d must not be g.
  void direction(const Tensor& g, Tensor& d, LbfgsParams::Direction how);
  // d = −H·g for the g of the last offer(), whose products that offer computed: compact needs no download
  // (one upload and one GEMV). Only after an offer() since the last clear(). Returns gᵀd as the host computes
  // it from those products, −γ·gᵀg − (Sᵀg)ᵀc_s − (Yᵀg)ᵀc_y (−gᵀg when the history is empty), without a
  // reduction; NaN for two_loop, whose caller reduces. pending (compact, full history): when given, the GEMV
  // is left to the caller, who runs apply_direction(d) (*pending = true): device work that depends on no host
  // scalar, so that it can be recorded.
  double next_direction(Tensor& d, LbfgsParams::Direction how, bool* pending = nullptr);
  // The GEMV that next_direction left pending: d = −[S Y; s; y; g]ᵀ·c with the uploaded coefficients.
  void apply_direction(Tensor& d);

 private:
  int row(int age) const { return (head_ + age) % capacity_; }  // pair slot of the age-th oldest pair
  double sty(int i, int j) const { return sty_[std::size_t(i) * capacity_ + j]; }  // s_iᵀy_j, slots i, j
  double yty(int i, int j) const { return yty_[std::size_t(i) * capacity_ + j]; }
  // The coefficients c of d = −γ·g − [S Y]·c from p = [S Y]ᵀg (2·size floats, by history row), uploaded:
  // 2·size of them, or with all_rows (full history) 2m + 3, those of every row of rows_ (0, 0, γ for s, y, g).
  // Returns pᵀc.
  double compact_coefficients(const float* p, bool all_rows);
  // d = −γ·g − [S Y]·c over the kept rows, with the 2·size coefficients compact_coefficients uploaded.
  void kept_direction(const Tensor& g, Tensor& d);
  void two_loop_direction(const Tensor& g, Tensor& d);
  void steepest_descent(const Tensor& g, Tensor& d);
  Tensor small_view(std::int64_t offset, int rows, int cols) const;  // (1,1,rows,cols) elements of small_
  Tensor kept_rows() const { return history_.slice_rows(0, 2 * count_); }  // (2·size, n)

  Backend& backend_;
  int capacity_;
  double curvature_eps_;
  Tensor rows_;                           // (1,1,2m+3,n): history_ then candidate_, one matrix for apply_direction
  Tensor history_;                        // (1,1,2m,n): [S Y], row 2i = s_i, row 2i + 1 = y_i
  std::vector<Tensor> s_rows_, y_rows_;   // each pair slot's rows with the shape of x
  Tensor candidate_;                      // (1,1,3,n): candidate s, y and the offered gradient g
  Tensor candidate_s_, candidate_y_, offered_g_;  // its rows with the shape of x
  Tensor small_;                          // (1,1,1,10m+12): offer products | g's products | coefficients
  Tensor offer_products_;                 // offer_products()'s view: (1,1,1,6k+9) of small_
  int count_ = 0, head_ = 0;
  bool offered_ = false;                  // p_ holds the products of offered_g_ (for next_direction)
  double gamma_ = 1;
  double offered_gg_ = 0;
  std::vector<double> sty_, yty_;         // m×m, by pair slot
  std::vector<float> host_;               // downloads and uploads (10m + 12)
  std::vector<float> p_;                  // [S Y]ᵀg of the offered g, by history row (2m)
  std::vector<double> u_, w_, v_;         // compact solve, by age (m each); two_loop uses u_ for its alphas
};

}  // namespace detail

class Lbfgs {
 public:
  // Validates params and allocates all state for tensors of shape `shape`: history pairs, direction, gradients,
  // the last good x and the line-search gradients. Memory: 2·history + 6 vectors of shape.numel() floats
  // (S and Y, the candidate rows s, y, g, then d, g, the last good x) and 10·history + 12 floats, with none; two
  // more vectors with strong_wolfe. Allocations: 5 tensors (7 with strong_wolfe).
  Lbfgs(Backend& backend, Shape shape, LbfgsParams params);
  // The bytes the constructor allocates for tensors of `shape` (for memory plans; nothing is allocated).
  static std::size_t state_bytes(Shape shape, const LbfgsParams& params);

  // Minimizes from x (shape as constructed) in place; x holds the last iterate on return. Each call starts
  // with an empty history. With line search none and the compact direction an iteration blocks the host once:
  // the objective's loss values, ‖g‖∞ and the offer's products come back in one round trip (a blocking
  // objective adds its own).
  OptimizeResult minimize(Tensor& x, const QueuedObjective& f, const IterationCallback& callback = {});
  OptimizeResult minimize(Tensor& x, const Objective& f, const IterationCallback& callback = {});

  const LbfgsParams& params() const { return params_; }
  // Recorded optimizer work replayed so far (two per iteration at most; 0 where nothing records: the CPU).
  int replays() const { return replays_; }

 private:
  struct Point;  // a point of the line search: step, loss, directional derivative, gradient slot
  static constexpr int kLineSearchSlots = 2;

  bool gradient_zero() const { return g_abs_max_ <= params_.tolerance_grad; }
  // Records the loss of `iteration`; true when the loss-change tolerance says stop.
  bool loss_stalled(int iteration, double loss);
  // Strong-Wolfe line search along d from x_good_ (= x_k, loss f0, gradient g_, gᵀd = gtd0) with initial step t.
  // On return x and g_ hold the accepted point and new_loss its loss; returns its step (0: no acceptable step,
  // x and g_ back at x_k).
  // *evaluation is the accepted point's evaluation index.
  double strong_wolfe(Tensor& x, double f0, double gtd0, double t, double& new_loss, int& evaluation,
                      detail::RunState& run, int iteration);
  // The candidate pair after a step t along d_ to the point whose gradient is g_: s = t·d, y = g_ − y (y held
  // the previous gradient).
  void make_pair(double t);
  // Evaluates at x = x_good_ + t·d into ls_g_[slot].
  Point evaluate_at(Tensor& x, double t, int slot, detail::RunState& run, int iteration);
  // Device work that repeats with the same tensors and scalars (line search none): run eagerly the first time
  // at a key (x, t, the backend's workspace generation), recorded the second (Backend::record: a CUDA graph),
  // replayed after. Not while `recordable` is false (then eagerly, the count kept).
  struct Recorded {
    std::unique_ptr<Backend::Recording> recording;
    const float* x = nullptr;
    double t = 0;
    std::uint64_t workspace = 0;
    int eager_runs = 0;
    bool failed = false;  // record() ran it eagerly: it does not capture
  };
  void run_recorded(Recorded& r, const Tensor& x, double t, bool recordable, const std::function<void()>& work);

  Backend& backend_;
  Shape shape_;
  LbfgsParams params_;
  detail::LbfgsHistory history_;
  Tensor d_, g_, x_good_;
  double g_abs_max_ = 0;       // ‖g_‖∞, from the evaluation that produced g_
  double gg_ = 0;              // gᵀg of g_ (the initial evaluation's, then each offer's)
  std::vector<double> values_ = std::vector<double>(Backend::kMaxDeferred);  // each round trip's values
  std::vector<Tensor> ls_g_;   // strong-Wolfe trial gradients (kLineSearchSlots)
  std::vector<double> recent_loss_;  // ring of the last tolerance_window + 1 losses
  Recorded step_work_, direction_step_work_, pair_work_;  // around each evaluation (line search none)
  int replays_ = 0;
};

class Adam {
 public:
  // Validates params and allocates the moments m, v, the gradient and the last good x.
  Adam(Backend& backend, Shape shape, AdamParams params);
  // The bytes the constructor allocates for tensors of `shape` (for memory plans; nothing is allocated).
  static std::size_t state_bytes(Shape shape);

  // Minimizes from x in place; each call starts with zero moments. One round trip per iteration.
  OptimizeResult minimize(Tensor& x, const QueuedObjective& f, const IterationCallback& callback = {});
  OptimizeResult minimize(Tensor& x, const Objective& f, const IterationCallback& callback = {});

  const AdamParams& params() const { return params_; }

 private:
  Backend& backend_;
  Shape shape_;
  AdamParams params_;
  Tensor m_, v_, g_, x_good_;
};

}  // namespace impasto
