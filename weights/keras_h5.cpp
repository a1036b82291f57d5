// weights/keras_h5.cpp — VGG-19 weights in Keras's HDF5 layout (vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5),
// read and written with the HDF5 C API; also `load_weights_spec`, the one entry point that turns the
// user's --weights argument ("random", "random:SEED" or a path) into weights.
//
// The layout, as Keras's legacy `save_weights` / `load_weights` (keras/saving/hdf5_format.py) uses it:
//   /                 attribute layer_names: string array (input_1, block1_conv1, block1_conv2, block1_pool, …)
//   /<layer>          a group per layer; attribute weight_names: string array, empty for layers without weights
//   /<layer>/<weight> the datasets; a weight name may contain '/' (newer Keras: "block1_conv1/kernel:0"),
//                     i.e. live in a subgroup; the original file uses "block1_conv1_W_1:0", "block1_conv1_b_1:0"
//   kernel            float32 (kh, kw, in, out) = (3, 3, cin, cout); bias float32 (cout)
// Strings may be fixed-length (h5py's numpy 'S' arrays, what Keras writes) or variable-length. Keras splits
// an attribute over 64 KiB into NAME0, NAME1, …; the reader accepts that too.
#include <fcntl.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/files.hpp"
#include "engine/error.hpp"
#include "weights/weights.hpp"

