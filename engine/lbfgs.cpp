// engine/lbfgs.cpp — limited-memory BFGS on backend tensors: the iteration, its step and stopping rules.
// DESIGN.md "Optimizers".
//
// Direction: d = −H·g from the m newest pairs (engine/lbfgs_history.cpp): by default the compact representation
// of Byrd, Nocedal & Schnabel 1994 (eq. 2.6; two passes over the history and O(1) device→host syncs per
// iteration), or the two-loop recursion of Nocedal & Wright, Numerical Optimization (2nd ed.), Alg. 7.4
// (LbfgsParams::direction), both with H0 = (sᵀy / yᵀy)·I from the newest pair (eq. 7.20). A pair is kept only
// when sᵀy > curvature_eps·yᵀy (the curvature guard keeps H positive definite on non-convex objectives).
//
// Device→host syncs per iteration with line search none and the compact direction: one. The objective queues its
// loss values (QueuedObjective), the gradient's finiteness check queues ‖g‖∞ (which also serves the "gradient
// zero" test) and the pair offer's products (which include the next direction's and gᵀg, so that gᵀd is known
// on the host) ride on the same take_deferred. two_loop adds 2·size dot products and gᵀd. Strong Wolfe: per
// evaluation its round trip, which brings the trial's gᵀd too, plus gᵀd and the offer's download per iteration
// (3 when the first step is accepted), two norms more when it zooms. A blocking objective (Objective) adds its own.
//
// Step: line search `none` follows torch.optim.LBFGS and Torch7 optim.lbfgs (used by jcjohnson/neural-style):
// one evaluation per iteration at step learning_rate; the first step is min(1, 1/‖g‖₁)·learning_rate, exactly
// as torch (later iterations use learning_rate even when the curvature guard has left the history empty) —
// on a backend that computes in fp32. Where the convolutions round (TF32, bf16) the first step is
// min(1, 1/‖g‖₂)·learning_rate instead: torch's step is so short (~1e-4 per pixel of a 512² image) that the
// gradient difference y = g₁ − g₀ is mostly rounding noise, and the first pair then scales every later step
// down to nothing (tests/emu/test_cli_emulated.cpp holds TF32 and bf16 runs to real progress).
// `strong_wolfe` starts from min(1, 1/‖g‖₂)·learning_rate (L-BFGS-B's first step: Byrd, Lu, Nocedal & Zhu
// 1995, as scipy runs it for neural-style-tf), and uses that scaled step whenever the history is empty (the
// first iteration, every pair so far dropped by the curvature guard — e.g. from a noise image, where the
// style loss is concave — or a restart after a non-descent direction), so that its bracketing starts at a
// sensible scale.
// `strong_wolfe` is bracketing (Alg. 3.5) + zoom (Alg. 3.6) with safeguarded cubic interpolation (eq. 3.59),
// modelled on torch.optim.lbfgs._strong_wolfe, starting from the same step.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <utility>

#include "engine/error.hpp"
#include "engine/optimizer.hpp"
#include "engine/profile.hpp"

namespace impasto {

namespace {

// Validates before any member allocates, so that a bad parameter gets its own message.
LbfgsParams validated(LbfgsParams params, Shape shape) {
  params.validate();
  IMPASTO_CHECK(shape.numel() > 0, "L-BFGS: cannot optimize an empty tensor " << shape.str());
  return params;
}

// Minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2) (N&W eq. 3.59), clamped to [lo, hi];
// the midpoint of [lo, hi] when the cubic has no minimizer.
double cubic_minimizer(double x1, double f1, double g1, double x2, double f2, double g2, double lo, double hi) {
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const double d2 = std::sqrt(d2_square);
    const double t = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                              : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    if (std::isfinite(t)) return std::min(std::max(t, lo), hi);
  }
  return 0.5 * (lo + hi);
}

}  // namespace

// A point of the line search φ(t) = f(x_k + t·d): φ, φ' = gᵀd, ‖g‖∞, and the ls_g_ slot holding its gradient
// (-1: none held; the point t = 0 has its gradient in g_).
struct Lbfgs::Point {
  double t = 0, f = 0, gtd = 0, g_abs_max = 0;
  int slot = -1;
  int evaluation = 0;  // RunState's index of the evaluation that made it
};

std::size_t Lbfgs::state_bytes(Shape shape, const LbfgsParams& params) {
  // The history, d_, g_, x_good_ and the strong-Wolfe trial gradients, as the constructor allocates them.
  const int vectors = 3 + (params.line_search == LbfgsParams::LineSearch::strong_wolfe ? kLineSearchSlots : 0);
  return detail::LbfgsHistory::bytes(shape, params.history) +
         std::size_t(vectors) * std::size_t(shape.numel()) * sizeof(float);
}

