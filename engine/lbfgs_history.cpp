// engine/lbfgs_history.cpp — the L-BFGS memory (m pairs s, y) and the direction d = −H·g on backend tensors.
// DESIGN.md "Optimizers".
//
// compact (default): the compact representation of Byrd, Nocedal & Schnabel 1994, "Representations of
// quasi-Newton matrices and their use in limited memory methods", Theorem 2.2, eq. (2.6). With the k kept pairs
// as the columns of S and Y (n×k, oldest first) and H0 = γI:
//     H = γI + [S γY]·M·[Sᵀ; γYᵀ],   M = [ R⁻ᵀ(D + γYᵀY)R⁻¹   −R⁻ᵀ ]
//                                         [ −R⁻¹                  0  ]
// where R (k×k) is the upper triangle of SᵀY (R_ab = s_aᵀy_b for a <= b) and D its diagonal. M is applied by
// two triangular solves instead of being formed. With p_s = Sᵀg and p_y = Yᵀg:
//     u = R⁻¹·p_s,   c_s = R⁻ᵀ·((D + γYᵀY)·u − γ·p_y),   c_y = −γ·u        (host, double, O(k²))
//     d = −H·g = −γ·g − S·c_s − Y·c_y
// so an iteration needs two GEMVs for p (one download of 2k floats), the host solve, one upload of the 2k
// coefficients and two transposed GEMVs into d: O(1) device→host syncs instead of the two-loop's 2k dot
// products. SᵀY and YᵀY (m×m, double) stay on the host and change by one row and column per accepted pair
// (BNS §4's limited-memory updating): three GEMVs give Sᵀy, Yᵀy and Yᵀs of the new pair, one more its sᵀy and
// yᵀy, all downloaded in one transfer. H0 = γI with γ = sᵀy / yᵀy of the newest pair (N&W eq. 7.20).
//
// two_loop: Nocedal & Wright, Numerical Optimization (2nd ed.), Alg. 7.4 with the same pairs, H0 and guard —
// 2k dot products, each a device→host sync. Kept as the reference the tests compare the compact form against.
//
// Storage: S and Y are (m, n) matrices whose rows form a ring: rows fill in order 0, 1, …; once full the new
// pair replaces the oldest (row head_), so the kept rows are always rows [0, k) and one GEMV covers them.
// The candidate pair lives in its own (2, n) matrix so that a pair the curvature guard rejects
// (sᵀy <= curvature_eps·yᵀy) never disturbs the kept ones.
#include <climits>

#include "engine/error.hpp"
#include "engine/optimizer.hpp"

