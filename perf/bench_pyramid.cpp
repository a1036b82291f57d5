// perf/bench_pyramid.cpp — does the coarse-to-fine pyramid (StylizeOptions::pyramid_levels) pay off at equal
// wall time? Runs a single-scale stylization at the final size and a pyramid run, both stopped by the same
// wall-time budget (StylizeOptions::time_limit, measured from the start of the run, every level's targets
// included), then evaluates both outputs with one StyleObjective at the final size (the same targets, the
// same weights) and prints the two final-size losses and their ratio (pyramid / single; < 1: the pyramid wins).
//
// Options: bench_pyramid --help. Defaults: OpenCV's fruits.jpg and starry_night.jpg, 128 px, 30 s, 3 levels, 40,20 coarse iterations (the
// finest level runs until the budget is used up), content init, CPU.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/backend_factory.hpp"
#include "engine/error.hpp"
#include "engine/image.hpp"
#include "engine/resample.hpp"
#include "engine/losses.hpp"
#include "engine/stylize.hpp"
#include "perf/bench_main.hpp"
#include "weights/weights.hpp"

namespace impasto::bench {
namespace {

struct Args {
  std::string content = "/usr/share/doc/opencv-doc/examples/data/fruits.jpg";
  std::string style = "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg";
  std::string init = "content", device = "cpu";
  int size = 128, levels = 3;
  double budget = 30;
  std::vector<int> coarse = {40, 20};
};

Args parse(int argc, char** argv) {
  CLI::App app{"A single-scale and a pyramid stylization at equal wall time, compared at the final size",
               "bench_pyramid"};
  Args a;
  app.add_option("--content", a.content, "Content image")->capture_default_str();
  app.add_option("--style", a.style, "Style image")->capture_default_str();
  app.add_option("--size", a.size, "Final size (longer side)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--budget", a.budget, "Wall-time budget of each run in seconds")->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--levels", a.levels, "Pyramid levels (>= 2)")->check(CLI::Range(2, 16))->capture_default_str();
  app.add_option("--coarse-iterations", a.coarse, "Iterations of each coarse level, coarsest first")->delimiter(',')
      ->capture_default_str();
  app.add_option("--init", a.init, "content | noise")->check(CLI::IsMember({"content", "noise"}))->capture_default_str();
  app.add_option("--device", a.device, "auto | " + choices(enum_names<Device>()))->capture_default_str();
  parse_or_exit(app, argc, argv);
  IMPASTO_CHECK(int(a.coarse.size()) == a.levels - 1,
                "--coarse-iterations: " << a.coarse.size() << " counts for " << a.levels - 1 << " coarse levels");
  return a;
}

int run(int argc, char** argv) {
  const Args a = parse(argc, argv);
  auto backend = make_backend(parse_device(a.device));
  const Image content = resize_longer_side(read_image(a.content), a.size);
  const Image style = read_image(a.style);

  StylizeOptions base;
  base.size = 0;  // content already at the final size
  base.init = parse_enum<InitKind>(a.init);
  base.time_limit = a.budget;
  const VggWeights weights = random_vgg19_weights(0, layers_needed(base.loss));
  std::printf("bench_pyramid: %s, %dx%d content %s, style %s, init %s, budget %.1f s, weights %s\n",
              backend->name().c_str(), content.w, content.h, a.content.c_str(), a.style.c_str(), a.init.c_str(),
              a.budget, weights.description.c_str());

  struct Row {
    std::string name;
    StylizeResult result;
  };
  std::vector<Row> rows;
  {
    StylizeOptions o = base;
    o.iterations = 1000000;  // until the budget
    Stylizer s(*backend, weights, o);
    rows.push_back({"single scale", s.run(content, {style})});
  }
  {
    StylizeOptions o = base;
    o.pyramid_levels = a.levels;
    o.level_iterations = a.coarse;
    o.level_iterations.push_back(1000000);  // the finest level runs until the budget
    Stylizer s(*backend, weights, o);
    std::ostringstream name;
    name << a.levels << "-level pyramid";
    rows.push_back({name.str(), s.run(content, {style})});
  }

  // One judge for both: the single-scale run's targets at the final size.
  auto upload = [&](const Image& rgb) {
    return backend->from_host(preprocess(rgb, weights.bgr_input), Shape{1, 3, rgb.h, rgb.w});  // (1,3,H,W)
  };
  Vgg19 net(*backend, weights, base.pooling);
  StyleObjective judge(net, base.loss);
  judge.add_style(upload(Stylizer(*backend, weights, base).fit_style(style, content.h, content.w)), 1.0f);
  judge.set_content(upload(content));
  auto final_loss = [&](const Image& rgb) {
    Tensor grad = backend->empty(Shape{1, 3, rgb.h, rgb.w});
    return judge.evaluate(upload(rgb), grad);
  };

  // "final loss" judges the written (clipped to 0..255) image; "run's loss" is the optimizer's last loss on the
  // unclipped image at the final size.
  std::printf("%-18s %8s %10s %14s %14s %14s %14s %14s\n", "run", "seconds", "iterations", "final loss", "content",
              "style", "tv", "run's loss");
  std::vector<double> totals;
  for (const Row& r : rows) {
    const LossTerms t = final_loss(r.result.image);
    totals.push_back(t.total);
    std::printf("%-18s %8.1f %10d %14.6g %14.6g %14.6g %14.6g %14.6g\n", r.name.c_str(), r.result.seconds,
                r.result.optimizer.iterations, t.total, t.content, t.style, t.tv, r.result.last.loss);
    for (std::size_t l = 0; l < r.result.levels.size() && r.result.levels.size() > 1; ++l) {
      const LevelResult& lv = r.result.levels[l];
      std::printf("  level %zu %4dx%-4d %4d iterations, until %.1f s, level loss %.6g -> %.6g\n", l, lv.w, lv.h,
                  lv.optimizer.iterations, lv.last.seconds, lv.first.loss, lv.last.loss);
    }
  }
  std::printf("ratio (pyramid / single scale) of the final-size loss: %.3f\n", totals[1] / totals[0]);
  return 0;
}

}  // namespace
}  // namespace impasto::bench

int main(int argc, char** argv) { return impasto::bench::guarded_main("bench_pyramid", impasto::bench::run, argc, argv); }
