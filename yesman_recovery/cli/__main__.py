"""``python -m yesman_recovery.cli``: the same as the ``yesman-recovery`` command."""

from yesman_recovery.cli import main

main(prog_name="yesman-recovery")
