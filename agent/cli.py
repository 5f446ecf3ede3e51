"""The command line: `kubereach diagnose`, `demo`, `in-cluster`, `remote` and `compare`.

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
    deadline: Annotated[float | None, typer.Option(help="Seconds the whole diagnosis may take (default: --timeout; twice it with --check-auth, the plugin then the request).")] = None,
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


@app.command("in-cluster")
def in_cluster(
    server: Annotated[list[str] | None, typer.Option(help="[LABEL=]URL of an API server name to diagnose (the cluster's public and private FQDNs); repeatable.")] = None,
    ca_data: Annotated[str | None, typer.Option(help="Base64 PEM CA for the --server targets, as a kubeconfig's certificate-authority-data (default: the service account's ca.crt).")] = None,
    service: Annotated[bool | None, typer.Option("--service/--no-service", help="Also diagnose https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (default: when in a pod).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds each probe may take.")] = 5.0,
    deadline: Annotated[float | None, typer.Option(help="Seconds the whole run may take (default: --timeout); the targets run at once.")] = None,
    format: Annotated[str, typer.Option("--format", help="text, or json: one compact report per line (each well under 512 kB).")] = "text",
    full: Annotated[bool, typer.Option("--full", help="With --format json: every probe fact, not the compact form.")] = False,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 once the reports are printed, whatever the verdicts (for a Job).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Progress and probe errors on stderr.")] = False,
) -> None:
    """From a pod: diagnose the cluster's own API server names and its service address, no kubeconfig."""
    raise typer.Exit(_in_cluster(servers=server or [], ca_data=ca_data, service=service, timeout_s=timeout,
                                 deadline_s=deadline, fmt=format, full=full, exit_zero=exit_zero,
                                 verbose=verbose))


def _in_cluster(*, servers: list[str], ca_data: str | None, service: bool | None, timeout_s: float,
                deadline_s: float | None, fmt: str, full: bool, exit_zero: bool, verbose: bool) -> int:
    import json

    from agent import incluster, redact
    from agent.errors import UsageError
    from agent.render import compact
    from agent.render import text as text_render

    if fmt not in ("text", "json"):
        raise UsageError(f"--format {fmt!r}: choose text or json")
    if not 0 < timeout_s <= 300:
        raise UsageError("--timeout must be more than 0 and at most 300 seconds")
    if deadline_s is not None and not 0 < deadline_s <= 600:
        raise UsageError("--deadline must be more than 0 and at most 600 seconds")
    env = dict(os.environ)
    targets = incluster.plan_targets(servers, ca_data=ca_data, env=env, service=service)
    done = incluster.run(targets, timeout_s=timeout_s, deadline_s=deadline_s, env=env,
                         log=_stderr if verbose else None)
    parts = []
    for d in done:
        if fmt == "text":
            body = text_render.render(d.report, False)
        elif full:
            body = json.dumps(d.report.as_dict(), separators=(",", ":"), default=str) + "\n"
        else:
            body = compact.render(d.report)
        parts.append(redact.scrub(body, d.secrets))
    sys.stdout.write(("\n" if fmt == "text" else "").join(parts))
    sys.stdout.flush()
    if exit_zero:
        return EXIT_REACHABLE
    return EXIT_REACHABLE if all(d.report.exit_code == 0 for d in done) else EXIT_UNREACHABLE


@app.command()
def remote(
    cluster_file: Annotated[str | None, typer.Option("--cluster", help="`az aks show -o json` or `aws eks describe-cluster` output: the API server names.")] = None,
    kubeconfig: Annotated[str | None, typer.Option(help="Kubeconfig to take the server and CA from (with --context).")] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context: its server and CA data go into the Job.")] = None,
    image: Annotated[str, typer.Option(help="The kubereach image; the cluster must be able to pull it.")] = "ghcr.io/kubereach/kubereach:latest",
    namespace: Annotated[str, typer.Option(help="Namespace the Job runs in.")] = "default",
    job_name: Annotated[str | None, typer.Option(help="The Job's name (default: kubereach-<random>).")] = None,
    manifest: Annotated[str | None, typer.Option(help="Write the Job manifest to this file and print only the command to run (default: print the manifest).")] = None,
    resource_group: Annotated[str | None, typer.Option(help="The AKS cluster's resource group (default: from --cluster).")] = None,
    cluster_name: Annotated[str | None, typer.Option(help="The AKS cluster's name (default: from --cluster).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds each probe in the Job may take.")] = 5.0,
    active_deadline: Annotated[int, typer.Option(help="activeDeadlineSeconds of the Job: it is stopped after this.")] = 120,
) -> None:
    """Print a Job that runs `kubereach in-cluster` on a node, and the `az aks command invoke` line that runs it."""
    raise typer.Exit(_remote(cluster_file=cluster_file, kubeconfig=kubeconfig, context=context, image=image,
                             namespace=namespace, job_name=job_name, manifest=manifest,
                             resource_group=resource_group, cluster_name=cluster_name,
                             timeout_s=timeout, active_deadline_s=active_deadline))


