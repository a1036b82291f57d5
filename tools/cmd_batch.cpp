// tools/cmd_batch.cpp — `impasto batch JOBS.jsonl`: one stylize or texture job per line, a JSON object whose keys
// are the commands' long option names ({"command": "stylize", "content": "a.jpg", "style": ["s.jpg"], "out":
// "o.png", "iterations": 100}). Each job is turned into the command line it stands for and parsed by the very
// options of `impasto stylize`/`texture` (tools/cmd_stylize.cpp), so every option works here without a second
// list. The jobs run in the JSONL file's folder, on one engine kept warm from job to job (tools/warm_engine.hpp);
// under mpirun the ranks take jobs by ticket (a rank that finishes takes the next). A bad job is one line on
// stderr and in the batch log, and the others go on; the batch exits 1 at the end when any job failed.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "engine/error.hpp"
#include "engine/files.hpp"
#include "engine/text.hpp"
#include "tools/commands.hpp"
#include "tools/warm_engine.hpp"

namespace fs = std::filesystem;

namespace impasto::cli {
namespace {

constexpr std::uintmax_t kMaxJobsBytes = 64u << 20;  // a JSONL file of jobs; each line is a few hundred bytes

struct BatchArgs {
  std::string jobs, log;
  bool force = false, quiet = false;
};

// One line of the JSONL file: the command line it stands for, or why it is no job.
struct Job {
  int line = 0;                   // 1-based, counting blank lines
  std::vector<std::string> argv;  // "stylize", "--content=a.jpg", …
  std::string error;              // not a job: the one-line reason
  std::string out;                // its "out", for the log and the check for shared outputs
  bool quiet_given = false;       // its own "quiet" key, which batch --quiet leaves alone
};

// A JSON scalar as the text of a command-line argument: numbers as JSON writes them (integers as integers,
// floats in their shortest round-trip form), strings as they are.
std::string argument_text(const std::string& key, const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  IMPASTO_FAIL("key '" << key << "': " << (v.is_null() ? "null" : v.is_boolean() ? "true/false" : "a nested value")
                       << " is not a value here (a string, a number, or for a list an array of them)");
}

// One line of the file as a job (`commands` holds stylize and texture, for their option names).
Job parse_job(const std::string& text, int line, const CLI::App& commands) {
  Job job;
  job.line = line;
  try {
    IMPASTO_CHECK(json_nesting_depth(text) <= 64, "nested more than 64 levels deep");
    std::string repeated;  // a key given twice in the object: nlohmann would keep one silently
    std::set<std::string> keys;
    const nlohmann::json::parser_callback_t seen = [&](int depth, nlohmann::json::parse_event_t event,
                                                       nlohmann::json& parsed) {
      if (depth == 1 && event == nlohmann::json::parse_event_t::key && !keys.insert(parsed.get<std::string>()).second)
        repeated = parsed.get<std::string>();
      return true;
    };
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text, seen);
    } catch (const nlohmann::json::parse_error& e) {
      const std::string what = e.what();  // "[json.exception.parse_error.101] parse error at …"
      IMPASTO_FAIL("not a JSON object: " << what.substr(what.find(']') + 2));
    }
    IMPASTO_CHECK(j.is_object(), "not a JSON object (a job is {\"command\": \"stylize\", \"content\": …})");
    IMPASTO_CHECK(repeated.empty(), "key '" << repeated << "' given twice");
    IMPASTO_CHECK(j.contains("command"), "no \"command\" key (stylize or texture)");
    const nlohmann::json& command = j["command"];
    const std::string name = command.is_string() ? command.get<std::string>() : command.dump();
    IMPASTO_CHECK(name == "stylize" || name == "texture", "command '" << name << "' is not a batch job (stylize or texture)");
    const CLI::App& sub = *commands.get_subcommand(name);
    job.argv.push_back(name);
    for (const auto& [key, value] : j.items()) {
      if (key == "command") continue;
      add_json_arguments(sub, key, value, job.argv);
      if (key == "out" && value.is_string()) job.out = value.get<std::string>();
      if (key == "quiet") job.quiet_given = true;
    }
  } catch (const Error& e) {
    job.argv.clear();
    job.error = e.what();
  }
  return job;
}

// What the batch does, read and checked on every rank before any work.
struct Plan {
  std::string name;      // the JSONL file as given, for messages ("jobs.jsonl:3: …")
  fs::path folder;       // its folder, absolute: where the jobs run
  std::string log;       // the batch log, absolute
  std::vector<Job> jobs;
};

