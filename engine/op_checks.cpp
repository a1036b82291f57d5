// engine/op_checks.cpp — see op_checks.hpp: the one implementation of every backend op's argument checks.
#include "engine/op_checks.hpp"

#include <algorithm>
#include <climits>
#include <cmath>

#include "engine/backend.hpp"
#include "engine/error.hpp"

namespace impasto::checks {

// ---- generic helpers ----------------------------------------------------------------------------------------

namespace {

// t is allocated and lives on `device` (of any element type).
void check_placed(const Tensor& t, Device device, const char* op, const char* name) {
  IMPASTO_CHECK(!t.empty(), op << ": " << name << " is an empty (unallocated) tensor");
  IMPASTO_CHECK(t.device() == device, op << ": " << name << " lives on " << enum_name(t.device()) << ", expected "
                                         << enum_name(device));
}

// t (allocated, on `device`) holds float32, or bf16 where the op takes bf16 activations (`bf16`): then only on
// the CUDA backend and channels-last.
void check_values(const Tensor& t, Device device, const char* op, const char* name, bool bf16) {
  if (!bf16 || t.dtype() != DType::bf16) return check_tensor(t, device, op, name);
  check_placed(t, device, op, name);
  IMPASTO_CHECK(device == Device::cuda, op << ": " << name << " holds bf16 values; the " << enum_name(device)
                                           << " backend computes in float32");
  IMPASTO_CHECK(t.layout() == Layout::nhwc, op << ": " << name << " holds bf16 values in " << enum_name(t.layout())
                                               << "; bf16 activations are NHWC");
}

// An activation of an op that takes float32 or bf16 ones (check_values) of shape `want`.
void check_activation(const Tensor& t, Shape want, Device device, const char* op, const char* name) {
  check_values(t, device, op, name, true);
  IMPASTO_CHECK(t.shape() == want,
                op << ": " << name << " has shape " << t.shape().str() << ", expected " << want.str());
}

// The named tensors (null entries skipped) hold one element type.
void same_values(const char* op, std::initializer_list<std::pair<const Tensor*, const char*>> tensors) {
  const std::pair<const Tensor*, const char*>* first = nullptr;
  for (const auto& t : tensors) {
    if (t.first == nullptr) continue;
    if (first == nullptr) first = &t;
    IMPASTO_CHECK(t.first->dtype() == first->first->dtype(),
                  op << ": " << t.second << " holds " << enum_name(t.first->dtype()) << " values but " << first->second
                     << " " << enum_name(first->first->dtype()));
  }
}

}  // namespace

void check_tensor(const Tensor& t, Device device, const char* op, const char* name) {
  check_placed(t, device, op, name);
  IMPASTO_CHECK(t.dtype() == DType::f32, op << ": " << name << " holds " << enum_name(t.dtype())
                                            << " values; this op takes float32");
}

void check_shape(const Tensor& t, Shape want, Device device, const char* op, const char* name) {
  check_tensor(t, device, op, name);
  IMPASTO_CHECK(t.shape() == want,
                op << ": " << name << " has shape " << t.shape().str() << ", expected " << want.str());
}

void check_same_numel(const Tensor& a, const Tensor& b, Device device, const char* op, const char* a_name,
                      const char* b_name) {
  check_tensor(a, device, op, a_name);
  check_tensor(b, device, op, b_name);
  IMPASTO_CHECK(a.numel() == b.numel(), op << ": " << a_name << " " << a.shape().str() << " and " << b_name << " "
                                           << b.shape().str() << " differ in element count");
}

void check_no_alias(const Tensor& out, const Tensor& in, const char* op, const char* out_name, const char* in_name) {
  const auto* o0 = static_cast<const unsigned char*>(out.raw());
  const auto* o1 = o0 + out.numel() * std::int64_t(out.element_bytes());
  const auto* i0 = static_cast<const unsigned char*>(in.raw());
  const auto* i1 = i0 + in.numel() * std::int64_t(in.element_bytes());
  IMPASTO_CHECK(o1 <= i0 || i1 <= o0 || out.numel() == 0 || in.numel() == 0,
                op << ": " << out_name << " must not overlap " << in_name);
}

Layout common_layout(Device device, const char* op, std::initializer_list<NamedTensor> tensors) {
  const NamedTensor* first = nullptr;
  for (const NamedTensor& t : tensors) {
    if (t.first == nullptr) continue;
    if (first == nullptr) {
      first = &t;
      IMPASTO_CHECK(t.first->layout() == Layout::nchw || device == Device::cuda,
                    op << ": " << t.second << " is " << enum_name(t.first->layout()) << "; the " << enum_name(device)
                       << " backend computes in NCHW");
      continue;
    }
    IMPASTO_CHECK(t.first->layout() == first->first->layout(),
                  op << ": " << t.second << " is " << enum_name(t.first->layout()) << " but " << first->second
                     << " is " << enum_name(first->first->layout()));
  }
  return first ? first->first->layout() : Layout::nchw;
}

void check_nchw(const Tensor& t, const char* op, const char* name) {
  IMPASTO_CHECK(t.layout() == Layout::nchw, op << ": " << name << " is " << enum_name(t.layout())
                                               << "; this op takes NCHW images");
}

Shape single_image(const Tensor& x, Device device, const char* op, const char* name) {
  check_tensor(x, device, op, name);
  const Shape s = x.shape();  // (1,C,H,W)
  IMPASTO_CHECK(s.n == 1, op << ": " << name << " has shape " << s.str() << ", expected (1,C,H,W)");
  return s;
}

// ---- memory ---------------------------------------------------------------------------------------------------

void empty(Shape s) {
  IMPASTO_CHECK(s.n >= 0 && s.c >= 0 && s.h >= 0 && s.w >= 0, "empty: negative dimension in shape " << s.str());
}

// ---- convolution ----------------------------------------------------------------------------------------------

ConvShape conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Tensor& y, Device device, const char* op,
                 const char* x_name, const char* y_name, bool bf16) {
  check_values(x, device, op, x_name, bf16);
  check_values(y, device, op, y_name, bf16);
  IMPASTO_CHECK(x.dtype() == y.dtype(), op << ": " << x_name << " holds " << enum_name(x.dtype()) << " values but "
                                           << y_name << " " << enum_name(y.dtype()));
  if (bf16 && w.dtype() == DType::bf16)
    check_placed(w, device, op, "w");
  else
    check_tensor(w, device, op, "w");
  check_no_alias(x, w, op, x_name, "w");
  const Shape xs = x.shape();  // (N,Cin,H,W)
  const Shape ws = w.shape();  // (Cout,Cin,K,K)
  IMPASTO_CHECK(ws.h == ws.w && ws.h % 2 == 1,
                op << ": kernel w " << ws.str() << " must be square with an odd size K");
  IMPASTO_CHECK(ws.c == xs.c, op << ": w " << ws.str() << " expects " << ws.c << " input channels, " << x_name
                                 << " " << xs.str() << " has " << xs.c);
  const Shape ys{xs.n, ws.n, xs.h, xs.w};  // (N,Cout,H,W)
  IMPASTO_CHECK(y.shape() == ys, op << ": " << y_name << " has shape " << y.shape().str() << ", expected " << ys.str());
  check_no_alias(y, x, op, y_name, x_name);
  check_no_alias(y, w, op, y_name, "w");
  if (b) check_shape(*b, Shape{1, 1, 1, ws.n}, device, op, "b");  // (1,1,1,Cout)
  const Layout layout = common_layout(device, op, {{&x, x_name}, {&w, "w"}, {&y, y_name}});
  return ConvShape{xs, ws, layout, x.dtype()};
}

