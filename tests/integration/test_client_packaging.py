"""libentitle as a user gets it: `cmake --install` into a temporary prefix,
then a C program compiled as C through pkg-config and a C++17 program
through find_package(Entitle), both run against a real server. Also checks
the shared library's ABI surface: SONAME and only entitle_* symbols."""
import glob
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from client_helpers import FEATURE, ClientEnv, entitlement
from entitle_testlib import bin_dir

SOURCE_DIR = pathlib.Path(os.environ.get("ENTITLE_SOURCE_DIR",
                                         pathlib.Path(__file__).resolve().parents[2]))
PACKAGING = SOURCE_DIR / "tests" / "packaging"


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=kwargs.pop("timeout", 300),
                          **kwargs)
    assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    """The build tree's install, into a fresh prefix."""
    dest = tmp_path_factory.mktemp("prefix")
    run(["cmake", "--install", str(bin_dir().parent), "--prefix", str(dest)])
    return dest


@pytest.fixture
def env(tmp_path, data_dir):
    e = ClientEnv(tmp_path, data_dir).start()
    yield e
    e.stop()


def sanitizer_flags(prefix) -> list:
    """A library built with ENTITLE_SANITIZE needs its programs built the same
    way (the ASan runtime must come first)."""
    [so] = glob.glob(str(libdir(prefix) / "libentitle.so.*.*.*"))
    needed = run(["readelf", "-d", so]).stdout
    return ["-fsanitize=address,undefined"] if "libasan" in needed else []


def libdir(prefix) -> pathlib.Path:
    [pc] = glob.glob(str(prefix / "**" / "pkgconfig" / "entitle.pc"), recursive=True)
    return pathlib.Path(pc).parent.parent


def test_install_lays_out_headers_library_pkgconfig_and_cmake_package(prefix):
    lib = libdir(prefix)
    for rel in ["include/entitle/entitle.h", "include/entitle/entitle.hpp", "bin/entitle-lease"]:
        assert (prefix / rel).is_file(), rel
    assert (lib / "libentitle.so.0.1.0").is_file()
    assert os.readlink(lib / "libentitle.so.0") == "libentitle.so.0.1.0"
    assert os.readlink(lib / "libentitle.so") == "libentitle.so.0"
    assert (lib / "cmake" / "Entitle" / "EntitleConfig.cmake").is_file()
    assert (lib / "cmake" / "Entitle" / "EntitleConfigVersion.cmake").is_file()
    # The installed CLI finds the installed library by its RUNPATH alone.
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    out = run([str(prefix / "bin" / "entitle-lease"), "--version"], env=env).stdout
    assert out.strip() == "entitle-lease 0.1.0"


def test_the_library_exports_only_the_c_abi_under_its_soname(prefix):
    so = libdir(prefix) / "libentitle.so.0.1.0"
    dynamic = run(["readelf", "-d", str(so)]).stdout
    assert "Library soname: [libentitle.so.0]" in dynamic
    symbols = run(["nm", "-D", "--defined-only", str(so)]).stdout.split("\n")
    names = sorted({line.split()[-1].split("@")[0] for line in symbols if line.strip()})
    assert names and all(n == "ENTITLE_0" or n.startswith("entitle_") for n in names), names
    # Every function the header declares is exported, and nothing else.
    header = (prefix / "include" / "entitle" / "entitle.h").read_text()
    declared = sorted(set(re.findall(r"ENTITLE_API [^(]*?\b(entitle_\w+)\(", header)))
    assert [n for n in names if n != "ENTITLE_0"] == declared


def test_a_c_program_built_with_pkg_config_checks_out_renews_and_releases(prefix, env, tmp_path):
    env.import_license([entitlement("seats", count=1)], jti="lic-c")
    config = env.host_config()
    pc_env = {**os.environ, "PKG_CONFIG_PATH": str(libdir(prefix) / "pkgconfig")}
    flags = run(["pkg-config", "--cflags", "--libs", "entitle"], env=pc_env).stdout.split()
    # The .pc finds the prefix from its own place: the install-time prefix is right.
    assert [os.path.realpath(f[2:]) for f in flags if f.startswith("-L")] == [
        os.path.realpath(libdir(prefix))]
    exe = tmp_path / "consumer_c"
    cc = shutil.which("cc") or "gcc"
    run([cc, "-x", "c", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic",
         *sanitizer_flags(prefix), str(PACKAGING / "consumer.c"), *flags,
         f"-Wl,-rpath,{libdir(prefix)}", "-o", str(exe)])
    out = run([str(exe), str(config), FEATURE, "GPU-0", "vgpu-c"]).stdout.strip()
    assert out.startswith("l_")
    events = [(e["kind"], e["subject"]) for e in env.audit()
              if e["kind"] in ("lease_granted", "lease_released")]
    assert events == [("lease_granted", out), ("lease_released", out)]
    assert env.in_use("lic-c/seats") == 0


def test_a_cpp_program_built_with_find_package_checks_out_renews_and_releases(prefix, env,
                                                                               tmp_path):
    env.import_license([entitlement("seats", count=1)], jti="lic-cpp")
    config = env.host_config()
    build = tmp_path / "consumer-build"
    run(["cmake", "-S", str(PACKAGING), "-B", str(build), f"-DCMAKE_PREFIX_PATH={prefix}",
         "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS=" + " ".join(sanitizer_flags(prefix))])
    run(["cmake", "--build", str(build)])
    out = run([str(build / "consumer_cpp"), str(config), FEATURE, "GPU-0", "vgpu-cpp"]).stdout
    lease = out.strip()
    assert lease.startswith("l_")
    events = [(e["kind"], e["subject"]) for e in env.audit()
              if e["kind"] in ("lease_granted", "lease_released")]
    assert events == [("lease_granted", lease), ("lease_released", lease)]
    assert env.in_use("lic-cpp/seats") == 0
