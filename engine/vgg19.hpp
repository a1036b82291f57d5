// engine/vgg19.hpp — the VGG-19 feature network (conv1_1 … conv5_4) on a Backend: forward keeping only what
// the backward pass needs, truncated after the deepest requested tap, and a backward pass that returns the
// gradient with respect to the input image only (weights never change; no weight gradients). The backward-data
// convolutions read no activation, so backward keeps the taps' features and of every other ReLU output only a
// mask (one bit per element: Backend::relu_mask, or below a pooling Backend::pool2d_mask, which for max pooling
// says where each window's gradient lands); forward passes those outputs and the poolings through two transient
// buffers, which backward then uses for gradients. The gradients
// at the taps are not stored: backward asks for each one when it reaches its layer and adds it in place
// (TapGradient), so no tap holds a gradient buffer of its own; and the gradients flowing down are written into
// activations whose last reader is done (backward's only scratch is one activation's size and a small spare),
// so after backward() the features hold gradients: read them between forward() and backward(). relu1_1's output
// (the largest activation with conv1_2's) has no buffer of its own: between forward and backward it lives in the
// backward scratch, and backward recomputes it when it reaches conv1_1 (a 3-channel convolution, ~0.2 % of an
// evaluation's FLOPs, for 64 values per pixel).
// Under bf16 (the backend's activation_dtype()) every activation and gradient here is stored in bf16, and the
// image enters conv1_1 as two bf16 parts (Backend::split_bf16; see conv_input_channels).
//
// Taps name points of the network: `convX_Y` is the convolution output including its bias (before the
// ReLU), `reluX_Y` its rectified output (DESIGN.md "VGG-19 features").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "weights/weights.hpp"

namespace impasto {

struct Tap {
  int conv = 0;       // index into vgg19_convs(): 0 = conv1_1 … 15 = conv5_4
  bool relu = false;  // false: convX_Y, true: reluX_Y
  bool operator==(const Tap& o) const { return conv == o.conv && relu == o.relu; }
};
// "conv4_2" / "relu1_1" → Tap; anything else is an Error listing what is accepted.
Tap parse_tap(const std::string& name);
std::string tap_name(const Tap& t);
// The shape of tap t's feature map for an input of h×w: (1,C,h',w'), each pooling before it halving (floor).
Shape vgg19_feature_shape(const Tap& t, int h, int w);

struct VggPlanBytes {
  std::size_t buffers = 0;    // activations, tap gradients, scratch, the convolutions' filter copies
  std::size_t workspace = 0;  // the backend workspace the plan reserves (the largest layer's, not a sum)
};

// Called by Vgg19::backward when it reaches a planned tap, deepest first: d (the tap's feature shape, in
// Vgg19::layout()) receives dL/dfeature at that tap — added to what d holds when `accumulate` (the gradient
// from the layers above), written over it otherwise.
using TapGradient = std::function<void(const Tap& tap, Tensor& d, bool accumulate)>;

class Vgg19 {
 public:
  // Uploads the weights once. Only the convs that `weights` holds can be used by plan().
  Vgg19(Backend& backend, const VggWeights& weights, PoolMode pool);
  Vgg19(const Vgg19&) = delete;
  Vgg19& operator=(const Vgg19&) = delete;

  // Allocates every activation and scratch buffer for an (1,3,h,w) input and these taps
  // (once per image size; forward/backward allocate nothing). The network ends at the deepest tap.
  void plan(int h, int w, const std::vector<Tap>& taps);
  // The bytes plan(h, w, taps) would hold (activations, gradients, scratch) and the convolution workspace it
  // reserves, computed without allocating: the same layout walk as plan().
  VggPlanBytes plan_bytes(int h, int w, const std::vector<Tap>& taps);
  // A plan for forward_taps only (the style targets, which need no backward): the largest activation twice,
  // ping-pong, instead of every layer's output and the backward scratch (128 floats per pixel against ~330).
  void plan_forward(int h, int w, const std::vector<Tap>& taps);
  VggPlanBytes plan_forward_bytes(int h, int w, const std::vector<Tap>& taps);
  int planned_height() const { return h_; }
  int planned_width() const { return w_; }