// ---- layout ---------------------------------------------------------------------------------------------------

void convert_layout(const Tensor& x, const Tensor& y, Device device) {
  const char* op = "convert_layout";
  check_values(x, device, op, "x", true);  // (N,C,H,W)
  check_values(y, device, op, "y", true);  // (N,C,H,W)
  const Shape xs = x.shape(), ys = y.shape();
  IMPASTO_CHECK(ys.n == xs.n && ys.h == xs.h && ys.w == xs.w && ys.c > 0,
                op << ": y has shape " << ys.str() << ", expected " << xs.str() << " (its channels may differ)");
  IMPASTO_CHECK(x.layout() != y.layout() || x.dtype() != y.dtype() || xs.c != ys.c,
                op << ": x and y are both " << xs.str() << " " << enum_name(x.layout()) << " " << enum_name(x.dtype()));
  IMPASTO_CHECK(x.dtype() == DType::f32 || y.dtype() == DType::f32, op << ": x and y are both bf16");
  check_no_alias(y, x, op, "y", "x");
}

void split_bf16(const Tensor& x, const Tensor& y, Device device) {
  const char* op = "split_bf16";
  check_tensor(x, device, op, "x");      // (N,C,H,W) float32
  check_values(y, device, op, "y", true);  // (N,C',H,W)
  IMPASTO_CHECK(y.dtype() == DType::bf16, op << ": y holds float32 values; it takes bf16 activations");
  const Shape xs = x.shape(), ys = y.shape();
  IMPASTO_CHECK(ys.n == xs.n && ys.h == xs.h && ys.w == xs.w && ys.c >= 2 * xs.c,
                op << ": y has shape " << ys.str() << ", expected (" << xs.n << ",C'," << xs.h << "," << xs.w
                   << ") with C' >= " << 2 * xs.c);
  check_no_alias(y, x, op, "y", "x");
}

