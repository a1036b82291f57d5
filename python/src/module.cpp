// python/src/module.cpp — impasto._impasto, the extension under the Python package (python/impasto): runs
// `impasto stylize` / `impasto texture` in process. The keyword options arrive as one JSON object of long option
// names and become the command line they stand for (add_json_arguments, as `impasto batch` does), parsed by the
// very CLI11 definitions of tools/cmd_stylize.cpp, so the API cannot drift from the CLI. Images come in and go out
// as arrays (DLPack through nanobind::ndarray); nothing is written unless an `out` option asks for it. The GIL is
// released while the engine runs and taken back at each iteration for the callback and for Ctrl-C
// (PyErr_CheckSignals), whose KeyboardInterrupt stops the run. Errors are the CLI's one-line messages as
// FileNotFoundError, ValueError, MemoryError or RuntimeError. Also: Engine (a WarmEngine kept between runs),
// Objective (the run's objective and gradient, for an optimizer in Python) and `impasto weights export/inspect`.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifdef IMPASTO_HAVE_CUDA
#include <cuda_runtime.h>
#endif

#include "engine/comm.hpp"
#include "engine/error.hpp"
#include "tools/commands.hpp"
#include "tools/warm_engine.hpp"
#include "weights/weights.hpp"

namespace nb = nanobind;

namespace impasto::cli {
// The CLI's main() makes the job's ranks; in Python a run is always one process (no mpirun).
Comm& ranks() {
  static const std::unique_ptr<Comm> one = make_single_comm();
  return *one;
}
}  // namespace impasto::cli

namespace {

using impasto::Image;
using InArray = nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu>;
using OutArray = nb::ndarray<nb::numpy, std::uint8_t, nb::ndim<3>>;
using DeviceArray = nb::ndarray<const float, nb::c_contig, nb::device::cuda>;  // a GPU array (Objective)

// An (H, W, C) float32 array of 0..255 values (python/impasto/__init__.py converts what users give) → planar Image.
Image to_image(const InArray& a) {
  Image img;
  img.h = int(a.shape(0));
  img.w = int(a.shape(1));
  img.c = int(a.shape(2));
  const std::size_t m = std::size_t(img.h) * std::size_t(img.w);
  img.data.resize(m * std::size_t(img.c));
  const float* src = a.data();
  for (int c = 0; c < img.c; ++c)
    for (std::size_t i = 0; i < m; ++i) img.data[std::size_t(c) * m + i] = src[i * std::size_t(img.c) + std::size_t(c)];
  return img;
}

// Planar RGB 0..255 → (H, W, 3) uint8, rounded and clipped exactly as write_image does (engine/image.cpp), so the
// array holds the bytes `impasto stylize` writes to its PNG.
OutArray to_array(const Image& img) {
  const std::size_t m = std::size_t(img.h) * std::size_t(img.w);
  auto* bytes = new std::uint8_t[m * std::size_t(img.c)];
  nb::capsule owner(bytes, [](void* p) noexcept { delete[] static_cast<std::uint8_t*>(p); });
  for (int c = 0; c < img.c; ++c) {
    const float* src = img.plane(c);
    for (std::size_t i = 0; i < m; ++i) {
      const float v = src[i];
      bytes[i * std::size_t(img.c) + std::size_t(c)] = v > 0.0f ? std::uint8_t(std::min(v, 255.0f) + 0.5f) : 0;
    }
  }
  return OutArray(bytes, {std::size_t(img.h), std::size_t(img.w), std::size_t(img.c)}, owner);
}

[[noreturn]] void raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw nb::python_error();
}

