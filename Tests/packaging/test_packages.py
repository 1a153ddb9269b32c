"""The .deb and .rpm from packaging/build-packages: what they hold and declare, and what install, upgrade and removal
do to an operator's machine — the .deb in a clean Debian 12 root (Tests/boot/build-rootfs) booted by nothing but
systemd-nspawn with a private network, the .rpm with rpm --root on a throw-away overlay of the same root.

The packaged binary is $CLOCK_PACKAGE_BIN, else out/clock-agent (packaging/build-release), with the
clock-agent.notices build-release writes next to it. It must run without the Swift toolchain, as it will on an
instance. The packages are built here uncompressed, release 1 and release 2 (for
the upgrade), from that binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "Tests", "boot"))
from nspawn import rootfs_path, run_in_root  # noqa: E402

BUILD = os.path.join(REPO, "packaging", "build-packages")
FILES = ["/usr/bin/clock-agent", "/usr/lib/systemd/system/clock-agent.service", "/usr/share/man/man1/clock-agent.1.gz",
         "/usr/share/bash-completion/completions/clock-agent", "/usr/share/fish/vendor_completions.d/clock-agent.fish",
         "/usr/share/clock-agent/config.example.yaml", "/usr/share/doc/clock-agent/copyright"]


def package_binary() -> str:
    path = os.environ.get("CLOCK_PACKAGE_BIN")
    if path:
        assert os.access(path, os.X_OK), f"CLOCK_PACKAGE_BIN={path} is not an executable"
        return path
    path = os.path.join(REPO, "out", "clock-agent")
    if not os.access(path, os.X_OK):
        pytest.skip("no binary to package: run packaging/build-release (or set CLOCK_PACKAGE_BIN)")
    return path


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("packages")
    binary = package_binary()
    built = {}
    for release in (1, 2):
        proc = subprocess.run([BUILD, "--binary", binary, "--out", str(out), "--release", str(release)],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "CLOCK_PACKAGE_COMPRESSION": "none"})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for path in re.findall(r"build-packages: (\S+)", proc.stdout):
            built[f"{'deb' if path.endswith('.deb') else 'rpm'}{release}"] = path
    assert set(built) == {"deb1", "deb2", "rpm1", "rpm2"}, built
    built["root"] = os.path.join(out, "pkg-root")
    return built


def run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)


def facts(output: str) -> dict[str, str]:
    """`fact key=value` lines printed by the install scripts below."""
    return dict(m.groups() for m in re.finditer(r"^fact (\S+?)=(.*)$", output, re.M))


# -- what the packages hold and declare ---------------------------------------------------------------------------
@pytest.mark.time_limit(400)
def test_deb_declares_dependencies_and_holds_the_files(packages):
    depends = run(["dpkg-deb", "-f", packages["deb1"], "Depends"]).stdout
    assert re.search(r"\blibcurl4\b", depends) and re.search(r"\blibsystemd0\b", depends), depends
    listing = run(["dpkg-deb", "-c", packages["deb1"]]).stdout
    for path in FILES + ["/usr/share/zsh/vendor-completions/_clock-agent"]:
        assert f".{path}\n" in listing, path
    # The operator's configuration is never a file of the package (see packaging/build-packages).
    assert "./etc/clock-agent/config.yaml" not in listing


def test_rpm_declares_dependencies_and_holds_the_files(packages):
    requires = run(["rpm", "-qp", "--requires", packages["rpm1"]]).stdout.split("\n")
    assert "libcurl.so.4()(64bit)" in requires and "libsystemd.so.0()(64bit)" in requires, requires
    assert not [r for r in requires if "swift" in r.lower()], "the Swift runtime must be linked in"
    # Only the soname: Amazon Linux's libcurl need not carry Debian's symbol version (CURL_OPENSSL_4).
    assert {r for r in requires if r.startswith("libcurl")} == {"libcurl.so.4()(64bit)"}, requires
    listing = run(["rpm", "-qpl", packages["rpm1"]]).stdout.split("\n")
    for path in FILES + ["/usr/share/zsh/site-functions/_clock-agent"]:
        assert path in listing, path
    assert "/etc/clock-agent/config.yaml" not in listing


def test_the_licences_of_what_is_linked_in_are_installed(packages):
    """The binary carries the Swift runtime, every SwiftPM dependency, zlib and libyaml; their licences go with it."""
    with open(os.path.join(packages["root"], "usr/share/doc/clock-agent/copyright")) as f:
        text = f.read()
    headings = re.findall(r"^(.+)\n=+\n", text, re.M)
    for component in ("Swift runtime", "swift-crypto ", "swift-argument-parser ", "swift-log ", "swift-metrics ",
                      "swift-prometheus ", "swift-service-lifecycle ", "zlib ", "libyaml "):
        assert any(h.startswith(component) for h in headings), (component, headings)
    assert "Apache License" in text and "Permission is hereby granted" in text  # Apache-2.0 and libyaml's MIT
    assert "Jean-loup Gailly" in text  # zlib's licence names its authors
    assert not any(h.startswith("Yams") for h in headings), "only what the build links"


def test_man_page_renders_without_warnings(packages):
    page = os.path.join(packages["root"], "usr/share/man/man1/clock-agent.1.gz")
    proc = run(["man", "--warnings", "-l", page], env={"MANWIDTH": "100", "LC_ALL": "C.UTF-8", "PATH": os.environ["PATH"]})
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    for heading in ("NAME", "SYNOPSIS", "COMMANDS", "FILES", "ENVIRONMENT", "EXIT STATUS"):
        assert re.search(rf"^{heading}$", proc.stdout, re.M), heading
    for command in ("run", "doctor", "status", "config check", "version"):
        assert re.search(rf"^ {{3}}{command}$", proc.stdout, re.M), command


def test_bash_completion_offers_the_subcommands(packages):
    script = os.path.join(packages["root"], "usr/share/bash-completion/completions/clock-agent")
    proc = run(["bash", "-c", f'source "{script}"; f=$(complete -p clock-agent | sed -E "s/.* -F ([^ ]+) .*/\\1/"); '
                'COMP_WORDS=(clock-agent ""); COMP_CWORD=1; COMP_LINE="clock-agent "; COMP_POINT=12; '
                '"$f" clock-agent "" clock-agent; printf "%s\\n" "${COMPREPLY[@]}"'])
    offered = set(proc.stdout.split())
    assert {"run", "doctor", "status", "config", "version"} <= offered, proc.stdout + proc.stderr


@pytest.mark.time_limit(60)
def test_unit_in_the_package_verifies_silently_with_its_man_page(packages, tmp_path):
    """`systemd-analyze verify` against the package's own tree: ExecStart's binary and the Documentation= man page
    resolve (man is pointed at the package's man directory), and nothing is printed."""
    tree = tmp_path / "root"
    shutil.copytree(packages["root"], tree, symlinks=True)
    shutil.copytree("/usr/lib/systemd/system", tree / "usr/lib/systemd/system", symlinks=True, dirs_exist_ok=True)
    unit = "/usr/lib/systemd/system/clock-agent.service"
    proc = run(["systemd-analyze", "verify", f"--root={tree}", "--man=yes", unit],
               env={**os.environ, "MANPATH": str(tree / "usr/share/man")})
    assert proc.returncode == 0 and not proc.stdout and not proc.stderr, proc.stdout + proc.stderr


# -- install, upgrade, removal --------------------------------------------------------------------------------------
DEB_SCRIPT = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive
cfg=/etc/clock-agent/config.yaml
state=/var/lib/clock-agent
fact() { echo "fact $1=$2"; }
apt-get install -y -q /pkgs/one.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
fact installed "$(dpkg-query -W -f='${Version}' clock-agent)"
fact version "$(clock-agent version | head -1)"
fact config_mode "$(stat -c %a $cfg)"
clock-agent config check >/dev/null && fact config_check ok
cmp -s $cfg /usr/share/clock-agent/config.example.yaml && fact config_is_example yes
echo "# the operator's" >> $cfg
mkdir -p $state && echo "checkpoint" > $state/checkpoint
apt-get install -y -q /pkgs/two.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
fact upgraded "$(dpkg-query -W -f='${Version}' clock-agent)"
fact upgrade_config "$(tail -1 $cfg)"
fact upgrade_state "$(cat $state/checkpoint)"
apt-get remove -y -q clock-agent >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
fact removed_binary "$(test -e /usr/bin/clock-agent && echo present || echo absent)"
fact remove_config "$(tail -1 $cfg)"
fact remove_state "$(cat $state/checkpoint)"
apt-get install -y -q /pkgs/two.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
fact reinstall_config "$(tail -1 $cfg)"
apt-get purge -y -q clock-agent >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
fact purged "$(test -e $cfg || test -e $state && echo left || echo gone)"
# cloud-init writes the configuration before the package is installed: it stays, and nothing prompts.
mkdir -p /etc/clock-agent && printf 'app: {source: "file:///srv/app.py", command: [python3, app.py]}\n' > $cfg
apt-get install -y -q /pkgs/one.deb </dev/null >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
fact preexisting_config "$(cat $cfg)"
"""


@pytest.mark.time_limit(300)
def test_deb_install_upgrade_remove_in_a_clean_debian_root(packages):
    rootfs = rootfs_path()
    if rootfs is None:
        pytest.skip("no Debian root: run Tests/boot/build-rootfs")
    binds = {packages["deb1"]: "/pkgs/one.deb", packages["deb2"]: "/pkgs/two.deb"}
    proc = run_in_root(rootfs, DEB_SCRIPT, binds, timeout=280)
    f = facts(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = run([package_binary(), "--version"]).stdout.strip()
    assert f["installed"] == f"{version}-1" and f["upgraded"] == f"{version}-2"
    assert f["version"] == f"clock-agent {version}", "the binary does not run in a clean Debian root"
    assert (f["config_mode"], f.get("config_check"), f.get("config_is_example")) == ("640", "ok", "yes")
    assert f["upgrade_config"] == f["remove_config"] == f["reinstall_config"] == "# the operator's"
    assert f["upgrade_state"] == f["remove_state"] == "checkpoint"
    assert f["removed_binary"] == "absent"
    assert f["purged"] == "gone"
    assert f["preexisting_config"] == 'app: {source: "file:///srv/app.py", command: [python3, app.py]}'


RPM_SCRIPT = r"""
set -eu
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$WORK/upper,workdir=$WORK/work" "$WORK/root"
r=$WORK/root
cfg=$r/etc/clock-agent/config.yaml
state=$r/var/lib/clock-agent
fact() { echo "fact $1=$2"; }
rpm --root "$r" --initdb
rpm --root "$r" -i --nodeps "$RPM1"
fact installed "$(rpm --root "$r" -q clock-agent)"
fact config_mode "$(stat -c %a "$cfg")"
echo "# the operator's" >> "$cfg"
mkdir -p "$state" && echo checkpoint > "$state/checkpoint"
rpm --root "$r" -U --nodeps "$RPM2"
fact upgraded "$(rpm --root "$r" -q clock-agent)"
fact upgrade_config "$(tail -1 "$cfg")"
rpm --root "$r" -e clock-agent
fact removed_binary "$(test -e "$r/usr/bin/clock-agent" && echo present || echo absent)"
fact remove_config "$(tail -1 "$cfg")"
fact remove_state "$(cat "$state/checkpoint")"
"""


@pytest.mark.time_limit(180)
def test_rpm_install_upgrade_erase_keep_config_and_state(packages, tmp_path):
    rootfs = rootfs_path()
    if rootfs is None:
        pytest.skip("no Debian root to install into: run Tests/boot/build-rootfs")
    for d in ("upper", "work", "root"):
        (tmp_path / d).mkdir()
    # A mount namespace of its own: the overlay disappears with the shell, whatever happens.
    proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", RPM_SCRIPT], timeout=170,
               env={**os.environ, "LOWER": rootfs, "WORK": str(tmp_path), "RPM1": packages["rpm1"],
                    "RPM2": packages["rpm2"]})
    f = facts(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f["installed"].endswith("-1.x86_64") and f["upgraded"].endswith("-2.x86_64")
    assert f["config_mode"] == "640"
    assert f["upgrade_config"] == f["remove_config"] == "# the operator's"
    assert f["remove_state"] == "checkpoint" and f["removed_binary"] == "absent"
