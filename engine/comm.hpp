// engine/comm.hpp — the processes of one job (DESIGN.md "Beyond one process (MPI)"): the ranks of
// MPI_COMM_WORLD when this build has MPI and the program was started by a launcher (mpirun, srun), else one
// rank. The same binary runs both ways; what crosses between ranks is small (border frames, counters, state).
//
// Every call is collective only where it says so.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace impasto {

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The rank among the ranks on this machine (MPI_Comm_split_type shared): which GPU this rank takes.
  virtual int local_rank() const = 0;
  // "mpi" or "single": for the log.
  virtual std::string kind() const = 0;

  // Sends `bytes` to `peer` under `tag` (0 <= tag <= max_tag()) and returns at once: the message arrives while
  // both go on. Not collective.
  virtual void post(int peer, int tag, std::string bytes) = 0;
  // The message `peer` posted under `tag`, waiting until it arrives. Messages are told apart by (peer, tag),
  // so they may be received in any order. Not collective.
  virtual std::string receive(int peer, int tag) = 0;
  // The largest tag post accepts.
  virtual int max_tag() const = 0;
  // Collective: receives and drops every message posted to this rank that it has not received, and waits until
  // every message it posted has arrived, so that none is left in flight (a run that stopped early, or did not
  // need all it was sent). Returns the seconds spent.
  virtual double settle() = 0;
  // Collective: true on every rank when `mine` is true on any.
  virtual bool any(bool mine) = 0;
  // Collective: rank 0 gets every rank's `mine`, in rank order (others get an empty vector).
  virtual std::vector<std::string> gather(const std::string& mine) = 0;
  // Collective: every rank gets rank 0's `value`.
  virtual std::string broadcast(const std::string& value) = 0;
  // Collective: waits until every rank has called it.
  virtual void barrier() = 0;
  // A counter shared by all ranks (starting at 0), for dynamic work assignment: returns its value and adds 1,
  // atomically across ranks. Not collective.
  virtual std::int64_t next_ticket() = 0;
  // Ends the whole job (every rank) with this exit code after printing `line` on stderr: one rank's failure
  // must not leave the others waiting for it.
  [[noreturn]] virtual void abort(const std::string& line, int code) = 0;
};

// True when this build has MPI.
bool mpi_built();
// The job's ranks: MPI when built with it and a launcher started the process (its environment says so:
// OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK, SLURM_PROCID with SLURM_STEP_NUM_TASKS); one rank otherwise.
// Call once, before anything else reads argv; the returned object finalizes MPI when destroyed.
std::unique_ptr<Comm> make_comm(int* argc, char*** argv);
// One rank, no MPI: what tests and single-process runs use.
std::unique_ptr<Comm> make_single_comm();

}  // namespace impasto
