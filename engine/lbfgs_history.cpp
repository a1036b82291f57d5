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
// SᵀY and YᵀY (m×m, double) stay on the host and change by one row and column per accepted pair (BNS §4's
// limited-memory updating). H0 = γI with γ = sᵀy / yᵀy of the newest pair (N&W eq. 7.20).
//
// Passes over the history per iteration (the optimizer's cost: the history is up to 2m image-sized rows, 2.5 GB
// at 1024² with m = 100): the pairs are stored interleaved in one matrix [S Y] and the offer of a new pair also
// takes the gradient g at the new iterate, so one GEMM [s; y; g]·[S Y]ᵀ gives at once the new pair's products
// for SᵀY and YᵀY and the next direction's p = [S Y]ᵀg (the kept rows do not change with the offer, except the
// replaced slot, whose products come from the small GEMM [s; y; g]·[s; y]ᵀ). The direction then needs only the
// GEMV d = −γ·g − [S Y]·c. Two passes over the history per iteration, where separate GEMVs for Sᵀy, Yᵀy, Yᵀs,
// Sᵀg, Yᵀg and the two products into d would make seven; one download per iteration (the offer's), which can ride
// on the evaluation's round trip (queue_offer / take_offer). The offer's small GEMM also gives gᵀg, so the host
// knows gᵀd = −γ·gᵀg − pᵀc of the next direction without a reduction.
//
// two_loop: Nocedal & Wright, Numerical Optimization (2nd ed.), Alg. 7.4 with the same pairs, H0 and guard —
// 2k dot products, each a device→host sync. Kept as the reference the tests compare the compact form against.
//
// The candidate pair lives in its own rows (with the copy of g) so that a pair the curvature guard rejects
// (sᵀy <= curvature_eps·yᵀy) never disturbs the kept ones.
#include <climits>
#include <limits>

#include "engine/error.hpp"
#include "engine/optimizer.hpp"