// Two jobs writing one file would overwrite each other's work (the second with "force", or fail after the
// first's minutes): refused for the whole batch. Their --out and --log, the batch log and JOBS must all differ.
void check_outputs(const Plan& p) {
  std::map<fs::path, std::string> owner{{fs::path(p.log).lexically_normal(), "the batch log"},
                                        {fs::absolute(p.name).lexically_normal(), "the jobs file"}};
  for (const Job& job : p.jobs) {
    if (!job.error.empty()) continue;
    for (const std::string& arg : job.argv)
      for (const char* key : {"--out=", "--log="}) {
        if (arg.rfind(key, 0) != 0) continue;
        const std::string path = arg.substr(std::char_traits<char>::length(key));
        const fs::path normal = (p.folder / path).lexically_normal();
        const std::string mine = "line " + std::to_string(job.line) + "'s " + std::string(key, 5);
        const auto [it, fresh] = owner.emplace(normal, mine);
        IMPASTO_CHECK(fresh, p.name << ":" << job.line << ": '" << path << "' is also " << it->second
                                    << " (each job needs its own output files)");
      }
  }
}

Plan plan_batch(const BatchArgs& b, const CLI::App& commands) {
  Plan p;
  p.name = b.jobs;
  check_input_file(b.jobs, "jobs", kMaxJobsBytes);
  p.folder = fs::absolute(b.jobs).parent_path();
  fs::path log = b.log.empty() ? fs::path(b.jobs).replace_extension(".log.jsonl") : fs::path(b.log);
  p.log = fs::absolute(log).lexically_normal().string();
  std::error_code ec;
  IMPASTO_CHECK(b.force || !fs::exists(fs::symlink_status(p.log, ec)), "log '" << log.string() << "' exists (use --force to overwrite)");
  const fs::path log_dir = fs::path(p.log).parent_path();
  IMPASTO_CHECK(fs::is_directory(log_dir) && ::access(log_dir.c_str(), W_OK) == 0,
                "log '" << log.string() << "': folder '" << log_dir.string() << "' is missing or not writable");
  std::ifstream in(b.jobs, std::ios::binary);
  IMPASTO_CHECK(in.good(), "jobs '" << b.jobs << "': cannot open");
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are no jobs
    p.jobs.push_back(parse_job(text, line, commands));
  }
  IMPASTO_CHECK(!p.jobs.empty(), "jobs '" << b.jobs << "': no jobs (one JSON object per line)");
  check_outputs(p);
  return p;
}

