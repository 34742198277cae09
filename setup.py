"""Build of the one native part: ``extender._fastreply`` (the extender's per-name loop in C).

Everything else is in pyproject.toml. The extension is optional: where no C compiler is
available the install still succeeds and ``extender.fastreply`` serves from its pure-Python
backend (same answers, slower; ``temper_extender_native_backend`` says which is in use)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("extender._fastreply", ["extender/_fastreply.c"], optional=True,
                             extra_compile_args=["-Wall", "-Wextra"])])
