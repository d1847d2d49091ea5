"""``python -m agentroute``: the same command line as the ``agentroute`` script."""

from agentroute.cli import main

if __name__ == "__main__":
    main(prog_name="agentroute")
