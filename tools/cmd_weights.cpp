// tools/cmd_weights.cpp — `impasto weights`: export weights (the seeded random VGG-19 or a copy of a weight
// file) to Keras's HDF5 layout, so peers such as PyTorch can load exactly the same network, and inspect a
// weight file (layers, weight names, shapes, dtypes, parameter count, sha256, whether impasto can load it).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/error.hpp"
#include "tools/commands.hpp"
#include "weights/weights.hpp"

namespace impasto::cli {
namespace {

struct ExportOptions {
  std::string out;
  std::uint64_t seed = 0;
  std::string weights;
  bool force = false;
};

std::string shape_str(const std::vector<std::uint64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
  s << ")";
  return s.str();
}

void run_export(const ExportOptions& o) {
  const VggWeights weights = o.weights.empty() ? random_vgg19_weights(o.seed) : load_weights_spec(o.weights);
  save_keras_vgg19(weights, o.out, o.force);
  std::uint64_t parameters = 0;
  for (const ConvWeights& c : weights.convs) parameters += c.w.size() + c.b.size();
  std::printf("wrote %s: %s, %zu conv layers, %llu parameters, sha256 %s\n", o.out.c_str(),
              weights.description.c_str(), weights.convs.size(), static_cast<unsigned long long>(parameters),
              sha256_file(o.out).c_str());
}

void run_inspect(const std::string& path) {
  const std::vector<H5WeightInfo> rows = inspect_keras_h5(path);
  std::size_t layer_width = 5, name_width = 6;
  for (const H5WeightInfo& r : rows) {
    layer_width = std::max(layer_width, r.layer.size());
    name_width = std::max(name_width, r.name.size());
  }
  std::printf("%s\n", path.c_str());
  std::printf("  %-*s  %-*s  %-16s  %s\n", static_cast<int>(layer_width), "layer", static_cast<int>(name_width),
              "weight", "shape", "dtype");
  std::uint64_t parameters = 0;
  for (const H5WeightInfo& r : rows) {
    std::uint64_t n = 1;
    for (std::uint64_t d : r.shape) n *= d;
    parameters += n;
    std::printf("  %-*s  %-*s  %-16s  %s\n", static_cast<int>(layer_width), r.layer.c_str(),
                static_cast<int>(name_width), r.name.c_str(), shape_str(r.shape).c_str(), r.dtype.c_str());
  }
  std::printf("datasets: %zu, parameters: %llu\n", rows.size(), static_cast<unsigned long long>(parameters));
  std::printf("sha256: %s\n", sha256_file(path).c_str());
  try {
    const VggWeights loaded = load_keras_vgg19(path);
    std::printf("impasto: loads as VGG-19 (%zu conv layers)\n", loaded.convs.size());
  } catch (const Error& e) {
    std::printf("impasto: cannot load as VGG-19: %s\n", e.what());
  }
}

}  // namespace

void add_weights_command(CLI::App& app) {
  CLI::App* weights = app.add_subcommand("weights", "Export or inspect VGG-19 weight files (Keras HDF5 layout)");
  weights->require_subcommand(1);

  auto options = std::make_shared<ExportOptions>();
  CLI::App* export_cmd = weights->add_subcommand(
      "export", "Write weights to OUT.h5 in Keras's layout: the seeded random VGG-19 (default) or a copy of --weights");
  export_cmd->add_option("out", options->out, "Output file (.h5)")->required();
  CLI::Option* seed = export_cmd->add_option("--seed", options->seed, "Seed of the random VGG-19 (default 0)");
  CLI::Option* source =
      export_cmd->add_option("--weights", options->weights, "Weights to copy: a Keras .h5 file, random or random:SEED");
  seed->excludes(source);
  source->excludes(seed);
  export_cmd->add_flag("--force", options->force, "Overwrite OUT.h5 if it exists");
  export_cmd->callback([options] { run_export(*options); });

  auto inspect_path = std::make_shared<std::string>();
  CLI::App* inspect_cmd = weights->add_subcommand(
      "inspect", "List a weight file's layers, weight names, shapes and dtypes, its parameter count and sha256");
  inspect_cmd->add_option("file", *inspect_path, "Weight file (.h5)")->required();
  inspect_cmd->callback([inspect_path] { run_inspect(*inspect_path); });
}

}  // namespace impasto::cli
