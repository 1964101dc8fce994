"""Build the fleet package with pip, offline, against a libfleet that is
already built or installed (Debian: python3-pip, python3-setuptools,
python3-wheel, python3-venv, swig, python3-dev):

    # into a virtual environment that sees Debian's setuptools and wheel,
    # against an installed libfleet (found with pkg-config libfleet; set
    # PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a private prefix)
    python3 -m venv --system-site-packages venv
    venv/bin/python -m pip install --no-build-isolation ./bindings/python

    # or into a directory of your choice
    python3 -m pip install --no-build-isolation --target DIR ./bindings/python

    # against a CMake build tree of this checkout
    FLEET_BUILD_DIR=$PWD/build python3 -m pip install --no-build-isolation ./bindings/python

SWIG (4.0 or later) generates the wrapper from ../swig/fleet.i, as the CMake
build does; the extension records the library directory as its run path, so
the module finds libfleet.so without LD_LIBRARY_PATH. Everything setuptools
writes goes below the system's temporary directory, not into the checkout.
"""

import atexit
import os
import re
import shlex
import shutil
import subprocess
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
INTERFACE = os.path.join(ROOT, "bindings", "swig", "fleet.i")


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\(libfleet\s+VERSION\s+([0-9.]+)", f.read())
    if not m:
        raise SystemExit("setup.py: no project version in %s/CMakeLists.txt" % ROOT)
    return m.group(1)


def libfleet():
    """(include dirs, library dirs) of libfleet: FLEET_BUILD_DIR or pkg-config."""
    build = os.environ.get("FLEET_BUILD_DIR")
    if build:
        build = os.path.abspath(build)
        if not os.path.exists(os.path.join(build, "include", "fleet", "version.h")):
            raise SystemExit("setup.py: %s is not a configured libfleet build tree" % build)
        return [os.path.join(ROOT, "include"), os.path.join(build, "include")], \
            [os.path.join(build, "libfleet")]
    pkg_config = os.environ.get("PKG_CONFIG", "pkg-config")
    try:
        cflags = subprocess.check_output([pkg_config, "--cflags-only-I", "libfleet"], text=True)
        libs = subprocess.check_output([pkg_config, "--libs-only-L", "libfleet"], text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit("setup.py: libfleet not found (%s). Install libfleet, set "
                         "PKG_CONFIG_PATH, or set FLEET_BUILD_DIR to a build tree." % exc)
    includes = [os.path.normpath(f[2:]) for f in shlex.split(cflags) if f.startswith("-I")]
    libdirs = [os.path.normpath(f[2:]) for f in shlex.split(libs) if f.startswith("-L")]
    if not libdirs:
        libdirs = [subprocess.check_output([pkg_config, "--variable=libdir", "libfleet"],
                                           text=True).strip()]
    if not includes:
        includes = [subprocess.check_output([pkg_config, "--variable=includedir", "libfleet"],
                                            text=True).strip()]
    return includes, libdirs


class SwigBuildExt(build_ext):
    """Generate the SWIG wrapper (C) and its proxy module (fleet/_swig.py)
    before compiling."""

    def run(self):
        swig = os.environ.get("SWIG", shutil.which("swig4.0") or shutil.which("swig") or "swig")
        includes, _ = libfleet()
        os.makedirs(self.build_temp, exist_ok=True)
        wrapper = os.path.join(self.build_temp, "fleet_wrap.c")
        cmd = [swig, "-python", "-threads", "-doxygen", "-I" + os.path.join(HERE)]
        cmd += ["-I" + d for d in includes]
        cmd += ["-outdir", self.build_temp, "-o", wrapper, INTERFACE]
        subprocess.check_call(cmd)
        proxy_dir = os.path.join(HERE if self.inplace else self.build_lib, "fleet")
        os.makedirs(proxy_dir, exist_ok=True)
        shutil.copyfile(os.path.join(self.build_temp, "fleet.py"),
                        os.path.join(proxy_dir, "_swig.py"))
        for ext in self.extensions:
            ext.sources = [wrapper]
        super().run()


includes, libdirs = libfleet()
scratch = tempfile.mkdtemp(prefix="fleet-setup-")
atexit.register(shutil.rmtree, scratch, True)

setup(
    version=project_version(),
    ext_modules=[Extension(
        "fleet._fleet",
        # Replaced by the generated wrapper (SwigBuildExt); setuptools wants
        # a relative path here.
        sources=["fleet_python.i"],
        include_dirs=includes,
        library_dirs=libdirs,
        runtime_library_dirs=libdirs,
        libraries=["fleet"],
        define_macros=[("_GNU_SOURCE", None)],
    )],
    cmdclass={"build_ext": SwigBuildExt},
    options={"build": {"build_base": os.path.join(scratch, "build")},
             "egg_info": {"egg_base": scratch}},
)
