// engine/comm.cpp — see comm.hpp: one rank without MPI, and MPI_COMM_WORLD when built with MPI (IMPASTO_MPI)
// and started by a launcher.
#include "engine/comm.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <list>
#include <set>

#include "engine/error.hpp"

#ifdef IMPASTO_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only: no link to the deprecated C++ bindings
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace impasto {
namespace {

class SingleComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string kind() const override { return "single"; }
  // One rank has no one to trade with: the callers post and receive only between different ranks.
  void post(int, int, std::string) override { IMPASTO_ASSERT(false); }
  std::string receive(int, int) override {
    IMPASTO_ASSERT(false);
    return {};
  }
  int max_tag() const override { return std::numeric_limits<int>::max(); }
  double settle() override { return 0; }
  bool any(bool mine) override { return mine; }
  std::vector<std::string> gather(const std::string& mine) override { return {mine}; }
  std::string broadcast(const std::string& value) override { return value; }
  void barrier() override {}
  std::int64_t next_ticket() override { return ticket_++; }
  [[noreturn]] void abort(const std::string& line, int code) override {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    std::exit(code);
  }

 private:
  std::int64_t ticket_ = 0;
};

#ifdef IMPASTO_HAVE_MPI

#define IMPASTO_MPI_CHECK(call)                                                                    \
  do {                                                                                             \
    const int impasto_mpi_rc_ = (call);                                                            \
    IMPASTO_CHECK(impasto_mpi_rc_ == MPI_SUCCESS, "MPI call failed (" << impasto_mpi_rc_ << "): " #call); \
  } while (0)

class MpiComm final : public Comm {
 public:
  MpiComm(int* argc, char*** argv) {
    int provided = 0;
    IMPASTO_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    IMPASTO_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    IMPASTO_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
    MPI_Comm local;
    IMPASTO_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local));
    IMPASTO_MPI_CHECK(MPI_Comm_rank(local, &local_rank_));
    MPI_Comm_free(&local);
    int* tag_ub = nullptr;
    int has_tag_ub = 0;
    IMPASTO_MPI_CHECK(MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &has_tag_ub));
    max_tag_ = has_tag_ub && tag_ub != nullptr ? *tag_ub : 32767;  // 32767: the least the MPI standard allows
    sent_.resize(std::size_t(size_));
    received_.resize(std::size_t(size_));
    // The ticket counter lives on rank 0; every rank holds a shared lock on it for the whole job.
    const MPI_Aint bytes = rank_ == 0 ? MPI_Aint(sizeof(std::int64_t)) : 0;
    IMPASTO_MPI_CHECK(MPI_Win_allocate(bytes, sizeof(std::int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &counter_, &window_));
    if (rank_ == 0) *counter_ = 0;
    IMPASTO_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    IMPASTO_MPI_CHECK(MPI_Win_lock_all(0, window_));
  }
  ~MpiComm() override {
    MPI_Win_unlock_all(window_);
    MPI_Win_free(&window_);
    MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string kind() const override { return "mpi"; }

  void post(int peer, int tag, std::string bytes) override {
    IMPASTO_CHECK(bytes.size() < std::size_t(1) << 31, "a message of " << bytes.size() << " bytes");
    IMPASTO_CHECK(tag >= 0 && tag <= max_tag_, "message tag " << tag << " is above this MPI's limit " << max_tag_);
    release_arrived();
    Posted& p = posted_.emplace_back();
    p.bytes = std::move(bytes);
    IMPASTO_MPI_CHECK(MPI_Isend(p.bytes.data(), int(p.bytes.size()), MPI_BYTE, peer, tag, MPI_COMM_WORLD, &p.request));
    sent_[std::size_t(peer)].push_back(tag);
  }

  std::string receive(int peer, int tag) override {
    received_[std::size_t(peer)].insert(tag);
    return receive_bytes(peer, tag);
  }

  int max_tag() const override { return max_tag_; }

  double settle() override {
    const auto start = std::chrono::steady_clock::now();
    // Every rank learns which tags the others posted to it: counts, then the tags.
    const std::size_t R = std::size_t(size_);
    std::vector<int> counts(R), theirs(R), send_at(R), recv_at(R);
    std::vector<int> tags;
    for (std::size_t r = 0; r < R; ++r) {
      counts[r] = int(sent_[r].size());
      send_at[r] = int(tags.size());
      tags.insert(tags.end(), sent_[r].begin(), sent_[r].end());
    }
    IMPASTO_MPI_CHECK(MPI_Alltoall(counts.data(), 1, MPI_INT, theirs.data(), 1, MPI_INT, MPI_COMM_WORLD));
    int total = 0;
    for (std::size_t r = 0; r < R; ++r) {
      recv_at[r] = total;
      total += theirs[r];
    }
    std::vector<int> to_me(std::size_t(total) + 1);
    IMPASTO_MPI_CHECK(MPI_Alltoallv(tags.data(), counts.data(), send_at.data(), MPI_INT, to_me.data(), theirs.data(),
                                    recv_at.data(), MPI_INT, MPI_COMM_WORLD));
    for (std::size_t r = 0; r < R; ++r)
      for (int k = 0; k < theirs[r]; ++k) {
        const int tag = to_me[std::size_t(recv_at[r] + k)];
        const auto got = received_[r].find(tag);
        if (got != received_[r].end())
          received_[r].erase(got);
        else
          receive_bytes(int(r), tag);  // dropped: this rank did not need it
      }
    for (Posted& p : posted_) IMPASTO_MPI_CHECK(MPI_Wait(&p.request, MPI_STATUS_IGNORE));
    posted_.clear();
    for (std::size_t r = 0; r < R; ++r) {
      sent_[r].clear();
      received_[r].clear();
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  bool any(bool mine) override {
    int in = mine ? 1 : 0, out = 0;
    IMPASTO_MPI_CHECK(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD));
    return out != 0;
  }

  std::vector<std::string> gather(const std::string& mine) override {
    int n = int(mine.size());
    std::vector<int> counts(static_cast<std::size_t>(size_)), offsets(static_cast<std::size_t>(size_));
    IMPASTO_MPI_CHECK(MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD));
    std::string all;
    if (rank_ == 0) {
      int total = 0;
      for (int r = 0; r < size_; ++r) {
        offsets[std::size_t(r)] = total;
        total += counts[std::size_t(r)];
      }
      all.resize(std::size_t(total));
    }
    IMPASTO_MPI_CHECK(MPI_Gatherv(mine.data(), n, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE, 0,
                                  MPI_COMM_WORLD));
    std::vector<std::string> parts;
    if (rank_ == 0)
      for (int r = 0; r < size_; ++r) parts.push_back(all.substr(std::size_t(offsets[std::size_t(r)]), std::size_t(counts[std::size_t(r)])));
    return parts;
  }

  std::string broadcast(const std::string& value) override {
    int n = int(value.size());
    IMPASTO_MPI_CHECK(MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD));
    std::string out = rank_ == 0 ? value : std::string(std::size_t(n), '\0');
    IMPASTO_MPI_CHECK(MPI_Bcast(out.data(), n, MPI_BYTE, 0, MPI_COMM_WORLD));
    return out;
  }

  void barrier() override { IMPASTO_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }

  std::int64_t next_ticket() override {
    const std::int64_t one = 1;
    std::int64_t value = 0;
    IMPASTO_MPI_CHECK(MPI_Fetch_and_op(&one, &value, MPI_INT64_T, 0, 0, MPI_SUM, window_));
    IMPASTO_MPI_CHECK(MPI_Win_flush(0, window_));
    return value;
  }

  [[noreturn]] void abort(const std::string& line, int code) override {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] honest if it ever did
  }

 private:
  // A message posted and not yet known to have arrived: its bytes stay here until it has.
  struct Posted {
    std::string bytes;
    MPI_Request request = MPI_REQUEST_NULL;
  };

  std::string receive_bytes(int peer, int tag) {
    MPI_Status status;
    IMPASTO_MPI_CHECK(MPI_Probe(peer, tag, MPI_COMM_WORLD, &status));
    int count = 0;
    IMPASTO_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &count));
    std::string bytes(std::size_t(count), '\0');
    IMPASTO_MPI_CHECK(MPI_Recv(bytes.data(), count, MPI_BYTE, peer, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    return bytes;
  }

  // Frees the bytes of the posted messages that have arrived, so that a long run holds only those in flight.
  void release_arrived() {
    for (auto it = posted_.begin(); it != posted_.end();) {
      int done = 0;
      IMPASTO_MPI_CHECK(MPI_Test(&it->request, &done, MPI_STATUS_IGNORE));
      it = done ? posted_.erase(it) : std::next(it);
    }
  }

  int rank_ = 0, size_ = 1, local_rank_ = 0, max_tag_ = 32767;
  std::list<Posted> posted_;                 // a list: MPI holds the bytes' address until the send completes
  std::vector<std::vector<int>> sent_;       // per peer: the tags posted to it since the last settle
  std::vector<std::multiset<int>> received_; // per peer: the tags received from it since the last settle
  MPI_Win window_ = MPI_WIN_NULL;
  std::int64_t* counter_ = nullptr;
};

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v) != nullptr) return true;
  return std::getenv("SLURM_PROCID") != nullptr && std::getenv("SLURM_STEP_NUM_TASKS") != nullptr;
}

#endif  // IMPASTO_HAVE_MPI

}  // namespace

bool mpi_built() {
#ifdef IMPASTO_HAVE_MPI
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Comm> make_single_comm() { return std::make_unique<SingleComm>(); }

std::unique_ptr<Comm> make_comm(int* argc, char*** argv) {
#ifdef IMPASTO_HAVE_MPI
  if (launched_by_mpi()) return std::make_unique<MpiComm>(argc, argv);
#else
  (void)argc;
  (void)argv;
  // Several copies of a build without MPI would each run the whole job into the same folder.
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (size == nullptr) size = std::getenv("PMI_SIZE");
  IMPASTO_CHECK(size == nullptr || std::atoi(size) <= 1,
                "started by an MPI launcher with " << size << " ranks, but this build has no MPI (configure with "
                "-DIMPASTO_MPI=ON and Open MPI installed)");
#endif
  return make_single_comm();
}

}  // namespace impasto