namespace impasto::detail {

namespace {

// Layout of small_ (a (1,1,1,7m+2) vector), m = capacity:
//   [0, 3m+2)     offer():     sᵀy, yᵀy | Sᵀy (k) | Yᵀy (k) | Yᵀs (k)    (new pair s, y; by physical row)
//   [3m+2, 5m+2)  direction(): Sᵀg (k) | Yᵀg (k)
//   [5m+2, 7m+2)  direction(): c_s (k) | c_y (k)
std::int64_t p_offset(int m) { return 3 * std::int64_t(m) + 2; }
std::int64_t c_offset(int m) { return 5 * std::int64_t(m) + 2; }

}  // namespace

std::size_t LbfgsHistory::bytes(Shape shape, int capacity) {
  // S, Y (m, n), the candidate pair (2, n) and small_ (7m + 2), as the constructor below allocates them.
  const std::int64_t floats = (2 * std::int64_t(capacity) + 2) * shape.numel() + c_offset(capacity) + 2 * std::int64_t(capacity);
  return std::size_t(floats) * sizeof(float);
}

LbfgsHistory::LbfgsHistory(Backend& backend, Shape shape, int capacity, double curvature_eps)
    : backend_(backend), capacity_(capacity), curvature_eps_(curvature_eps) {
  IMPASTO_CHECK(capacity >= 1, "L-BFGS: history " << capacity << " must be >= 1");
  const std::int64_t n = shape.numel();
  IMPASTO_CHECK(n > 0 && n <= INT_MAX, "L-BFGS: cannot keep a history of tensors " << shape.str());
  const int cols = int(n);
  s_ = backend_.empty(Shape{1, 1, capacity, cols});
  y_ = backend_.empty(Shape{1, 1, capacity, cols});
  pair_ = backend_.empty(Shape{1, 1, 2, cols});
  small_ = backend_.empty(Shape{1, 1, 1, int(c_offset(capacity) + 2 * std::int64_t(capacity))});
  candidate_s_ = pair_.slice_rows(0, 1).reshaped(shape);
  candidate_y_ = pair_.slice_rows(1, 1).reshaped(shape);
  for (int i = 0; i < capacity; ++i) {
    s_rows_.push_back(s_.slice_rows(i, 1).reshaped(shape));
    y_rows_.push_back(y_.slice_rows(i, 1).reshaped(shape));
  }
  const auto m = std::size_t(capacity);
  sty_.assign(m * m, 0.0);
  yty_.assign(m * m, 0.0);
  host_.assign(std::size_t(small_.numel()), 0.0f);
  u_.assign(m, 0.0);
  w_.assign(m, 0.0);
  v_.assign(m, 0.0);
}

void LbfgsHistory::clear() {
  count_ = 0;
  head_ = 0;
  gamma_ = 1;
}

Tensor LbfgsHistory::vector_view(std::int64_t offset, int count) const {
  return small_.slice(offset, Shape{1, 1, 1, count});
}

bool LbfgsHistory::offer() {
  const int k = count_, m = capacity_;
  Tensor own = vector_view(0, 2);  // sᵀy, yᵀy = [s; y]·y
  backend_.gemv(pair_, candidate_y_, own);
  if (k > 0) {
    const Tensor s_k = s_.slice_rows(0, k), y_k = y_.slice_rows(0, k);  // (k, n)
    Tensor s_y = vector_view(2, k), y_y = vector_view(2 + k, k), y_s = vector_view(2 + 2 * k, k);
    backend_.gemv(s_k, candidate_y_, s_y);  // s_iᵀy
    backend_.gemv(y_k, candidate_y_, y_y);  // y_iᵀy
    backend_.gemv(y_k, candidate_s_, y_s);  // y_iᵀs
  }
  backend_.download(vector_view(0, 3 * k + 2), host_.data());  // the one sync
  const double ys = host_[0], yy = host_[1];
  if (!(ys > curvature_eps_ * yy) || !(yy > 0)) return false;  // curvature guard (also rejects NaN)

  const int r = k < m ? k : head_;  // the next free row, else the oldest pair's
  for (int i = 0; i < k; ++i) {
    if (i == r) continue;  // the outgoing pair's products
    sty_[std::size_t(i) * m + r] = host_[std::size_t(2 + i)];
    sty_[std::size_t(r) * m + i] = host_[std::size_t(2 + 2 * k + i)];
    yty_[std::size_t(i) * m + r] = yty_[std::size_t(r) * m + i] = host_[std::size_t(2 + k + i)];
  }
  sty_[std::size_t(r) * m + r] = ys;
  yty_[std::size_t(r) * m + r] = yy;
  backend_.copy(candidate_s_, s_rows_[std::size_t(r)]);
  backend_.copy(candidate_y_, y_rows_[std::size_t(r)]);
  if (k < m)
    ++count_;
  else
    head_ = (head_ + 1) % m;
  gamma_ = ys / yy;
  return true;
}

void LbfgsHistory::direction(const Tensor& g, Tensor& d, LbfgsParams::Direction how) {
  IMPASTO_ASSERT(g.data() != d.data());
  if (count_ == 0) {  // H = I: steepest descent
    backend_.copy(g, d);
    backend_.scale(d, -1.0f);
    return;
  }
  if (how == LbfgsParams::Direction::compact)
    compact_direction(g, d);
  else
    two_loop_direction(g, d);
}

void LbfgsHistory::compact_direction(const Tensor& g, Tensor& d) {
  const int k = count_, m = capacity_;
  const double gamma = gamma_;
  const Tensor s_k = s_.slice_rows(0, k), y_k = y_.slice_rows(0, k);  // (k, n)
  Tensor p_s = vector_view(p_offset(m), k), p_y = vector_view(p_offset(m) + k, k);
  backend_.gemv(s_k, g, p_s);  // Sᵀg
  backend_.gemv(y_k, g, p_y);  // Yᵀg
  const float* p = host_.data();  // [Sᵀg | Yᵀg] by physical row
  backend_.download(vector_view(p_offset(m), 2 * k), host_.data());  // the one sync

  // By age a (0 = oldest), row(a) its physical row.
  for (int a = k - 1; a >= 0; --a) {  // u = R⁻¹·p_s: back substitution, R_ab = s_aᵀy_b (a <= b)
    const int ra = row(a);
    double acc = p[ra];
    for (int b = a + 1; b < k; ++b) acc -= sty(ra, row(b)) * u_[std::size_t(b)];
    u_[std::size_t(a)] = acc / sty(ra, ra);
  }
  for (int a = 0; a < k; ++a) {  // w = (D + γYᵀY)·u − γ·p_y
    const int ra = row(a);
    double acc = 0;
    for (int b = 0; b < k; ++b) acc += yty(ra, row(b)) * u_[std::size_t(b)];
    w_[std::size_t(a)] = sty(ra, ra) * u_[std::size_t(a)] + gamma * (acc - p[k + ra]);
  }
  for (int a = 0; a < k; ++a) {  // c_s = v = R⁻ᵀ·w: forward substitution, (Rᵀ)_ab = s_bᵀy_a (b <= a)
    const int ra = row(a);
    double acc = w_[std::size_t(a)];
    for (int b = 0; b < a; ++b) acc -= sty(row(b), ra) * v_[std::size_t(b)];
    v_[std::size_t(a)] = acc / sty(ra, ra);
  }
  float* c = host_.data() + c_offset(m);  // [c_s | c_y] by physical row
  for (int a = 0; a < k; ++a) {
    c[row(a)] = float(v_[std::size_t(a)]);
    c[k + row(a)] = float(-gamma * u_[std::size_t(a)]);
  }
  Tensor coefficients = vector_view(c_offset(m), 2 * k);
  backend_.upload(c, coefficients);

  const Tensor c_s = vector_view(c_offset(m), k), c_y = vector_view(c_offset(m) + k, k);
  backend_.copy(g, d);
  backend_.gemv_t(s_k, c_s, -1.0f, float(-gamma), d);  // d = −γ·g − S·c_s
  backend_.gemv_t(y_k, c_y, -1.0f, 1.0f, d);           //     − Y·c_y
}

void LbfgsHistory::two_loop_direction(const Tensor& g, Tensor& d) {
  // Alg. 7.4 applied to −g (the recursion is linear), so d ends as −H·g without a final negation.
  // ρ = 1/sᵀy is the diagonal of SᵀY; u_ holds the alphas by age.
  backend_.copy(g, d);
  backend_.scale(d, -1.0f);
  for (int a = count_ - 1; a >= 0; --a) {  // newest → oldest
    const int r = row(a);
    u_[std::size_t(a)] = backend_.dot(s_rows_[std::size_t(r)], d) / sty(r, r);
    backend_.axpy(float(-u_[std::size_t(a)]), y_rows_[std::size_t(r)], d);
  }
  backend_.scale(d, float(gamma_));
  for (int a = 0; a < count_; ++a) {  // oldest → newest
    const int r = row(a);
    const double beta = backend_.dot(y_rows_[std::size_t(r)], d) / sty(r, r);
    backend_.axpy(float(u_[std::size_t(a)] - beta), s_rows_[std::size_t(r)], d);
  }
}

}  // namespace impasto::detail
