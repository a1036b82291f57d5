#!/usr/bin/env python3
"""perf/test_perf_scripts.py — tests of the scripts that turn a device run into its tables (summarize.py,
kernel_profile.py), on made-up reports: a crash or a wrong ratio there would cost a device session its summary.
Standard library only; ctest runs it as perf.scripts.
"""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_profile  # noqa: E402
import summarize  # noqa: E402


def bench(mode, runs, precision="tf32", **extra):
    r = {"tool": "impasto bench", "mode": mode, "backend": "cuda (test card)", "precision": precision,
         "layout": "NHWC", "weights": "random", "history": 100, "warmup": 5, "iterations": 20,
         "peak_tflops": 494.7, "peak_basis": "test peak", "runs": runs}
    r.update(extra)
    return r


def peer(runs, mode="stylize"):
    return {"tool": "torch peer", "mode": mode, "backend": "test card", "precision": "tf32", "torch": "2.x",
            "cudnn": 91900, "history": 100, "warmup": 5, "iterations": 20, "runs": runs}


class SummarizeTest(unittest.TestCase):
    def test_ratio_phases_and_optimizer_rows(self):
        run = {"width": 1024, "height": 1024, "ms_per_iteration": 4.0, "ms_per_iteration_median": 3.9,
               "tflops_iteration": 100.0,
               "tflops_forward_backward": 150.0, "bytes_planned": 2**30, "ms_per_iteration_synced": 4.2,
               "phase_share": {"forward": 0.3, "losses": 0.1, "backward": 0.5, "tv": 0.01, "optimizer": 0.05,
                               "other": 0.04}}
        opt = {"width": 1024, "height": 1024, "history": 100, "optimizer_ms": 1.0, "ms_per_iteration": 1.2,
               "objective_ms": 0.2}
        peer_opt = dict(opt, optimizer_ms=4.0, ms_per_iteration=4.5, objective_ms=0.5)
        text = summarize.table([
            bench("stylize", [run]),
            peer([{"width": 1024, "height": 1024, "ms_per_iteration": 8.0, "ms_per_iteration_median": 7.0}]),
            bench("optimizer-only", [opt], lbfgs_direction="compact"),
            peer([peer_opt], mode="optimizer-only"),
        ])
        self.assertIn("| tf32 NHWC | 1024x1024 | 4.00 | 8.00 | 0.50 | 0.56 |", text)
        self.assertIn("| 30.0% | 10.0% | 50.0% |", text)
        self.assertIn("| compact | 1024x1024 | 100 | 1.000 | 4.000 | 0.25 |", text)
        # The optimizer-only peer is not taken for the stylization's peer.
        self.assertEqual(text.count("| 8.00 |"), 1)

    def test_conv_layer_table_sums_each_column(self):
        mine = {"width": 64, "height": 64, "layout": "NHWC", "layers": [
            {"name": "conv1_1", "cin": 3, "cout": 64, "width": 64, "height": 64, "forward_ms": 1.0,
             "backward_data_ms": 2.0},
            {"name": "conv1_2", "cin": 64, "cout": 64, "width": 64, "height": 64, "forward_ms": 3.0,
             "backward_data_ms": 4.0}]}
        torch_nhwc = {"width": 64, "height": 64, "layout": "NHWC", "layers": [
            {"name": "conv1_1", "forward_ms": 0.5, "backward_data_ms": 1.5},
            {"name": "conv1_2", "forward_ms": 2.5, "backward_data_ms": 3.5}]}
        text = summarize.table([bench("conv-layers", [mine]),
                                {"tool": "torch conv_layouts", "mode": "conv-layers", "runs": [torch_nhwc]}])
        self.assertIn("| conv1_1 | 3 → 64 at 64x64 | 1.000 | 0.500 | – | 2.000 | 1.500 | – |", text)
        self.assertIn("| all | | **4.000** | **3.000** | – | **6.000** | **5.000** | – |", text)

    def test_compiled_peer_has_its_own_column(self):
        run = {"width": 512, "height": 512, "ms_per_iteration": 2.0, "tflops_iteration": 100.0, "bytes_planned": 2**30}
        eager = peer([{"width": 512, "height": 512, "ms_per_iteration": 8.0}])
        best = dict(peer([{"width": 512, "height": 512, "ms_per_iteration": 5.0}]), compile="reduce-overhead",
                    channels_last=True)
        for order in ([eager, best], [best, eager]):  # neither peer hides the other, whichever comes first
            text = summarize.table([bench("stylize", [run])] + order)
            self.assertIn("| tf32 NHWC | 512x512 | 2.00 | 8.00 | 0.25 | – | 5.00 | 0.40 |", text)
            self.assertIn("peer (torch.compile reduce-overhead, channels-last)", text)
            self.assertIn("peer (eager, NCHW)", text)

    def test_stylize_logs_give_time_history_and_memory(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "end_to_end.jsonl")
            with open(path, "w") as f:
                f.write('{"iteration": 0, "loss": 5.0}\n')
                f.write('{"final": true, "iterations": 500, "lbfgs_history": 56, "timing": {"total": 4.5, '
                        '"start-up": 0.5, "device": 0.25, "weights": 0.25, "set-up": 0.5, "optimization": 3.0, '
                        '"write": 0.125}, "memory": {"estimated_bytes": 1020, "peak_bytes": 1000}}\n')
            text = summarize.table(summarize.load([path]))
        self.assertIn("| end_to_end | 500 | 4.50 | 0.50 | 0.25 | 0.25 | 0.50 | 3.00 | 0.12 | 56 | 0.00 | 1.020 |", text)

    def test_failed_max_size_check_is_reported(self):
        text = summarize.table([bench("max-size-check", [{"width": 3840, "height": 2160, "passed": False,
                                                           "error": "out of memory"}])])
        self.assertIn("max-size check 3840x2160: FAILED: out of memory", text)