// ---- pooling ------------------------------------------------------------------------------------------------

Shape pooled_shape(const Shape& x) { return Shape{x.n, x.c, x.h / 2, x.w / 2}; }

Shape pool2d_forward(const Tensor& x, const Tensor& y, Device device) {
  const char* op = "pool2d_forward";
  check_activation(x, x.shape(), device, op, "x");          // (N,C,H,W)
  check_activation(y, pooled_shape(x.shape()), device, op, "y");  // (N,C,H/2,W/2)
  same_values(op, {{&x, "x"}, {&y, "y"}});
  check_no_alias(y, x, op, "y", "x");
  common_layout(device, op, {{&x, "x"}, {&y, "y"}});
  return x.shape();
}

Shape pool2d_backward(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx, Device device) {
  const char* op = "pool2d_backward";
  const Shape xs = x.shape(), ys = pooled_shape(xs);
  check_activation(x, xs, device, op, "x");    // (N,C,H,W)
  check_activation(y, ys, device, op, "y");    // (N,C,H/2,W/2)
  check_activation(dy, ys, device, op, "dy");  // (N,C,H/2,W/2)
  check_activation(dx, xs, device, op, "dx");  // (N,C,H,W)
  same_values(op, {{&x, "x"}, {&y, "y"}, {&dy, "dy"}, {&dx, "dx"}});
  check_no_alias(dx, x, op, "dx", "x");
  check_no_alias(dx, dy, op, "dx", "dy");
  common_layout(device, op, {{&x, "x"}, {&y, "y"}, {&dy, "dy"}, {&dx, "dx"}});
  return xs;
}

// ---- activation and element-wise ------------------------------------------------------------------------

void relu_forward(const Tensor& x, const Tensor& y, Device device) {
  check_activation(x, x.shape(), device, "relu_forward", "x");
  check_activation(y, x.shape(), device, "relu_forward", "y");  // (N,C,H,W), may be x itself
  same_values("relu_forward", {{&x, "x"}, {&y, "y"}});
}

void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, Device device) {
  check_activation(y, y.shape(), device, "relu_backward", "y");
  check_activation(dy, y.shape(), device, "relu_backward", "dy");  // (N,C,H,W)
  check_activation(dx, y.shape(), device, "relu_backward", "dx");  // (N,C,H,W), may be dy or y
  same_values("relu_backward", {{&y, "y"}, {&dy, "dy"}, {&dx, "dx"}});
  common_layout(device, "relu_backward", {{&y, "y"}, {&dy, "dy"}, {&dx, "dx"}});
}

