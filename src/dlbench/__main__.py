"""`python -m dlbench` is the `dlbench` command."""

from dlbench.cli import main

main()
