"""`python -m bastion …` runs the `bastion` command."""

from bastion.cli import main

raise SystemExit(main())