namespace {

// bits (1,1,1,⌈n/32⌉) for the n elements of `masked`, not overlapping it.
void check_mask_bits(const Tensor& bits, const Tensor& masked, Device device, const char* op, const char* name) {
  check_shape(bits, Shape{1, 1, 1, int(relu_mask_words(masked.numel()))}, device, op, "bits");
  check_no_alias(bits, masked, op, "bits", name);
}

}  // namespace

void relu_mask(const Tensor& y, const Tensor& bits, Device device, const char* op) {
  check_activation(y, y.shape(), device, op, "y");  // (N,C,H,W)
  check_mask_bits(bits, y, device, op, "y");
}

void relu_backward_mask(const Tensor& bits, const Tensor& dy, const Tensor& dx, Device device) {
  const char* op = "relu_backward_mask";
  check_activation(dy, dy.shape(), device, op, "dy");  // (N,C,H,W)
  check_activation(dx, dy.shape(), device, op, "dx");  // may be dy
  same_values(op, {{&dy, "dy"}, {&dx, "dx"}});
  common_layout(device, op, {{&dy, "dy"}, {&dx, "dx"}});
  check_mask_bits(bits, dy, device, op, "dy");
  check_mask_bits(bits, dx, device, op, "dx");
}

Shape pool2d_mask(const Tensor& x, const Tensor& bits, Device device, const char* op) {
  check_activation(x, x.shape(), device, op, "x");  // (N,C,H,W)
  check_mask_bits(bits, x, device, op, "x");
  common_layout(device, op, {{&x, "x"}});
  return x.shape();
}

Shape pool2d_backward_mask(const Tensor& bits, const Tensor& dy, const Tensor& dx, Device device) {
  const char* op = "pool2d_backward_mask";
  const Shape xs = dx.shape();
  check_activation(dx, xs, device, op, "dx");                // (N,C,H,W)
  check_activation(dy, pooled_shape(xs), device, op, "dy");  // (N,C,H/2,W/2)
  same_values(op, {{&dy, "dy"}, {&dx, "dx"}});
  check_no_alias(dx, dy, op, "dx", "dy");
  check_mask_bits(bits, dx, device, op, "dx");
  common_layout(device, op, {{&dy, "dy"}, {&dx, "dx"}});
  return xs;
}

DType fill(const Tensor& y, Device device) {
  check_values(y, device, "fill", "y", true);
  return y.dtype();
}

DType same_numel_values(const Tensor& x, const Tensor& y, Device device, const char* op) {
  check_values(x, device, op, "x", true);
  check_values(y, device, op, "y", true);
  IMPASTO_CHECK(x.numel() == y.numel(),
                op << ": x " << x.shape().str() << " and y " << y.shape().str() << " differ in element count");
  same_values(op, {{&x, "x"}, {&y, "y"}});
  return x.dtype();
}

void mul(const Tensor& a, const Tensor& b, const Tensor& y, Device device) {
  check_same_numel(a, b, device, "mul", "a", "b");
  check_same_numel(a, y, device, "mul", "a", "y");
}

Shape mul_mask(const Tensor& x, const Tensor& mask, const Tensor& y, Device device) {
  const Shape xs = x.shape();
  check_activation(x, xs, device, "mul_mask", "x");                        // (N,C,H,W)
  check_shape(mask, Shape{1, 1, xs.h, xs.w}, device, "mul_mask", "mask");  // (1,1,H,W)
  check_activation(y, xs, device, "mul_mask", "y");                        // (N,C,H,W), may be x
  same_values("mul_mask", {{&x, "x"}, {&y, "y"}});
  common_layout(device, "mul_mask", {{&x, "x"}, {&y, "y"}});  // the mask's one channel reads the same in both
  return xs;
}

void clamp(const Tensor& x, float lo, float hi, const Tensor& y, Device device) {
  IMPASTO_CHECK(lo <= hi, "clamp: empty range [" << lo << ", " << hi << "]");
  check_same_numel(x, y, device, "clamp", "x", "y");
}

// ---- losses and Adam ------------------------------------------------------------------------------------------