std::string python_name(std::string key) {  // "style-weight" → "style_weight", as the caller wrote it
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

// What a callback gets at each iteration (with the GIL held).
nb::dict iteration_info(const impasto::IterationReport& r) {
  nb::dict info;
  info["iteration"] = r.iteration;
  info["level"] = r.level;
  info["loss"] = r.loss;
  info["content"] = r.content;
  info["style"] = r.style;
  info["tv"] = r.tv;
  info["photo"] = r.photo;
  info["seconds"] = r.seconds;
  return info;
}

// A run's command line: the app with the embeddable commands (stylize, texture, video) on `hooks`, and
// `impasto COMMAND`'s arguments made from `options` (a JSON object of long option names, "style-weight": 1e4),
// last first as CLI11 takes them. Bad options raise ValueError here, before anything runs.
struct CommandLine {
  CLI::App app;  // fresh for each run: an App keeps what it parsed
  std::vector<std::string> argv;
};
std::unique_ptr<CommandLine> command_line(const std::string& command, const std::string& options, nb::dict images,
                                          impasto::cli::EmbedHooks& hooks, impasto::cli::WarmEngine* warm = nullptr) {
  for (auto [key, value] : images) hooks.images[nb::cast<std::string>(key)] = to_image(nb::cast<InArray>(value));
  auto line = std::make_unique<CommandLine>();
  line->app.require_subcommand(1);
  impasto::cli::add_stylize_command(line->app, warm, &hooks);
  impasto::cli::add_video_command(line->app, &hooks);
  if (command != "stylize" && command != "texture" && command != "video")
    raise(PyExc_ValueError, "unknown command '" + command + "' (stylize, texture or video)");
  const CLI::App* sub = line->app.get_subcommand(command);
  std::vector<std::string>& argv = line->argv;
  argv.push_back(command);
  try {
    const nlohmann::json j = nlohmann::json::parse(options);
    for (const auto& [key, value] : j.items()) {
      const CLI::Option* opt = sub->get_option_no_throw("--" + key);
      if (opt == nullptr || opt == sub->get_help_ptr())
        raise(PyExc_ValueError, "unknown option '" + python_name(key) + "' (not an option of impasto " + command + ")");
      impasto::cli::add_json_arguments(*sub, key, value, argv);
    }
  } catch (const impasto::Error& e) {
    raise(PyExc_ValueError, e.what());
  } catch (const nlohmann::json::exception& e) {
    raise(PyExc_ValueError, std::string("options: ") + e.what());
  }
  std::reverse(argv.begin(), argv.end());
  return line;
}

// A run's failure as the Python exception to raise: the type and the engine's one-line message, or the Python
// exception itself (a callback's, KeyboardInterrupt) in `python`. `started`: whether an impasto::Error is the
// run's (RuntimeError) rather than the request's (ValueError).
struct Failure {
  std::exception_ptr python;
  PyObject* type = nullptr;
  std::string message;

  static Failure of(const std::exception_ptr& error, bool started) {
    Failure f;
    try {
      std::rethrow_exception(error);
    } catch (const nb::python_error&) {
      f.python = error;
    } catch (const CLI::ParseError& e) {
      f = {nullptr, PyExc_ValueError, e.what()};
    } catch (const impasto::NotFoundError& e) {
      f = {nullptr, PyExc_FileNotFoundError, e.what()};
    } catch (const impasto::OutOfMemoryError& e) {
      f = {nullptr, PyExc_MemoryError, e.what()};
    } catch (const std::bad_alloc&) {
      f = {nullptr, PyExc_MemoryError, "out of host memory"};
    } catch (const impasto::Error& e) {
      // Before the optimization starts an error is about the request (an option, an input); after, the run's.
      f = {nullptr, started ? PyExc_RuntimeError : PyExc_ValueError, e.what()};
    } catch (const std::exception& e) {
      f = {nullptr, PyExc_RuntimeError, e.what()};
    }
    return f;
  }
  // With the GIL held.
  [[noreturn]] void raise_it() const {
    if (python) std::rethrow_exception(python);
    raise(type, message);
  }
};

// Runs `work` with the GIL released; its errors as Python exceptions (Failure).
void without_gil(const std::function<void()>& work, const bool& started) {
  std::exception_ptr error;
  {
    nb::gil_scoped_release release;
    try {
      work();
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (error) Failure::of(error, started).raise_it();
}

// Parses `options` as `impasto COMMAND`'s command line and runs it with `hooks`, the GIL released.
void parse_and_run(const std::string& command, const std::string& options, nb::dict images,
                   impasto::cli::EmbedHooks& hooks, impasto::cli::WarmEngine* warm = nullptr) {
  const std::unique_ptr<CommandLine> line = command_line(command, options, images, hooks, warm);
  without_gil([&] { line->app.parse(line->argv); }, hooks.started);  // runs the command
}

// impasto.Engine: the backend and each weights spec's network kept from run to run (as `impasto batch` keeps
// them), one run at a time.
struct Engine {
  impasto::cli::WarmEngine warm;
  std::mutex busy;
};

// One stylize or texture run (on `engine` when given): `images` the arrays the options name, `callback(info)` at each iteration
// (info["image"] too when callback_image). Returns the result as (H, W, 3) uint8, or None after a dry run.
nb::object run(const std::string& command, const std::string& options, nb::dict images, nb::object callback,
               bool callback_image, Engine* engine) {
  std::unique_lock<std::mutex> lock;
  if (engine != nullptr) {
    lock = std::unique_lock<std::mutex>(engine->busy, std::try_to_lock);
    if (!lock.owns_lock()) raise(PyExc_RuntimeError, "this Engine is running another stylize or texture (one at a time)");
  }
  impasto::cli::EmbedHooks hooks;
  hooks.on_iteration = [&](const impasto::IterationReport& r, const std::function<Image()>& image) {
    nb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw nb::python_error();  // Ctrl-C: KeyboardInterrupt ends the run
    if (callback.is_none()) return;
    nb::dict info = iteration_info(r);
    if (callback_image) info["image"] = to_array(image());
    callback(info);  // an exception in it (nb::python_error) stops the run and reaches the caller
  };
  parse_and_run(command, options, images, hooks, engine != nullptr ? &engine->warm : nullptr);
  if (hooks.result.data.empty()) return nb::none();  // --dry-run: the plan was printed, nothing made
  return nb::cast(to_array(hooks.result));
}

// impasto.Objective's engine side: the stylize objective at the output size (EmbedHooks::objective_only) on the
// engine it was made on. x is the image in network space, (3, H, W) float32 flattened.
class Objective {
 public:
  Objective(const std::string& options, nb::dict images) {
    hooks_.objective_only = true;
    parse_and_run("stylize", options, images, hooks_);
    if (!hooks_.objective) raise(PyExc_ValueError, "an Objective takes no dry_run");
  }
  std::size_t height() const { return std::size_t(hooks_.start.shape().h); }
  bool on_gpu() const { return hooks_.backend->device() == impasto::Device::cuda; }
  std::size_t width() const { return std::size_t(hooks_.start.shape().w); }

  // The content in network space: where a run with init=content starts.
  nb::ndarray<nb::numpy, float, nb::ndim<1>> start() { return vector_array(backend().to_host(hooks_.start)); }

  // (loss terms, dL/dx) at x; the engine runs without the GIL.
  nb::tuple evaluate(const nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>& x) {
    const std::size_t n = 3 * height() * width();
    if (x.shape(0) != n)
      raise(PyExc_ValueError, "x: " + std::to_string(x.shape(0)) + " values, expected 3*H*W = " + std::to_string(n));
    std::vector<float> host(x.data(), x.data() + n);
    impasto::LossTerms t;
    std::vector<float> grad;
    {
      nb::gil_scoped_release release;
      const impasto::Shape shape{1, 3, int(height()), int(width())};
      const impasto::Tensor xt = backend().from_host(host, shape);
      impasto::Tensor g = backend().empty(shape);
      t = hooks_.objective->evaluate(xt, g);
      grad = backend().to_host(g);
    }
    return nb::make_tuple(term_dict(t), vector_array(std::move(grad)));
  }

  // (loss terms, dL/dx) at x on the engine's GPU (a PyTorch or CuPy CUDA tensor, through DLPack): x is read where
  // it lies and dL/dx comes back there, in x's shape, as `framework`'s array ("torch", "cupy", or "" for a plain
  // DLPack array) over a new device buffer: no host round trip. The engine first waits for the device to be idle
  // (x may still be being written on its producer's stream).
  nb::object evaluate_device(const DeviceArray& x, const std::string& framework) {
    const std::size_t n = 3 * height() * width();
    if (x.size() != n)
      raise(PyExc_ValueError, "x: " + std::to_string(x.size()) + " values, expected 3*H*W = " + std::to_string(n));
    if (backend().device() != impasto::Device::cuda)
      raise(PyExc_ValueError, "x: an array on the GPU, but this Objective runs on the CPU (make it with device='cuda')");
#ifdef IMPASTO_HAVE_CUDA
    int device = -1;
    cudaGetDevice(&device);
    if (x.device_id() != device)
      raise(PyExc_ValueError, "x: on cuda:" + std::to_string(x.device_id()) + ", the Objective runs on cuda:" +
                                  std::to_string(device));
    const impasto::Shape shape{1, 3, int(height()), int(width())};
    // The gradient's device buffer and the Objective (its engine) it needs alive: owned by the returned array.
    struct DeviceGrad {
      impasto::Tensor grad;
      nb::object objective;
    };
    auto held = std::make_unique<DeviceGrad>(DeviceGrad{backend().empty(shape), nb::find(this)});
    impasto::LossTerms t;
    std::exception_ptr error;
    {
      nb::gil_scoped_release release;
      try {
        if (cudaDeviceSynchronize() != cudaSuccess) throw impasto::Error("CUDA: the device failed before evaluate");
        const impasto::Tensor xt(
            std::make_shared<impasto::Storage>(const_cast<float*>(x.data()), n, impasto::Device::cuda), shape);
        t = hooks_.objective->evaluate(xt, held->grad);
        backend().synchronize();
      } catch (...) {
        error = std::current_exception();
      }
    }
    if (error) Failure::of(error, true).raise_it();
    float* data = held->grad.data();
    nb::capsule owner(held.release(), [](void* p) noexcept { delete static_cast<DeviceGrad*>(p); });
    std::vector<std::size_t> dims;
    for (std::size_t i = 0; i < x.ndim(); ++i) dims.push_back(x.shape(i));
    const auto made = [&](auto tag) {
      using Array = nb::ndarray<decltype(tag), float, nb::device::cuda>;
      return nb::object(Array(data, dims.size(), dims.data(), owner, nullptr, nb::dtype<float>(),
                              nb::device::cuda::value, device).cast());
    };
    nb::object g = framework == "torch" ? made(nb::pytorch()) : framework == "cupy" ? made(nb::cupy()) : made(nb::no_framework());
    return nb::make_tuple(term_dict(t), g);
#else
    (void)framework;
    raise(PyExc_ValueError, "x: an array on the GPU, but this impasto was built without CUDA");
#endif
  }

  // x as the RGB image it stands for, (H, W, 3) uint8 (clipped as a run's result is).
  OutArray image(const nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>& x) {
    if (x.shape(0) != 3 * height() * width()) raise(PyExc_ValueError, "x: not 3*H*W values");
    return to_array(impasto::postprocess(x.data(), int(height()), int(width()), hooks_.bgr_input,
                                         float(hooks_.pixel_scale)));
  }
  // The same for x on the GPU (copied to the host: a picture is for looking at).
  OutArray image_device(const DeviceArray& x) {
    if (x.size() != 3 * height() * width()) raise(PyExc_ValueError, "x: not 3*H*W values");
#ifdef IMPASTO_HAVE_CUDA
    std::vector<float> host(x.size());
    if (cudaDeviceSynchronize() != cudaSuccess ||
        cudaMemcpy(host.data(), x.data(), host.size() * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess)
      raise(PyExc_RuntimeError, "x: the GPU array could not be read");
    return to_array(impasto::postprocess(host.data(), int(height()), int(width()), hooks_.bgr_input,
                                         float(hooks_.pixel_scale)));
#else
    raise(PyExc_ValueError, "x: an array on the GPU, but this impasto was built without CUDA");
#endif
  }

 private:
  impasto::Backend& backend() { return *hooks_.backend; }
  static nb::dict term_dict(const impasto::LossTerms& t) {
    nb::dict terms;
    terms["loss"] = t.total;
    terms["content"] = t.content;
    terms["style"] = t.style;
    terms["tv"] = t.tv;
    terms["photo"] = t.photo;
    return terms;
  }
  static nb::ndarray<nb::numpy, float, nb::ndim<1>> vector_array(std::vector<float> v) {
    auto* heap = new std::vector<float>(std::move(v));
    nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
    return nb::ndarray<nb::numpy, float, nb::ndim<1>>(heap->data(), {heap->size()}, owner);
  }
  impasto::cli::EmbedHooks hooks_;
};

// impasto.video's engine side: `impasto video` run on a thread of its own, its final frames handed over through a
// bounded queue (the run waits while `limit` frames are unread) as (frame, (H, W, 3) uint8). next() waits for the
// next frame with the GIL released, checking for Ctrl-C every 0.1 s; close() (the generator closed, a `break` in
// the loop, KeyboardInterrupt) stops the run at its next iteration and waits for it: the frames on disk stay, and a
// rerun on the same out resumes. The run's error is raised by the next() that would have had its next frame.
class VideoRun {
 public:
  VideoRun(const std::string& options, nb::dict images, nb::object callback, std::size_t limit)
      : callback_(std::move(callback)), limit_(std::max<std::size_t>(limit, 1)) {
    line_ = command_line("video", options, images, hooks_);
    hooks_.on_final_frame = [this](int t, const std::string& path) { push(t, impasto::read_image(path, 3)); };
    hooks_.on_frame_iteration = [this](int t, int pass, const impasto::IterationReport& r) { iteration(t, pass, r); };
    thread_ = std::thread([this] { work(); });
  }
  ~VideoRun() {
    if (!thread_.joinable()) return;
    nb::gil_scoped_release release;  // the run may be waiting for the GIL (a callback)
    stop_and_join();
  }

  nb::object next() {
    std::optional<std::pair<int, impasto::Image>> item;
    bool end = false;
    for (;;) {
      {
        nb::gil_scoped_release release;
        std::unique_lock<std::mutex> lock(m_);
        ready_.wait_for(lock, std::chrono::milliseconds(100), [&] { return !queue_.empty() || done_; });
        if (!queue_.empty()) {
          item = std::move(queue_.front());
          queue_.pop_front();
          room_.notify_all();
        }
        end = !item && done_;
      }
      if (item || end) break;
      if (PyErr_CheckSignals() != 0) {  // Ctrl-C while waiting: stop the run, then raise KeyboardInterrupt
        nb::python_error interrupt;
        close();
        throw interrupt;
      }
    }
    if (end) {  // the run's end, or its failure
      close();
      if (error_) Failure::of(error_, hooks_.started).raise_it();
      return nb::none();
    }
    return nb::make_tuple(item->first, to_array(item->second));
  }

  void close() {
    if (!thread_.joinable()) return;
    nb::gil_scoped_release release;
    stop_and_join();
  }

 private:
  struct Stop {};  // thrown by a hook to end the run when close() asks

  void work() {
    try {
      line_->app.parse(line_->argv);  // runs the command
    } catch (const Stop&) {
    } catch (...) {
      error_ = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(m_);
    done_ = true;
    ready_.notify_all();
  }
  void stop_and_join() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    room_.notify_all();
    thread_.join();
  }
  void push(int t, impasto::Image frame) {
    std::unique_lock<std::mutex> lock(m_);
    room_.wait(lock, [&] { return queue_.size() < limit_ || stop_; });
    if (stop_) throw Stop{};
    queue_.emplace_back(t, std::move(frame));
    ready_.notify_all();
  }
  void iteration(int t, int pass, const impasto::IterationReport& r) {
    {
      std::lock_guard<std::mutex> lock(m_);
      if (stop_) throw Stop{};
    }
    if (callback_.is_none()) return;
    nb::gil_scoped_acquire gil;
    nb::dict info = iteration_info(r);
    info["frame"] = t;
    info["pass"] = pass;
    callback_(info);  // an exception in it (nb::python_error) ends the run and reaches next()
  }

  impasto::cli::EmbedHooks hooks_;
  std::unique_ptr<CommandLine> line_;
  nb::object callback_;
  const std::size_t limit_;
  std::mutex m_;
  std::condition_variable ready_, room_;  // a frame or the end to read; room in the queue (or stop)
  std::deque<std::pair<int, impasto::Image>> queue_;
  bool done_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

// impasto.weights.export: `impasto weights export OUT [--seed S | --weights SPEC] [--force]`.
void weights_export(const std::string& out, std::uint64_t seed, const std::string& spec, bool force) {
  const bool started = false;
  without_gil([&] {
    const impasto::VggWeights w = spec.empty() ? impasto::random_vgg19_weights(seed) : impasto::load_weights_spec(spec);
    impasto::save_keras_vgg19(w, out, force);
  }, started);
}

// impasto.weights.inspect: what `impasto weights inspect FILE` prints, as a dict.
nb::dict weights_inspect(const std::string& path) {
  std::vector<impasto::H5WeightInfo> rows;
  std::string sha, load_error;
  std::size_t convs = 0;
  const bool started = false;
  without_gil([&] {
    rows = impasto::inspect_keras_h5(path);
    sha = impasto::sha256_file(path);
    try {
      convs = impasto::load_keras_vgg19(path).convs.size();
    } catch (const impasto::Error& e) {
      load_error = e.what();
    }
  }, started);
  nb::list datasets;
  std::uint64_t parameters = 0;
  for (const impasto::H5WeightInfo& r : rows) {
    std::uint64_t n = 1;
    nb::list shape;
    for (std::uint64_t d : r.shape) {
      n *= d;
      shape.append(d);
    }
    parameters += n;
    nb::dict row;
    row["layer"] = r.layer;
    row["name"] = r.name;
    row["shape"] = nb::tuple(shape);
    row["dtype"] = r.dtype;
    datasets.append(row);
  }
  nb::dict d;
  d["path"] = path;
  d["datasets"] = datasets;
  d["parameters"] = parameters;
  d["sha256"] = sha;
  d["loads"] = load_error.empty();  // whether impasto loads it as VGG-19
  d["conv_layers"] = convs;
  if (!load_error.empty()) d["error"] = load_error;
  return d;
}

// `impasto COMMAND`'s options as `--help` lists them, in order: long name, value type (CLI11's: INT, FLOAT, TEXT;
// "" for a flag), whether it may be given several times, default ("" for none) and help text. The tests check the
// Python signatures' defaults against it and impasto/_stubs.py writes the type stubs from it.
nb::list option_table(const std::string& command) {
  impasto::cli::EmbedHooks hooks;
  const std::unique_ptr<CommandLine> line = command_line(command, "{}", nb::dict(), hooks);
  const CLI::App* sub = line->app.get_subcommand(command);
  nb::list rows;
  for (const CLI::Option* opt : sub->get_options()) {
    if (opt->get_lnames().empty() || opt == sub->get_help_ptr()) continue;
    const std::string type = opt->get_type_name();
    nb::dict row;
    row["name"] = opt->get_lnames().front();
    row["type"] = opt->get_type_size_max() == 0 ? std::string() : type.substr(0, type.find(':'));
    row["many"] = opt->get_expected_max() > 1;
    row["default"] = opt->get_default_str();
    row["help"] = opt->get_description();
    rows.append(row);
  }
  return rows;
}

// Raises ValueError for an option `impasto COMMAND` does not have or a value it cannot take as JSON; runs nothing.
void check_options(const std::string& command, const std::string& options) {
  impasto::cli::EmbedHooks hooks;
  command_line(command, options, nb::dict(), hooks);
}

}  // namespace

NB_MODULE(_impasto, m) {
  m.doc() = "impasto's engine: stylize and texture runs with the CLI's options (use the impasto package)";
  m.attr("__version__") = IMPASTO_VERSION;
  nb::class_<Engine>(m, "Engine").def(nb::init<>());
  m.def("weights_export", &weights_export, nb::arg("out"), nb::arg("seed"), nb::arg("spec"), nb::arg("force"));
  m.def("weights_inspect", &weights_inspect, nb::arg("path"));
  m.def("run", &run, nb::arg("command"), nb::arg("options"), nb::arg("images"), nb::arg("callback").none(),
        nb::arg("callback_image") = false, nb::arg("engine").none() = nb::none());
  m.def("option_table", &option_table, nb::arg("command"));
  m.def("check_options", &check_options, nb::arg("command"), nb::arg("options"));
  nb::class_<VideoRun>(m, "VideoRun")
      .def(nb::init<const std::string&, nb::dict, nb::object, std::size_t>(), nb::arg("options"), nb::arg("images"),
           nb::arg("callback").none(), nb::arg("limit"))
      .def("next", &VideoRun::next)
      .def("close", &VideoRun::close);
  nb::class_<Objective>(m, "Objective")
      .def(nb::init<const std::string&, nb::dict>(), nb::arg("options"), nb::arg("images"))
      .def_prop_ro("height", &Objective::height)
      .def_prop_ro("on_gpu", &Objective::on_gpu)
      .def_prop_ro("width", &Objective::width)
      .def("start", &Objective::start)
      .def("evaluate", &Objective::evaluate, nb::arg("x"))
      .def("evaluate_device", &Objective::evaluate_device, nb::arg("x"), nb::arg("framework"))
      .def("image", &Objective::image, nb::arg("x"))
      .def("image_device", &Objective::image_device, nb::arg("x"));
}
