"""Fixtures shared by the integration tests: real `entitled` processes on
127.0.0.1 with fresh data directories, spoken to over HTTPS."""
import os
import pathlib
import subprocess

import pytest

from entitle_testlib import EntitledServer, entitled_bin

SERVER_LOG_LINES = 60


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report ends with the last lines each server it started
    logged: what the server saw is the first thing to read about a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, s in enumerate(EntitledServer.started):
            tail = "\n".join(s.stderr_lines[-SERVER_LOG_LINES:]) or "(nothing logged)"
            report.sections.append((f"entitled #{i + 1} log (last {SERVER_LOG_LINES} lines)", tail))
    if report.when == "teardown":
        EntitledServer.started.clear()


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
