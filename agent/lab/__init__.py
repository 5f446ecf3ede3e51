"""The kubereach network lab: AKS-shaped networks in Linux network namespaces.

Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN), ``ip`` (iproute2), ``iptables``,
``dnsmasq``, ``unbound`` and ``tinyproxy``. Nothing it builds can reach the machine's real
network: links live only inside the lab's namespaces and the router has no way out.

Topology (every host has a /32 address and one veth to the router namespace ``rtr``; the
router routes every packet, so every path crosses its FORWARD chain)::

    cluster VNet 10.1.0.0/16        hub 10.0.0.0/16           internet
      api   10.1.0.4  API server      mbx  10.0.0.4 TLS-inspecting box    dnsp 198.51.100.53 unbound
      dnsl  10.1.0.53 linked DNS      web  10.0.0.7 block page (403)      inet 198.51.100.10 client
      dnsc  10.1.0.54 custom DNS      prx  10.0.0.8 :3128 407 proxy,      pub  203.0.113.10 API server
      in    10.1.1.10 client                     :8888 tinyproxy (401)
                                    peered VNet 10.2.0.0/16
                                      peer 10.2.1.10 client (zone not linked)

The router rejects internet sources towards private space with ICMP net unreachable (the
internet does not route RFC 1918). Addresses no host holds (10.1.0.5, a stale endpoint;
10.0.0.9, a dead proxy) route to a link named ``unassigned`` where an iptables REJECT
answers ICMP net unreachable at once: the kernel's own no-route answer is rate limited by
the global ``net.ipv4.route.error_cost`` (5 at once, then 1/s), which the lab never
touches. ``lab.remove_route(key)`` gives that real kernel behaviour for one host.
Names (``addresses``): ``PRIVATE_FQDN`` (…privatelink.westeurope.azmk8s.io -> 10.1.0.4 via
the linked resolver only), ``PRIVATE_PUBLIC_FQDN`` (…hcp… -> 10.1.0.4 publicly) and
``PUBLIC_FQDN`` (-> 203.0.113.10). API servers answer 401 + Status without the lab's
bearer token, /version and /readyz with it.

API (``from agent.lab import Lab, addresses as A``)::

    with Lab() as lab:                       # up() ... down(), also atexit; ~0.5 s each way
        lab.ns("in")                         # namespace name, e.g. "kr3f9a-in"
        lab.link("api")                      # router-side interface of api's link ("api")
        lab.run_in("in", argv, env=lab.client_env("in", {"HTTPS_PROXY": ...}))
        lab.exec_argv("in", argv, env)       # the same as an argv, for Popen or timing
        lab.call_in("in", fn)                # run a Python callable with its sockets in "in"
        lab.router_exec(["ip", "route", "show"])
        lab.iptables("api", "-A", "INPUT", ...)          # in any lab namespace
        r = lab.add_rule("-s", A.INSIDE_IP, "-j", "DROP")  # top of router chain KR-FWD
        lab.delete_rule(r); lab.clear_rules()
        lab.drop(src=..., dst=..., port=443)
        lab.reject(dst=A.API_IP, port=443, with_="tcp-reset" | "icmp-host-unreachable" | ...)
        lab.dnat(src=A.INSIDE_IP, dst=A.API_IP, port=443, to=f"{A.MIDDLEBOX_IP}:443")
        lab.remove_route("api"); lab.restore_route("api")   # the kernel's own no-route ICMP
        lab.set_mtu("api", 1280)              # both ends of api's link
        lab.write_client_files("in", nameservers=[...], hosts={fqdn: ip})
        lab.kubeconfig("name", KubeconfigSpec(host=A.PRIVATE_FQDN))  # -> Path
        lab.reset()                           # undo rules, routes, MTUs, client files
        lab.secrets                           # token, proxy password: must never leak

Scenarios (``agent.lab.scenarios.SCENARIOS``) bundle a client, its kubeconfig, resolver,
hosts file, environment and router rules with what kubectl and kubereach should say;
``agent.lab.runner`` runs kubectl and ``kubereach diagnose`` for one. A lab killed with
SIGKILL leaves its namespaces behind: ``python3 -m agent.lab cleanup`` removes labs whose
owner process is gone.
"""

from agent.lab.netns import LabError
from agent.lab.topology import Lab, cleanup_stale

__all__ = ["Lab", "LabError", "cleanup_stale"]
