#!/usr/bin/env bash
# Run a command about as fast as on the 2-core AVX2-only laptop-class CPU the kit is designed for, on this
# 2-core AVX-512 machine: one core, one thread, and no native bf16 (so the kit chooses fp32).
#
# Why not an instruction-set limit alone: ONEDNN_MAX_CPU_ISA=AVX2 stops native bf16 but leaves fp32 matmuls at
# full speed, and MKL_ENABLE_INSTRUCTIONS=AVX2 (or SSE4_2) left torch's fp32 matmul at ~100 GFLOP/s a thread here
# (this AMD CPU's AVX-512 units are 256 bits wide, so AVX2 code is as fast). What the AVX2 machine lacks is speed:
# its 2 threads reached 122 GFLOP/s, this machine's 2 reach ~185, its 1 ~100. On one core, fp32, the stages took
# within 8% of the AVX2 machine's times (pre-training 313 s vs 339, the teacher 357 vs 380, its logits 246 vs 257).
#   benchmarks/avx2.sh python benchmarks/throughput.py --sizes tiny   # check: the fp32 matmul peak is ~100 GFLOP/s
#   benchmarks/avx2.sh make tour
set -euo pipefail
export ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 OMP_NUM_THREADS=1
exec taskset -c 0 "$@"