namespace impasto {
namespace {

// ---- RAII for hid_t handles ------------------------------------------------------------------------------

template <herr_t (*Close)(hid_t)>
class H5Handle {
 public:
  H5Handle() = default;
  explicit H5Handle(hid_t id) : id_(id) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle(H5Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  H5Handle& operator=(H5Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~H5Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }
  // Closes now and reports whether the close succeeded (a file's close flushes, so it can fail).
  bool close() {
    const herr_t status = id_ >= 0 ? Close(id_) : 0;
    id_ = H5I_INVALID_HID;
    return status >= 0;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using H5File = H5Handle<H5Fclose>;
using H5Group = H5Handle<H5Gclose>;
using H5Dataset = H5Handle<H5Dclose>;
using H5Attribute = H5Handle<H5Aclose>;
using H5Space = H5Handle<H5Sclose>;
using H5Type = H5Handle<H5Tclose>;
using H5PropertyList = H5Handle<H5Pclose>;

// HDF5 prints its error stack to stderr by default; our errors say what went wrong in one line instead.
void silence_hdf5() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

// The innermost message on HDF5's error stack (where the failure was detected), then the stack is cleared.
std::string hdf5_message() {
  std::string message;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* out) -> herr_t {
        if (n == 0 && err && err->desc) *static_cast<std::string*>(out) = err->desc;
        return 0;
      },
      &message);
  H5Eclear2(H5E_DEFAULT);
  return message.empty() ? "unknown HDF5 error" : message;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  IMPASTO_FAIL("weights '" << path << "': " << what);
}

std::string shape_str(const std::vector<hsize_t>& dims) {
  std::ostringstream s;
  s << "(";
  for (std::size_t i = 0; i < dims.size(); ++i) s << (i ? "," : "") << dims[i];
  s << ")";
  return s.str();
}

std::string dtype_name(hid_t type) {
  const std::size_t bits = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
    case H5T_FLOAT: return "float" + std::to_string(bits);
    case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    default: return "other";
  }
}

bool is_float32(hid_t type) { return H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 4; }

// ---- reading -----------------------------------------------------------------------------------------------

// Reads a string-array attribute (fixed- or variable-length, rank 0 or 1). nullopt when absent. An attribute
// with no elements is an empty list whatever its type (Keras writes an empty weight_names as float64 (0,)).
std::optional<std::vector<std::string>> read_attribute_strings(hid_t object, const std::string& name,
                                                               const std::string& path,
                                                               const std::string& where) {
  const htri_t exists = H5Aexists(object, name.c_str());
  if (exists < 0) fail(path, where + "cannot query attribute " + name + ": " + hdf5_message());
  if (exists == 0) return std::nullopt;
  H5Attribute attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  if (!attribute.valid()) fail(path, where + "cannot open attribute " + name + ": " + hdf5_message());
  H5Type file_type(H5Aget_type(attribute.get()));
  H5Space space(H5Aget_space(attribute.get()));
  if (!file_type.valid() || !space.valid()) fail(path, where + "attribute " + name + ": " + hdf5_message());
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0) fail(path, where + "attribute " + name + ": " + hdf5_message());
  std::vector<std::string> out;
  if (count == 0) return out;
  if (H5Tget_class(file_type.get()) != H5T_STRING)
    fail(path, where + "attribute " + name + " has type " + dtype_name(file_type.get()) +
                   ", expected an array of strings");
  const auto n = static_cast<std::size_t>(count);
  const htri_t variable = H5Tis_variable_str(file_type.get());
  if (variable < 0) fail(path, where + "attribute " + name + ": " + hdf5_message());
  if (variable > 0) {
    H5Type memory_type(H5Tcopy(H5T_C_S1));
    H5Tset_size(memory_type.get(), H5T_VARIABLE);
    H5Tset_cset(memory_type.get(), H5Tget_cset(file_type.get()));
    std::vector<char*> buffer(n, nullptr);
    if (H5Aread(attribute.get(), memory_type.get(), buffer.data()) < 0)
      fail(path, where + "cannot read attribute " + name + ": " + hdf5_message());
    for (const char* s : buffer) out.emplace_back(s ? s : "");
    H5Dvlen_reclaim(memory_type.get(), space.get(), H5P_DEFAULT, buffer.data());
  } else {
    const std::size_t size = H5Tget_size(file_type.get());
    H5Type memory_type(H5Tcopy(file_type.get()));
    std::vector<char> buffer(n * size + 1, '\0');
    if (H5Aread(attribute.get(), memory_type.get(), buffer.data()) < 0)
      fail(path, where + "cannot read attribute " + name + ": " + hdf5_message());
    const bool space_padded = H5Tget_strpad(file_type.get()) == H5T_STR_SPACEPAD;
    for (std::size_t i = 0; i < n; ++i) {
      const char* s = buffer.data() + i * size;
      std::string value(s, strnlen(s, size));
      if (space_padded)
        while (!value.empty() && value.back() == ' ') value.pop_back();
      out.push_back(std::move(value));
    }
  }
  return out;
}

// Like read_attribute_strings, also accepting Keras's split form NAME0, NAME1, … of a large attribute.
std::optional<std::vector<std::string>> read_keras_strings(hid_t object, const std::string& name,
                                                           const std::string& path, const std::string& where) {
  if (auto whole = read_attribute_strings(object, name, path, where)) return whole;
  std::optional<std::vector<std::string>> joined;
  for (int chunk = 0;; ++chunk) {
    auto part = read_attribute_strings(object, name + std::to_string(chunk), path, where);
    if (!part) break;
    if (!joined) joined.emplace();
    joined->insert(joined->end(), part->begin(), part->end());
  }
  return joined;
}

void check_readable_file(const std::string& path) {
  silence_hdf5();
  check_input_file(path, "weights", std::uintmax_t(1) << 34);  // VGG-19 is 0.55 GB; 16 GiB leaves room for any layout
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 == 0) fail(path, "not an HDF5 file (expected Keras's VGG-19 .h5 layout)");
  if (is_hdf5 < 0) fail(path, "cannot be read as HDF5: " + hdf5_message());
}

struct OpenedKerasFile {
  H5File file;
  H5Group root;  // where layer_names and the layer groups live: "/" or "/model_weights" (a full-model save)
  std::vector<std::string> layer_names;
};

