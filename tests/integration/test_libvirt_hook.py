"""examples/libvirt/qemu, the libvirt hook, driven the way libvirtd drives it
(`qemu DOMAIN OPERATION SUB_OPERATION -`, domain XML on stdin, an empty
environment but for the settings file) against a real server, with a fake
sysfs for the mediated devices."""
import json
import os
import pathlib
import subprocess

import pytest

from client_helpers import ClientEnv, entitlement, lease_bin, state_file

SOURCE_DIR = pathlib.Path(os.environ.get("ENTITLE_SOURCE_DIR",
                                         pathlib.Path(__file__).resolve().parents[2]))
HOOK = SOURCE_DIR / "examples" / "libvirt" / "qemu"
SAMPLES = SOURCE_DIR / "examples" / "libvirt" / "samples"
TWO_VGPUS = (SAMPLES / "vm-two-vgpus.xml").read_text()
NO_VGPU = (SAMPLES / "vm-no-vgpu.xml").read_text()

MDEV_META = "9e1a6c3e-8a7b-4f7e-bb7e-0d5c2a1f4b21"   # GPU and profile from the XML metadata
MDEV_SYSFS = "c2177883-f1bb-47f0-914d-32a22e3a8804"  # GPU and profile from sysfs
GPU_META = "GPU-5a3c1e2b-0000-4000-8000-000000000001"
GPU_SYSFS = "GPU-5a3c1e2b-0000-4000-8000-000000000002"


@pytest.fixture
def env(tmp_path, data_dir):
    e = ClientEnv(tmp_path, data_dir).start()
    yield e
    e.stop()


def fake_sysfs(root: pathlib.Path):
    """/sys/bus/mdev/devices/<uuid> -> the mdev under its parent GPU 0000:41:00.0."""
    gpu = root / "devices" / "pci0000:40" / "0000:40:01.1" / "0000:41:00.0"
    mdev_type = gpu / "mdev_supported_types" / "nvidia-558"
    mdev_type.mkdir(parents=True)
    (mdev_type / "name").write_text("GRID A16-2Q\n")
    mdev = gpu / MDEV_SYSFS
    mdev.mkdir()
    (mdev / "mdev_type").symlink_to(mdev_type)
    bus = root / "bus" / "mdev" / "devices"
    bus.mkdir(parents=True)
    (bus / MDEV_SYSFS).symlink_to(mdev)


@pytest.fixture
def hook(env, tmp_path):
    config = env.host_config()
    sysfs = tmp_path / "sys"
    fake_sysfs(sysfs)
    gpu_map = tmp_path / "gpus"
    gpu_map.write_text(f"# PCI address  GPU UUID\n0000:41:00.0 {GPU_SYSFS}\n")
    conf = tmp_path / "libvirt-hook.conf"
    conf.write_text("\n".join([
        "# as an operator would write /etc/entitle/libvirt-hook.conf",
        f"ENTITLE_LEASE={lease_bin()}",
        f"ENTITLE_LEASE_CONFIG={config}",
        f"ENTITLE_LEASE_STATE_DIR={state_file(config).parent}",
        f"ENTITLE_HOOK_SYSFS={sysfs}",
        f"ENTITLE_HOOK_GPU_MAP={gpu_map}",
        ""]))

    def run(domain_xml, operation, sub_operation, name="render-01"):
        return subprocess.run([str(HOOK), name, operation, sub_operation, "-"], input=domain_xml,
                              capture_output=True, text=True, timeout=300,
                              env={"PATH": "/usr/bin:/bin", "ENTITLE_HOOK_CONF": str(conf)})
    run.config = config
    return run


def leases_by_vgpu(env, config):
    return {l["vgpu"]["id"]: l for l in env.host_leases(config)}


