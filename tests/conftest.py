import os

import pytest

_CLEARED = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
            "ALL_PROXY", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "KUBECONFIG",
            "KUBEREACH_HOSTS_FILE", "KUBEREACH_RESOLV_CONF")


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The plain kubectl 1.32 that loopback end-to-end tests are judged against (the lab's
    tests have their own, which also needs the lab). Without it none may pass as if it were."""
    from agent.lab.runner import find_kubectl

    path = find_kubectl()
    if path is None:
        reason = "no plain kubectl 1.32 found (set KUBEREACH_LAB_KUBECTL)"
        if os.environ.get("KUBEREACH_LAB_REQUIRED") == "1":
            pytest.fail(f"KUBEREACH_LAB_REQUIRED=1 but {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch):
    """No test sees the developer's proxies, CA overrides or kubeconfig."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    # Even on an Azure VM, no test may reach the real IMDS: automatic discovery looks here.
    monkeypatch.setenv("KUBEREACH_DMI_DIR", "/nonexistent/kubereach-tests")
    # Test nameservers listen on loopback ports other than 53; Go (and so kubereach) skips a
    # resolv.conf line "nameserver 127.0.0.1:5353", so tests need this seam to name them.
    monkeypatch.setenv("KUBEREACH_TEST_RESOLV_PORTS", "1")


# ---- KUBEREACH_CI=1: a skip fails the run ---------------------------------------------------
# A skipped test is a test that did not run, and a green CI run with skips hides exactly the
# regressions the skipped tests exist to catch. So in CI every skip fails the session, unless
# its reason starts with one of these prefixes, each mapped to why no CI machine can have
# what it names.
#
# Empty on purpose: CI (.ci/run) runs as root on Linux, installs every Debian package the lab
# needs, and its image carries kubectl 1.32, so every skip this suite can produce names
# something CI has. Add an entry only for a privilege or package CI truly cannot be given,
# never to quiet a test whose cause can be fixed.
CI_ALLOWED_SKIPS: dict[str, str] = {}

_skips: list[tuple[str, str]] = []  # (test id, reason) for every skip of this session


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def _record_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):  # an xfail is not a skip
        _skips.append((report.nodeid, _skip_reason(report)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record_skip(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _record_skip(report)  # a module-level skip never reaches runtest


def unallowed_skips() -> list[tuple[str, str]]:
    return [(nodeid, reason) for nodeid, reason in _skips
            if not reason.startswith(tuple(CI_ALLOWED_SKIPS))]


def _ci() -> bool:
    return os.environ.get("KUBEREACH_CI") == "1"


def pytest_sessionfinish(session: pytest.Session) -> None:
    quiet = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)  # all skipped: nothing ran
    if _ci() and unallowed_skips() and session.exitstatus in quiet:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    bad = unallowed_skips() if _ci() else []
    if bad:
        terminalreporter.section("KUBEREACH_CI=1: skips are failures", red=True)
        for nodeid, reason in bad:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}")
        terminalreporter.line("Fix the cause; tests/conftest.py CI_ALLOWED_SKIPS lists the only "
                              "reasons CI may skip for.")
