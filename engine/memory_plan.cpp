// engine/memory_plan.cpp — memory needs, budgets and the fit check (see memory_plan.hpp).
#include "engine/memory_plan.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <utility>
#include <vector>

#include "engine/error.hpp"

namespace impasto {
namespace {

constexpr double kGiB = double(1ull << 30);
constexpr std::size_t kMarginBytes = std::size_t(256) << 20;
constexpr double kMarginFraction = 0.05;

std::string gib_number(std::size_t bytes) {
  char buf[32];
  const double g = double(bytes) / kGiB;
  std::snprintf(buf, sizeof buf, g >= 10 ? "%.1f" : g >= 0.1 ? "%.2f" : "%.3f", g);
  return buf;
}

// The largest value in [lo, hi] for which ok() holds, given that ok() holds for every value below some
// threshold and for none above it; lo - 1 when ok(lo) is false.
int largest(int lo, int hi, const std::function<bool(int)>& ok) {
  int found = lo - 1;
  while (lo <= hi) {
    const int mid = lo + (hi - lo) / 2;
    if (ok(mid)) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

}  // namespace

std::string format_gib(std::size_t bytes) { return gib_number(bytes) + " GiB"; }

std::string MemoryNeed::str() const {
  std::vector<std::pair<const char*, std::size_t>> parts = {{"network", network},   {"optimizer", optimizer},
                                                             {"workspace", workspace}, {"objective", objective},
                                                             {"images", images},     {"weights", weights},
                                                             {"backend", backend}};
  std::stable_sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::ostringstream s;
  s << format_gib(total()) << " (";
  bool first = true;
  for (const auto& [name, bytes] : parts) {
    if (bytes == 0) continue;
    s << (first ? "" : ", ") << name << " " << gib_number(bytes);
    first = false;
  }
  s << ")";
  return s.str();
}

const MemoryNeed& max_need(const MemoryNeed& a, const MemoryNeed& b) { return b.total() > a.total() ? b : a; }

RunMemory::RunMemory(Vgg19& net, const LossConfig& config) : net_(net), config_(config) {
  for (const auto& t : config.style_layers) style_taps_.push_back(t.tap);
  all_taps_ = style_taps_;
  for (const auto& t : config.content_layers) all_taps_.push_back(t.tap);
}

MemoryNeed RunMemory::phase(const VggPlanBytes& plan) {
  MemoryNeed n;
  n.weights = net_.weight_bytes();
  n.backend = net_.backend().fixed_bytes();
  n.network = plan.buffers;
  n.workspace = plan.workspace;  // each plan trims the workspace to its own (Vgg19::plan)
  return n;
}

void RunMemory::style_phase(ImageSize style, ImageSize out, int earlier_styles, bool masked, std::size_t optimizer,
                            std::size_t images) {
  // One forward-only network plan per strip (style_grams; the whole image's when it goes through at once), with
  // the strips the run's objective makes (limit_style_passes).
  const LossConfig config = limit_style_passes(config_, out.h, out.w);
  for (int rows : StyleObjective::style_pass_rows(config, style.h, style.w)) {
    MemoryNeed n = phase(net_.plan_forward_bytes(rows, style.w, style_taps_));
    n.objective = StyleObjective::add_style_bytes(config, style.h, style.w, earlier_styles, masked,
                                                  net_.backend().activation_dtype());
    n.optimizer = optimizer;
    n.images = images;
    peak_ = max_need(peak_, n);
  }
}

void RunMemory::output_phase(ImageSize out, int styles, int masked_styles, std::size_t extra_objective,
                             std::size_t optimizer, std::size_t images) {
  MemoryNeed n = phase(net_.plan_bytes(out.h, out.w, all_taps_));
  n.objective = StyleObjective::output_bytes(config_, out.h, out.w, styles, masked_styles,
                                             net_.backend().activation_dtype()) +
                extra_objective;
  n.optimizer = optimizer;
  n.images = images;
  peak_ = max_need(peak_, n);
}

std::size_t optimizer_bytes(bool use_adam, const LbfgsParams& lbfgs, Shape shape) {
  return use_adam ? Adam::state_bytes(shape) : Lbfgs::state_bytes(shape, lbfgs);
}

MemoryBudget memory_budget(const Backend& backend, double limit_gib) {
  IMPASTO_CHECK(limit_gib >= 0, "--max-memory must be >= 0 GiB (0: no limit)");
  MemoryBudget budget;
  // What the backend already holds (the weights, uploaded before the check) is part of every need, so it
  // counts as available to the run.
  const MemoryAvailable available = backend.memory_available();
  budget.bytes = available.bytes + backend.bytes_in_use();
  budget.source = available.source + (backend.bytes_in_use() > 0 ? " + what impasto holds" : "");
  const auto limit = std::size_t(limit_gib * kGiB);
  if (limit_gib > 0 && limit < budget.bytes) {
    budget.bytes = limit;
    budget.source = "allowed by --max-memory";
  }
  return budget;
}

bool fits(const MemoryNeed& need, const MemoryBudget& budget) {
  const double with_margin = double(need.total()) * (1.0 + kMarginFraction) + double(kMarginBytes);
  return with_margin <= double(budget.bytes);
}

MemoryNeed check_memory(const NeedFn& need, int size, int history, const MemoryBudget& budget,
                        const std::string& what) {
  const MemoryNeed full = need(size, history);
  if (fits(full, budget)) return full;
  // Sizes too small for the network make need() throw; they are no answer.
  auto fits_at = [&](int s, int m) {
    try {
      return fits(need(s, m), budget);
    } catch (const OutOfMemoryError&) {
      throw;
    } catch (const Error&) {
      return false;
    }
  };
  std::ostringstream m;
  m << "not enough memory for " << what << ": it needs about " << full.str() << " + a margin of "
    << int(kMarginFraction * 100) << " % + " << (kMarginBytes >> 20) << " MiB, and " << format_gib(budget.bytes)
    << " is " << (budget.source.empty() ? "available" : budget.source);
  // The largest size that fits: the need grows with the size, and sizes too small for the network fail, so
  // search from the smallest size the network accepts.
  const int smallest = largest(1, size, [&](int s) {
    try {
      (void)need(s, history);
      return false;  // valid: the first valid size is above the ones that throw
    } catch (const OutOfMemoryError&) {
      throw;
    } catch (const Error&) {
      return true;
    }
  }) + 1;
  const int best_size = smallest < size ? largest(smallest, size - 1, [&](int s) { return fits_at(s, history); }) : 0;
  // Round a suggested size down to a multiple of 8 where that stays above the smallest valid size.
  const int suggested = best_size >= smallest && best_size - best_size % 8 >= smallest ? best_size - best_size % 8 : best_size;
  const int best_history = history > 1 ? largest(1, history - 1, [&](int h) { return fits_at(size, h); }) : 0;
  std::vector<std::string> ways;
  if (suggested >= smallest) ways.push_back("--size " + std::to_string(suggested) + " fits");
  if (best_history >= 1) ways.push_back("--lbfgs-history " + std::to_string(best_history) + " fits at this size");
  if (history > 0 && fits_at(size, 0)) ways.push_back("--optimizer adam fits at this size");
  if (ways.empty()) {
    m << "; nothing smaller fits either (the smallest size, " << smallest << ", needs about "
      << format_gib(need(smallest, history).total()) << ")";
  } else {
    for (std::size_t i = 0; i < ways.size(); ++i) m << (i == 0 ? "; " : ", or ") << ways[i];
  }
  throw OutOfMemoryError(m.str());
}

int history_that_fits(const NeedFn& need, int size, int history, const MemoryBudget& budget) {
  if (history <= kFewestFittedPairs || fits(need(size, history), budget)) return history;
  const int longest = largest(kFewestFittedPairs, history - 1, [&](int h) { return fits(need(size, h), budget); });
  return longest >= kFewestFittedPairs ? longest : history;
}

}  // namespace impasto
