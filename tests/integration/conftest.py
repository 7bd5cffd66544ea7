"""Fixtures shared by the integration tests: real `entitled` processes on
127.0.0.1 with fresh data directories, spoken to over HTTPS."""
import os
import pathlib
import subprocess

import pytest

from entitle_testlib import EntitledServer, entitled_bin


@pytest.fixture
def data_dir(tmp_path):
    """A freshly initialised data directory."""
    d = tmp_path / "data"
    subprocess.run([entitled_bin(), "init", "--data", str(d)], check=True,
                   capture_output=True, timeout=60)
    return d


@pytest.fixture
def server(data_dir):
    """A running server on 127.0.0.1 with a free port; stopped afterwards."""
    s = EntitledServer(data_dir)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def admin_token(data_dir):
    return (data_dir / "admin.token").read_text().strip()
