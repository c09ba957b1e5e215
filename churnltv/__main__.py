"""`python -m churnltv` is the same as the `churnltv` command."""

from churnltv.cli import main

main()
