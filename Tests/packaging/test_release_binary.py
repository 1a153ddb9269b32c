"""The release binary (packaging/build-release): Swift runtime linked in, stripped, and loadable on Amazon Linux 2023
(glibc 2.34, libstdc++ of GCC 11) as well as Debian 12 and Ubuntu 22.04+.

The binary is $CLOCK_AGENT_RELEASE_BIN, else out/clock-agent. scripts/test builds it and sets the variable, so there
the test fails rather than skips when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Amazon Linux 2023: glibc 2.34; libstdc++ of GCC 11 (GLIBCXX_3.4.29, CXXABI_1.3.13).
NEWEST = {"GLIBC": (2, 34), "GLIBCXX": (3, 4, 29), "CXXABI": (1, 3, 13)}
ALLOWED_LIBRARIES = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libstdc++.so.6", "libgcc_s.so.1",
                     "libcurl.so.4", "libsystemd.so.0"}


def release_binary() -> str:
    path = os.environ.get("CLOCK_AGENT_RELEASE_BIN")
    if path:
        assert os.access(path, os.X_OK), f"CLOCK_AGENT_RELEASE_BIN={path} is not an executable"
        return path
    path = os.path.join(REPO, "out", "clock-agent")
    if not os.access(path, os.X_OK):
        pytest.skip("no release binary: run packaging/build-release (or set CLOCK_AGENT_RELEASE_BIN)")
    return path


def version_references(path: str) -> dict[str, set[str]]:
    """Library -> the symbol versions the file needs from it (readelf's .gnu.version_r)."""
    out = subprocess.run(["readelf", "-V", "-W", path], check=True, capture_output=True, text=True, timeout=60).stdout
    needs: dict[str, set[str]] = {}
    section = out.split("Version needs section", 1)
    current = None
    for line in (section[1] if len(section) > 1 else "").splitlines():
        if m := re.search(r"File: (\S+)", line):
            current = needs.setdefault(m.group(1), set())
        elif (m := re.search(r"Name: (\S+)", line)) and current is not None:
            current.add(m.group(1))
    return needs


def too_new(needs: dict[str, set[str]]) -> list[str]:
    bad = []
    for library, versions in needs.items():
        for version in versions:
            m = re.fullmatch(r"(GLIBC|GLIBCXX|CXXABI)_([0-9.]+)", version)
            if m and tuple(int(p) for p in m.group(2).split(".")) > NEWEST[m.group(1)]:
                bad.append(f"{library}: {version}")
    return sorted(bad)


def needed_libraries(path: str) -> set[str]:
    out = subprocess.run(["readelf", "-d", "-W", path], check=True, capture_output=True, text=True, timeout=60).stdout
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


def test_no_symbol_needs_a_newer_glibc_or_libstdcxx_than_al2023():
    needs = version_references(release_binary())
    assert any(v.startswith("GLIBC_") for vs in needs.values() for v in vs), f"no glibc versions read: {needs}"
    assert too_new(needs) == []


def test_the_check_catches_a_newer_symbol(tmp_path):
    """hypot binds to GLIBC_2.35 when linked here without packaging/release/compat-symbols.c: the check sees it."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    (tmp_path / "h.c").write_text("#include <math.h>\n#include <stdio.h>\n"
                                  "int main(int c, char **v) { (void)v; printf(\"%f\\n\", hypot(c, 2.0)); return 0; }\n")
    subprocess.run([cc, "-O0", "-fno-builtin", "-o", str(tmp_path / "h"), str(tmp_path / "h.c"), "-lm"], check=True,
                   timeout=60)
    glibc = subprocess.run(["ldd", "--version"], capture_output=True, text=True).stdout.split("\n", 1)[0]
    if not re.search(r"2\.(3[5-9]|[4-9]\d)\b", glibc):
        pytest.skip(f"this machine's glibc is older than 2.35: {glibc}")
    assert too_new(version_references(str(tmp_path / "h"))) == ["libm.so.6: GLIBC_2.35"]


def test_only_system_libraries_are_needed():
    """The Swift runtime, FoundationEssentials, zlib and libyaml are linked in: nothing from the toolchain is needed at
    run time."""
    libraries = needed_libraries(release_binary())
    assert "libcurl.so.4" in libraries and "libsystemd.so.0" in libraries
    assert libraries <= ALLOWED_LIBRARIES, sorted(libraries - ALLOWED_LIBRARIES)


def test_exports_no_symbols_of_its_own_and_links_no_icu():
    """The dynamic symbol table holds what the binary imports, not the ~13,000 symbols of its own modules that the
    static Swift runtime's --export-dynamic would add (each one a cost to every symbol lookup at start-up and resident
    pages). Foundation and ICU, ≈ 40 MB of code and data, are not linked in (FoundationEssentials is enough)."""
    path = release_binary()
    out = subprocess.run(["readelf", "--dyn-syms", "-W", path], check=True, capture_output=True, text=True).stdout
    defined = [line.split()[-1] for line in out.splitlines()
               if re.match(r"\s*\d+:", line) and line.split()[6] != "UND"]
    assert len(defined) < 50, defined[:20]
    strings = subprocess.run(["strings", "-n", "12", path], check=True, capture_output=True, text=True).stdout
    assert "icudt" not in strings and "10Foundation" not in strings


def test_stripped_and_runs_without_the_toolchain(tmp_path):
    path = release_binary()
    sections = subprocess.run(["readelf", "-S", "-W", path], check=True, capture_output=True, text=True).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections, "the release binary is not stripped"
    assert ".gnu_debuglink" in sections
    proc = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LD_LIBRARY_PATH": ""})
    assert proc.returncode == 0 and proc.stdout.startswith("clock-agent "), proc.stdout + proc.stderr