OpenedKerasFile open_keras_file(const std::string& path) {
  check_readable_file(path);
  OpenedKerasFile out;
  out.file = H5File(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!out.file.valid()) fail(path, "cannot open as HDF5: " + hdf5_message());
  out.root = H5Group(H5Gopen2(out.file.get(), "/", H5P_DEFAULT));
  if (!out.root.valid()) fail(path, "cannot open the root group: " + hdf5_message());
  auto names = read_keras_strings(out.root.get(), "layer_names", path, "");
  if (!names && H5Lexists(out.file.get(), "model_weights", H5P_DEFAULT) > 0) {
    H5Group model_weights(H5Gopen2(out.file.get(), "model_weights", H5P_DEFAULT));
    if (model_weights.valid()) {
      names = read_keras_strings(model_weights.get(), "layer_names", path, "model_weights: ");
      if (names) out.root = std::move(model_weights);
    }
  }
  if (!names) fail(path, "no layer_names attribute at the root: not a Keras weights file");
  out.layer_names = std::move(*names);
  return out;
}

// True when every component of a '/'-separated path below `group` exists (H5Lexists needs the parents).
bool path_exists(hid_t group, const std::string& name) {
  if (name.empty()) return false;
  std::size_t end = 0;
  do {
    end = name.find('/', end + 1);
    const std::string prefix = name.substr(0, end);
    if (prefix.empty() || prefix.back() == '/') return false;
    if (H5Lexists(group, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  } while (end != std::string::npos);
  return true;
}

H5Group open_layer_group(hid_t root, const std::string& layer, const std::string& path) {
  if (!path_exists(root, layer)) fail(path, "layer " + layer + ": listed in layer_names but its group is missing");
  H5Group group(H5Gopen2(root, layer.c_str(), H5P_DEFAULT));
  if (!group.valid()) fail(path, "layer " + layer + ": cannot open its group: " + hdf5_message());
  return group;
}

struct DatasetInfo {
  H5Dataset dataset;
  H5Type type;
  std::vector<hsize_t> dims;
};

DatasetInfo open_weight(hid_t group, const std::string& layer, const std::string& name, const std::string& path) {
  const std::string where = "layer " + layer + ": ";
  if (!path_exists(group, name)) fail(path, where + "dataset '" + name + "' (from weight_names) is missing");
  DatasetInfo info;
  info.dataset = H5Dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT));
  if (!info.dataset.valid()) fail(path, where + "'" + name + "' is not a readable dataset: " + hdf5_message());
  info.type = H5Type(H5Dget_type(info.dataset.get()));
  H5Space space(H5Dget_space(info.dataset.get()));
  if (!info.type.valid() || !space.valid()) fail(path, where + "dataset '" + name + "': " + hdf5_message());
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(path, where + "dataset '" + name + "': " + hdf5_message());
  info.dims.assign(static_cast<std::size_t>(rank), 0);
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), info.dims.data(), nullptr);
  return info;
}