// Before any work: a problem any rank found stops every rank with one line (rank 0's when it has one) and exit 1.
void stop_if_any(Comm& r, const std::string& problem) {
  const std::string first = r.broadcast(problem);
  if (!r.any(!problem.empty())) return;
  if (!first.empty() ? r.rank() == 0 : !problem.empty()) {
    const std::string who = first.empty() ? "rank " + std::to_string(r.rank()) + ": " : "";
    std::fprintf(stderr, "impasto: error: %s%s\n", who.c_str(), (first.empty() ? problem : first).c_str());
  }
  throw Exit{1};
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Runs one job on `engine` through a fresh parse of its command line; returns its line of the batch log.
nlohmann::json run_job(const Plan& p, const Job& job, WarmEngine& engine, const BatchArgs& b, int rank) {
  const auto start = std::chrono::steady_clock::now();
  std::string error = job.error;
  if (error.empty()) {
    try {
      CLI::App app;  // fresh for each job: an App keeps what it parsed
      app.require_subcommand(1);
      add_stylize_command(app, &engine);
      std::vector<std::string> args = job.argv;
      if (b.quiet && !job.quiet_given) args.push_back("--quiet");
      std::reverse(args.begin(), args.end());  // CLI11 takes its arguments last first
      app.parse(args);                         // runs the job
    } catch (const CLI::ParseError& e) {
      error = e.what();
    } catch (const std::bad_alloc&) {
      error = "out of host memory";
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  const double seconds = seconds_since(start);
  nlohmann::json j = {{"line", job.line}, {"rank", rank}, {"seconds", seconds}, {"ok", error.empty()}};
  if (!job.out.empty()) j["out"] = job.out;
  if (!error.empty()) {
    j["error"] = error;
    std::fprintf(stderr, "impasto: error: %s:%d: %s\n", p.name.c_str(), job.line, error.c_str());
  } else if (!b.quiet) {
    std::fprintf(stderr, "impasto: batch: %s:%d: done in %.1f s (rank %d)\n", p.name.c_str(), job.line, seconds, rank);
  }
  return j;
}

void run_batch(const BatchArgs& b) {
  const auto start = std::chrono::steady_clock::now();
  Comm& r = ranks();
  CLI::App commands;  // stylize and texture, for their option names
  add_stylize_command(commands);
  Plan p;
  std::string problem;
  try {
    p = plan_batch(b, commands);
    fs::current_path(p.folder);  // every job runs as if started in the JSONL file's folder
  } catch (const std::exception& e) {
    problem = e.what();
  }
  stop_if_any(r, problem);

  WarmEngine engine;
  nlohmann::json mine = nlohmann::json::array();
  int failed = 0;
  const auto count = std::int64_t(p.jobs.size());
  for (std::int64_t t = r.next_ticket(); t < count; t = r.next_ticket()) {
    mine.push_back(run_job(p, p.jobs[std::size_t(t)], engine, b, r.rank()));
    failed += mine.back()["ok"].get<bool>() ? 0 : 1;
  }

  // Rank 0 writes the log, one line per job in the file's order, whole or not at all.
  const std::vector<std::string> all = r.gather(mine.dump());
  bool bad = failed > 0;
  if (r.rank() == 0) {
    std::vector<nlohmann::json> lines;
    for (const std::string& s : all)
      for (auto& j : nlohmann::json::parse(s)) lines.push_back(std::move(j));
    std::sort(lines.begin(), lines.end(), [](const auto& x, const auto& y) { return x.at("line").template get<int>() < y.at("line").template get<int>(); });
    std::string text;
    int total_failed = 0;
    for (const auto& j : lines) {
      text += j.dump() + "\n";
      total_failed += j["ok"].get<bool>() ? 0 : 1;
    }
    try {
      write_file_atomic(p.log, text, b.force);
    } catch (const Error& e) {
      std::fprintf(stderr, "impasto: error: %s\n", e.what());
      bad = true;
    }
    std::fprintf(stderr, "impasto: batch: %zu jobs, %d failed, in %.1f s\n", lines.size(), total_failed,
                 seconds_since(start));
  }
  if (r.any(bad)) throw Exit{1};  // every rank exits 1 alike when any job (or the log) failed
}

}  // namespace

// The arguments of one key: a flag for true/false, one --key=value per value (an array gives several, as the
// option given several times). "=" keeps a value that starts with '-' a value.
void add_json_arguments(const CLI::App& command, const std::string& key, const nlohmann::json& v,
                   std::vector<std::string>& argv) {
  const std::string name = "--" + key;
  const CLI::Option* opt = command.get_option_no_throw(name);
  IMPASTO_CHECK(opt != nullptr && opt != command.get_help_ptr(),
                "unknown key '" << key << "' (not an option of impasto " << command.get_name() << ")");
  const bool flag = opt->get_expected_max() == 0;  // CLI11 flags take no value after them
  if (flag) {
    IMPASTO_CHECK(v.is_boolean(), "key '" << key << "' is a flag: give true or false");
    argv.push_back(v.get<bool>() ? name : name + "=false");
    return;
  }
  IMPASTO_CHECK(!v.is_boolean(), "key '" << key << "' takes a value, not true/false");
  if (!v.is_array()) {
    argv.push_back(name + "=" + argument_text(key, v));
    return;
  }
  for (const auto& item : v) argv.push_back(name + "=" + argument_text(key, item));
}

void add_batch_command(CLI::App& app) {
  auto b = std::make_shared<BatchArgs>();
  CLI::App* c = app.add_subcommand(
      "batch",
      "Run stylize and texture jobs from a JSONL file, one engine kept warm between them (under mpirun: the ranks take "
      "the jobs in turn)");
  c->footer(
      "Each line of JOBS is one job, a JSON object whose keys are the long option names of impasto stylize or texture "
      "without the dashes: {\"command\": \"stylize\", \"content\": \"a.jpg\", \"style\": [\"s.jpg\"], \"out\": "
      "\"o.png\", \"iterations\": 100, \"style-weight\": 1e4, \"quiet\": true}. Flags take true or false, lists an "
      "array (or one value). Relative paths in a job are relative to the folder of JOBS. A bad job (a line that is "
      "no JSON object, an unknown key, a bad option or input, a failed run) is one line on stderr (JOBS:LINE: the "
      "error) and in the log; the other jobs go on, and the batch exits 1 at the end. Two jobs naming the same --out "
      "or --log stop the batch before any work. The log has one JSON line per job, in the file's order: line, rank, "
      "seconds, ok, out, and error when it failed.");
  c->add_option("JOBS", b->jobs, "The jobs: one JSON object per line (JSONL)")->required();
  c->add_option("--log", b->log, "The batch log (default: JOBS with the extension .log.jsonl), written when the batch ends");
  c->add_flag("--force", b->force, "Overwrite an existing batch log (a job's own outputs follow its \"force\" key)");
  c->add_flag("--quiet", b->quiet, "Every job without its own \"quiet\" key runs with --quiet; only errors and the closing line");
  c->callback([b] { run_batch(*b); });
}

}  // namespace impasto::cli
