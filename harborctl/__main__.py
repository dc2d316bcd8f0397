"""``python -m harborctl``: the same CLI as the ``harborctl`` console script."""

from harborctl.cli.app import main

if __name__ == "__main__":
    main()