std::vector<float> read_floats(const DatasetInfo& info, const std::string& layer, const std::string& name,
                               const std::string& path) {
  std::size_t n = 1;
  for (hsize_t d : info.dims) n *= static_cast<std::size_t>(d);
  std::vector<float> out(n);
  if (H5Dread(info.dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail(path, "layer " + layer + ": cannot read dataset '" + name + "': " + hdf5_message());
  for (float v : out)
    if (!std::isfinite(v)) fail(path, "layer " + layer + ": dataset '" + name + "' holds NaN or Inf values");
  return out;
}

ConvWeights load_layer(hid_t root, const VggConvSpec& spec, const std::string& path) {
  const std::string layer = spec.keras;
  const std::string where = "layer " + layer + ": ";
  H5Group group = open_layer_group(root, layer, path);
  const auto weight_names = read_keras_strings(group.get(), "weight_names", path, where);
  if (!weight_names) fail(path, where + "no weight_names attribute");

  std::optional<DatasetInfo> kernel, bias;
  std::string kernel_name, bias_name;
  for (const std::string& name : *weight_names) {
    DatasetInfo info = open_weight(group.get(), layer, name, path);
    if (info.dims.size() == 4) {
      if (kernel) fail(path, where + "two kernels ('" + kernel_name + "' and '" + name + "')");
      kernel = std::move(info);
      kernel_name = name;
    } else if (info.dims.size() == 1) {
      if (bias) fail(path, where + "two biases ('" + bias_name + "' and '" + name + "')");
      bias = std::move(info);
      bias_name = name;
    } else {
      fail(path, where + "dataset '" + name + "' has shape " + shape_str(info.dims) +
                     ", expected a rank-4 kernel or a rank-1 bias");
    }
  }
  if (!kernel) fail(path, where + "no kernel (rank-4 dataset) among weight_names");
  if (!bias) fail(path, where + "no bias (rank-1 dataset) among weight_names");

  const auto cin = static_cast<hsize_t>(spec.cin), cout = static_cast<hsize_t>(spec.cout);
  const std::vector<hsize_t> kernel_expected = {3, 3, cin, cout}, bias_expected = {cout};
  if (kernel->dims != kernel_expected)
    fail(path, where + "kernel shape " + shape_str(kernel->dims) + ", expected " + shape_str(kernel_expected));
  if (bias->dims != bias_expected)
    fail(path, where + "bias shape " + shape_str(bias->dims) + ", expected " + shape_str(bias_expected));
  if (!is_float32(kernel->type.get()))
    fail(path, where + "kernel '" + kernel_name + "' dtype " + dtype_name(kernel->type.get()) + ", expected float32");
  if (!is_float32(bias->type.get()))
    fail(path, where + "bias '" + bias_name + "' dtype " + dtype_name(bias->type.get()) + ", expected float32");

  const std::vector<float> keras = read_floats(*kernel, layer, kernel_name, path);
  ConvWeights out;
  out.cout = spec.cout;
  out.cin = spec.cin;
  out.k = 3;
  out.b = read_floats(*bias, layer, bias_name, path);
  out.w.resize(keras.size());
  // (kh, kw, in, out) → (out, in, kh, kw)
  const std::size_t ci = static_cast<std::size_t>(spec.cin), co = static_cast<std::size_t>(spec.cout);
  for (std::size_t kh = 0; kh < 3; ++kh)
    for (std::size_t kw = 0; kw < 3; ++kw)
      for (std::size_t i = 0; i < ci; ++i)
        for (std::size_t o = 0; o < co; ++o)
          out.w[((o * ci + i) * 3 + kh) * 3 + kw] = keras[((kh * 3 + kw) * ci + i) * co + o];
  return out;
}

// ---- writing -----------------------------------------------------------------------------------------------

// A fixed-length, NUL-padded string array attribute, as h5py writes a numpy 'S' array (what Keras stores).
void write_string_attribute(hid_t object, const std::string& name, const std::vector<std::string>& values,
                            bool scalar, const std::string& path) {
  std::size_t size = 1;
  for (const std::string& v : values) size = std::max(size, v.size());
  H5Type type(H5Tcopy(H5T_C_S1));
  if (!type.valid() || H5Tset_size(type.get(), size) < 0 || H5Tset_strpad(type.get(), H5T_STR_NULLPAD) < 0)
    fail(path, "cannot make a string type: " + hdf5_message());
  const hsize_t dims[1] = {values.size()};
  H5Space space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, nullptr));
  H5Attribute attribute(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!space.valid() || !attribute.valid()) fail(path, "cannot create attribute " + name + ": " + hdf5_message());
  std::vector<char> buffer(std::max<std::size_t>(values.size(), 1) * size, '\0');
  for (std::size_t i = 0; i < values.size(); ++i)
    std::memcpy(buffer.data() + i * size, values[i].data(), values[i].size());
  if (H5Awrite(attribute.get(), type.get(), buffer.data()) < 0)
    fail(path, "cannot write attribute " + name + ": " + hdf5_message());
}

void write_float_dataset(hid_t group, const std::string& name, const std::vector<hsize_t>& dims,
                         const std::vector<float>& data, hid_t create_plist, const std::string& path) {
  H5Space space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  H5Dataset dataset(H5Dcreate2(group, name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, create_plist,
                               H5P_DEFAULT));
  if (!space.valid() || !dataset.valid()) fail(path, "cannot create dataset " + name + ": " + hdf5_message());
  if (H5Dwrite(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0)
    fail(path, "cannot write dataset " + name + ": " + hdf5_message());
}

bool file_exists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

}  // namespace

