"""`python -m benchmarks.hostile`: the benchmark the package's docstring describes (benchmarks/hostile/cli.py)."""

from benchmarks.hostile.cli import main

if __name__ == "__main__":
    main()