def test_prepare_checks_out_a_lease_per_vgpu_and_release_gives_them_back(env, hook):
    env.import_license([entitlement("seats", count=4)], jti="lic-h")
    proc = hook(TWO_VGPUS, "prepare", "begin")
    assert proc.returncode == 0, proc.stderr
    held = leases_by_vgpu(env, hook.config)
    assert set(held) == {MDEV_META, MDEV_SYSFS}
    assert held[MDEV_META]["gpu"]["uuid"] == GPU_META
    assert held[MDEV_META]["vgpu"]["profile"] == "GRID A16-4Q"
    assert held[MDEV_SYSFS]["gpu"]["uuid"] == GPU_SYSFS
    assert held[MDEV_SYSFS]["vgpu"]["profile"] == "GRID A16-2Q"
    assert env.in_use("lic-h/seats") == 2
    # The whole-PCI hostdev took nothing; the leases are in the state directory.
    local = json.loads(state_file(hook.config).read_text())["leases"]
    assert {l["vgpu_id"] for l in local} == {MDEV_META, MDEV_SYSFS}

    # libvirt may run prepare again (a failed start retried): no second seat.
    assert hook(TWO_VGPUS, "prepare", "begin").returncode == 0
    assert env.in_use("lic-h/seats") == 2

    proc = hook(TWO_VGPUS, "release", "end")
    assert proc.returncode == 0, proc.stderr
    assert env.in_use("lic-h/seats") == 0
    assert json.loads(state_file(hook.config).read_text())["leases"] == []


def test_a_domain_without_vgpus_needs_no_lease(env, hook):
    before = len(env.audit())
    for op, sub in [("prepare", "begin"), ("release", "end")]:
        proc = hook(NO_VGPU, op, sub, name="web-01")
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert len(env.audit()) == before
    assert not state_file(hook.config).parent.exists()  # entitle-lease never ran


def test_a_refused_checkout_stops_the_vm_and_returns_the_seats_taken(env, hook):
    env.import_license([entitlement("seats", count=1)], jti="lic-one")
    proc = hook(TWO_VGPUS, "prepare", "begin")
    assert proc.returncode != 0
    assert "oversubscribed" in proc.stderr and "the VM is not started" in proc.stderr
    # The first vGPU's lease was released again: nothing is held, nothing leaks.
    assert env.in_use("lic-one/seats") == 0
    assert json.loads(state_file(hook.config).read_text())["leases"] == []


def test_operations_other_than_prepare_and_release_are_ignored(env, hook):
    for op, sub in [("start", "begin"), ("started", "begin"), ("stopped", "end"),
                    ("migrate", "begin"), ("release", "begin"), ("prepare", "end")]:
        proc = hook("not even XML", op, sub)
        assert proc.returncode == 0 and proc.stderr == "", (op, sub, proc.stderr)


def test_unknown_mdev_or_broken_xml_refuses_to_start(env, hook):
    xml = NO_VGPU.replace("<devices>", "<devices><hostdev mode='subsystem' type='mdev'><source>"
                                       "<address uuid='00000000-0000-0000-0000-00000000dead'/>"
                                       "</source></hostdev>")
    proc = hook(xml, "prepare", "begin", name="web-01")
    assert proc.returncode == 1 and "no such device" in proc.stderr
    proc = hook("<domain>", "prepare", "begin")
    assert proc.returncode == 1


def test_release_while_the_server_is_down_is_finished_by_reconcile(env, hook):
    env.import_license([entitlement("seats", count=4)], jti="lic-down")
    assert hook(TWO_VGPUS, "prepare", "begin").returncode == 0
    env.stop()
    proc = hook(TWO_VGPUS, "release", "end")
    assert proc.returncode == 0  # release end cannot fail the VM's shutdown
    assert "released later" in proc.stderr
    local = json.loads(state_file(hook.config).read_text())["leases"]
    assert all(l["releasing"] for l in local) and len(local) == 2
    env.start_again()
    proc = env.lease(hook.config, "reconcile", "--none")
    assert proc.returncode == 0, proc.stderr
    assert env.in_use("lic-down/seats") == 0