VggWeights load_keras_vgg19(const std::string& path, int layers) {
  IMPASTO_CHECK(layers >= 1 && layers <= kVggConvCount,
                "weights '" << path << "': layers must be in 1.." << kVggConvCount << ", got " << layers);
  OpenedKerasFile file = open_keras_file(path);
  VggWeights out;
  out.bgr_input = true;  // the Caffe ImageNet weights Keras redistributes take BGR, mean-subtracted
  for (int l = 0; l < layers; ++l) {
    const VggConvSpec& spec = vgg19_convs()[static_cast<std::size_t>(l)];
    if (std::find(file.layer_names.begin(), file.layer_names.end(), spec.keras) == file.layer_names.end())
      fail(path, std::string("layer ") + spec.keras + " missing (not in layer_names)");
    out.convs.push_back(load_layer(file.root.get(), spec, path));
  }
  file.root.reset();
  file.file.reset();
  out.description = path + " (sha256 " + sha256_file(path).substr(0, 16) + "\u2026)";
  return out;
}

std::vector<H5WeightInfo> inspect_keras_h5(const std::string& path) {
  OpenedKerasFile file = open_keras_file(path);
  std::vector<H5WeightInfo> out;
  for (const std::string& layer : file.layer_names) {
    H5Group group = open_layer_group(file.root.get(), layer, path);
    const auto weight_names = read_keras_strings(group.get(), "weight_names", path, "layer " + layer + ": ");
    if (!weight_names) continue;
    for (const std::string& name : *weight_names) {
      DatasetInfo info = open_weight(group.get(), layer, name, path);
      H5WeightInfo row;
      row.layer = layer;
      row.name = name;
      row.dtype = dtype_name(info.type.get());
      row.shape.assign(info.dims.begin(), info.dims.end());
      out.push_back(std::move(row));
    }
  }
  return out;
}