  // x (1,3,H,W), preprocessed (mean subtracted, network channel order).
  void forward(const Tensor& x);
  // The layout of the activations, tap features and tap gradients (the backend's activation_layout() at plan
  // time; the input image and its gradient are NCHW either way).
  Layout layout() const { return layout_; }
  // Their element type (the backend's activation_dtype() at plan time): float32, or bf16 (2 bytes; the ops that
  // read them take bf16, Backend's header lists which).
  DType dtype() const { return dtype_; }
  // The activation at a planned tap after forward() (and until backward(), which reuses it): (1,C,h,w) in
  // layout().
  const Tensor& feature(const Tap& t) const;
  // x (1,3,H,W) through a plan_forward plan: at_tap(tap, feature) at each planned tap in network order (a
  // convX_Y before its reluX_Y), the feature (1,C,h,w) in layout() valid only during the call.
  using TapFeature = std::function<void(const Tap& tap, const Tensor& feature)>;
  void forward_taps(const Tensor& x, const TapFeature& at_tap);
  // dx (1,3,H,W) = dL/dx, tap_gradient giving dL/dfeature at every planned tap. Needs the last forward().
  void backward(Tensor& dx, const TapGradient& tap_gradient);

  // Multiply-accumulate FLOPs of one forward (convolutions only) at the planned size: 2·Cin·Cout·9·h·w per
  // conv. The backward-data pass costs the same.
  double conv_flops() const;
  std::size_t planned_bytes() const { return planned_bytes_; }
  std::size_t weight_bytes() const;  // the uploaded weights and biases
  Backend& backend() const { return backend_; }
  // Average or max pooling from the next forward() on: a network whose weights are uploaded once serves runs
  // that differ in --pooling (`impasto batch`). A plan serves both (backward keeps the same buffers; forward
  // writes the pooling's masks), so it stays.
  void set_pooling(PoolMode pool);
  PoolMode pooling() const { return pool_; }
  // Changes whenever the buffers or the kernels' arguments of forward/backward may have changed (every plan(),
  // a new pooling): work recorded against the network (Backend::record) is stale when it differs.
  std::uint64_t generation() const { return generation_; }
  int layer_count() const { return int(layers_.size()); }  // convs whose weights are uploaded
  // The input channels conv i runs with on activations of type `values`: VGG-19's, or in bf16 conv1_1's 8: the
  // image's two bf16 parts (split_bf16) and 2 zero channels (bf16 convolutions take multiples of 8), its filter's
  // taps repeated for the second part.
  static int conv_input_channels(int i, DType values);

 private:
  struct Layer {
    Tensor w, b;          // (Cout,Cin,3,3), (1,1,1,Cout)
    Tensor wc;            // w as the convolutions take it (Backend::conv_filter: w, or its copy), made per plan
    Tensor conv_out;      // (1,Cout,h,w), only when a convX_Y tap is planned here
    Tensor relu_out;      // (1,Cout,h,w)
    Tensor pool_out;      // (1,Cout,h/2,w/2), when a pooling follows and a deeper layer is in use
    Tensor mask;          // (1,1,1,⌈n/32⌉) when backward keeps no relu_out: its ReLU mask (Backend::relu_mask), or
                          // its pooling mask (Backend::pool2d_mask) when a pooling follows
    bool conv_tap = false, relu_tap = false;  // planned taps here
  };
  // Drops the current plan and puts the weights in the backend's activation layout.
  void reset_plan();
  void planned(const VggPlanBytes& bytes, int h, int w);  // records what plan()/plan_forward() laid out
  // Checks that h×w and these taps can be planned; returns the number of convs in use.
  int planned_depth(int h, int w, const std::vector<Tap>& taps) const;
  // Walks the plan for h×w and these taps: returns its bytes and, when `allocate`, allocates it.
  VggPlanBytes lay_out(int h, int w, const std::vector<Tap>& taps, bool allocate);
  VggPlanBytes lay_out_forward(int h, int w, const std::vector<Tap>& taps, bool allocate);  // plan_forward's
  Shape conv_filter_shape(int i, DType values) const;  // the filter (Cout,Cin',3,3) conv i runs with
  // The bytes of the filters the convolutions of layers [0, depth) take (Layer::wc) beyond the weights; makes
  // them when `allocate`.
  std::size_t lay_out_filters(int depth, DType values, bool allocate);
  // x (1,3,H,W) checked against the plan, in the activations' layout (x itself, or its NHWC copy input_).
  const Tensor& network_input(const Tensor& x);

