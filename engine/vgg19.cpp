// engine/vgg19.cpp — VGG-19 forward/backward on a Backend (see vgg19.hpp). Memory: per conv in use, the
// ReLU output (the next layer's input and the ReLU mask of the backward pass), the pre-ReLU output only
// where a convX_Y tap asks for it, the pooled output where a deeper layer follows, and two shared scratch
// buffers for the gradient that flows down. Activations and weights are in the backend's activation layout
// (NHWC on CUDA under TF32/bf16); then the image enters through an NHWC copy and its gradient leaves through
// one (3 channels: cheap next to the first layer's 64). Under bf16 the activations, the taps' features and the
// gradients flowing down are stored in bf16 (Backend::activation_dtype), and the image enters as two bf16 parts
// in 8 channels (Backend::split_bf16: its rounding and what that missed, then 0) through a conv1_1 whose taps
// repeat for the second part: the convolution sees the image to ~16 significant bits, where bf16 alone would
// round a pixel of 100 to a step of 0.5 and swallow the optimizer's small steps. A forward-only plan
// (plan_forward, for the style targets) holds the largest activation twice and hands each tap's feature to the
// caller as the forward pass reaches it.
#include "engine/vgg19.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

#include "engine/error.hpp"

namespace impasto {
namespace {

// w (Cout,Cin,K,K) host values in `layout` → (Cout,cin2,K,K) in the same layout whose input channel c takes
// channel c mod Cin's taps for c < 2·Cin and is 0 beyond: conv1_1 on the image's two bf16 parts (split_bf16).
std::vector<float> repeat_input_taps(const std::vector<float>& w, Shape s, int cin2, Layout layout) {
  std::vector<float> out(std::size_t(s.n) * cin2 * s.h * s.w, 0.0f);
  auto at = [&](int k, int c, int r, int q, int channels) {
    return std::size_t(layout == Layout::nhwc ? ((k * s.h + r) * s.w + q) * channels + c
                                              : ((k * channels + c) * s.h + r) * s.w + q);
  };
  for (int k = 0; k < s.n; ++k)
    for (int c = 0; c < std::min(cin2, 2 * s.c); ++c)
      for (int r = 0; r < s.h; ++r)
        for (int q = 0; q < s.w; ++q) out[at(k, c, r, q, cin2)] = w[at(k, c % s.c, r, q, s.c)];
  return out;
}

}  // namespace

Tap parse_tap(const std::string& name) {
  const auto& convs = vgg19_convs();
  for (int i = 0; i < kVggConvCount; ++i) {
    const std::string conv = convs[i].name;  // "convX_Y"
    if (name == conv) return Tap{i, false};
    if (name == "relu" + conv.substr(4)) return Tap{i, true};
  }
  IMPASTO_FAIL("unknown layer '" << name << "' (expected convX_Y or reluX_Y with X in 1..5, e.g. conv4_2, relu1_1)");
}

std::string tap_name(const Tap& t) {
  const std::string conv = vgg19_convs()[t.conv].name;
  return t.relu ? "relu" + conv.substr(4) : conv;
}

Vgg19::Vgg19(Backend& backend, const VggWeights& weights, PoolMode pool) : backend_(backend), pool_(pool) {
  const auto& convs = vgg19_convs();
  IMPASTO_CHECK(!weights.convs.empty() && weights.convs.size() <= std::size_t(kVggConvCount),
                "weights hold " << weights.convs.size() << " convolution layers, expected 1.." << kVggConvCount);
  layers_.resize(weights.convs.size());
  for (std::size_t i = 0; i < weights.convs.size(); ++i) {
    const ConvWeights& cw = weights.convs[i];
    IMPASTO_CHECK(cw.cin == convs[i].cin && cw.cout == convs[i].cout && cw.k == 3 &&
                      cw.w.size() == std::size_t(cw.cout) * cw.cin * 9 && cw.b.size() == std::size_t(cw.cout),
                  "weights for " << convs[i].name << " have the wrong shape");
    layers_[i].w = backend_.from_host(cw.w, Shape{cw.cout, cw.cin, 3, 3});  // (Cout,Cin,3,3)
    layers_[i].b = backend_.from_host(cw.b, Shape{1, 1, 1, cw.cout});      // (1,1,1,Cout)
  }
}

std::size_t Vgg19::weight_bytes() const {
  std::size_t bytes = 0;
  for (const Layer& l : layers_) bytes += std::size_t(l.w.numel() + l.b.numel()) * sizeof(float);
  return bytes;
}

Shape vgg19_feature_shape(const Tap& t, int h, int w) {
  const auto& convs = vgg19_convs();
  for (int i = 0; i < t.conv; ++i)
    if (convs[i].pool_after) {
      h /= 2;
      w /= 2;
    }
  return Shape{1, convs[t.conv].cout, h, w};  // (1,C,h,w)
}

void Vgg19::reset_plan() {
  ++generation_;
  for (Layer& l : layers_) {
    l.conv_out = l.relu_out = l.pool_out = l.mask = l.wc = Tensor();
    l.conv_tap = l.relu_tap = false;
  }
  scratch_ = spare_ = input_ = input_grad_ = first_home_ = forward_input_ = ping_ = pong_ = Tensor();
  slots_.clear();
  steps_.clear();
  depth_ = 0;
  forward_only_ = false;
  // The weights follow the activations' layout (an NHWC filter is KRSC): reordered once, one layer at a time.
  const Layout layout = backend_.activation_layout();
  for (Layer& l : layers_) {
    if (l.w.layout() == layout) continue;
    Tensor w = backend_.empty(l.w.shape()).with_layout(layout);  // (Cout,Cin,3,3)
    backend_.convert_layout(l.w, w);
    l.w = w;
  }
}

void Vgg19::set_pooling(PoolMode pool) {
  if (pool == pool_) return;
  pool_ = pool;
  ++generation_;
}

void Vgg19::plan(int h, int w, const std::vector<Tap>& taps) {
  reset_plan();
  // The workspace is the plan's own, given back before this plan allocates (a larger earlier plan's would
  // otherwise sit beside this plan's buffers: the memory plan counts each phase's workspace alone).
  backend_.trim_workspace(lay_out(h, w, taps, false).workspace);
  planned(lay_out(h, w, taps, true), h, w);
}

void Vgg19::planned(const VggPlanBytes& bytes, int h, int w) {
  planned_bytes_ = bytes.buffers + bytes.workspace;
  h_ = h;
  w_ = w;
}

VggPlanBytes Vgg19::plan_bytes(int h, int w, const std::vector<Tap>& taps) {
  return lay_out(h, w, taps, false);
}

void Vgg19::plan_forward(int h, int w, const std::vector<Tap>& taps) {
  reset_plan();
  backend_.trim_workspace(lay_out_forward(h, w, taps, false).workspace);  // as plan()
  planned(lay_out_forward(h, w, taps, true), h, w);
}

VggPlanBytes Vgg19::plan_forward_bytes(int h, int w, const std::vector<Tap>& taps) {
  return lay_out_forward(h, w, taps, false);
}

int Vgg19::planned_depth(int h, int w, const std::vector<Tap>& taps) const {
  IMPASTO_CHECK(h >= 1 && w >= 1, "image size " << w << "x" << h << " is empty");
  IMPASTO_CHECK(!taps.empty(), "no layers requested from VGG-19");
  const auto& convs = vgg19_convs();
  int deepest = 0;
  for (const Tap& t : taps) deepest = std::max(deepest, t.conv);
  IMPASTO_CHECK(deepest < int(layers_.size()), "layer " << convs[deepest].name << " is needed but the weights hold only "
                                                         << layers_.size() << " convolution layers");
  // The spatial size must stay at least 1x1 down to the deepest layer.
  const Shape deepest_shape = vgg19_feature_shape(Tap{deepest, false}, h, w);
  IMPASTO_CHECK(deepest_shape.h >= 1 && deepest_shape.w >= 1,
                "image " << w << "x" << h << " is too small for layer " << convs[deepest].name
                         << " (each pooling halves it)");
  // cuDNN's tensor descriptors and our kernels index a feature map with 32-bit integers.
  IMPASTO_CHECK(std::int64_t(convs[0].cout) * h * w <= std::int64_t(INT32_MAX),
                "image " << w << "x" << h << " is too large: VGG-19's first layers would hold more than 2^31 values");
  return deepest + 1;
}

VggPlanBytes Vgg19::lay_out_forward(int h, int w, const std::vector<Tap>& taps, bool allocate) {
  const int depth = planned_depth(h, w, taps);
  const auto& convs = vgg19_convs();
  const Layout layout = backend_.activation_layout();
  const DType values = backend_.activation_dtype();
  std::size_t bytes = 0, workspace = 0;
  std::int64_t max_numel = 0;
  int hh = h, ww = w;
  for (int i = 0; i < depth; ++i) {
    const Shape in{1, conv_input_channels(i, values), hh, ww};  // (1,Cin,h,w)
    workspace = std::max(workspace, backend_.conv2d_workspace_bytes(in, conv_filter_shape(i, values), layout, values));
    max_numel = std::max(max_numel, std::int64_t(convs[i].cout) * hh * ww);
    if (allocate)
      for (const Tap& t : taps)
        if (t.conv == i) (t.relu ? layers_[i].relu_tap : layers_[i].conv_tap) = true;
    if (convs[i].pool_after) hh /= 2, ww /= 2;
  }
  const Shape input{1, conv_input_channels(0, values), h, w};  // (1,3,H,W), or (1,8,H,W) in bf16
  bytes += 2 * storage_bytes(max_numel, values);
  if (layout != Layout::nchw) bytes += storage_bytes(input.numel(), values);  // input_
  bytes += lay_out_filters(depth, values, allocate);
  if (allocate) {
    ping_ = backend_.empty_typed(Shape{1, 1, 1, int(max_numel)}, values, layout);
    pong_ = backend_.empty_typed(Shape{1, 1, 1, int(max_numel)}, values, layout);
    // Fresh memory may hold any bit pattern; cuDNN's fused convolution blends with its output (alpha2 = 0).
    backend_.fill(ping_, 0.0f);
    backend_.fill(pong_, 0.0f);
    if (layout != Layout::nchw) input_ = backend_.empty_typed(input, values, layout);
    backend_.reserve_workspace(workspace);
    depth_ = depth;
    layout_ = layout;
    dtype_ = values;
    forward_only_ = true;
  }
  return {bytes, workspace};
}

int Vgg19::conv_input_channels(int i, DType values) {
  const int cin = vgg19_convs()[std::size_t(i)].cin;
  if (values != DType::bf16 || cin % 8 == 0) return cin;
  return (2 * cin + 7) / 8 * 8;  // the image's two bf16 parts (split_bf16), rounded up to a multiple of 8
}

Shape Vgg19::conv_filter_shape(int i, DType values) const {
  const Shape w = layers_[std::size_t(i)].w.shape();  // (Cout,Cin,3,3)
  return Shape{w.n, conv_input_channels(i, values), w.h, w.w};
}

std::size_t Vgg19::lay_out_filters(int depth, DType values, bool allocate) {
  std::size_t bytes = 0;
  for (int i = 0; i < depth; ++i) {
    Layer& l = layers_[std::size_t(i)];
    const Shape ws = conv_filter_shape(i, values);  // (Cout,Cin',3,3)
    bytes += backend_.conv_filter_bytes(ws);
    if (!allocate) continue;
    if (ws == l.w.shape()) {
      l.wc = backend_.conv_filter(l.w);
    } else {  // conv1_1 on the image's two bf16 parts: its taps repeated for the second, then the backend's copy
      const std::vector<float> taps = repeat_input_taps(backend_.to_host(l.w), l.w.shape(), ws.c, l.w.layout());
      const Tensor repeated = backend_.from_host(taps, ws).with_layout(l.w.layout());  // (Cout,8,3,3)
      l.wc = backend_.conv_filter(repeated);
    }
  }
  return bytes;
}

const Tensor& Vgg19::network_input(const Tensor& x) {
  IMPASTO_CHECK(x.shape() == (Shape{1, 3, h_, w_}),
                "input " << x.shape().str() << " does not match the planned " << Shape{1, 3, h_, w_}.str());
  if (input_.empty()) return x;
  if (dtype_ == DType::bf16)
    backend_.split_bf16(x, input_);  // its two bf16 parts, (1,8,H,W)
  else
    backend_.convert_layout(x, input_);
  return input_;
}

void Vgg19::forward_taps(const Tensor& x, const TapFeature& at_tap) {
  IMPASTO_CHECK(depth_ > 0 && forward_only_, "Vgg19::forward_taps before plan_forward()");
  Tensor in = network_input(x);
  // Each output goes into the buffer that does not hold the op's input.
  const Tensor buffers[2] = {ping_, pong_};
  int next = 0;
  auto take = [&](Shape s) { return buffers[std::exchange(next, next ^ 1)].prefix(s).with_layout(layout_); };
  const auto& convs = vgg19_convs();
  for (int i = 0; i < depth_; ++i) {
    const Layer& l = layers_[std::size_t(i)];
    const Shape out{1, convs[i].cout, in.shape().h, in.shape().w};  // (1,Cout,h,w)
    Tensor y = take(out);
    if (l.conv_tap) {
      backend_.conv2d_forward(in, l.wc, l.b, y, /*fuse_relu=*/false);
      at_tap(Tap{i, false}, y);
      Tensor r = take(out);
      backend_.relu_forward(y, r);
      y = r;
    } else {
      backend_.conv2d_forward(in, l.wc, l.b, y, /*fuse_relu=*/true);
    }
    if (l.relu_tap) at_tap(Tap{i, true}, y);
    in = y;
    if (convs[i].pool_after && i + 1 < depth_) {
      in = take(Shape{1, convs[i].cout, out.h / 2, out.w / 2});  // (1,Cout,h/2,w/2)
      backend_.pool2d_forward(y, in, pool_);
    }
  }
}

VggPlanBytes Vgg19::lay_out(int h, int w, const std::vector<Tap>& taps, bool allocate) {
  const int depth = planned_depth(h, w, taps);
  const auto& convs = vgg19_convs();
  const Layout layout = backend_.activation_layout();
  const DType values = backend_.activation_dtype();
  std::size_t bytes = 0;
  std::int64_t max_numel = 3LL * h * w;
  std::size_t workspace = 0;
  // Counts s; allocates it into slot (in `layout`) when planning for real: activations and gradients hold
  // `values`, the masks' words float32's bytes.
  auto alloc = [&](Tensor& slot, Shape s, DType d) {
    bytes += storage_bytes(s.numel(), d);
    if (allocate) slot = backend_.empty_typed(s, d, layout);
  };
  if (layout != Layout::nchw) {
    const Shape input{1, conv_input_channels(0, values), h, w};  // (1,3,H,W), or (1,8,H,W) in bf16
    alloc(input_, input, values);
    alloc(input_grad_, input, values);
  }
  // Layer 0's ReLU output shares the backward scratch (see vgg19.hpp) when a deeper layer frees a buffer for its
  // recompute.
  const bool recompute_first = depth >= 2;
  std::int64_t transient[2] = {0, 0};
  const std::vector<BackwardLayer> kept = what_backward_needs(h, w, depth, taps, recompute_first, transient);
  int hh = h, ww = w;
  for (int i = 0; i < depth; ++i) {
    Layer& l = layers_[i];
    const BackwardLayer& k = kept[std::size_t(i)];
    const Shape in{1, conv_input_channels(i, values), hh, ww};  // (1,Cin,h,w)
    const Shape out{1, convs[i].cout, hh, ww};                   // (1,Cout,h,w)
    workspace = std::max(workspace, backend_.conv2d_workspace_bytes(in, conv_filter_shape(i, values), layout, values));
    max_numel = std::max(max_numel, out.numel());
    if (k.conv_tap) alloc(l.conv_out, out, values);
    if (k.relu_kept && (i > 0 || !recompute_first)) alloc(l.relu_out, out, values);
    if (!k.relu_kept)  // (1,1,1,⌈n/32⌉) words of bits
      alloc(l.mask, Shape{1, 1, 1, int(relu_mask_words(out.numel()))}, DType::f32);
    if (allocate) {
      l.relu_tap = k.relu_tap;
      l.conv_tap = k.conv_tap;
    }
    if (k.pool > 0) {
      hh /= 2;
      ww /= 2;
    }
  }
  Tensor transients[2];
  for (int t = 0; t < 2; ++t)
    if (transient[t] > 0) alloc(transients[t], Shape{1, 1, 1, int(transient[t])}, values);
  bytes += lay_out_filters(depth, values, allocate);
  std::vector<BackwardStep> steps;
  const std::int64_t spare =
      plan_backward(kept, max_numel, recompute_first, {transient[0], transient[1]}, steps);
  alloc(scratch_, Shape{1, 1, 1, int(max_numel)}, values);
  if (spare > 0) alloc(spare_, Shape{1, 1, 1, int(spare)}, values);
  if (allocate) {
    if (recompute_first) {
      first_home_ = scratch_.prefix(vgg19_feature_shape(Tap{0, true}, h, w)).with_layout(layout);  // (1,64,H,W)
      layers_[0].relu_out = first_home_;
    }
    steps_ = std::move(steps);
    slots_ = {scratch_, spare_};
    for (int i = 0; i < depth; ++i) slots_.push_back(kept[std::size_t(i)].relu_kept ? layers_[i].relu_out : Tensor());
    slots_.push_back(transients[0]);
    slots_.push_back(transients[1]);
    home_in_transients(kept, transients, h, w, layout);
    backend_.reserve_workspace(workspace);
    // Fresh memory may hold any bit pattern: zero the layer outputs once, so that no NaN from an earlier
    // allocation can reach a library call that blends with its output (cuDNN's fused conv, alpha2 = 0).
    for (int i = 0; i < depth; ++i) backend_.fill(layers_[i].relu_out, 0.0f);
    depth_ = depth;
    layout_ = layout;
    dtype_ = values;
  }
  return {bytes, workspace};
}

std::vector<Vgg19::BackwardLayer> Vgg19::what_backward_needs(int h, int w, int depth, const std::vector<Tap>& taps,
                                                             bool recompute_first, std::int64_t transient[2]) const {
  const auto& convs = vgg19_convs();
  std::vector<BackwardLayer> kept(static_cast<std::size_t>(depth));
  // Forward's homes of what backward does not keep: two transient buffers, each output in the one its input is not
  // in (current: the transient holding the input, -1 for a kept buffer or the image).
  int current = -1;
  auto place = [&](std::int64_t numel) {
    const int t = current == 0 ? 1 : 0;
    transient[t] = std::max(transient[t], numel);
    return current = t;
  };
  for (int i = 0; i < depth; ++i) {
    BackwardLayer& k = kept[std::size_t(i)];
    for (const Tap& t : taps)
      if (t.conv == i) (t.relu ? k.relu_tap : k.conv_tap) = true;
    const Shape out = vgg19_feature_shape(Tap{i, true}, h, w);  // (1,Cout,h,w)
    k.out = out.numel();
    k.in = std::int64_t(convs[i].cin) * out.h * out.w;
    const bool pooled = convs[i].pool_after && i + 1 < depth;
    if (pooled) k.pool = std::int64_t(out.c) * (out.h / 2) * (out.w / 2);
    // A tap's feature is read by its loss; layer 0 is recomputed into the scratch (recompute_first); the deepest
    // layer's output is where backward starts. Elsewhere only a mask is needed: the ReLU's, or below a pooling
    // the pooling's (pool2d_mask: for max pooling, where each window's gradient lands). No pooling output is
    // read backward.
    k.relu_kept = k.relu_tap || (i == 0 && recompute_first) || i == depth - 1;
    k.relu_home = k.relu_kept ? (current = -1) : place(k.out);
    if (pooled) k.pool_home = place(k.pool);
  }
  return kept;
}

void Vgg19::home_in_transients(const std::vector<BackwardLayer>& kept, const Tensor transients[2], int h, int w,
                               Layout layout) {
  for (std::size_t i = 0; i < kept.size(); ++i) {
    Layer& l = layers_[i];
    const Shape out = vgg19_feature_shape(Tap{int(i), true}, h, w);  // (1,Cout,h,w)
    if (kept[i].relu_home >= 0) l.relu_out = transients[kept[i].relu_home].prefix(out).with_layout(layout);
    if (kept[i].pool > 0)
      l.pool_out = transients[kept[i].pool_home]
                       .prefix(Shape{1, out.c, out.h / 2, out.w / 2})
                       .with_layout(layout);  // (1,Cout,h/2,w/2)
  }
}

void Vgg19::forward(const Tensor& x) {
  IMPASTO_CHECK(depth_ > 0 && !forward_only_, "Vgg19::forward before plan()");
  forward_input_ = network_input(x);
  const Tensor* in = &forward_input_;
  if (!first_home_.empty()) layers_[0].relu_out = first_home_;  // backward's recompute moved it
  for (int i = 0; i < depth_; ++i) in = &forward_layer(layers_[i], *in);
}

// A mask is all backward keeps of a masked layer: below a pooling the pooling's, else the ReLU's, each made in
// the pass that writes what it describes (on the GPU it then costs no read of the activation of its own).
const Tensor& Vgg19::forward_layer(Layer& l, const Tensor& in) {
  const bool masked = !l.mask.empty(), pooled = !l.pool_out.empty();
  if (!l.conv_out.empty()) {  // a tap on the convolution's output: the ReLU apart
    backend_.conv2d_forward(in, l.wc, l.b, l.conv_out, /*fuse_relu=*/false);
    backend_.relu_forward(l.conv_out, l.relu_out);
    if (masked && !pooled) backend_.relu_mask(l.relu_out, l.mask);
  } else if (masked && pooled) {  // only the pooling reads the ReLU output: relu_out may keep the raw convolution
    backend_.conv2d_forward_pool_mask(in, l.wc, l.b, l.relu_out, l.pool_out, l.mask, pool_);
    return l.pool_out;
  } else if (masked) {
    backend_.conv2d_forward_relu_mask(in, l.wc, l.b, l.relu_out, l.mask);
  } else {
    backend_.conv2d_forward(in, l.wc, l.b, l.relu_out, /*fuse_relu=*/true);
  }
  if (!pooled) return l.relu_out;
  if (masked)
    backend_.pool2d_forward_mask(l.relu_out, l.pool_out, l.mask, pool_);
  else
    backend_.pool2d_forward(l.relu_out, l.pool_out, pool_);
  return l.pool_out;
}

Vgg19::Layer& Vgg19::layer_of(const Tap& t, const char* what) {
  return const_cast<Layer&>(static_cast<const Vgg19*>(this)->layer_of(t, what));
}

const Vgg19::Layer& Vgg19::layer_of(const Tap& t, const char* what) const {
  IMPASTO_CHECK(t.conv >= 0 && t.conv < depth_, what << " of " << tap_name(t) << ": layer not planned");
  return layers_[t.conv];
}

const Tensor& Vgg19::feature(const Tap& t) const {
  IMPASTO_CHECK(!forward_only_, "feature of " << tap_name(t) << ": a forward-only plan keeps none (forward_taps)");
  const Layer& l = layer_of(t, "feature");
  const Tensor& f = t.relu ? l.relu_out : l.conv_out;
  IMPASTO_CHECK(!f.empty(), "feature of " << tap_name(t) << ": tap not planned");
  return f;
}

// Each gradient of backward() goes into a free slot: an activation whose last reader is done (its own ReLU
// backward, which writes dL/d conv_out over it in place, or the pooling backward above it, which reads it as the
// ReLU mask) — the smallest that fits —, else the scratch (one activation's size), else the spare, grown to what
// it must hold. In a chain of convolutions the gradient thus alternates between the scratch and the layer's own
// activation; at a pooling both gradients are placed before the convolution backward, the larger first, so that
// it takes the scratch and the smaller one a dead activation of the coarser level (the spare only where there is
// none, as below the deepest layer: a few values per pixel).
std::int64_t Vgg19::plan_backward(const std::vector<BackwardLayer>& layers, std::int64_t scratch,
                                  bool recompute_first, const std::vector<std::int64_t>& transients,
                                  std::vector<BackwardStep>& steps) {
  const int depth = int(layers.size());
  const int relu0 = 2, transient0 = 2 + depth;  // slot numbers
  std::vector<std::int64_t> capacity(std::size_t(transient0) + transients.size(), 0);
  std::vector<char> free(capacity.size(), 0);
  capacity[0] = scratch;
  free[0] = free[1] = 1;
  for (int i = 0; i < depth; ++i) {
    const BackwardLayer& l = layers[std::size_t(i)];
    capacity[std::size_t(relu0 + i)] = (i == 0 && recompute_first) || !l.relu_kept ? 0 : l.out;
  }
  for (std::size_t t = 0; t < transients.size(); ++t) {  // forward is done with them
    capacity[std::size_t(transient0) + t] = transients[t];
    free[std::size_t(transient0) + t] = 1;
  }
  std::int64_t spare = 0;
  auto take = [&](std::int64_t need) {
    int best = -1;
    for (int s = 2; s < int(capacity.size()); ++s)
      if (free[std::size_t(s)] && capacity[std::size_t(s)] >= need &&
          (best < 0 || capacity[std::size_t(s)] < capacity[std::size_t(best)]))
        best = s;
    if (best < 0 && free[0] && capacity[0] >= need) best = 0;
    if (best < 0) {
      IMPASTO_ASSERT(free[1]);  // at most two gradients are held at once: the scratch and the spare suffice
      best = 1;
      spare = std::max(spare, need);
    }
    free[std::size_t(best)] = 0;
    return best;
  };
  auto release = [&](int s) { free[std::size_t(s)] = 1; };

  steps.assign(std::size_t(depth), BackwardStep{});
  int up = -1;
  bool masked = false;
  for (int i = depth - 1; i >= 0; --i) {
    const BackwardLayer& l = layers[std::size_t(i)];
    BackwardStep& st = steps[std::size_t(i)];
    int own = relu0 + i;
    if (i == depth - 1 && l.relu_tap) up = take(l.out);  // the deepest tap's gradient is written there
    if (i == 0 && recompute_first) own = st.recompute = take(l.out);
    st.up = up;
    st.masked = masked;
    if (masked) {
      st.d = up;
      release(own);  // the pooling backward above read its mask
    } else if (!l.relu_kept) {
      st.d = up;  // the ReLU backward from the mask, in place over the gradient from above
    } else {
      st.d = own;  // the ReLU backward in place (or, at the deepest layer with only a conv tap, written there)
      if (up >= 0) release(up);
    }
    if (i == 0) break;
    const BackwardLayer& below = layers[std::size_t(i - 1)];
    if (below.pool > 0) st.d_prev = take(below.out);
    st.d_in = take(l.in);
    release(st.d);  // read by the convolution backward
    if (below.pool > 0) {
      st.mask_below = !below.relu_tap;  // unless a tap's gradient must join before the ReLU
      release(st.d_in);
      up = st.d_prev;
      masked = st.mask_below;
    } else {
      up = st.d_in;
      masked = false;
    }
  }
  return spare;
}

void Vgg19::backward(Tensor& dx, const TapGradient& tap_gradient) {
  IMPASTO_CHECK(depth_ > 0 && !forward_only_, "Vgg19::backward before plan()");
  IMPASTO_CHECK(dx.shape() == (Shape{1, 3, h_, w_}), "input gradient " << dx.shape().str() << " does not match the plan");
  // A tap's gradient is added where the gradient from above is (tap_gradient), then goes through the ReLU with
  // it: no buffer per tap, and the sum is read once. Where the gradient lives: plan_backward.
  for (int i = depth_ - 1; i >= 0; --i) {
    Layer& l = layers_[std::size_t(i)];
    const BackwardStep& st = steps_[std::size_t(i)];
    const Shape out = l.relu_out.shape();  // (1,Cout,h,w)
    if (st.recompute >= 0) {  // relu1_1, whose home in the scratch the deeper layers' gradients overwrote
      Tensor y = slot(st.recompute, out);
      if (l.conv_out.empty())
        backend_.conv2d_forward(forward_input_, l.wc, l.b, y, /*fuse_relu=*/true);
      else
        backend_.relu_forward(l.conv_out, y);
      l.relu_out = y;  // what the tap and the ReLU backward read (forward() moves it home)
    }
    const bool from_above = i < depth_ - 1;
    IMPASTO_ASSERT(from_above || l.relu_tap || l.conv_tap);  // the deepest layer always holds a tap
    if (l.relu_tap) {
      IMPASTO_ASSERT(!st.masked);
      Tensor up = slot(st.up, out);  // dL/d relu_out
      tap_gradient(Tap{i, true}, up, from_above);
    }
    Tensor d = slot(st.d, out);  // dL/d conv_out
    if (st.up >= 0 && !st.masked) {
      if (l.mask.empty())
        backend_.relu_backward(l.relu_out, slot(st.up, out), d);
      else
        backend_.relu_backward_mask(l.mask, slot(st.up, out), d);  // in place: d is the gradient from above
    }
    if (l.conv_tap) tap_gradient(Tap{i, false}, d, from_above || l.relu_tap);
    if (i == 0) {
      if (input_grad_.empty()) {
        backend_.conv2d_backward_data(d, l.wc, dx);
      } else {
        backend_.conv2d_backward_data(d, l.wc, input_grad_);
        backend_.convert_layout(input_grad_, dx);  // in bf16 also cropped to the image's 3 channels
      }
      break;
    }
    const Layer& prev = layers_[std::size_t(i - 1)];
    Tensor d_in = slot(st.d_in, Shape{1, vgg19_convs()[std::size_t(i)].cin, out.h, out.w});  // (1,Cin,h,w)
    backend_.conv2d_backward_data(d, l.wc, d_in);
    if (st.d_prev >= 0) {
      Tensor d_prev = slot(st.d_prev, prev.relu_out.shape());  // (1,C,2h,2w): dL/d relu_out below
      if (st.mask_below)  // through layer i − 1's ReLU, of which only the pooling mask is kept
        backend_.pool2d_backward_mask(prev.mask, d_in, d_prev, pool_);
      else  // a ReLU tap below, kept: its gradient joins before the ReLU (pool_out, not kept, is read as a shape)
        backend_.pool2d_backward(prev.relu_out, prev.pool_out, d_in, d_prev, pool_, false);
    }
  }
}

double Vgg19::conv_flops() const {
  double flops = 0;
  for (int i = 0; i < depth_; ++i) {
    const Shape s = layers_[i].relu_out.shape();
    flops += 2.0 * vgg19_convs()[i].cin * vgg19_convs()[i].cout * 9.0 * double(s.h) * s.w;
  }
  return flops;
}

}  // namespace impasto