Lbfgs::Lbfgs(Backend& backend, Shape shape, LbfgsParams params)
    : backend_(backend),
      shape_(shape),
      params_(validated(params, shape)),
      history_(backend, shape, params_.history, params_.curvature_eps) {
  d_ = backend_.empty(shape);
  g_ = backend_.empty(shape);
  x_good_ = backend_.empty(shape);
  if (params_.line_search == LbfgsParams::LineSearch::strong_wolfe)
    for (int i = 0; i < kLineSearchSlots; ++i) ls_g_.push_back(backend_.empty(shape));
  recent_loss_.assign(std::size_t(params_.tolerance_window) + 1, 0.0);
}

bool Lbfgs::loss_stalled(int iteration, double loss) {
  const int window = params_.tolerance_window;
  recent_loss_[std::size_t(iteration % (window + 1))] = loss;
  if (params_.tolerance_change <= 0 || iteration < window) return false;
  const double old = recent_loss_[std::size_t((iteration - window) % (window + 1))];
  if (params_.tolerance_rule == LbfgsParams::ToleranceRule::checkpoints)  // lbfgs.lua keeps no f_0: first at 2·window
    return iteration % window == 0 && iteration >= 2 * window &&
           std::abs(loss - old) < params_.tolerance_change * std::abs(old);
  return std::abs(loss - old) <= params_.tolerance_change * std::max(1.0, std::abs(loss));
}

OptimizeResult Lbfgs::minimize(Tensor& x, const Objective& f, const IterationCallback& callback) {
  const QueuedObjective q = queued(f);
  return minimize(x, q, callback);
}

OptimizeResult Lbfgs::minimize(Tensor& x, const QueuedObjective& f, const IterationCallback& callback) {
  IMPASTO_CHECK(x.shape() == shape_,
                "L-BFGS: x has shape " << x.shape().str() << " but the optimizer was made for " << shape_.str());
  history_.clear();
  DeferralGuard deferral(backend_);  // an exception between a queue and its take leaves no queue open
  detail::RunState run(backend_, x, x_good_, f, callback, "L-BFGS");
  int skips = 0;
  auto finish = [&](int iterations, double loss, const char* reason) {
    OptimizeResult r = run.finish(iterations, loss, reason);
    r.curvature_skips = skips;
    return r;
  };

  // The initial point, with its first step's scalars in the same round trip: ‖g‖₂² (the step's scale, and gᵀd
  // of d = −g) and ‖g‖₁ (torch's first step).
  run.queue(g_);
  const int first = backend_.deferred_count();
  backend_.queue_reduction(Backend::Reduction::dot, g_, &g_);
  backend_.queue_reduction(Backend::Reduction::abs_sum, g_);
  backend_.take_deferred(values_.data());
  double loss = run.resolve(values_.data(), 0);
  gg_ = values_[std::size_t(first)];
  const double g_l1 = values_[std::size_t(first) + 1];
  g_abs_max_ = run.gradient_abs_max();
  loss_stalled(0, loss);  // records the initial loss
  if (!run.accept(0, loss)) return finish(0, loss, "callback");
  if (gradient_zero()) return finish(0, loss, "gradient zero");

  const bool wolfe = params_.line_search == LbfgsParams::LineSearch::strong_wolfe;
  for (int k = 1; k <= params_.max_iterations; ++k) {
    ProfileRange iteration_range("iteration");  // NVTX ranges / phase timing (engine/profile.hpp)
    ProfileRange step_range("optimizer");
    // From the second iteration on, the offer at the end of the previous one computed g's products with the
    // history (the compact direction then needs no download of its own) and gᵀd follows from them. The line
    // search reduces gᵀd on the device: its Armijo and curvature tests compare it with trial slopes that are
    // reductions too; `none` only needs its sign.
    double gtd = -gg_;  // d = −g
    bool direction_pending = false;  // line search none, full history: the direction's GEMV joins the step work
    if (k == 1)
      history_.direction(g_, d_, params_.direction);  // the history is empty: steepest descent
    else
      gtd = history_.next_direction(d_, params_.direction, wolfe ? nullptr : &direction_pending);
    if (wolfe || std::isnan(gtd)) gtd = backend_.dot(g_, d_);
    if (!(gtd < 0)) {
      // Rounding in an ill-conditioned history gave a non-descent direction: restart from steepest descent.
      history_.clear();
      history_.direction(g_, d_, params_.direction);
      gtd = wolfe ? backend_.dot(g_, d_) : -gg_;
      direction_pending = false;
    }
    // Without curvature information the step is scaled by the gradient: `none` as torch at the first iteration,
    // min(1, 1/‖g‖₁); strong-Wolfe as L-BFGS-B (scipy, which neural-style-tf uses), min(1, 1/‖g‖₂), a step
    // ~√n times longer whose expected decrease stands clear of TF32/bf16 rounding noise in the loss (torch's
    // step moves a 512² image by ~1e-4 per pixel, a relative decrease of ~1e-5 that such noise can reverse,
    // leaving the search without progress at its first trial).
    double t = params_.learning_rate;
    const bool first_none = !wolfe && k == 1;
    if (first_none && backend_.precision() == Precision::fp32)
      t *= std::min(1.0, 1.0 / g_l1);
    else if (first_none || (wolfe && history_.size() == 0))
      t *= std::min(1.0, 1.0 / std::sqrt(gg_));

    double new_loss = 0;
    int accepted = 0;  // the evaluation at the new x (0: the last)
    bool kept = false;
    if (wolfe) {
      backend_.copy(g_, history_.candidate_y());  // y starts as g_k; make_pair makes it g_{k+1} − g_k
      step_range.end();
      t = strong_wolfe(x, loss, gtd, t, new_loss, accepted, run, k);
      if (t == 0) return finish(k - 1, loss, "line search made no progress");
      step_range.next("optimizer");
      make_pair(t);
      kept = history_.offer(g_);
    } else {
      // The device work on either side of the evaluation repeats with the same tensors from the second
      // iteration on (t = learning_rate), the direction's GEMV and the offer's products once the history is full
      // (their shapes fixed, the coefficients and γ in device memory): recorded and replayed (CUDA graphs). The
      // coefficients' upload and the copy of a kept pair into its ring slot run eagerly.
      run_recorded(direction_pending ? direction_step_work_ : step_work_, x, t, true, [&] {
        if (direction_pending) history_.apply_direction(d_);
        backend_.copy(g_, history_.candidate_y());  // y starts as g_k; make_pair makes it g_{k+1} − g_k
        backend_.axpy(float(t), d_, x);             // x == x_good_ == x_k here
      });
      step_range.end();
      run.queue(g_);
      step_range.next("optimizer");
      run_recorded(pair_work_, x, t, history_.size() == params_.history, [&] {
        make_pair(t);
        history_.queue_offer(g_);
      });
      // The one round trip of the iteration: the loss values, ‖g‖∞ and the offer's products.
      backend_.take_deferred(values_.data(), &history_.offer_products(), history_.offer_host());
      new_loss = run.resolve(values_.data(), k);
      kept = history_.take_offer();
    }
    if (!kept) ++skips;
    gg_ = history_.offered_gg();
    if (!wolfe) g_abs_max_ = run.gradient_abs_max();  // strong_wolfe set the accepted point's
    step_range.end();

    loss = new_loss;
    if (!run.accept(k, loss, accepted)) return finish(k, loss, "callback");
    if (gradient_zero()) return finish(k, loss, "gradient zero");
    if (loss_stalled(k, loss)) return finish(k, loss, "loss change below tolerance");
  }
  return finish(params_.max_iterations, loss, "max iterations");
}

