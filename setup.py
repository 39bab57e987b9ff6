"""Build the Cython RESP codec.

The extension is optional on purpose: a machine without a C compiler (or without Cython)
still gets a working package, because ``gungnir.resp`` falls back to its pure-Python twin.
Set ``GUNGNIR_NO_EXTENSIONS=1`` to skip the build entirely.
"""

import os
import sys

from setuptools import Extension, setup

ext_modules = []
if os.environ.get("GUNGNIR_NO_EXTENSIONS") != "1" and os.path.exists("gungnir/_resp.pyx"):
    try:
        from Cython.Build import cythonize
    except ImportError:  # pragma: no cover - build without Cython gives the pure twin
        print("gungnir: Cython not available, building the pure-Python codec only", file=sys.stderr)
    else:
        ext_modules = cythonize(
            [
                Extension(
                    "gungnir._resp",
                    ["gungnir/_resp.pyx"],
                    extra_compile_args=["-O3"],
                    optional=True,
                )
            ],
            compiler_directives={
                "language_level": 3,
                "boundscheck": False,
                "wraparound": False,
                "cdivision": True,
                "initializedcheck": False,
                "embedsignature": True,
            },
        )
        # cythonize() rebuilds the Extension objects and drops ``optional``; without it a
        # machine with no working compiler fails the whole install instead of falling back.
        for ext in ext_modules:
            ext.optional = True

setup(ext_modules=ext_modules)
