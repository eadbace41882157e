"""The name bench/bench_gpu_throughput.py had before: BENCHMARKS.md and earlier notes tell
GPU machines to run `python -m bench.gpu_throughput`, which runs it still."""

from bench.bench_gpu_throughput import main

if __name__ == "__main__":
    main()
