"""Speed, memory and quality measurements: `python -m benchmarks.NAME` prints a table.
Latest figures and the machine they ran on: benchmarks/RESULTS.md. Not run by the test command."""