std::int64_t sq_diff_loss(const Tensor& x, const Tensor& target, const Tensor* weight, const Tensor* grad,
                          Device device) {
  const char* op = "sq_diff_loss";
  const Shape xs = x.shape();
  check_activation(x, xs, device, op, "x");            // (N,C,H,W)
  check_activation(target, xs, device, op, "target");  // (N,C,H,W)
  std::int64_t weight_plane = 0;
  if (weight != nullptr) {
    check_tensor(*weight, device, op, "weight");
    const Shape plane{1, 1, xs.h, xs.w};
    IMPASTO_CHECK(weight->shape() == xs || weight->shape() == plane,
                  op << ": weight has shape " << weight->shape().str() << ", expected " << xs.str() << " or "
                     << plane.str());
    weight_plane = weight->shape() == xs ? 0 : xs.plane();
  }
  if (grad != nullptr) check_activation(*grad, xs, device, op, "grad");  // (N,C,H,W)
  same_values(op, {{&x, "x"}, {&target, "target"}, {grad, "grad"}});
  common_layout(device, op, {{&x, "x"}, {&target, "target"}, {grad, "grad"},
                             {weight_plane == 0 ? weight : nullptr, "weight"}});
  return weight_plane;
}

Shape tv_loss(const Tensor& x, const Tensor* grad, Device device) {
  const char* op = "tv_loss";
  check_tensor(x, device, op, "x");  // (N,C,H,W)
  check_nchw(x, op, "x");
  const Shape xs = x.shape();
  if (grad != nullptr) {
    check_shape(*grad, xs, device, op, "grad");  // (N,C,H,W)
    check_nchw(*grad, op, "grad");
    check_no_alias(*grad, x, op, "grad", "x");   // the stencil reads neighbours of what it writes
  }
  return xs;
}

void adam_step(const Tensor& x, const Tensor& g, const Tensor& m, const Tensor& v, float beta1, float beta2, int t,
               Device device) {
  const char* op = "adam_step";
  check_same_numel(x, g, device, op, "x", "g");
  check_same_numel(x, m, device, op, "x", "m");
  check_same_numel(x, v, device, op, "x", "v");
  IMPASTO_CHECK(t >= 1, op << ": step t = " << t << " must be >= 1");
  IMPASTO_CHECK(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f,
                op << ": betas (" << beta1 << ", " << beta2 << ") must lie in [0, 1)");
}

// ---- color ------------------------------------------------------------------------------------------------------

Shape color_convert(const Tensor& x, const Tensor& y, Device device) {
  const char* op = "color_convert";
  check_tensor(x, device, op, "x");
  const Shape s = x.shape();  // (1,3,H,W)
  IMPASTO_CHECK(s.n == 1 && s.c == 3, op << ": x has shape " << s.str() << ", expected (1,3,H,W)");
  check_shape(y, s, device, op, "y");  // (1,3,H,W)
  check_nchw(x, op, "x");
  check_nchw(y, op, "y");
  // Each pixel's three inputs are read before its outputs are written, so y may be x; a partial overlap
  // would not be safe.
  IMPASTO_CHECK(y.data() == x.data() || y.data() + y.numel() <= x.data() || x.data() + x.numel() <= y.data(),
                op << ": y must be x or not overlap it");
  return s;
}

// ---- video ------------------------------------------------------------------------------------------------------

Shape warp(const Tensor& x, const Tensor& flow, const Tensor& fill, const Tensor& y, Device device) {
  const char* op = "warp";
  const Shape s = single_image(x, device, op, "x");                  // (1,C,H,W)
  check_shape(flow, Shape{1, 2, s.h, s.w}, device, op, "flow");      // (1,2,H,W)
  check_shape(fill, Shape{1, s.c, 1, 1}, device, op, "fill");        // (1,C,1,1)
  check_shape(y, s, device, op, "y");                                // (1,C,H,W)
  check_no_alias(y, x, op, "y", "x");
  check_no_alias(y, flow, op, "y", "flow");
  check_nchw(x, op, "x");
  check_nchw(y, op, "y");
  return s;
}

