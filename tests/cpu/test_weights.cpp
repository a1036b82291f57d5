// tests/cpu/test_weights.cpp — the weights module: the VGG-19 table, SHA-256 (FIPS 180-4 vectors), the seeded
// random VGG-19 (bit-exact determinism, He std), and the Keras HDF5 reader/writer. The tests write their own
// small Keras-layout files with the HDF5 C API (real layer names and shapes, first few layers only) in a
// temporary directory: good files (fixed- and variable-length strings, old and new weight names), the
// round trip through save_keras_vgg19, and every kind of broken file, each of which must throw an
// impasto::Error naming the file and the layer/problem.
#include <doctest/doctest.h>
#include <hdf5.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.hpp"
#include "weights/weights.hpp"

namespace fs = std::filesystem;
using namespace impasto;

namespace {

// ---- helpers ---------------------------------------------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "impasto-weights-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// FNV-1a, 64 bit (Fowler, Noll & Vo), over each float's IEEE bits in little-endian byte order.
std::uint64_t fnv1a(const std::vector<float>& values, std::uint64_t h = 0xcbf29ce484222325ull) {
  for (float v : values) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int i = 0; i < 4; ++i) {
      h ^= (bits >> (8 * i)) & 0xffu;
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

std::uint32_t bits_of(float v) {
  std::uint32_t b;
  std::memcpy(&b, &v, 4);
  return b;
}

// Expects fn to throw impasto::Error whose message contains every one of `needles`.
template <typename Fn>
void check_error(Fn&& fn, const std::vector<std::string>& needles) {
  std::string message;
  try {
    fn();
  } catch (const Error& e) {
    message = e.what();
  }
  INFO("message: " << message);
  REQUIRE(!message.empty());
  CHECK(message.find('\n') == std::string::npos);
  for (const std::string& needle : needles) {
    INFO("expected to contain: " << needle);
    CHECK(message.find(needle) != std::string::npos);
  }
}

// ---- a small independent writer of Keras-layout files, with ways to break them ------------------------------

struct H5Closer {
  hid_t id;
  herr_t (*close)(hid_t);
  ~H5Closer() {
    if (id >= 0) close(id);
  }
};

struct FileOptions {
  int layers = 2;                       // convs written, with their real names and shapes
  bool variable_length = false;         // string attributes as variable-length strings
  bool new_style_names = false;         // "block1_conv1/kernel:0" in a subgroup instead of "block1_conv1_W_1:0"
  bool layer_names = true;              // write the root layer_names attribute
  std::string unlisted_layer;           // written, but left out of layer_names
  std::string groupless_layer;          // listed in layer_names, group not written
  std::string wrong_kernel_layer;       // kernel (3,3,cin,cout+1)
  std::string wrong_bias_layer;         // bias (cout+1)
  std::string float64_layer;            // kernel stored as float64
  std::string missing_dataset_layer;    // bias listed in weight_names but not written
};

// Kernel element (kh, kw, i, o) in Keras order holds its own linear index: exact in float32 for these sizes.
float keras_kernel_value(std::size_t kh, std::size_t kw, std::size_t i, std::size_t o, std::size_t cin,
                         std::size_t cout) {
  return static_cast<float>(((kh * 3 + kw) * cin + i) * cout + o);
}
float bias_value(int layer, std::size_t o) {
  return static_cast<float>(layer) * 1000.0f + static_cast<float>(o) + 0.5f;
}

void write_strings(hid_t object, const char* name, const std::vector<std::string>& values, bool variable) {
  const hsize_t dims[1] = {values.size()};
  H5Closer space{H5Screate_simple(1, dims, nullptr), H5Sclose};
  H5Closer type{H5Tcopy(H5T_C_S1), H5Tclose};
  if (variable) {
    H5Tset_size(type.id, H5T_VARIABLE);
    H5Tset_cset(type.id, H5T_CSET_UTF8);  // what h5py writes for str
    std::vector<const char*> pointers;
    for (const std::string& v : values) pointers.push_back(v.c_str());
    H5Closer attribute{H5Acreate2(object, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
    REQUIRE(attribute.id >= 0);
    const char* none = "";  // H5Awrite refuses a null buffer, even for zero elements
    REQUIRE(H5Awrite(attribute.id, type.id, values.empty() ? &none : pointers.data()) >= 0);
  } else {
    std::size_t size = 1;
    for (const std::string& v : values) size = std::max(size, v.size());
    H5Tset_size(type.id, size);
    H5Tset_strpad(type.id, H5T_STR_NULLPAD);
    std::vector<char> buffer(std::max<std::size_t>(1, values.size()) * size, '\0');
    for (std::size_t i = 0; i < values.size(); ++i) std::memcpy(&buffer[i * size], values[i].data(), values[i].size());
    H5Closer attribute{H5Acreate2(object, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
    REQUIRE(attribute.id >= 0);
    REQUIRE(H5Awrite(attribute.id, type.id, buffer.data()) >= 0);
  }
}

void write_dataset(hid_t group, const std::string& name, const std::vector<hsize_t>& dims,
                   const std::vector<double>& values, bool float64) {
  H5Closer lcpl{H5Pcreate(H5P_LINK_CREATE), H5Pclose};
  H5Pset_create_intermediate_group(lcpl.id, 1);  // "block1_conv1/kernel:0" makes the subgroup
  H5Closer space{H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose};
  H5Closer dataset{H5Dcreate2(group, name.c_str(), float64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, space.id, lcpl.id,
                              H5P_DEFAULT, H5P_DEFAULT),
                   H5Dclose};
  REQUIRE(dataset.id >= 0);
  REQUIRE(H5Dwrite(dataset.id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
}

void write_keras_file(const std::string& path, const FileOptions& o) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  H5Closer file{H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose};
  REQUIRE(file.id >= 0);
  std::vector<std::string> names = {"input_1"};
  for (int l = 0; l < o.layers; ++l) {
    const VggConvSpec& spec = vgg19_convs()[static_cast<std::size_t>(l)];
    if (spec.keras != o.unlisted_layer) names.push_back(spec.keras);
    if (spec.pool_after) names.push_back("block" + std::to_string(std::string(spec.keras)[5] - '0') + "_pool");
  }
  if (o.layer_names) write_strings(file.id, "layer_names", names, o.variable_length);

  for (const std::string& layer : names) {
    if (layer == o.groupless_layer) continue;
    H5Closer group{H5Gcreate2(file.id, layer.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose};
    REQUIRE(group.id >= 0);
    int l = -1;
    for (int i = 0; i < o.layers; ++i)
      if (layer == vgg19_convs()[static_cast<std::size_t>(i)].keras) l = i;
    if (l < 0) {
      write_strings(group.id, "weight_names", {}, o.variable_length);
      continue;
    }
    const VggConvSpec& spec = vgg19_convs()[static_cast<std::size_t>(l)];
    const std::string kernel = o.new_style_names ? layer + "/kernel:0" : layer + "_W_1:0";
    const std::string bias = o.new_style_names ? layer + "/bias:0" : layer + "_b_1:0";
    write_strings(group.id, "weight_names", {kernel, bias}, o.variable_length);

    const std::size_t cin = static_cast<std::size_t>(spec.cin);
    const std::size_t cout = static_cast<std::size_t>(spec.cout) + (layer == o.wrong_kernel_layer ? 1 : 0);
    std::vector<double> k(9 * cin * cout);
    for (std::size_t kh = 0; kh < 3; ++kh)
      for (std::size_t kw = 0; kw < 3; ++kw)
        for (std::size_t i = 0; i < cin; ++i)
          for (std::size_t c = 0; c < cout; ++c)
            k[((kh * 3 + kw) * cin + i) * cout + c] = keras_kernel_value(kh, kw, i, c, cin, cout);
    write_dataset(group.id, kernel, {3, 3, cin, cout}, k, layer == o.float64_layer);
    if (layer == o.missing_dataset_layer) continue;
    const std::size_t bias_n = static_cast<std::size_t>(spec.cout) + (layer == o.wrong_bias_layer ? 1 : 0);
    std::vector<double> b(bias_n);
    for (std::size_t c = 0; c < bias_n; ++c) b[c] = bias_value(l, c);
    write_dataset(group.id, bias, {bias_n}, b, false);
  }
}

// Every element of a loaded layer against the values write_keras_file stored, after the transposition.
void check_loaded_layer(const ConvWeights& c, int l) {
  const VggConvSpec& spec = vgg19_convs()[static_cast<std::size_t>(l)];
  REQUIRE(c.cin == spec.cin);
  REQUIRE(c.cout == spec.cout);
  CHECK(c.k == 3);
  const auto cin = static_cast<std::size_t>(spec.cin), cout = static_cast<std::size_t>(spec.cout);
  REQUIRE(c.w.size() == cout * cin * 9);
  REQUIRE(c.b.size() == cout);
  std::size_t mismatches = 0;
  for (std::size_t o = 0; o < cout; ++o)
    for (std::size_t i = 0; i < cin; ++i)
      for (std::size_t kh = 0; kh < 3; ++kh)
        for (std::size_t kw = 0; kw < 3; ++kw)
          if (c.w[((o * cin + i) * 3 + kh) * 3 + kw] != keras_kernel_value(kh, kw, i, o, cin, cout)) ++mismatches;
  CHECK(mismatches == 0);
  for (std::size_t o = 0; o < cout; ++o)
    if (c.b[o] != bias_value(l, o)) ++mismatches;
  CHECK(mismatches == 0);
}

}  // namespace

// ---- the table -------------------------------------------------------------------------------------------

TEST_CASE("vgg19 table: configuration E, Keras names, pools") {
  const auto& t = vgg19_convs();
  CHECK(std::string(t[0].name) == "conv1_1");
  CHECK(std::string(t[0].keras) == "block1_conv1");
  CHECK(std::string(t[15].name) == "conv5_4");
  CHECK(std::string(t[15].keras) == "block5_conv4");
  CHECK(t[0].cin == 3);
  const int couts[16] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512};
  for (int l = 0; l < kVggConvCount; ++l) {
    CAPTURE(l);
    CHECK(t[l].cout == couts[l]);
    if (l > 0) CHECK(t[l].cin == t[l - 1].cout);
    const bool pool = l == 1 || l == 3 || l == 7 || l == 11;
    CHECK(t[l].pool_after == pool);
    const std::string name = t[l].name, keras = t[l].keras;
    CHECK(keras == "block" + name.substr(4, 1) + "_conv" + name.substr(6, 1));
  }
}

// ---- SHA-256 -------------------------------------------------------------------------------------------

TEST_CASE("sha256_file: FIPS 180-4 example vectors") {
  TempDir dir;
  const struct {
    std::string text, digest;
  } vectors[] = {
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
  int n = 0;
  for (const auto& v : vectors) {
    const std::string path = dir.file("v" + std::to_string(n++));
    write_text(path, v.text);
    CHECK(sha256_file(path) == v.digest);
  }
  // Across 1 MiB read chunks: bytes i mod 251, 3 MiB + 7 long (digest from Python's hashlib, committed).
  std::string long_text(3 * (std::size_t{1} << 20) + 7, '\0');
  for (std::size_t i = 0; i < long_text.size(); ++i) long_text[i] = static_cast<char>(i % 251);
  write_text(dir.file("long"), long_text);
  CHECK(sha256_file(dir.file("long")) == "f578a61853ca2f4272dba551bd868420e22302fbb6d6dfc0cc80da1d2c7b779f");
  // Message lengths around the padding edges (55, 56, 63, 64, 65 bytes) agree with hashlib too.
  const struct {
    std::size_t n;
    std::string digest;
  } edges[] = {
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"}
  };
  for (const auto& e : edges) {
    CAPTURE(e.n);
    write_text(dir.file("edge"), std::string(e.n, 'a'));
    CHECK(sha256_file(dir.file("edge")) == e.digest);
  }
  check_error([&] { sha256_file(dir.file("absent")); }, {"absent"});
}

// ---- the seeded random VGG-19 ------------------------------------------------------------------------------

// The committed reference, computed once from the specification in weights/random_vgg.cpp (and cross-checked
// with an independent Python implementation of that specification). A change here means every exported
// random network, and every result made with one, changes: do not update it lightly.
// FNV-1a of conv1_1.w then conv1_2.w, seed 0:
constexpr std::uint64_t kSeed0FirstTwoLayersFnv1a = 0x287e0f32c69d0019ull;
// conv1_1.w[0..3] as IEEE bits: 0x1.1645e6p-2, 0x1.6f48bcp-2, -0x1.3e564cp-2, 0x1.b91fd2p-2.
constexpr std::uint32_t kSeed0FirstFloats[4] = {0x3e8b22f3u, 0x3eb7a45eu, 0xbe9f2b26u, 0x3edc8fe9u};

TEST_CASE("random weights: bit-exact determinism against the committed hash") {
  const VggWeights w = random_vgg19_weights(0, 2);
  REQUIRE(w.convs.size() == 2);
  CHECK(w.description == "random VGG-19 (seed 0)");
  CHECK(w.bgr_input);
  const std::uint64_t hash = fnv1a(w.convs[1].w, fnv1a(w.convs[0].w));
  std::ostringstream report;
  report << "seed 0: fnv1a 0x" << std::hex << hash << ", conv1_1.w[0..3] bits";
  for (int i = 0; i < 4; ++i) report << " 0x" << bits_of(w.convs[0].w[static_cast<std::size_t>(i)]);
  report << " = " << std::hexfloat;
  for (int i = 0; i < 4; ++i) report << " " << w.convs[0].w[static_cast<std::size_t>(i)];
  INFO(report.str());
  CHECK(hash == kSeed0FirstTwoLayersFnv1a);
  for (int i = 0; i < 4; ++i) CHECK(bits_of(w.convs[0].w[static_cast<std::size_t>(i)]) == kSeed0FirstFloats[i]);

  // Same seed, same bits; a prefix of layers is a prefix of the full network; other seeds differ.
  const VggWeights again = random_vgg19_weights(0, 3);
  CHECK(fnv1a(again.convs[0].w) == fnv1a(w.convs[0].w));
  CHECK(fnv1a(again.convs[1].w) == fnv1a(w.convs[1].w));
  const VggWeights other = random_vgg19_weights(1, 2);
  CHECK(other.description == "random VGG-19 (seed 1)");
  CHECK(fnv1a(other.convs[0].w) != fnv1a(w.convs[0].w));
  // Layers have independent streams: conv1_2 does not start where conv1_1's values would continue.
  CHECK(w.convs[1].w[0] != w.convs[0].w[0]);
  for (const ConvWeights& c : again.convs)
    for (float b : c.b) CHECK(b == 0.0f);
  check_error([] { random_vgg19_weights(0, 17); }, {"layers"});
}

TEST_CASE("random weights: He-normal statistics") {
  const VggWeights w = random_vgg19_weights(0, 6);
  auto check_std = [](const ConvWeights& c) {
    double sum = 0, sum2 = 0;
    for (float v : c.w) sum += v;
    const double mean = sum / static_cast<double>(c.w.size());
    for (float v : c.w) sum2 += (v - mean) * (v - mean);
    const double std_dev = std::sqrt(sum2 / static_cast<double>(c.w.size() - 1));
    const double expected = std::sqrt(2.0 / (c.cin * 9.0));
    CAPTURE(c.cin);
    CAPTURE(std_dev);
    CAPTURE(expected);
    CHECK(std::abs(std_dev / expected - 1.0) < 0.02);
    CHECK(std::abs(mean) < 0.01 * expected);
  };
  check_std(w.convs[4]);  // conv3_1: 128 → 256, std sqrt(2/(128·9))
  check_std(w.convs[5]);  // conv3_2: 256 → 256, std sqrt(2/(256·9))
}

// ---- Keras HDF5: good files ------------------------------------------------------------------------------

TEST_CASE("keras h5: loads the original layout and transposes (kh,kw,in,out) → (out,in,kh,kw)") {
  TempDir dir;
  const std::string path = dir.file("vgg19_notop.h5");
  FileOptions o;
  o.layers = 4;
  write_keras_file(path, o);
  const VggWeights w = load_keras_vgg19(path, 4);
  REQUIRE(w.convs.size() == 4);
  for (int l = 0; l < 4; ++l) check_loaded_layer(w.convs[static_cast<std::size_t>(l)], l);
  // A known element: conv1_2 (64 → 64), out 5, in 7, kh 2, kw 1 ← Keras [2][1][7][5].
  CHECK(w.convs[1].w[((5 * 64 + 7) * 3 + 2) * 3 + 1] == static_cast<float>(((2 * 3 + 1) * 64 + 7) * 64 + 5));
  CHECK(w.bgr_input);
  CHECK(w.description.rfind(path + " (sha256 " + sha256_file(path).substr(0, 16), 0) == 0);
  // Fewer layers than the file has is fine.
  CHECK(load_keras_vgg19(path, 1).convs.size() == 1);
  // The spec entry point takes paths too.
  CHECK(load_weights_spec(path, 2).convs.size() == 2);
}

TEST_CASE("keras h5: variable-length string attributes") {
  TempDir dir;
  const std::string path = dir.file("vlen.h5");
  FileOptions o;
  o.layers = 3;
  o.variable_length = true;
  write_keras_file(path, o);
  const VggWeights w = load_keras_vgg19(path, 3);
  for (int l = 0; l < 3; ++l) check_loaded_layer(w.convs[static_cast<std::size_t>(l)], l);
}

TEST_CASE("keras h5: new-style weight names in subgroups (block1_conv1/kernel:0)") {
  TempDir dir;
  for (const bool variable : {false, true}) {
    const std::string path = dir.file(variable ? "new_vlen.h5" : "new.h5");
    FileOptions o;
    o.layers = 2;
    o.new_style_names = true;
    o.variable_length = variable;
    write_keras_file(path, o);
    const VggWeights w = load_keras_vgg19(path, 2);
    for (int l = 0; l < 2; ++l) check_loaded_layer(w.convs[static_cast<std::size_t>(l)], l);
    const auto rows = inspect_keras_h5(path);
    REQUIRE(rows.size() == 4);
    CHECK(rows[0].layer == "block1_conv1");
    CHECK(rows[0].name == "block1_conv1/kernel:0");
    CHECK(rows[0].dtype == "float32");
    CHECK(rows[0].shape == std::vector<std::uint64_t>{3, 3, 3, 64});
    CHECK(rows[1].shape == std::vector<std::uint64_t>{64});
  }
}

TEST_CASE("keras h5: save → load round trip, layout, overwrite protection") {
  TempDir dir;
  const std::string path = dir.file("random.h5");
  const VggWeights original = random_vgg19_weights(3, 5);
  save_keras_vgg19(original, path, false);
  const VggWeights loaded = load_keras_vgg19(path, 5);
  REQUIRE(loaded.convs.size() == 5);
  for (std::size_t l = 0; l < 5; ++l) {
    CHECK(loaded.convs[l].w == original.convs[l].w);
    CHECK(loaded.convs[l].b == original.convs[l].b);
  }
  // No timestamps in the file: the same weights give the same bytes.
  save_keras_vgg19(original, dir.file("again.h5"), false);
  CHECK(sha256_file(dir.file("again.h5")) == sha256_file(path));
  fs::remove(dir.file("again.h5"));
  // Only what was written: asking for more names the first missing layer.
  check_error([&] { load_keras_vgg19(path, 6); }, {path, "block3_conv2", "missing"});

  // The layout Keras expects: fixed-length layer_names with input_1 and the pools, empty weight_names there.
  const auto rows = inspect_keras_h5(path);
  REQUIRE(rows.size() == 10);
  CHECK(rows[0].name == "block1_conv1_W_1:0");
  CHECK(rows[9].name == "block3_conv1_b_1:0");
  {
    H5Closer file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
    REQUIRE(file.id >= 0);
    H5Closer attribute{H5Aopen(file.id, "layer_names", H5P_DEFAULT), H5Aclose};
    H5Closer type{H5Aget_type(attribute.id), H5Tclose};
    H5Closer space{H5Aget_space(attribute.id), H5Sclose};
    CHECK(H5Tis_variable_str(type.id) == 0);
    const std::size_t size = H5Tget_size(type.id);
    const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space.id));
    std::vector<char> buffer(n * size);
    REQUIRE(H5Aread(attribute.id, type.id, buffer.data()) >= 0);
    std::vector<std::string> names;
    for (std::size_t i = 0; i < n; ++i) names.emplace_back(&buffer[i * size], strnlen(&buffer[i * size], size));
    const std::vector<std::string> expected = {"input_1",      "block1_conv1", "block1_conv2", "block1_pool",
                                               "block2_conv1", "block2_conv2", "block2_pool",  "block3_conv1"};
    CHECK(names == expected);
    H5Closer pool{H5Gopen2(file.id, "block1_pool", H5P_DEFAULT), H5Gclose};
    REQUIRE(pool.id >= 0);
    H5Closer pool_names{H5Aopen(pool.id, "weight_names", H5P_DEFAULT), H5Aclose};
    H5Closer pool_space{H5Aget_space(pool_names.id), H5Sclose};
    CHECK(H5Sget_simple_extent_npoints(pool_space.id) == 0);
  }

  // Refuses to overwrite; --force does; no temporary files are left behind.
  check_error([&] { save_keras_vgg19(original, path, false); }, {path, "exists; use --force"});
  save_keras_vgg19(random_vgg19_weights(4, 1), path, true);
  CHECK(load_keras_vgg19(path, 1).convs[0].w == random_vgg19_weights(4, 1).convs[0].w);
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    INFO(entry.path().string());
    CHECK(entry.path().filename() == "random.h5");
    ++entries;
  }
  CHECK(entries == 1);

  // A full 16-layer network includes block5_pool; shapes are checked before anything is written.
  VggWeights bad = random_vgg19_weights(0, 2);
  bad.convs[1].b.pop_back();
  check_error([&] { save_keras_vgg19(bad, dir.file("bad.h5"), false); }, {"bad.h5", "block1_conv2"});
  CHECK(!fs::exists(dir.file("bad.h5")));
}

TEST_CASE("load_weights_spec: random, random:SEED, errors") {
  CHECK(load_weights_spec("random", 1).description == "random VGG-19 (seed 0)");
  const VggWeights w = load_weights_spec("random:42", 2);
  CHECK(w.description == "random VGG-19 (seed 42)");
  CHECK(w.convs[1].w == random_vgg19_weights(42, 2).convs[1].w);
  CHECK(load_weights_spec("random:18446744073709551615", 1).description ==
        "random VGG-19 (seed 18446744073709551615)");
  check_error([] { load_weights_spec("random:x", 1); }, {"random:x", "seed"});
  check_error([] { load_weights_spec("random:-1", 1); }, {"random:-1", "seed"});
  check_error([] { load_weights_spec("random:18446744073709551616", 1); }, {"seed"});
}

// ---- Keras HDF5: broken files ----------------------------------------------------------------------------

TEST_CASE("keras h5: every broken kind is one clear error naming the file and the problem") {
  TempDir dir;
  auto broken = [&](const std::string& name, FileOptions o) {
    const std::string path = dir.file(name);
    write_keras_file(path, o);
    return path;
  };

  SUBCASE("not HDF5") {
    const std::string path = dir.file("notes.txt");
    write_text(path, "these are not weights\n");
    check_error([&] { load_keras_vgg19(path, 1); }, {path, "not an HDF5 file"});
    check_error([&] { inspect_keras_h5(path); }, {path, "not an HDF5 file"});
  }
  SUBCASE("missing file") {
    const std::string path = dir.file("absent.h5");
    check_error([&] { load_keras_vgg19(path, 1); }, {path, "no such file"});
    check_error([&] { load_weights_spec(path, 1); }, {path, "no such file"});
  }
  SUBCASE("no layer_names") {
    FileOptions o;
    o.layer_names = false;
    const std::string path = broken("no_layer_names.h5", o);
    check_error([&] { load_keras_vgg19(path, 2); }, {path, "layer_names"});
  }
  SUBCASE("layer missing from layer_names") {
    FileOptions o;
    o.unlisted_layer = "block1_conv2";
    const std::string path = broken("unlisted.h5", o);
    check_error([&] { load_keras_vgg19(path, 2); }, {path, "layer block1_conv2", "missing"});
  }
  SUBCASE("layer listed but its group is missing") {
    FileOptions o;
    o.groupless_layer = "block1_conv2";
    const std::string path = broken("groupless.h5", o);
    check_error([&] { load_keras_vgg19(path, 2); }, {path, "layer block1_conv2", "group is missing"});
  }
  SUBCASE("wrong kernel shape") {
    FileOptions o;
    o.layers = 4;
    o.wrong_kernel_layer = "block2_conv2";
    const std::string path = broken("kernel.h5", o);
    check_error([&] { load_keras_vgg19(path, 4); },
                {"weights '" + path + "': layer block2_conv2: kernel shape (3,3,128,129), expected (3,3,128,128)"});
    CHECK(load_keras_vgg19(path, 3).convs.size() == 3);  // layers before the broken one are fine
  }
  SUBCASE("wrong bias shape") {
    FileOptions o;
    o.wrong_bias_layer = "block1_conv1";
    const std::string path = broken("bias.h5", o);
    check_error([&] { load_keras_vgg19(path, 1); }, {path, "layer block1_conv1: bias shape (65), expected (64)"});
  }
  SUBCASE("float64 dtype") {
    FileOptions o;
    o.float64_layer = "block1_conv2";
    const std::string path = broken("float64.h5", o);
    check_error([&] { load_keras_vgg19(path, 2); }, {path, "layer block1_conv2", "float64", "expected float32"});
  }
  SUBCASE("dataset named in weight_names but missing") {
    FileOptions o;
    o.missing_dataset_layer = "block1_conv1";
    const std::string path = broken("missing_dataset.h5", o);
    check_error([&] { load_keras_vgg19(path, 1); }, {path, "layer block1_conv1", "block1_conv1_b_1:0", "missing"});
    check_error([&] { inspect_keras_h5(path); }, {path, "block1_conv1_b_1:0", "missing"});
  }
  SUBCASE("a directory") {
    check_error([&] { load_keras_vgg19(dir.path().string(), 1); }, {dir.path().string(), "directory"});
  }
}
