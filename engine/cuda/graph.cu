// engine/cuda/graph.cu — recorded device work on the CUDA backend (Backend::record / replay): the work is captured
// from the backend's stream into a CUDA graph (stream capture, thread-local mode: a synchronization, allocation or
// pageable copy inside it makes the capture fail instead of happening), instantiated once, and launched in place
// of the work: one launch instead of ~110 kernel launches and library calls per evaluation, with no host code
// between them.
//
// A capture that fails — the work synchronized, allocated, or a library refused to be captured — leaves nothing
// run on the device: the queued values are rewound and the work runs again eagerly, and one line on stderr says
// why (once per backend). The caller then keeps running that work eagerly.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/cuda/cuda_backend_impl.hpp"

namespace impasto {
namespace {

// An instantiated graph and the deferred values its work queued: slots [first_slot, first_slot + scales.size()).
class CudaRecording final : public Backend::Recording {
 public:
  CudaRecording(cudaGraphExec_t exec, int first_slot, std::vector<double> scales, std::uint64_t workspace)
      : exec_(exec), first_slot_(first_slot), scales_(std::move(scales)), workspace_(workspace) {}
  ~CudaRecording() override { IMPASTO_CUDA_LOG(cudaGraphExecDestroy(exec_)); }
  CudaRecording(const CudaRecording&) = delete;
  CudaRecording& operator=(const CudaRecording&) = delete;

  cudaGraphExec_t exec() const { return exec_; }
  int first_slot() const { return first_slot_; }
  const std::vector<double>& scales() const { return scales_; }
  std::uint64_t workspace() const { return workspace_; }

 private:
  cudaGraphExec_t exec_;
  int first_slot_;
  std::vector<double> scales_;
  std::uint64_t workspace_;  // the workspace generation the graph's pointers belong to
};

// Ends the capture on every path (the stream must leave capture mode even when the work threw) and returns the
// graph, or nullptr with the reason in *why.
cudaGraph_t end_capture(cudaStream_t stream, std::string* why) {
  cudaGraph_t graph = nullptr;
  const cudaError_t e = cudaStreamEndCapture(stream, &graph);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    if (why->empty()) *why = std::string(cudaGetErrorName(e)) + " at the end of the capture";
    if (graph) IMPASTO_CUDA_LOG(cudaGraphDestroy(graph));
    return nullptr;
  }
  return graph;
}

}  // namespace

std::unique_ptr<Backend::Recording> CudaBackend::record(const std::function<void()>& work) {
  if (!graphs_) return Backend::record(work);
  const int first = deferred_count();
  IMPASTO_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  std::string why;
  try {
    work();
  } catch (const std::exception& e) {  // inside a capture, most likely the capture's own refusal
    why = e.what();
  }
  cudaGraph_t graph = end_capture(stream_, &why);
  if (graph && !why.empty()) {  // the work threw without invalidating the capture: the graph holds part of it
    IMPASTO_CUDA_LOG(cudaGraphDestroy(graph));
    graph = nullptr;
  }
  cudaGraphExec_t exec = nullptr;
  if (graph) {
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    IMPASTO_CUDA_LOG(cudaGraphDestroy(graph));
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      why = std::string(cudaGetErrorName(e)) + " instantiating the graph";
      exec = nullptr;
    }
  }
  if (exec == nullptr) {
    if (deferring()) rewind_deferred(first);
    work();  // nothing of the capture ran: the real run (a real failure throws from here, unannounced)
    if (!graph_failure_said_)
      std::fprintf(stderr, "impasto: CUDA graphs off for this work: its capture failed (%s); it runs eagerly\n",
                   why.c_str());
    graph_failure_said_ = true;
    return nullptr;
  }
  auto recording = std::make_unique<CudaRecording>(
      exec, first, std::vector<double>(deferred_scale_ + first, deferred_scale_ + deferred_count()),
      workspace_generation_);
  IMPASTO_CUDA_CHECK(cudaGraphLaunch(exec, stream_));  // the capture ran nothing: this is the work's first run
  return recording;
}

void CudaBackend::replay(const Recording& recording) {
  const auto& r = dynamic_cast<const CudaRecording&>(recording);
  IMPASTO_ASSERT(r.scales().empty() || (deferring() && deferred_count() == r.first_slot()));
  IMPASTO_ASSERT(r.workspace() == workspace_generation_);  // callers key recordings on workspace_generation()
  for (const double scale : r.scales()) deferred_scale_[next_deferred_slot()] = scale;
  IMPASTO_CUDA_CHECK(cudaGraphLaunch(r.exec(), stream_));
}

}  // namespace impasto