void save_keras_vgg19(const VggWeights& weights, const std::string& path, bool overwrite) {
  silence_hdf5();
  IMPASTO_CHECK(!weights.convs.empty() && weights.convs.size() <= static_cast<std::size_t>(kVggConvCount),
                "weights '" << path << "': nothing to write (" << weights.convs.size() << " layers)");
  for (std::size_t l = 0; l < weights.convs.size(); ++l) {
    const VggConvSpec& spec = vgg19_convs()[l];
    const ConvWeights& c = weights.convs[l];
    IMPASTO_CHECK(c.cin == spec.cin && c.cout == spec.cout && c.k == 3 &&
                      c.w.size() == static_cast<std::size_t>(spec.cout) * spec.cin * 9 &&
                      c.b.size() == static_cast<std::size_t>(spec.cout),
                  "weights '" << path << "': layer " << spec.keras << ": cannot write " << c.cout << "x" << c.cin
                              << "x" << c.k << "x" << c.k << " weights (" << c.w.size() << " values) and "
                              << c.b.size() << " biases, expected " << spec.cout << "x" << spec.cin << "x3x3 ("
                              << static_cast<std::size_t>(spec.cout) * spec.cin * 9 << " values) and " << spec.cout
                              << " biases");
  }
  if (!overwrite && file_exists(path)) fail(path, "exists; use --force");

  AtomicFile temp(path);  // HDF5 writes it by the name that only reaches this file
  {
    // No modification times in object headers: the same weights give the same bytes (and sha256) on every
    // export with the same HDF5 version.
    H5PropertyList file_create(H5Pcreate(H5P_FILE_CREATE)), group_create(H5Pcreate(H5P_GROUP_CREATE)),
        dataset_create(H5Pcreate(H5P_DATASET_CREATE));
    if (!file_create.valid() || !group_create.valid() || !dataset_create.valid() ||
        H5Pset_obj_track_times(file_create.get(), false) < 0 || H5Pset_obj_track_times(group_create.get(), false) < 0 ||
        H5Pset_obj_track_times(dataset_create.get(), false) < 0)
      fail(path, "cannot make HDF5 property lists: " + hdf5_message());
    H5File file(H5Fcreate(temp.path_for_library().c_str(), H5F_ACC_TRUNC, file_create.get(), H5P_DEFAULT));
    if (!file.valid()) fail(path, "cannot create '" + temp.temp_path() + "': " + hdf5_message());

    // Every layer of the Keras model, weightless ones included, so that Keras's load_weights accepts the file.
    std::vector<std::string> layer_names = {"input_1"};
    for (std::size_t l = 0; l < weights.convs.size(); ++l) {
      const std::string keras = vgg19_convs()[l].keras;
      layer_names.push_back(keras);
      if (vgg19_convs()[l].pool_after || l + 1 == static_cast<std::size_t>(kVggConvCount))
        layer_names.push_back(keras.substr(0, keras.find('_')) + "_pool");
    }
    write_string_attribute(file.get(), "layer_names", layer_names, false, path);
    write_string_attribute(file.get(), "backend", {"tensorflow"}, true, path);
    write_string_attribute(file.get(), "keras_version", {"2.2.4"}, true, path);

    std::size_t conv = 0;
    for (const std::string& layer : layer_names) {
      H5Group group(H5Gcreate2(file.get(), layer.c_str(), H5P_DEFAULT, group_create.get(), H5P_DEFAULT));
      if (!group.valid()) fail(path, "cannot create group " + layer + ": " + hdf5_message());
      const bool has_weights = conv < weights.convs.size() && layer == vgg19_convs()[conv].keras;
      if (!has_weights) {
        write_string_attribute(group.get(), "weight_names", {}, false, path);
        continue;
      }
      const ConvWeights& c = weights.convs[conv++];
      const std::string kernel_name = layer + "_W_1:0", bias_name = layer + "_b_1:0";
      write_string_attribute(group.get(), "weight_names", {kernel_name, bias_name}, false, path);
      // (out, in, kh, kw) → (kh, kw, in, out)
      const std::size_t ci = static_cast<std::size_t>(c.cin), co = static_cast<std::size_t>(c.cout);
      std::vector<float> keras(c.w.size());
      for (std::size_t o = 0; o < co; ++o)
        for (std::size_t i = 0; i < ci; ++i)
          for (std::size_t kh = 0; kh < 3; ++kh)
            for (std::size_t kw = 0; kw < 3; ++kw)
              keras[((kh * 3 + kw) * ci + i) * co + o] = c.w[((o * ci + i) * 3 + kh) * 3 + kw];
      write_float_dataset(group.get(), kernel_name, {3, 3, ci, co}, keras, dataset_create.get(), path);
      write_float_dataset(group.get(), bias_name, {co}, c.b, dataset_create.get(), path);
    }
    if (!file.close()) fail(path, "cannot finish writing '" + temp.temp_path() + "': " + hdf5_message());
  }

  temp.commit(overwrite);
}

VggWeights load_weights_spec(const std::string& spec, int layers) {
  if (spec == "random") return random_vgg19_weights(0, layers);
  const std::string prefix = "random:";
  if (spec.compare(0, prefix.size(), prefix) == 0) {
    const std::string digits = spec.substr(prefix.size());
    const bool all_digits = !digits.empty() && digits.size() <= 20 &&
                            std::all_of(digits.begin(), digits.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    errno = 0;
    char* end = nullptr;
    const unsigned long long seed = all_digits ? std::strtoull(digits.c_str(), &end, 10) : 0;
    IMPASTO_CHECK(all_digits && errno == 0 && end && *end == '\0',
                  "weights '" << spec << "': the seed must be an integer in 0.." << UINT64_MAX);
    return random_vgg19_weights(static_cast<std::uint64_t>(seed), layers);
  }
  return load_keras_vgg19(spec, layers);
}

}  // namespace impasto
