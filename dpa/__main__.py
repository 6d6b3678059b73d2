"""``python -m dpa``: the same command line as the ``dpa`` script."""

from dpa.cli import main

if __name__ == "__main__":
    main()
