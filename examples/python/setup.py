"""Builds the wheel: the `feishu_task` package with libfeishu_task inside it.

The static metadata is in pyproject.toml; here is what has to be computed:

- the version, read from the crate's Cargo.toml (one source of truth);
- the library: setuptools-rust builds the crate as a plain cdylib (``Binding.NoBinding``:
  no Python API, ctypes loads it) and puts it into the package as ``libfeishu_task.so``,
  cargo's own name for it, which the loader looks for first;
- the wheel's tag: ``py3-none-<platform>``, since the library never links Python and one
  wheel serves every Python 3 the package supports;
- where the build writes: setuptools' build and egg-info directories go to a temporary
  directory, removed at exit, and cargo's output to ``<crate>/target/python`` (or to
  ``$CARGO_TARGET_DIR``): nothing is written into the source tree.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools_rust import Binding, RustExtension
from setuptools_rust.build import build_rust

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent.parent
CARGO_TOML = CRATE / "Cargo.toml"

#: The library's file name in the package: cargo's name for a cdylib on this platform.
if sys.platform == "darwin":
    LIBRARY = "libfeishu_task.dylib"
elif sys.platform == "win32":
    LIBRARY = "feishu_task.dll"
else:
    LIBRARY = "libfeishu_task.so"


def crate_version(cargo_toml: Path) -> str:
    """The ``version`` of Cargo.toml's ``[package]`` table."""
    try:
        text = cargo_toml.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SystemExit(
            f"feishu_task: the Rust crate is not at {cargo_toml}: build this package from the "
            "libfeishu_task repository (pip install examples/python), not from a copy of "
            "examples/python alone"
        ) from None
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # Python 3.9 and 3.10: the one line we need
        section = None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("["):
                section = line
            elif section == "[package]":
                match = re.fullmatch(r'version\s*=\s*"([^"]+)"', line)
                if match:
                    return match.group(1)
        raise SystemExit(f"feishu_task: no [package] version in {cargo_toml}") from None
    return str(tomllib.loads(text)["package"]["version"])


class build_rust_named(build_rust):
    """setuptools-rust names a NoBinding library like an extension module
    (``libfeishu_task.cpython-311-x86_64-linux-gnu.so``); it is not one, and serves every
    Python: it keeps cargo's name."""

    def get_dylib_ext_path(self, ext: RustExtension, target_fname: str) -> str:
        path = super().get_dylib_ext_path(ext, target_fname)
        return os.path.join(os.path.dirname(path), LIBRARY)


class bdist_wheel_py3(bdist_wheel):
    """A platform wheel for any Python 3: ``py3-none-<platform>``."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


# setuptools' build/ and *.egg-info would land next to this file: a temporary directory
# instead, per build process (so no stale file from an earlier build reaches the wheel).
BUILD_DIR = tempfile.mkdtemp(prefix="feishu_task-build-")
atexit.register(shutil.rmtree, BUILD_DIR, ignore_errors=True)

# cargo's output: the crate's target/ (ignored by git), in a directory of its own so that
# this release build of the cdylib alone and the developers' `cargo build --release` do
# not overwrite each other's library. Incremental from one pip build to the next.
os.environ.setdefault("CARGO_TARGET_DIR", str(CRATE / "target" / "python"))

setup(
    version=crate_version(CARGO_TOML),
    rust_extensions=[
        RustExtension(
            "feishu_task.libfeishu_task",
            path=str(CARGO_TOML),
            binding=Binding.NoBinding,
            # Cargo.lock as committed: the versions the crate is tested with.
            cargo_manifest_args=["--locked"],
        )
    ],
    cmdclass={"build_rust": build_rust_named, "bdist_wheel": bdist_wheel_py3},
    options={
        "build": {"build_base": os.path.join(BUILD_DIR, "build")},
        "egg_info": {"egg_base": BUILD_DIR},
    },
    zip_safe=False,
)