CSV_HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size",'
              '"Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"\n')


def csv_row(i, name, unit, value, metric="gpu__time_duration.sum"):
    return (f'"{i}","1","bench","host","{name}","1","7","(128, 1, 1)","(64, 1, 1)","0","9.0",'
            f'"Command line profiler metrics","{metric}","{unit}","{value}"\n')


class KernelProfileTest(unittest.TestCase):
    def write(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
        f.write(text)
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_kinds_units_and_iterations(self):
        path = self.write("==PROF== Connected to process 1\n" + CSV_HEADER +
                          csv_row(0, "sm90_xmma_fprop_implicit_gemm_tf32f32_nhwc_kernel", "usecond", "1,000") +
                          csv_row(1, "sm90_xmma_dgrad_implicit_gemm_tf32f32_nhwc_kernel", "msecond", "2.5") +
                          csv_row(2, "void impasto::kernels::for_each_kernel<impasto::ReluGradSum>(long, "
                                     "impasto::ReluGradSum)", "nsecond", "500000") +
                          csv_row(3, "void at::native::threshold_kernel<float>(float*)", "nsecond", "250000") +
                          csv_row(4, "void impasto::kernels::for_each_kernel<impasto::Axpy>(long, impasto::Axpy)",
                                  "usecond", "250") +
                          csv_row(5, "some_kernel", "byte", "7", metric="dram__bytes_read.sum"))
        launches = kernel_profile.read_launches(path)
        self.assertEqual(len(launches), 5)  # the other metric's row is not a time
        text = kernel_profile.report(launches, iterations=2, top=3)
        self.assertIn("kernel time per iteration: 2.250 ms", text)  # (1 + 2.5 + 0.5 + 0.25 + 0.25) / 2
        self.assertIn("| conv backward-data (cuDNN) | 0.5 | 1.250 | 55.6% |", text)
        self.assertIn("| ReLU | 1 | 0.375 | 16.7% |", text)  # ours and PyTorch's threshold kernel
        self.assertIn("`for_each_kernel<ReluGradSum>`", text)
        self.assertEqual(text.count("| `"), 3)  # --top 3

    def test_cublas_xmma_gemm_is_a_gemm(self):
        # cuBLAS's tensor-core GEMMs are named like cuDNN's kernels (xmma): they must count as GEMMs, not as
        # "cuDNN other".
        kinds = {name: kernel_profile.kind_of(name) for name in (
            "sm90_xmma_gemm_f32f32_tf32f32_f32_nn_n_tilesize128x128x32_warpgroupsize1x1x1_execute_segment_k_off",
            "sm90_xmma_dgrad_implicit_gemm_f32f32_tf32f32_f32_nhwckrsc_nhwc_tilesize128x128x32",
            "engines_precompiled::nchwToNhwcKernel<float, float, float, 0, 1, 0>",
            "void impasto::kernels::gemm_nt_finish_kernel(const float*, int, long, float*)")}
        self.assertEqual(list(kinds.values()), ["GEMM / GEMV (Gram, L-BFGS history)", "conv backward-data (cuDNN)",
                                                "cuDNN other (transposes, FFT, Winograd)",
                                                "GEMM / GEMV (Gram, L-BFGS history)"])

    def test_unknown_unit_stops(self):
        path = self.write(CSV_HEADER + csv_row(0, "k", "furlong", "1"))
        with self.assertRaises(SystemExit):
            kernel_profile.read_launches(path)


if __name__ == "__main__":
    unittest.main()