def _remote(*, cluster_file: str | None, kubeconfig: str | None, context: str | None, image: str,
            namespace: str, job_name: str | None, manifest: str | None, resource_group: str | None,
            cluster_name: str | None, timeout_s: float, active_deadline_s: int) -> int:
    import shlex

    from agent import remote as r
    from agent.errors import UsageError

    if not 0 < timeout_s <= 60:
        raise UsageError("--timeout must be more than 0 and at most 60 seconds")
    if not 30 <= active_deadline_s <= 600:
        raise UsageError("--active-deadline must be 30 to 600 seconds")
    payload = r.read_sources(cluster_path=cluster_file, kubeconfig=kubeconfig, context=context,
                             env=dict(os.environ))
    name = r.job_name(job_name)
    doc = r.job_manifest(payload, name=name, namespace=namespace, image=image, timeout_s=timeout_s,
                         active_deadline_s=active_deadline_s)
    if image == r.DEFAULT_IMAGE:
        # Nothing is published there yet: a Job from it would fail with ErrImagePull.
        _stderr(f"kubereach: note: {image} is a placeholder; build the image from this repository's "
                "Dockerfile into a registry the cluster pulls from (`az acr build -r REGISTRY -t "
                "kubereach:1 .`) and pass it with --image")
    file_name = Path(manifest).name if manifest else r.MANIFEST_NAME
    script = r.kubectl_script(name=name, namespace=namespace, manifest_file=file_name,
                              wait_s=active_deadline_s + 30)
    argv = r.invoke_argv(payload, script=script, manifest_file=file_name,
                         resource_group=resource_group, cluster_name=cluster_name)
    command = shlex.join(argv) if argv else script
    if argv:
        where = "Run it in the folder that holds the manifest"
    elif payload.provider == "eks":
        where = "EKS has no command invoke: run this where kubectl reaches the cluster (a shell in the VPC)"
    else:
        where = ("No AKS resource group and name (give --cluster, or --resource-group and "
                 "--cluster-name): run this where kubectl reaches the cluster")
    if manifest:
        try:
            Path(manifest).write_text(r.manifest_yaml(doc), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write --manifest {manifest}: {exc.strerror or exc}") from None
        _stderr(f"kubereach: wrote {manifest}. {where}:")
        sys.stdout.write(command + "\n")
    else:
        header = [f"Save as {file_name}. {where}:", command]
        sys.stdout.write(r.manifest_yaml(doc, header))
    sys.stdout.flush()
    return 0


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="A report (--format json), or saved `az aks command invoke` output.")],
    b: Annotated[str, typer.Argument(help="The other report of the same cluster, from another place.")],
    host: Annotated[str | None, typer.Option(help="Which API server name to compare when a file holds several reports.")] = None,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Explain what differs between two reports of one cluster. Exit 0: same verdict; 1: different; 2: bad input."""
    raise typer.Exit(_compare(a, b, host=host, fmt=format))


def _compare(path_a: str, path_b: str, *, host: str | None, fmt: str) -> int:
    from agent import compare as c
    from agent import inputs
    from agent.errors import UsageError

    if fmt not in ("text", "json"):
        raise UsageError(f"--format {fmt!r}: choose text or json")
    sides = []
    for path in (path_a, path_b):
        p = inputs.user_path(path, "report", UsageError)
        sides.append(c.load_reports(inputs.read_text(p, "report", UsageError), inputs.shown(p)))
    one, other = c.choose(sides[0], sides[1], host)
    result = c.compare(one, other, names=("A", "B"))
    sys.stdout.write(c.render_text(result) if fmt == "text" else c.render_json(result))
    sys.stdout.flush()
    return result.exit_code


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
        _stop_plugins()
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
        _stderr(f"kubereach: internal error ({type(exc).__name__}); please report it, with `kubereach diagnose --verbose` output where it came from a diagnosis")
        return EXIT_USAGE
    finally:
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
    return code if isinstance(code, int) else 0


def _stop_plugins() -> None:
    # Only when --check-auth ran one: importing probes.credentials costs nothing then.
    credentials = sys.modules.get("probes.credentials")
    if credentials is not None:
        credentials.stop_running_plugins()


def entry() -> None:
    sys.exit(main())
