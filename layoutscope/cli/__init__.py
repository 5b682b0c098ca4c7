"""The ``layoutscope`` command line: the parser, one module per subcommand, and the error policy.

:func:`layoutscope.cli.main.main` is the console entry point (argv, environment, error policy);
:mod:`~layoutscope.cli.parser` builds the parser, the run settings' options made from their
declarations in :class:`~layoutscope.measure.settings.RunSettings`. Subcommands
(:mod:`~layoutscope.cli.commands`) import their heavy modules only when they
run, so ``--help`` starts fast. Nothing else in layoutscope imports this package.
"""