namespace impasto::detail {

namespace {

// Layout of small_ (a (1,1,1,10m+12) vector), m = capacity, k = pairs kept when written:
//   [0, 6k + 9)         offer(): [s; y; g]·[S Y]ᵀ (3 × 2k, by history row) | [s; y; g]·[s; y; g]ᵀ (3 × 3)
//   [6m + 9, 8m + 9)    direction(): g·[S Y]ᵀ (2k)
//   [8m + 9, 10m + 12)  the coefficients c (2k, by history row: c_s of pair i in 2i, c_y in 2i + 1); with a full
//                       history and the offered g, 2m + 3: those of all the rows of rows_ ([S Y; s; y; g]: 0, 0, γ)
std::int64_t p_offset(int m) { return 6 * std::int64_t(m) + 9; }
std::int64_t c_offset(int m) { return 8 * std::int64_t(m) + 9; }
std::int64_t coefficients_end(int m) { return c_offset(m) + 2 * std::int64_t(m) + 3; }

}  // namespace

std::size_t LbfgsHistory::bytes(Shape shape, int capacity) {
  // [S Y] and the candidate rows (2m + 3, n) and small_ (10m + 12), as the constructor below allocates them.
  const std::int64_t floats = (2 * std::int64_t(capacity) + 3) * shape.numel() + coefficients_end(capacity);
  return std::size_t(floats) * sizeof(float);
}

LbfgsHistory::LbfgsHistory(Backend& backend, Shape shape, int capacity, double curvature_eps)
    : backend_(backend), capacity_(capacity), curvature_eps_(curvature_eps) {
  IMPASTO_CHECK(capacity >= 1 && capacity <= INT_MAX / 16,
                "L-BFGS: history " << capacity << " must be between 1 and " << INT_MAX / 16);
  const std::int64_t n = shape.numel();
  IMPASTO_CHECK(n > 0 && n <= INT_MAX, "L-BFGS: cannot keep a history of tensors " << shape.str());
  const int cols = int(n);
  rows_ = backend_.empty(Shape{1, 1, 2 * capacity + 3, cols});
  history_ = rows_.slice_rows(0, 2 * capacity);
  candidate_ = rows_.slice_rows(2 * capacity, 3);
  small_ = backend_.empty(Shape{1, 1, 1, int(coefficients_end(capacity))});
  candidate_s_ = candidate_.slice_rows(0, 1).reshaped(shape);
  candidate_y_ = candidate_.slice_rows(1, 1).reshaped(shape);
  offered_g_ = candidate_.slice_rows(2, 1).reshaped(shape);
  for (int i = 0; i < capacity; ++i) {
    s_rows_.push_back(history_.slice_rows(2 * i, 1).reshaped(shape));
    y_rows_.push_back(history_.slice_rows(2 * i + 1, 1).reshaped(shape));
  }
  const auto m = std::size_t(capacity);
  sty_.assign(m * m, 0.0);
  yty_.assign(m * m, 0.0);
  host_.assign(std::size_t(small_.numel()), 0.0f);
  p_.assign(2 * m, 0.0f);
  u_.assign(m, 0.0);
  w_.assign(m, 0.0);
  v_.assign(m, 0.0);
}

void LbfgsHistory::clear() {
  count_ = 0;
  head_ = 0;
  gamma_ = 1;
  offered_ = false;
}

Tensor LbfgsHistory::small_view(std::int64_t offset, int rows, int cols) const {
  return small_.slice(offset, Shape{1, 1, rows, cols});
}

bool LbfgsHistory::offer(const Tensor& g) {
  queue_offer(g);
  backend_.download(offer_products(), host_.data());  // the one sync
  return take_offer();
}

void LbfgsHistory::queue_offer(const Tensor& g) {
  const int k = count_;
  backend_.copy(g, offered_g_);  // the third right-hand row
  Tensor with_history = small_view(0, 3, 2 * k);  // (3, 2k): row j = candidate row j · each history row
  if (k > 0) backend_.gemm_nt(candidate_, kept_rows(), with_history);
  Tensor own = small_view(6 * std::int64_t(k), 3, 3);  // (3, 3): [s; y; g]·[s; y; g]ᵀ
  backend_.gemm_nt(candidate_, candidate_, own);
}

const Tensor& LbfgsHistory::offer_products() {
  offer_products_ = small_view(0, 1, 6 * std::int64_t(count_) + 9);  // the size queue_offer filled: count_ is as then
  return offer_products_;
}

bool LbfgsHistory::take_offer() {
  const int k = count_, m = capacity_;
  const float* h = host_.data();
  auto product = [&](int j, int history_row) { return double(h[std::size_t(j) * 2 * k + history_row]); };
  const float* o = h + 6 * k;  // o[3j + c]: candidate row j (s, y, g) · candidate row c
  const double ys = o[1], yy = o[4];

  // g's products with the kept rows serve the next direction whether or not this pair is kept.
  for (int i = 0; i < 2 * k; ++i) p_[std::size_t(i)] = float(product(2, i));
  offered_gg_ = o[8];
  offered_ = true;
  if (!(ys > curvature_eps_ * yy) || !(yy > 0)) return false;  // curvature guard (also rejects NaN)

  const int r = k < m ? k : head_;  // the next free slot, else the oldest pair's
  for (int i = 0; i < k; ++i) {
    if (i == r) continue;  // the outgoing pair's products
    sty_[std::size_t(i) * m + r] = product(1, 2 * i);      // s_iᵀy
    sty_[std::size_t(r) * m + i] = product(0, 2 * i + 1);  // sᵀy_i
    yty_[std::size_t(i) * m + r] = yty_[std::size_t(r) * m + i] = product(1, 2 * i + 1);
  }
  sty_[std::size_t(r) * m + r] = ys;
  yty_[std::size_t(r) * m + r] = yy;
  p_[2 * std::size_t(r)] = o[6];      // gᵀs
  p_[2 * std::size_t(r) + 1] = o[7];  // gᵀy
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
  if (count_ == 0) {
    steepest_descent(g, d);
  } else if (how == LbfgsParams::Direction::compact) {
    Tensor products = small_view(p_offset(capacity_), 1, 2 * count_);
    backend_.gemm_nt(g, kept_rows(), products);  // g·[S Y]ᵀ
    float* p = host_.data() + p_offset(capacity_);
    backend_.download(products, p);  // the one sync
    compact_coefficients(p, false);
    kept_direction(g, d);
  } else {
    two_loop_direction(g, d);
  }
}

double LbfgsHistory::next_direction(Tensor& d, LbfgsParams::Direction how, bool* pending) {
  IMPASTO_ASSERT(offered_);
  if (pending) *pending = false;
  if (count_ == 0) {
    steepest_descent(offered_g_, d);
    return -offered_gg_;
  }
  if (how == LbfgsParams::Direction::two_loop) {
    two_loop_direction(offered_g_, d);
    return std::numeric_limits<double>::quiet_NaN();
  }
  // The products from the offer. With a full history the GEMV runs over all of rows_ = [S Y; s; y; g] with g's
  // coefficient γ among the uploaded ones: device work without a host scalar, which the caller may record
  // (pending).
  const bool all_rows = count_ == capacity_;
  const double gtd = -gamma_ * offered_gg_ - compact_coefficients(p_.data(), all_rows);
  if (!all_rows) {
    kept_direction(offered_g_, d);
  } else if (pending) {
    *pending = true;
  } else {
    apply_direction(d);
  }
  return gtd;
}

void LbfgsHistory::kept_direction(const Tensor& g, Tensor& d) {
  backend_.copy(g, d);
  backend_.gemv_t(kept_rows(), small_view(c_offset(capacity_), 1, 2 * count_), -1.0f, float(-gamma_), d);
}

void LbfgsHistory::apply_direction(Tensor& d) {
  IMPASTO_ASSERT(count_ == capacity_);
  const int rows = 2 * capacity_ + 3;
  backend_.gemv_t(rows_, small_view(c_offset(capacity_), 1, rows), -1.0f, 0.0f, d);  // d = −[S Y s y g]·c
}

void LbfgsHistory::steepest_descent(const Tensor& g, Tensor& d) {  // H = I
  backend_.copy(g, d);
  backend_.scale(d, -1.0f);
}

double LbfgsHistory::compact_coefficients(const float* p, bool all_rows) {
  // p (2k) = [S Y]ᵀg by history row: s_iᵀg in 2i, y_iᵀg in 2i + 1.
  const int k = count_, m = capacity_;
  const double gamma = gamma_;

  // By age a (0 = oldest), row(a) its pair slot.
  for (int a = k - 1; a >= 0; --a) {  // u = R⁻¹·p_s: back substitution, R_ab = s_aᵀy_b (a <= b)
    const int ra = row(a);
    double acc = p[2 * ra];
    for (int b = a + 1; b < k; ++b) acc -= sty(ra, row(b)) * u_[std::size_t(b)];
    u_[std::size_t(a)] = acc / sty(ra, ra);
  }
  for (int a = 0; a < k; ++a) {  // w = (D + γYᵀY)·u − γ·p_y
    const int ra = row(a);
    double acc = 0;
    for (int b = 0; b < k; ++b) acc += yty(ra, row(b)) * u_[std::size_t(b)];
    w_[std::size_t(a)] = sty(ra, ra) * u_[std::size_t(a)] + gamma * (acc - p[2 * ra + 1]);
  }
  for (int a = 0; a < k; ++a) {  // c_s = v = R⁻ᵀ·w: forward substitution, (Rᵀ)_ab = s_bᵀy_a (b <= a)
    const int ra = row(a);
    double acc = w_[std::size_t(a)];
    for (int b = 0; b < a; ++b) acc -= sty(row(b), ra) * v_[std::size_t(b)];
    v_[std::size_t(a)] = acc / sty(ra, ra);
  }
  float* c = host_.data() + c_offset(m);  // by history row
  double pc = 0;  // pᵀc with the coefficients as uploaded: gᵀd = −γ·gᵀg − pᵀc
  for (int a = 0; a < k; ++a) {
    const int ra = row(a);
    c[2 * ra] = float(v_[std::size_t(a)]);
    c[2 * ra + 1] = float(-gamma * u_[std::size_t(a)]);
    pc += double(p[2 * ra]) * c[2 * ra] + double(p[2 * ra + 1]) * c[2 * ra + 1];
  }
  int count = 2 * k;
  if (all_rows) {  // the candidate rows s, y (not in H) and g, whose coefficient is γ: d = −γ·g − [S Y]·c
    IMPASTO_ASSERT(k == m);
    c[2 * m] = c[2 * m + 1] = 0.0f;
    c[2 * m + 2] = float(gamma);
    count = 2 * m + 3;
  }
  Tensor coefficients = small_view(c_offset(m), 1, count);
  backend_.upload(c, coefficients);
  return pc;
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
