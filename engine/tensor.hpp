// engine/tensor.hpp — Shape and Tensor: a dense float32 4-D array that lives on one device, in NCHW order
// (the default) or channels-last NHWC (Layout::nhwc: the CUDA backend's activations under TF32/bf16, where
// cuDNN's tensor-core kernels want them). The shape is (N,C,H,W) in both; the layout only says how the
// elements are ordered in memory. Views keep their tensor's layout; with_layout relabels one.
// Tensors are handles: copying one shares the storage (like a pointer); Backend::empty allocates.
// Elements are float32; a backend may hold bf16 copies (DType::bf16: 2 bytes per element, the bits at raw()) for
// its own kernels (the bf16 convolutions' filters, Backend::conv_filter): no op reads floats from one
// (op_checks reject them), only the ops that say they take bf16.
// The storage frees itself (RAII) when the last handle goes away; destructors never throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/enum_names.hpp"

namespace impasto {

enum class Device { cpu, cuda };
template <>
struct EnumNames<Device> {
  static constexpr const char* what = "device";
  static constexpr EnumName<Device> table[] = {{Device::cpu, "cpu"}, {Device::cuda, "cuda"}, {Device::cuda, "gpu"}};
};

// Element (n,c,h,w) is at ((n·C + c)·H + h)·W + w (nchw) or ((n·H + h)·W + w)·C + c (nhwc). A filter
// (Cout,Cin,K,K) in nhwc is cuDNN's KRSC.
enum class Layout { nchw, nhwc };
template <>
struct EnumNames<Layout> {
  static constexpr const char* what = "layout";
  static constexpr EnumName<Layout> table[] = {
      {Layout::nchw, "NCHW"}, {Layout::nhwc, "NHWC"}, {Layout::nchw, "nchw"}, {Layout::nhwc, "nhwc"}};
};

enum class DType { f32, bf16 };
template <>
struct EnumNames<DType> {
  static constexpr const char* what = "element type";
  static constexpr EnumName<DType> table[] = {{DType::f32, "float32"}, {DType::bf16, "bf16"}};
};

// Bytes per element of type d.
constexpr std::size_t dtype_bytes(DType d) { return d == DType::bf16 ? 2 : 4; }
// The bytes a backend allocates for n elements of type d (bf16 in whole floats: Backend::empty_typed).
constexpr std::size_t storage_bytes(std::int64_t n, DType d) {
  return d == DType::bf16 ? std::size_t((n + 1) / 2) * 4 : std::size_t(n) * 4;
}

// (N,C,H,W); matrices use (1,1,rows,cols), vectors (1,1,1,n).
struct Shape {
  int n = 1, c = 1, h = 1, w = 1;
  std::int64_t numel() const { return std::int64_t(n) * c * h * w; }
  std::int64_t plane() const { return std::int64_t(h) * w; }
  bool operator==(const Shape& o) const { return n == o.n && c == o.c && h == o.h && w == o.w; }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "(1,64,128,128)"
};

// Memory owned by a backend. Subclasses free it in their destructor.
class Storage {
 public:
  Storage(float* data, std::size_t count, Device device) : data_(data), count_(count), device_(device) {}
  virtual ~Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  float* data() const { return data_; }
  std::size_t count() const { return count_; }
  Device device() const { return device_; }

 private:
  float* data_;
  std::size_t count_;
  Device device_;
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, Shape shape, std::size_t offset = 0);

  const Shape& shape() const { return shape_; }
  std::int64_t numel() const { return shape_.numel(); }
  bool empty() const { return storage_ == nullptr; }
  Device device() const;
  // The float32 elements (on a bf16 tensor: its first byte; use raw()).
  float* data() const { return data_; }
  void* raw() const { return data_; }
  DType dtype() const { return dtype_; }
  std::size_t element_bytes() const { return dtype_bytes(dtype_); }
  Layout layout() const { return layout_; }
  // Elements between neighbouring channels of a pixel (H·W in NCHW, 1 in NHWC) and between neighbouring pixels
  // of a channel (1 in NCHW, C in NHWC).
  std::int64_t channel_stride() const { return layout_ == Layout::nhwc ? 1 : shape_.plane(); }
  std::int64_t pixel_stride() const { return layout_ == Layout::nhwc ? shape_.c : 1; }

  // The same memory and shape labelled with layout l (no data moves: Backend::convert_layout reorders).
  Tensor with_layout(Layout l) const;
  // The same memory seen with another shape of equal element count.
  Tensor reshaped(Shape s) const;
  // The first s.numel() elements seen with shape s (a smaller view into a larger scratch buffer).
  Tensor prefix(Shape s) const;
  // Sample `index` of the batch as a (1,C,H,W) view.
  Tensor sample(int index) const;
  // Elements [offset, offset + s.numel()) seen with shape s (a view; checked to lie inside this tensor).
  Tensor slice(std::int64_t offset, Shape s) const;
  // Rows [first, first + count) of a (1,1,rows,cols) matrix as a (1,1,count,cols) view.
  Tensor slice_rows(int first, int count) const;
  // The storage of this float32 tensor (from its start) seen as s.numel() elements of type d: a backend's bf16
  // buffer is allocated as floats. Checked to fit.
  Tensor viewed_as(DType d, Shape s) const;

 private:
  // The element `offset` elements past data_.
  float* element(std::int64_t offset) const {
    return reinterpret_cast<float*>(reinterpret_cast<unsigned char*>(data_) + offset * std::int64_t(element_bytes()));
  }
  std::shared_ptr<Storage> storage_;
  Shape shape_{0, 0, 0, 0};
  float* data_ = nullptr;
  Layout layout_ = Layout::nchw;
  DType dtype_ = DType::f32;
};

}  // namespace impasto