  // Where backward() keeps the gradients at layer i, as slots: 0 the scratch, 1 the spare, 2 + i layer i's
  // relu_out, 2 + depth + t forward's transient t (-1: none).
  struct BackwardStep {
    int up = -1;     // dL/d relu_out from above (or, when `masked`, already dL/d conv_out); -1 at the deepest
                     // layer without a ReLU tap
    bool masked = false;
    int d = -1;      // dL/d conv_out (the ReLU backward writes it over relu_out, its own input)
    int d_in = -1;   // dL/d(the convolution's input), i > 0
    int d_prev = -1; // dL/d relu_out of layer i − 1 through the pooling between (-1: no pooling)
    bool mask_below = false;  // that pooling backward applies layer i − 1's ReLU too
    int recompute = -1;  // layer 0 whose relu_out lived in the scratch: where backward recomputes it
  };
  // One layer's element counts, taps and what backward() reads of it: relu_out when kept (a tap's feature,
  // layer 0's recompute home, the deepest layer), else only its ReLU or pooling mask. What is not kept, and every
  // pool_out, lives in one of forward's two transient buffers.
  struct BackwardLayer {
    std::int64_t out = 0, in = 0, pool = 0;  // relu_out, the convolution's input, pool_out (0: none)
    bool relu_tap = false, conv_tap = false;
    bool relu_kept = true;
    int relu_home = -1, pool_home = -1;  // forward's transient buffer for relu_out / pool_out when not kept
  };
  // Per layer of an h×w plan of `depth` convs; adds to transient[2] the element counts the transients must hold.
  std::vector<BackwardLayer> what_backward_needs(int h, int w, int depth, const std::vector<Tap>& taps,
                                                 bool recompute_first, std::int64_t transient[2]) const;
  // Points each layer's relu_out / pool_out that backward does not keep at its transient buffer.
  void home_in_transients(const std::vector<BackwardLayer>& layers, const Tensor transients[2], int h, int w,
                          Layout layout);
  // Assigns each gradient of backward() a free slot (see the definition); returns the spare's element count.
  // recompute_first: layer 0's relu_out has no slot of its own and is recomputed into a free one. transients: the
  // element counts of forward's two transient buffers, free for gradients in backward.
  static std::int64_t plan_backward(const std::vector<BackwardLayer>& layers, std::int64_t scratch,
                                    bool recompute_first, const std::vector<std::int64_t>& transients,
                                    std::vector<BackwardStep>& steps);
  Tensor slot(int index, Shape s) const { return slots_[std::size_t(index)].prefix(s).with_layout(layout_); }
  Layer& layer_of(const Tap& t, const char* what);
  const Layer& layer_of(const Tap& t, const char* what) const;
  // Layer l's forward from `in`, with the mask its backward keeps; returns what the next layer reads.
  const Tensor& forward_layer(Layer& l, const Tensor& in);

  Backend& backend_;
  PoolMode pool_;
  std::uint64_t generation_ = 0;
  std::vector<Layer> layers_;
  int depth_ = 0;  // number of convs in use
  bool forward_only_ = false;     // plan_forward: forward_taps only
  Tensor ping_, pong_;            // (max activation numel) plan_forward's two buffers
  int h_ = 0, w_ = 0;
  Tensor scratch_;                // (max activation numel) gradients no dead activation can hold
  Tensor spare_;                  // (what plan_backward asks) the rest; often absent
  std::vector<Tensor> slots_;     // scratch_, spare_, each layer's kept relu_out, kept pool_out, the 2 transients
  std::vector<BackwardStep> steps_;  // per layer
  Layout layout_ = Layout::nchw;
  DType dtype_ = DType::f32;
  Tensor input_, input_grad_;     // (1,3,H,W) NHWC copies of the image and its gradient when layout_ is NHWC;
                                  // (1,8,H,W) bf16 when dtype_ is (split_bf16's parts; the gradient's first 3)
  Tensor first_home_;             // (1,64,H,W) layer 0's relu_out in the scratch (empty: it has its own buffer)
  Tensor forward_input_;          // the last forward()'s input to conv1_1, for the recompute
  std::size_t planned_bytes_ = 0;
};

}  // namespace impasto