Shape consistency(const Tensor& fwd, const Tensor& bwd, const Tensor& c, Device device) {
  const char* op = "consistency";
  const Shape s = single_image(fwd, device, op, "fwd");  // (1,2,H,W)
  IMPASTO_CHECK(s.c == 2, op << ": fwd has shape " << s.str() << ", expected (1,2,H,W)");
  check_shape(bwd, s, device, op, "bwd");                    // (1,2,H,W)
  check_shape(c, Shape{1, 1, s.h, s.w}, device, op, "c");    // (1,1,H,W)
  check_no_alias(c, fwd, op, "c", "fwd");
  check_no_alias(c, bwd, op, "c", "bwd");
  return s;
}

Shape gaussian_blur(const Tensor& x, float sigma, const Tensor& tmp, const Tensor& y, Device device) {
  const char* op = "gaussian_blur";
  check_tensor(x, device, op, "x");  // (N,C,H,W)
  const Shape s = x.shape();
  check_shape(tmp, s, device, op, "tmp");
  check_shape(y, s, device, op, "y");
  IMPASTO_CHECK(std::isfinite(sigma) && sigma >= 0.0f && sigma <= 10.0f,
                op << ": sigma " << sigma << " is outside [0, 10]");
  check_no_alias(tmp, x, op, "tmp", "x");
  check_no_alias(tmp, y, op, "tmp", "y");
  check_nchw(x, op, "x");
  check_nchw(y, op, "y");
  return s;
}

// ---- photorealism: the matting Laplacian ------------------------------------------------------------------------

namespace {

// guide (1,3,H,W), NCHW, large enough for one 3×3 window; returns its shape.
Shape matting_guide(const Tensor& guide, Device device, const char* op) {
  const Shape s = single_image(guide, device, op, "guide");  // (1,3,H,W)
  IMPASTO_CHECK(s.c == 3, op << ": guide has shape " << s.str() << ", expected (1,3,H,W)");
  IMPASTO_CHECK(s.h >= 3 && s.w >= 3,
                op << ": guide " << s.str() << " is smaller than one 3x3 matting window (H, W >= 3)");
  check_nchw(guide, op, "guide");
  return s;
}

}  // namespace

Shape matting_prepare(const Tensor& guide, float eps, const Tensor& stats, Device device) {
  const char* op = "matting_prepare";
  const Shape s = matting_guide(guide, device, op);             // (1,3,H,W)
  check_shape(stats, Shape{1, 15, s.h, s.w}, device, op, "stats");  // (1,15,H,W)
  check_nchw(stats, op, "stats");
  check_no_alias(stats, guide, op, "stats", "guide");
  IMPASTO_CHECK(std::isfinite(eps) && eps > 0.0f, op << ": eps " << eps << " must be positive and finite");
  return s;
}

Shape matting_loss(const Tensor& v, const Tensor& guide, const Tensor& stats, const Tensor& coef, const Tensor* grad,
                   Device device) {
  const char* op = "matting_loss";
  const Shape g = matting_guide(guide, device, op);           // (1,3,H,W)
  const Shape s = single_image(v, device, op, "v");            // (1,C,H,W)
  IMPASTO_CHECK(s.h == g.h && s.w == g.w,
                op << ": v " << s.str() << " and guide " << g.str() << " differ in height or width");
  check_nchw(v, op, "v");
  check_shape(stats, Shape{1, 15, s.h, s.w}, device, op, "stats");     // (1,15,H,W)
  check_nchw(stats, op, "stats");
  check_shape(coef, Shape{1, 4 * s.c, s.h, s.w}, device, op, "coef");  // (1,4C,H,W)
  check_nchw(coef, op, "coef");
  check_no_alias(coef, v, op, "coef", "v");
  check_no_alias(coef, guide, op, "coef", "guide");
  check_no_alias(coef, stats, op, "coef", "stats");
  if (grad != nullptr) {
    check_shape(*grad, s, device, op, "grad");  // (1,C,H,W)
    check_nchw(*grad, op, "grad");
    check_no_alias(*grad, v, op, "grad", "v");
    check_no_alias(*grad, guide, op, "grad", "guide");
    check_no_alias(*grad, stats, op, "grad", "stats");
    check_no_alias(coef, *grad, op, "coef", "grad");
  }
  return s;
}

