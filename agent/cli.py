"""The command line: `kubereach diagnose` and `kubereach demo`.

This is the one place errors become exit codes:

    0  kubectl can connect
    1  kubectl cannot connect
    2  bad input or usage (one line on stderr, never a traceback)
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

EXIT_REACHABLE, EXIT_UNREACHABLE, EXIT_USAGE = 0, 1, 2
# Kept here, not read from agent.render, so that --help does not import the renderers.
FORMATS = ("text", "json", "markdown", "junit", "github", "azure-devops")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  pretty_exceptions_show_locals=False, rich_markup_mode=None,
                  help="Explains why kubectl can or cannot reach a Kubernetes API server.")


def _stderr(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def parse_resolver(spec: str):
    from agent.errors import UsageError
    from agent.planner import Resolver
    from probes.dns import split_server

    label, sep, server = spec.partition("=")
    if not sep:
        label, server = spec, spec
    try:
        split_server(server)
    except ValueError:
        raise UsageError(f"--resolver {spec!r}: want [LABEL=]IP[:PORT] with an IP address") from None
    if not label:
        raise UsageError(f"--resolver {spec!r}: the label before '=' is empty")
    return Resolver(label, server)


@app.command()
def diagnose(
    kubeconfig: Annotated[str | None, typer.Option(help="Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).")] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context (default: current-context).")] = None,
    server: Annotated[str | None, typer.Option(help="API server URL; overrides the kubeconfig's.")] = None,
    resolver: Annotated[list[str] | None, typer.Option(help="Extra resolver to compare, [LABEL=]IP[:PORT]; repeatable.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds each probe may take.")] = 5.0,
    deadline: Annotated[float | None, typer.Option(help="Seconds the whole diagnosis may take (default: --timeout).")] = None,
    request_timeout: Annotated[str | None, typer.Option(help="The --request-timeout your kubectl commands use (8s, 1m, bare seconds; default none): the verdict is what kubectl gets with it.")] = None,
    format: Annotated[str, typer.Option("--format", help="text, json, markdown, junit, github or azure-devops.")] = "text",
    output: Annotated[list[str] | None, typer.Option(help="FILE: write the report there instead of stdout. FORMAT=FILE: also write that format there (repeatable).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Progress and probe errors on stderr.")] = False,
    cluster_file: Annotated[str | None, typer.Option("--cluster", help="`az aks show -o json`, an ARM managedCluster, or `aws eks describe-cluster` output.")] = None,
    inventory: Annotated[list[str] | None, typer.Option(help="ARM or az/aws CLI JSON of VNets, peerings, private DNS zones, links, NICs; a file or folder; repeatable.")] = None,
    authorized_range: Annotated[list[str] | None, typer.Option(help="An API server authorized IP range (CIDR); repeatable.")] = None,
    egress_ip: Annotated[str | None, typer.Option(help="The public IP this client's traffic leaves from.")] = None,
    egress_ip_url: Annotated[str | None, typer.Option(help="A what-is-my-IP service you trust (nothing is asked by default).")] = None,
    discover: Annotated[str, typer.Option(help="off; auto (on an Azure VM, read IMDS and ARM when IMDS answers within 0.5 s); or azure (required).")] = "auto",
    check_auth: Annotated[bool, typer.Option("--check-auth", help="Run the credential plugin as kubectl does and present its credential once, over verified TLS; the verdict then needs it accepted.")] = False,
) -> None:
    """Look at the API server the way kubectl would from here, and explain the result."""
    cloud = {"cluster_path": cluster_file, "inventory_paths": inventory or [],
             "authorized_ranges": authorized_range or [], "egress_ip": egress_ip,
             "egress_ip_url": egress_ip_url, "discover": discover}
    code = _diagnose(kubeconfig=kubeconfig, context=context, server=server, resolvers=resolver or [],
                     timeout_s=timeout, deadline_s=deadline, request_timeout=request_timeout,
                     fmt=format, output=output or [],
                     verbose=verbose, cloud=cloud, check_auth=check_auth)
    raise typer.Exit(code)


def _diagnose(*, kubeconfig: str | None, context: str | None, server: str | None, resolvers: list[str],
              timeout_s: float, fmt: str, output: str | list[str] | None, verbose: bool,
              deadline_s: float | None = None, request_timeout: str | None = None,
              cloud: dict | None = None, check_auth: bool = False) -> int:
    from agent import redact
    from agent.errors import UsageError
    from agent.planner import Request
    from agent.planner import diagnose as run
    from agent.render import RENDERERS

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if not 0 < timeout_s <= 300:
        raise UsageError("--timeout must be more than 0 and at most 300 seconds")
    if deadline_s is not None and not 0 < deadline_s <= 600:
        raise UsageError("--deadline must be more than 0 and at most 600 seconds")
    request_timeout_s = None
    if request_timeout is not None:
        from agent.dial import parse_duration

        try:
            request_timeout_s = parse_duration(request_timeout) or None  # 0: no timeout, as kubectl
        except ValueError as exc:
            raise UsageError(f"--request-timeout: {exc}") from None
    stdout_file, extra = parse_outputs([output] if isinstance(output, str) else output or [])
    env = dict(os.environ)
    request = Request(kubeconfig=kubeconfig, context=context, server=server,
                      resolvers=tuple(parse_resolver(r) for r in resolvers),
                      timeout_s=timeout_s, deadline_s=deadline_s, request_timeout_s=request_timeout_s,
                      hosts_path=env.get("KUBEREACH_HOSTS_FILE", "/etc/hosts"),
                      resolv_conf_path=env.get("KUBEREACH_RESOLV_CONF", "/etc/resolv.conf"),
                      cloud=cloud or {}, check_auth=check_auth)
    done = run(request, env=env, log=_stderr if verbose else None)

    def rendered(name: str, colour: bool = False, width: int = 80) -> str:
        return redact.scrub(RENDERERS[name](done.report, colour, width=width), done.secrets)

    # Files first: a pipeline that reads them after a failing step finds them all written.
    for name, path in [*extra, *([(fmt, stdout_file)] if stdout_file else [])]:
        try:
            Path(path).write_text(rendered(name), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write --output {path}: {exc.strerror or exc}") from None
    if not stdout_file:
        on_tty = sys.stdout.isatty()
        colour = fmt == "text" and wants_colour(env, on_tty)
        # COLUMNS (set by shells and CI systems that want a width) counts even off a terminal.
        width = shutil.get_terminal_size((80, 24)).columns if on_tty or "COLUMNS" in env else 80
        sys.stdout.write(rendered(fmt, colour, width))
        sys.stdout.flush()
    return done.report.exit_code


def parse_outputs(values: list[str]) -> tuple[str | None, list[tuple[str, str]]]:
    """``--output`` values: the one plain FILE that replaces stdout (the original meaning),
    and the FORMAT=FILE pairs written besides. A prefix that looks like a format name but
    is none is an error, not a file name: ``./a=b`` writes to a file called ``a=b``."""
    from agent.errors import UsageError

    plain: list[str] = []
    pairs: list[tuple[str, str]] = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z-]*", name):
            plain.append(value)
        elif name not in FORMATS:
            raise UsageError(f"--output {value!r}: {name!r} is not a format; choose one of "
                             f"{', '.join(FORMATS)} (write ./{value} for a file of that name)")
        elif not path:
            raise UsageError(f"--output {value!r}: the file after '=' is empty")
        else:
            pairs.append((name, path))
    if any(not v for v in plain):
        raise UsageError("--output: the file name is empty")
    if len(plain) > 1:
        raise UsageError("--output FILE may be given once (use FORMAT=FILE for more files)")
    paths = [p for _, p in pairs] + plain
    if len(set(paths)) != len(paths):
        raise UsageError("--output: the same file is named twice")
    return (plain[0] if plain else None), pairs


def wants_colour(env: dict[str, str], on_tty: bool) -> bool:
    """NO_COLOR turns colour off; FORCE_COLOR (any non-empty value) on, even in a CI log
    that is no terminal; otherwise colour only on a terminal."""
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    return on_tty


@app.command()
def demo(
    timeout: Annotated[float, typer.Option(help="Seconds each probe may take.")] = 3.0,
) -> None:
    """Build a lab of network namespaces (root, Linux), show diagnoses next to kubectl, tear it down."""
    from agent.errors import UsageError

    try:
        from agent.demo import run_demo
    except ImportError:
        raise UsageError("the demo lab is not part of this installation") from None
    raise typer.Exit(run_demo(out=sys.stdout, timeout_s=timeout))


def _one_line(text: str) -> str:
    """A message quoting user input (a path with a newline, a control character) still
    prints as one line: anything unprintable is shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Interrupted(BaseException):
    """Ctrl-C, raised past typer. typer turns a KeyboardInterrupt into a bare exit code 130
    that comes back like a return value, with nothing printed; a BaseException of our own
    passes through it (and through every ``except Exception``) to main()."""


def _on_sigint(signum: int, frame: object) -> None:
    raise _Interrupted


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    from agent.errors import KubereachError

    # Signal handlers can only be set from the main thread (tests may call main elsewhere).
    installed = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _on_sigint) if installed else None
    try:
        # standalone_mode=False: usage errors reach us, so they print as one line.
        code = app(args=argv, prog_name="kubereach", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt, _Interrupted):
        _stderr("kubereach: interrupted")
        return 130
    except KubereachError as exc:
        _stderr(f"kubereach: error: {_one_line(str(exc))}")
        return EXIT_USAGE
    except Exception as exc:
        # typer vendors click, so its usage errors are matched by shape, not by class.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            _stderr(f"kubereach: error: {_one_line(exc.format_message())}")
            return EXIT_USAGE
        # The last line of defence: never a traceback on a user's screen.
        _stderr(f"kubereach: internal error ({type(exc).__name__}); please report it with --verbose output")
        return EXIT_USAGE
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
    return code if isinstance(code, int) else 0


def entry() -> None:
    sys.exit(main())
