// python/src/module.cpp — impasto._impasto, the extension under the Python package (python/impasto): runs
// `impasto stylize` / `impasto texture` in process. The keyword options arrive as one JSON object of long option
// names and become the command line they stand for (add_json_arguments, as `impasto batch` does), parsed by the
// very CLI11 definitions of tools/cmd_stylize.cpp, so the API cannot drift from the CLI. Images come in and go out
// as arrays (DLPack through nanobind::ndarray); nothing is written unless an `out` option asks for it. The GIL is
// released while the engine runs and taken back at each iteration for the callback and for Ctrl-C
// (PyErr_CheckSignals), whose KeyboardInterrupt stops the run. Errors are the CLI's one-line messages as
// FileNotFoundError, ValueError, MemoryError or RuntimeError.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/comm.hpp"
#include "engine/error.hpp"
#include "tools/commands.hpp"

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

// One stylize or texture run: `command` "stylize" or "texture", `options` a JSON object of long option names
// ("style-weight": 1e4), `images` the arrays the options name, `callback(info)` at each iteration (info["image"]
// too when callback_image). Returns the result as (H, W, 3) uint8, or None after a dry run (nothing made).
nb::object run(const std::string& command, const std::string& options, nb::dict images, nb::object callback,
             bool callback_image) {
  impasto::cli::EmbedHooks hooks;
  for (auto [key, value] : images) hooks.images[nb::cast<std::string>(key)] = to_image(nb::cast<InArray>(value));

  CLI::App app;  // fresh for each run: an App keeps what it parsed
  app.require_subcommand(1);
  impasto::cli::add_stylize_command(app, nullptr, &hooks);
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

  std::exception_ptr python;  // the callback's exception or KeyboardInterrupt, re-raised with the GIL held
  PyObject* type = nullptr;
  std::string message;
  {
    nb::gil_scoped_release release;
    try {
      std::reverse(argv.begin(), argv.end());  // CLI11 takes its arguments last first
      app.parse(argv);                         // runs the command
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
      type = hooks.started ? PyExc_RuntimeError : PyExc_ValueError;
      message = e.what();
    } catch (const std::exception& e) {
      type = PyExc_RuntimeError;
      message = e.what();
    }
  }
  if (python) std::rethrow_exception(python);
  if (type != nullptr) raise(type, message);
  if (hooks.result.data.empty()) return nb::none();  // --dry-run: the plan was printed, nothing made
  return nb::cast(to_array(hooks.result));
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
  m.def("run", &run, nb::arg("command"), nb::arg("options"), nb::arg("images"), nb::arg("callback").none(),
        nb::arg("callback_image") = false);
  m.def("option_defaults", &option_defaults, nb::arg("command"));
}
