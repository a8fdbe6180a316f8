"""Subcommands of python -m fmnist_core that live in modules of their own (see cli.COMMAND_MODULES)."""