void Lbfgs::run_recorded(Recorded& r, const Tensor& x, double t, bool recordable, const std::function<void()>& work) {
  const std::uint64_t workspace = backend_.workspace_generation();
  if (r.x != x.data() || r.t != t || r.workspace != workspace) r = Recorded{nullptr, x.data(), t, workspace};
  if (r.recording) {
    backend_.replay(*r.recording);
    ++replays_;
  } else if (recordable && !r.failed && r.eager_runs > 0) {
    r.recording = backend_.record(work);  // runs the work (once, eagerly where nothing was recorded)
    r.failed = r.recording == nullptr;
  } else {
    work();
    if (recordable) ++r.eager_runs;
  }
}

void Lbfgs::make_pair(double t) {
  Tensor& s = history_.candidate_s();
  backend_.copy(d_, s);
  backend_.scale(s, float(t));                              // s = t·d
  backend_.axpby(1.0f, g_, -1.0f, history_.candidate_y());  // y = g_{k+1} − g_k
}

Lbfgs::Point Lbfgs::evaluate_at(Tensor& x, double t, int slot, detail::RunState& run, int iteration) {
  backend_.copy(x_good_, x);
  backend_.axpy(float(t), d_, x);
  Tensor& g = ls_g_[std::size_t(slot)];
  Point p;
  p.t = t;
  run.queue(g);
  const int gtd_slot = backend_.deferred_count();
  backend_.queue_reduction(Backend::Reduction::dot, g, &d_);  // the trial's slope, in the evaluation's round trip
  backend_.take_deferred(values_.data());
  p.f = run.resolve(values_.data(), iteration);
  p.evaluation = run.evaluations();
  p.g_abs_max = run.gradient_abs_max();
  p.gtd = values_[std::size_t(gtd_slot)];
  p.slot = slot;
  return p;
}

