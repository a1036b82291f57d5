// tools/warm_engine.cpp — see warm_engine.hpp.
#include "tools/warm_engine.hpp"

#include <algorithm>

#include "engine/backend_factory.hpp"
#include "engine/enum_names.hpp"
#include "engine/error.hpp"
#include "tools/commands.hpp"

namespace impasto::cli {

Backend& WarmEngine::backend(const ObjectiveArgs& a) {
  const Device device = parse_device(a.device);  // "auto" and the device it means share one backend
  auto it = std::find_if(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.device == device; });
  if (it == slots_.end()) {
    // One GPU per rank of an MPI job, chosen by its rank on the machine.
    std::unique_ptr<Backend> b = make_backend(device, ranks().local_rank());
    const Precision native = b->precision();
    slots_.push_back({device, std::move(b), native, "", nullptr});
    it = slots_.end() - 1;
  }
  const Precision wanted = a.precision == "auto" ? it->default_precision : parse_enum<Precision>(a.precision);
  if (it->backend->precision() != wanted) it->backend->set_precision(wanted);
  return *it->backend;
}

WarmEngine::Slot& WarmEngine::slot_of(const Backend& backend) {
  for (Slot& s : slots_)
    if (s.backend.get() == &backend) return s;
  IMPASTO_FAIL("WarmEngine::network: a backend this engine did not make");
}

WarmEngine::Network WarmEngine::network(Backend& backend, const std::string& spec, int layers, PoolMode pool) {
  auto w = weights_.find(spec);
  if (w == weights_.end() || int(w->second.convs.size()) < layers) {
    VggWeights loaded = load_weights_spec(spec, layers);  // a bad spec or file throws here, caching nothing
    w = weights_.insert_or_assign(spec, std::move(loaded)).first;
  }
  Slot& s = slot_of(backend);
  if (!s.net || s.spec != spec || s.net->layer_count() < layers) {
    s.net.reset();  // the old weights leave the device before the new ones arrive
    s.net = std::make_unique<Vgg19>(backend, w->second, pool);
    s.spec = spec;
  }
  s.net->set_pooling(pool);
  return {*s.net, w->second};
}

}  // namespace impasto::cli
