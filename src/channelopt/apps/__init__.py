"""Entry points: the jobs shared by the CLI and the demo, the CLI itself, and the JIT warm-up."""