// ---- Gram matrices ------------------------------------------------------------------------------------------

namespace {

// Checks f (1,C,H,W) and returns C; M = H·W follows from f's shape.
int check_features(const Tensor& f, Device device, const char* op) {
  check_values(f, device, op, "f", true);  // float32 or bf16 activations
  IMPASTO_CHECK(f.shape().n == 1, op << ": f " << f.shape().str() << " must hold one sample (N = 1)");
  return f.shape().c;
}

}  // namespace

int gram(const Tensor& f, const Tensor& g, Device device) {
  const int c = check_features(f, device, "gram");              // f (1,C,H,W)
  check_shape(g, Shape{1, 1, c, c}, device, "gram", "g");       // g (1,1,C,C)
  check_no_alias(g, f, "gram", "g", "f");
  common_layout(device, "gram", {{&f, "f"}});
  return c;
}

int gram_backward(const Tensor& dg, const Tensor& f, const Tensor& df, Device device) {
  const char* op = "gram_backward";
  const int c = check_features(f, device, op);                  // f (1,C,H,W)
  check_shape(dg, Shape{1, 1, c, c}, device, op, "dg");         // dg (1,1,C,C)
  check_activation(df, f.shape(), device, op, "df");            // df (1,C,H,W)
  same_values(op, {{&f, "f"}, {&df, "df"}});
  check_no_alias(df, f, op, "df", "f");
  check_no_alias(df, dg, op, "df", "dg");
  common_layout(device, op, {{&f, "f"}, {&df, "df"}});
  return c;
}

// ---- history products (GEMM / GEMV) ----------------------------------------------------------------------------

GemmDims gemm_nt(const Tensor& a, const Tensor& b, const Tensor& c, Device device, const char* blas) {
  const char* op = "gemm_nt";
  check_tensor(a, device, op, "a");
  check_tensor(b, device, op, "b");
  check_tensor(c, device, op, "c");
  const Shape cs = c.shape();
  IMPASTO_CHECK(cs.n == 1 && cs.c == 1, op << ": c " << cs.str() << " must be (1,1,ra,rb)");
  const std::int64_t ra = cs.h, rb = cs.w;
  IMPASTO_CHECK(ra > 0 ? a.numel() % ra == 0 : a.numel() == 0,
                op << ": a " << a.shape().str() << " holds " << a.numel() << " elements, not " << ra
                   << " rows (c is " << cs.str() << ")");
  const std::int64_t n = ra > 0 ? a.numel() / ra : b.numel() / std::max<std::int64_t>(rb, 1);
  IMPASTO_CHECK(b.numel() == rb * n, op << ": b " << b.shape().str() << " holds " << b.numel()
                                        << " elements, expected rb·n = " << rb << "·" << n);
  IMPASTO_CHECK(n <= INT_MAX, op << ": rows of " << n << " exceed " << blas << "'s int range");
  check_no_alias(c, a, op, "c", "a");
  check_no_alias(c, b, op, "c", "b");
  return {int(ra), int(rb), int(n)};
}

GemvDims gemv_t(const Tensor& a, const Tensor& x, const Tensor& y, Device device, const char* blas) {
  const char* op = "gemv_t";
  check_tensor(a, device, op, "a");
  check_tensor(x, device, op, "x");
  check_tensor(y, device, op, "y");
  const std::int64_t rows = x.numel(), n = y.numel();
  IMPASTO_CHECK(a.numel() == rows * n, op << ": a " << a.shape().str() << " holds " << a.numel()
                                          << " elements, expected rows·n = " << rows << "·" << n);
  IMPASTO_CHECK(rows <= INT_MAX && n <= INT_MAX, op << ": " << rows << "×" << n << " exceeds " << blas
                                                    << "'s int range");
  check_no_alias(y, a, op, "y", "a");
  check_no_alias(y, x, op, "y", "x");
  return {int(rows), int(n)};
}

}  // namespace impasto::checks
