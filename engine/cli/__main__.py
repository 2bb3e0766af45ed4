"""`python -m engine.cli`: the tamis command."""
from engine.cli import main

main()
