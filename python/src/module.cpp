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
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

void without_gil(const std::function<void()>& work, const bool& started);

// Parses `options` (a JSON object of long option names, "style-weight": 1e4) as `impasto COMMAND`'s command line
// and runs it with `hooks`, the GIL released; errors become Python exceptions with the CLI's one-line messages.
void parse_and_run(const std::string& command, const std::string& options, nb::dict images,
                   impasto::cli::EmbedHooks& hooks, impasto::cli::WarmEngine* warm = nullptr) {
  for (auto [key, value] : images) hooks.images[nb::cast<std::string>(key)] = to_image(nb::cast<InArray>(value));

  CLI::App app;  // fresh for each run: an App keeps what it parsed
  app.require_subcommand(1);
  impasto::cli::add_stylize_command(app, warm, &hooks);
  if (command != "stylize" && command != "texture")
    raise(PyExc_ValueError, "unknown command '" + command + "' (stylize or texture)");
  const CLI::App* sub = app.get_subcommand(command);
  std::vector<std::string> argv{command};
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

  std::reverse(argv.begin(), argv.end());  // CLI11 takes its arguments last first
  without_gil([&] { app.parse(argv); }, hooks.started);  // runs the command
}

// Runs `work` with the GIL released; its errors as Python exceptions with the engine's one-line messages.
// `started`: whether an impasto::Error is the run's (RuntimeError) rather than the request's (ValueError).
void without_gil(const std::function<void()>& work, const bool& started) {
  std::exception_ptr python;  // a callback's exception or KeyboardInterrupt, re-raised with the GIL held
  PyObject* type = nullptr;
  std::string message;
  {
    nb::gil_scoped_release release;
    try {
      work();
    } catch (const nb::python_error&) {
      python = std::current_exception();
    } catch (const CLI::ParseError& e) {
      type = PyExc_ValueError;
      message = e.what();
    } catch (const impasto::NotFoundError& e) {
      type = PyExc_FileNotFoundError;
      message = e.what();
    } catch (const impasto::OutOfMemoryError& e) {
      type = PyExc_MemoryError;
      message = e.what();
    } catch (const std::bad_alloc&) {
      type = PyExc_MemoryError;
      message = "out of host memory";
    } catch (const impasto::Error& e) {
      // Before the optimization starts an error is about the request (an option, an input); after, the run's.
      type = started ? PyExc_RuntimeError : PyExc_ValueError;
      message = e.what();
    } catch (const std::exception& e) {
      type = PyExc_RuntimeError;
      message = e.what();
    }
  }
  if (python) std::rethrow_exception(python);
  if (type != nullptr) raise(type, message);
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
    nb::dict info;
    info["iteration"] = r.iteration;
    info["level"] = r.level;
    info["loss"] = r.loss;
    info["content"] = r.content;
    info["style"] = r.style;
    info["tv"] = r.tv;
    info["photo"] = r.photo;
    info["seconds"] = r.seconds;
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
    nb::dict terms;
    terms["loss"] = t.total;
    terms["content"] = t.content;
    terms["style"] = t.style;
    terms["tv"] = t.tv;
    terms["photo"] = t.photo;
    return nb::make_tuple(terms, vector_array(std::move(grad)));
  }

  // x as the RGB image it stands for, (H, W, 3) uint8 (clipped as a run's result is).
  OutArray image(const nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>& x) {
    if (x.shape(0) != 3 * height() * width()) raise(PyExc_ValueError, "x: not 3*H*W values");
    return to_array(impasto::postprocess(x.data(), int(height()), int(width()), hooks_.bgr_input,
                                         float(hooks_.pixel_scale)));
  }

 private:
  impasto::Backend& backend() { return *hooks_.backend; }
  static nb::ndarray<nb::numpy, float, nb::ndim<1>> vector_array(std::vector<float> v) {
    auto* heap = new std::vector<float>(std::move(v));
    nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
    return nb::ndarray<nb::numpy, float, nb::ndim<1>>(heap->data(), {heap->size()}, owner);
  }
  impasto::cli::EmbedHooks hooks_;
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

// The defaults `impasto COMMAND --help` shows, by long option name ("size": "512"): the test checks the Python
// signatures' defaults against them.
nb::dict option_defaults(const std::string& command) {
  impasto::cli::EmbedHooks hooks;
  CLI::App app;
  impasto::cli::add_stylize_command(app, nullptr, &hooks);
  if (command != "stylize" && command != "texture")
    raise(PyExc_ValueError, "unknown command '" + command + "' (stylize or texture)");
  const CLI::App* sub = app.get_subcommand(command);
  nb::dict d;
  for (const CLI::Option* opt : sub->get_options())
    if (!opt->get_lnames().empty()) d[opt->get_lnames().front().c_str()] = opt->get_default_str();
  return d;
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
  m.def("option_defaults", &option_defaults, nb::arg("command"));
  nb::class_<Objective>(m, "Objective")
      .def(nb::init<const std::string&, nb::dict>(), nb::arg("options"), nb::arg("images"))
      .def_prop_ro("height", &Objective::height)
      .def_prop_ro("width", &Objective::width)
      .def("start", &Objective::start)
      .def("evaluate", &Objective::evaluate, nb::arg("x"))
      .def("image", &Objective::image, nb::arg("x"));
}
