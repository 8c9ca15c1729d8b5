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
# It is optimistic all the same: a real 2-core AVX2-only EPYC took 1.26x its tour (23.3 min against 18.5) and 1.4x its
# `make test` (10.2 against 7.3 min), with the same accuracies; so it ends by stating the real machine's expected time.
set -euo pipefail
export ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 OMP_NUM_THREADS=1
started=$(date +%s)
status=0
taskset -c 0 "$@" || status=$?
took=$(( $(date +%s) - started ))
echo "avx2.sh: $took s here (one core, fp32); on the real 2-core AVX2 laptop expect about $(( took * 126 / 100 )) s" \
  "for a tour or a training run, $(( took * 140 / 100 )) s for a test suite (factors 1.26 and 1.4, measured;" \
  "docs/performance.md)" >&2
exit $status
