"""The ``layoutscope`` command line: the parser, one module per subcommand, and the error policy.

:func:`layoutscope.cli.main.main` is the console entry point. Subcommands
(:mod:`~layoutscope.cli.commands`) import their heavy modules only when they
run, so ``--help`` starts fast. Nothing else in layoutscope imports this package.
"""