double Lbfgs::strong_wolfe(Tensor& x, double f0, double gtd0, double t, double& new_loss, int& evaluation,
                           detail::RunState& run, int iteration) {
  const double c1 = params_.wolfe_c1, c2 = params_.wolfe_c2;
  const int max_evals = params_.max_line_search_evals;
  // The zoom stops when the bracket moves x by less than float resolution; both norms are reductions, taken
  // when the zoom first needs them (most searches accept their first step).
  double d_norm = -1, min_move = 0;

  // Only lo's gradient can be accepted, so hi never holds a slot: lo and the point being evaluated need two.
  bool in_use[kLineSearchSlots] = {};
  auto take = [&]() {
    for (int i = 0; i < kLineSearchSlots; ++i)
      if (!in_use[i]) {
        in_use[i] = true;
        return i;
      }
    IMPASTO_ASSERT(false);
    return -1;
  };
  auto release = [&](const Point& p) {
    if (p.slot >= 0) in_use[p.slot] = false;
  };
  auto armijo = [&](const Point& p) { return p.f <= f0 + c1 * p.t * gtd0; };
  auto curvature = [&](const Point& p) { return std::abs(p.gtd) <= -c2 * gtd0; };

  // ---- Alg. 3.5: grow the step until the minimizer is bracketed in (lo, hi) or a point satisfies both
  //      strong-Wolfe conditions (done).
  Point prev;  // t = 0
  prev.f = f0;
  prev.gtd = gtd0;
  Point cur = evaluate_at(x, t, take(), run, iteration);
  int evals = 1;
  Point lo, hi;
  bool done = false, bracketed = false;
  for (;;) {
    if (!armijo(cur) || (evals > 1 && cur.f >= prev.f)) {
      release(cur);
      lo = prev, hi = cur, bracketed = true;
      break;
    }
    if (curvature(cur)) {
      release(prev);
      lo = cur, done = true;
      break;
    }
    if (cur.gtd >= 0) {
      release(prev);
      lo = cur, hi = prev, bracketed = true;
      break;
    }
    if (evals >= max_evals) {  // every point so far decreased f: keep the last (Armijo holds)
      release(prev);
      lo = cur, done = true;
      break;
    }
    // Extrapolate: the cubic's minimizer, at least 1% beyond t and at most 10·t.
    const double next = cubic_minimizer(prev.t, prev.f, prev.gtd, cur.t, cur.f, cur.gtd,
                                        cur.t + 0.01 * (cur.t - prev.t), 10 * cur.t);
    release(prev);
    prev = cur;
    cur = evaluate_at(x, next, take(), run, iteration);
    ++evals;
  }

  // ---- Alg. 3.6: shrink [lo, hi]; lo is the best point that satisfies the Armijo condition.
  bool insufficient_progress = false;
  while (bracketed && !done && evals < max_evals) {
    const double left = std::min(lo.t, hi.t), right = std::max(lo.t, hi.t);
    if (d_norm < 0) {
      d_norm = backend_.abs_max(d_);
      min_move = FLT_EPSILON * std::max(1.0, backend_.abs_max(x_good_));
    }
    if ((right - left) * d_norm <= min_move) break;
    double trial = cubic_minimizer(lo.t, lo.f, lo.gtd, hi.t, hi.f, hi.gtd, left, right);
    // Safeguard (as torch): a trial within 10% of an end twice in a row, or on an end, is moved inside.
    const double margin = 0.1 * (right - left);
    if (std::min(right - trial, trial - left) < margin) {
      if (insufficient_progress || trial >= right || trial <= left) {
        trial = std::abs(trial - right) < std::abs(trial - left) ? right - margin : left + margin;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    const Point p = evaluate_at(x, trial, take(), run, iteration);
    ++evals;
    if (!armijo(p) || p.f >= lo.f) {
      release(p);
      hi = p;
    } else {
      release(lo);
      if (curvature(p)) {
        lo = p, done = true;
        break;
      }
      if (p.gtd * (hi.t - lo.t) >= 0) hi = lo;
      lo = p;
    }
  }

  // Accept lo: x and g_ move there (x is recomputed exactly as evaluate_at made it).
  if (lo.t == 0) {
    backend_.copy(x_good_, x);
    return 0;
  }
  backend_.copy(x_good_, x);
  backend_.axpy(float(lo.t), d_, x);
  std::swap(g_, ls_g_[std::size_t(lo.slot)]);  // handles only: the old g_ storage becomes a trial slot
  g_abs_max_ = lo.g_abs_max;
  new_loss = lo.f;
  evaluation = lo.evaluation;
  return lo.t;
}

}  // namespace impasto
