// engine/tensor.cpp — Shape and Tensor helpers.
#include "engine/tensor.hpp"

#include "engine/error.hpp"

namespace impasto {

std::string Shape::str() const {
  return "(" + std::to_string(n) + "," + std::to_string(c) + "," + std::to_string(h) + "," + std::to_string(w) + ")";
}

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, std::size_t offset)
    : storage_(std::move(storage)), shape_(shape) {
  IMPASTO_ASSERT(storage_ != nullptr);
  IMPASTO_ASSERT(shape.n >= 0 && shape.c >= 0 && shape.h >= 0 && shape.w >= 0);
  IMPASTO_ASSERT(offset + std::size_t(shape.numel()) <= storage_->count());
  data_ = storage_->data() + offset;
}

Device Tensor::device() const {
  IMPASTO_ASSERT(storage_ != nullptr);
  return storage_->device();
}

Tensor Tensor::with_layout(Layout l) const {
  Tensor t = *this;
  t.layout_ = l;
  return t;
}

Tensor Tensor::reshaped(Shape s) const {
  IMPASTO_CHECK(s.numel() == numel(), "cannot view tensor " << shape_.str() << " as " << s.str());
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::prefix(Shape s) const {
  IMPASTO_ASSERT(s.numel() <= numel());
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::sample(int index) const {
  IMPASTO_ASSERT(index >= 0 && index < shape_.n);
  Tensor t = *this;
  t.shape_.n = 1;
  t.data_ = element(std::int64_t(index) * shape_.c * shape_.plane());  // a sample is contiguous in both layouts
  return t;
}

Tensor Tensor::slice(std::int64_t offset, Shape s) const {
  IMPASTO_CHECK(offset >= 0 && offset + s.numel() <= numel(),
                "cannot view " << s.numel() << " elements at offset " << offset << " of tensor " << shape_.str());
  Tensor t = *this;
  t.shape_ = s;
  t.data_ = element(offset);
  return t;
}

Tensor Tensor::slice_rows(int first, int count) const {
  IMPASTO_CHECK(shape_.n == 1 && shape_.c == 1,
                "slice_rows: tensor " << shape_.str() << " is not a (1,1,rows,cols) matrix");
  IMPASTO_CHECK(first >= 0 && count >= 0 && first + count <= shape_.h,
                "slice_rows: rows [" << first << ", " << first + count << ") outside the " << shape_.h
                                     << " rows of " << shape_.str());
  return slice(std::int64_t(first) * shape_.w, Shape{1, 1, count, shape_.w});
}

Tensor Tensor::viewed_as(DType d, Shape s) const {
  IMPASTO_ASSERT(dtype_ == DType::f32 && storage_ != nullptr && data_ == storage_->data());
  const std::size_t bytes = std::size_t(s.numel()) * dtype_bytes(d);
  IMPASTO_CHECK(bytes <= storage_->count() * sizeof(float),
                "cannot view " << storage_->count() << " floats as " << enum_name(d) << " " << s.str());
  Tensor t = *this;
  t.shape_ = s;
  t.dtype_ = d;
  return t;
}

}  // namespace impasto
