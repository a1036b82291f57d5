// tools/warm_engine.hpp — what one process keeps from one stylize or texture run to the next, so that
// `impasto batch` pays the start-up once: a backend per device (CUDA: its context, library handles,
// convolution plans cached per shape and precision, the grown workspace), each --weights spec's weights read
// once, and a network with them uploaded. `impasto stylize` makes one for its single run, so both take the
// same path. Nothing in it changes a run's result: each run sets the precision and pooling it asks for, and
// the network's buffers are laid out anew for every image size as in a single run.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/vgg19.hpp"
#include "tools/options.hpp"
#include "weights/weights.hpp"

namespace impasto::cli {

class WarmEngine {
 public:
  // The backend of a.device (made on first use, on this rank's GPU), set to a.precision: the backend's own
  // default for "auto", so that an earlier run's --precision does not carry over.
  Backend& backend(const ObjectiveArgs& a);

  // A network on `backend` holding at least `layers` convolutions of the weights of `spec` ("random[:SEED]" or
  // a file). The weights are read once per spec (again only when a run needs deeper layers than were read).
  // One network per backend is uploaded at a time, the last spec's, so what the backend holds is what this run
  // uses and the memory check (which counts held memory as the run's) stays exact.
  struct Network {
    Vgg19& net;
    const VggWeights& weights;  // its description and channel order
  };
  Network network(Backend& backend, const std::string& spec, int layers, PoolMode pool);

 private:
  struct Slot {
    Device device;
    std::unique_ptr<Backend> backend;
    Precision default_precision;
    std::string spec;  // the weights `net` holds
    std::unique_ptr<Vgg19> net;
  };
  Slot& slot_of(const Backend& backend);

  std::vector<Slot> slots_;
  std::map<std::string, VggWeights> weights_;  // by --weights spec
};

}  // namespace impasto::cli
