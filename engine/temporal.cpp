// engine/temporal.cpp — see temporal.hpp.
#include "engine/temporal.hpp"

#include "engine/error.hpp"
#include "engine/video_frames.hpp"
#include "kernels/warp.cuh"

namespace impasto {

void reliability(Backend& b, const Tensor& fwd, const Tensor& bwd, float sigma, Tensor& tmp, Tensor& c) {
  b.consistency(fwd, bwd, c);
  b.gaussian_blur(c, sigma, tmp, c);
  b.clamp(c, 0.0f, 1.0f, c);
}

double photometric_mask(const Image& prev, const Image& cur, const FlowField& bwd, float threshold,
                        std::vector<float>* mask) {
  check_same_size(prev, cur, "photometric test");
  IMPASTO_CHECK(bwd.h == cur.h && bwd.w == cur.w, "photometric test: flow of " << bwd.w << "x" << bwd.h
                                                   << " for frames of " << cur.w << "x" << cur.h);
  const int h = cur.h, w = cur.w;
  if (mask) mask->assign(std::size_t(h) * w, 1.0f);
  std::size_t inside = 0, failed = 0;
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) {
      const float d = math::photometric_distance_at(prev.data.data(), cur.data.data(), bwd.data.data(), h, w, i, j);
      if (d < 0.0f) continue;  // the source is outside the frame (a NaN or unknown flow too)
      ++inside;
      if (!(d <= threshold)) {  // a NaN colour fails too
        ++failed;
        if (mask) (*mask)[std::size_t(i) * w + j] = 0.0f;
      }
    }
  return inside > 0 ? double(failed) / double(inside) : 1.0;
}

void apply_mask(Backend& b, const std::vector<float>& mask, Tensor& tmp, Tensor& c) {
  IMPASTO_ASSERT(std::int64_t(mask.size()) == tmp.numel() && tmp.shape() == c.shape());
  b.upload(mask.data(), tmp);
  b.mul(c, tmp, c);
}

void long_term_weights(Backend& b, std::vector<Tensor>& c, Tensor& sum) {
  b.fill(sum, 0.0f);
  for (Tensor& cj : c) {
    // c_long(j) = max(c(j) − Σ_{k<j} c(k), 0); the sum runs over the raw c(k).
    b.axpy(1.0f, cj, sum);           // sum = Σ_{k<=j} c(k)
    b.axpby(-1.0f, sum, 2.0f, cj);   // cj = 2c(j) − Σ_{k<=j} c(k) = c(j) − Σ_{k<j} c(k)
    b.clamp(cj, 0.0f, 1.0f, cj);
  }
}

void channel_mean(Backend& b, const Tensor& x, Tensor& fill) {
  const Shape s = x.shape();  // (1,C,H,W)
  IMPASTO_CHECK(s.n == 1 && fill.shape() == (Shape{1, s.c, 1, 1}), "channel_mean: shapes " << s.str() << ", "
                                                                                           << fill.shape().str());
  const Tensor planes = x.reshaped(Shape{s.c, 1, s.h, s.w});  // (C,1,H,W): one sample per channel
  std::vector<float> mean(std::size_t(s.c));
  for (int c = 0; c < s.c; ++c) mean[std::size_t(c)] = float(b.sum(planes.sample(c)) / double(s.plane()));
  b.upload(mean.data(), fill);
}

double TemporalLoss::evaluate(const Tensor& x, Tensor& grad) {
  const double scale = weight_ / double(x.numel());  // γ/D, D = H·W·3
  double loss = 0;
  for (const Term& t : terms_) loss += backend_.sq_diff_loss(x, t.target, &t.c, float(scale), &grad);
  return loss;
}

void TemporalLoss::queue(const Tensor& x, Tensor& grad) {
  IMPASTO_ASSERT(backend_.deferring());
  evaluate(x, grad);  // each term's value is queued (0 now)
}

double TemporalLoss::total(const double* values) const {
  double loss = 0;
  for (std::size_t j = 0; j < terms_.size(); ++j) loss += values[j];
  return loss;
}

void warp_fill(Backend& b, WarpFill how, const Tensor& x, Tensor& fill) {
  if (how == WarpFill::mean_pixel)
    b.fill(fill, 0.0f);
  else
    channel_mean(b, x, fill);
}

void blend_pass(Backend& b, PassBlend rule, double delta, const Tensor& own, const Tensor& warped, const Tensor& c,
                Tensor& diff, Tensor& weight, Tensor& x) {
  // x = own + w ⊙ (ω − own) with w = (1 − δ)·c (linear) or (1 − δ)·c / (δ + (1 − δ)·c) (normalized).
  b.copy(warped, diff);
  b.axpy(-1.0f, own, diff);  // ω − own
  if (rule == PassBlend::linear) {
    b.mul_mask(diff, c, diff);
    b.copy(own, x);
    b.axpy(float(1.0 - delta), diff, x);
    return;
  }
  // Once per frame, on H·W values: the weights are made on the host (no backend op divides).
  std::vector<float> w = b.to_host(c);
  for (float& v : w) {
    const double a = (1.0 - delta) * double(v), den = delta + a;
    v = den > 0 ? float(a / den) : 0.0f;
  }
  b.upload(w.data(), weight);
  b.mul_mask(diff, weight, diff);
  b.copy(own, x);
  b.axpy(1.0f, diff, x);
}

double warping_error(Backend& b, const Image& prev, const Image& cur, const FlowField& fwd, const FlowField& bwd,
                     float sigma, double* reliable_fraction) {
  check_same_size(prev, cur, "warping_error");
  IMPASTO_CHECK(fwd.h == cur.h && fwd.w == cur.w && bwd.h == cur.h && bwd.w == cur.w,
                "warping_error: flow size differs from the frames");
  const int h = cur.h, w = cur.w;
  Tensor p = b.from_host(prev.data, Shape{1, 3, h, w});  // (1,3,H,W)
  Tensor f = b.from_host(fwd.data, Shape{1, 2, h, w});   // (1,2,H,W)
  Tensor bw = b.from_host(bwd.data, Shape{1, 2, h, w});  // (1,2,H,W)
  Tensor c = b.empty(Shape{1, 1, h, w}), tmp = b.empty(Shape{1, 1, h, w});
  reliability(b, f, bw, sigma, tmp, c);
  Tensor fill = b.empty(Shape{1, 3, 1, 1});
  channel_mean(b, p, fill);
  Tensor warped = b.empty(p.shape());
  b.warp(p, bw, fill, warped);
  const std::vector<float> wv = b.to_host(warped), cv = b.to_host(c);
  const std::size_t m = std::size_t(h) * w;
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t k = 0; k < m; ++k) {
    if (!(cv[k] > 0.5f)) continue;
    ++n;
    for (int ch = 0; ch < 3; ++ch) {
      const double d = (double(cur.plane(ch)[k]) - double(wv[ch * m + k])) / 255.0;
      sum += d * d;
    }
  }
  if (reliable_fraction) *reliable_fraction = double(n) / double(m);
  return n > 0 ? sum / (3.0 * double(n)) : 0.0;
}

}  // namespace impasto
