"""The catalogue: stable, well-formed, unique codes, every one documented in the README."""

import re
from pathlib import Path

from agent.rules.catalog import all_rules

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_codes_are_well_formed_and_unique():
    codes = [r.code for r in all_rules()]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", code), code


def test_every_rule_has_a_title_and_a_fix():
    for r in all_rules():
        assert r.title.strip() and r.fix.strip(), r.code


def test_every_code_is_in_the_readme_table():
    documented = set(re.findall(r"^\| `([a-z]+\.[a-z_]+)` \|", README, re.M))
    missing = {r.code for r in all_rules()} - documented
    assert not missing, f"README lacks: {sorted(missing)}"


def test_issue_codes_exist():
    required = {"dns.nxdomain", "dns.no_answer", "dns.resolver_unreachable", "dns.hosts_override",
                "dns.split_horizon", "net.no_route", "net.filtered", "net.refused", "proxy.in_path",
                "proxy.unreachable", "proxy.refused_connect", "proxy.auth_required", "net.local_route_shadowed",
                "tls.handshake_failed", "tls.ca_mismatch", "tls.name_mismatch", "tls.expired", "tls.intercepted",
                "http.not_kubernetes", "kubeconfig.invalid", "kubeconfig.exec_plugin_missing"}
    assert required <= {r.code for r in all_rules()}


def test_every_diagnose_option_is_in_the_readme():
    import subprocess
    import sys

    help_text = subprocess.run([sys.executable, "-m", "agent", "diagnose", "--help"], capture_output=True,
                               text=True, timeout=30).stdout
    options = set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help"}
    assert len(options) >= 14
    missing = {o for o in options if f"`{o}" not in README}
    assert not missing, f"README lacks: {sorted(missing)}"


PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def test_every_fix_says_what_to_do_with_placeholders_only_for_values():
    # The catalogue is the fix a reader sees before any run: a template that is all
    # placeholder ("{commands}") hides what the rule advises.
    for r in all_rules():
        words = re.findall(r"[A-Za-z]{2,}", PLACEHOLDER.sub(" ", r.fix))
        assert len(words) >= 4, f"{r.code}: fix {r.fix!r} says nothing without its values"


def test_a_hit_cannot_replace_the_fix():
    from agent.rules.model import Hit

    assert "fix" not in Hit.__dataclass_fields__


def _readme_fixes() -> dict[str, str]:
    rows = re.findall(r"^\| `([a-z]+\.[a-z_]+)` \|[^|\n]*\|[^|\n]*(?:\\\|[^|\n]*)*\|(.*)\|\s*$", README, re.M)
    return {code: cell.strip() for code, cell in rows}


def test_readme_fix_column_names_the_commands_the_rules_give():
    """Each command the README's fix column names (in backticks, starting with az, aws or
    kubelogin) is in that rule's fix template, so the table does not promise another fix."""
    fixes = {r.code: r.fix for r in all_rules()}
    cells = _readme_fixes()
    assert set(cells) >= set(fixes)
    checked = 0
    for code, cell in cells.items():
        for command in re.findall(r"`((?:az|aws|kubelogin) [^`]+)`", cell):
            head = " ".join(command.split()[:3])
            assert head in fixes[code], f"{code}: README fix `{command}` is not in the rule's fix"
            checked += 1
    assert checked >= 8
