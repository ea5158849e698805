"""nats-server configurations and JetStream stream layouts of a MEAD federation (pure text).

Topology (verified layouts of ``docs/operations.md`` and the project's NATS notes):

* **Partner P** runs its own nats-server, JetStream domain ``P``, with two accounts.
  ``LOCAL`` holds all national traffic (the node's user ``node``). ``RELEASE`` holds only
  what ``LOCAL`` exports — the subjects the partner's policy releases, ``tracks.<recipient>``
  — and is the only account linked to the hub, by a leafnode remote bound on the hub to
  ``PARTNER_P``. The remote denies the hub's calls into P's JetStream API (stream admin,
  consumer deletion, account/meta/server), so the hub cannot purge or create P's streams.
  It also exports ``status.<C>`` (its health Status, core NATS) when it releases to C.
  Streams in ``RELEASE``: ``OUTBOX`` (captures released tracks) and ``ALERTS_IN`` (sourced
  from the hub's ``P_ALERTS``); in ``LOCAL``: ``NATIONAL`` (the national record of tracks).
* **Hub** (the coordinator C) runs one account per partner, ``PARTNER_P``, plus ``HUB``
  (the coordinator's user ``coord``). ``HUB`` exports ``alerts.P`` to ``PARTNER_P`` only and
  imports each partner's ``tracks.C`` with ``prefix: from.P`` (an origin stamp the sender
  cannot forge). Streams in ``PARTNER_P``: ``P_INBOX`` (sourced from P's ``OUTBOX``) and
  ``P_ALERTS`` (captures ``alerts.P`` imported from HUB); in ``HUB``: ``ALERTS_OUT``.
* **The fused picture** ``picture.P`` follows the same per-partner binding as the alerts,
  without a stream: HUB exports it to ``PARTNER_P`` only, which the leaf link carries to
  P's ``RELEASE``, which exports it to ``LOCAL``. A picture is latest-value data, replaced
  whole every assessment cycle, so it travels as core NATS: a partner that was cut off
  needs only the next picture (at most one cycle away), not the stale ones it missed,
  and a stream would only store and replay what is already superseded. A partner's
  accounts import no other partner's ``picture.*`` or ``alerts.*``, so no subscription of
  theirs can match one.
* **Engagement advice** ``advice.P`` (the coordinator's current advice for P's own fire
  units) follows the picture's binding exactly, as core NATS: it is latest-value data too.
  P's **engagement statuses** ``engage.C`` go the other way, always exported (they are
  P's answers to the coordinator, not tracks its release policy governs): ``LOCAL`` →
  ``RELEASE`` → leaf → ``PARTNER_P``, which exports them to ``HUB``, imported there with
  ``prefix: from.P`` like the tracks, so the origin is stamped by the hub.

**Authentication.** With ``tls`` (a site's :class:`~mead.federation.pki.TlsFiles`), every
listener of the site — clients and the hub's leafnode port — speaks TLS only and requires
a client certificate from the federation CA, and the certificate's subject is the user
(``verify_and_map``): ``CN=<user>.<site>`` for account users (:func:`site_users`),
``CN=<P>`` for partner P's leaf link, bound on the hub to ``PARTNER_P``. No password
exists then. Without ``tls``, passwords are derived from one deployment secret with
:func:`secret`, so every site can render its own file; the hub learns only the leaf
password of each partner (development and tests on loopback only).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mead.federation.identity import check_pseudonym
from mead.federation.pki import TlsFiles, subject_dn

DENIED_JS_API = ("STREAM.>", "ACCOUNT.>", "CONSUMER.DELETE.>", "META.>", "SERVER.>")
"""JetStream API subjects (after ``$JS.<domain>.API.``) the other side of a leaf may not call."""


def secret(deploy_key: bytes, label: str) -> str:
    """A 32-hex-digit password for ``label`` (e.g. ``"P1/leaf"``) from the deployment key."""
    if len(deploy_key) < 16:
        raise ValueError(f"deployment key must be at least 16 bytes (got {len(deploy_key)})")
    return hmac.new(deploy_key, label.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Federation:
    """Who is in the federation and what each partner releases.

    Parameters
    ----------
    coordinator
        The coordinator's pseudonym (also the hub's JetStream domain).
    partners
        Partner pseudonym → the recipients its policy releases to (``tracks.<r>``).
    deploy_key
        Secret the passwords are derived from (see :func:`secret`).
    """

    coordinator: str
    partners: Mapping[str, Sequence[str]]
    deploy_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_pseudonym(self.coordinator)
        for p in self.partners:
            check_pseudonym(p)
            if p == self.coordinator:
                raise ValueError(f"partner {p!r} has the coordinator's name")
        secret(self.deploy_key, "check")

    def pw(self, label: str) -> str:
        """The password of ``label`` (``"<P>/node"``, ``"<P>/js"``, ``"<P>/leaf"``, …)."""
        return secret(self.deploy_key, label)

    def status(self, partner: str) -> list[str]:
        """``status.<coordinator>`` if ``partner`` releases to the coordinator (its health
        Status travels with what it releases), else nothing."""
        c = self.coordinator
        return [f"status.{c}"] if c in self.partners[partner] else []

    def released(self, partner: str) -> list[str]:
        """The subjects ``partner`` releases: ``tracks.<r>`` for its policy's recipients."""
        return [f"tracks.{r}" for r in sorted(set(self.partners[partner]))]


def site_users(fed: Federation, site: str) -> dict[str, str]:
    """Account → the user a node process connects as, on ``site``'s server.

    Partner: ``LOCAL`` → ``node``, ``RELEASE`` → ``node_js``; hub: ``HUB`` → ``coord``,
    ``PARTNER_<P>`` → ``ops_<P>`` (the coordinator reads P's inbox there) and the system
    account ``SYS`` → ``admin`` (the hub's operator: disconnects a partner that left).
    """
    if site == fed.coordinator:
        users = {"HUB": "coord", **{f"PARTNER_{p}": f"ops_{p}" for p in fed.partners}}
        return {**users, "SYS": "admin"}
    if site not in fed.partners:
        known = ", ".join([fed.coordinator, *sorted(fed.partners)])
        raise ValueError(f"{site!r} is neither the coordinator nor a partner (known: {known})")
    return {"LOCAL": "node", "RELEASE": "node_js"}


def cert_name(site: str, user: str) -> str:
    """The certificate common name of ``user`` on ``site``'s server (``node.P1``)."""
    return f"{user}.{site}"


def _user(fed: Federation, site: str, user: str, label: str, tls: TlsFiles | None) -> str:
    """One ``users`` entry: the certificate subject under mTLS, else user + password."""
    if tls is not None:
        return f'{{ user: "{subject_dn(cert_name(site, user))}" }}'
    return f'{{ user: {user}, password: "{fed.pw(label)}" }}'


def _leaf_user(fed: Federation, partner: str, tls: TlsFiles | None) -> str:
    """The hub's user for ``partner``'s leaf link: its certificate subject ``CN=<P>`` under
    mTLS, else ``leaf_<P>`` with its password; accepted on leafnode connections only."""
    who = (
        f'user: "{subject_dn(partner)}"'
        if tls is not None
        else f'user: leaf_{partner}, password: "{fed.pw(partner + "/leaf")}"'
    )
    return f"{{ {who}, allowed_connection_types: [LEAFNODE] }}"


def _tls_block(tls: TlsFiles, indent: str, verify: str | None) -> list[str]:
    """A ``tls`` block presenting the site's certificate. ``verify``: how the peer's
    certificate is required — ``verify_and_map`` (a client's, its subject is the user),
    ``verify`` (another hub server's on a route) — or None (this side is the client)."""
    out = [
        f"{indent}tls {{",
        f'{indent}  cert_file: "{tls.cert_file}"',
        f'{indent}  key_file: "{tls.key_file}"',
        f'{indent}  ca_file: "{tls.ca_file}"',
    ]
    if verify is not None:
        out += [f"{indent}  {verify}: true", f"{indent}  timeout: 2"]
    return [*out, f"{indent}}}"]


@dataclass(frozen=True)
class HubCluster:
    """One server of a hub run as a cluster of nats-servers (three, for JetStream to keep
    a quorum when one is lost): the hub's streams and the lease bucket are replicated on
    all of them, and a standby coordinator can work through its own server.

    Parameters
    ----------
    server
        This server's name, unique in the cluster (:func:`hub_server_name`: ``C0-2``); the
        JetStream domain stays the coordinator's pseudonym, shared by the cluster.
    listen
        ``host:port`` of this server's route listener (the other hub servers connect here).
    routes
        ``host:port`` of every hub server's route listener (its own may be listed too).
    """

    server: str
    listen: str
    routes: Sequence[str]


def hub_server_name(coordinator: str, i: int) -> str:
    """The name of server ``i`` (from 0) of a hub cluster: ``<coordinator>-<i + 1>``."""
    return f"{coordinator}-{i + 1}"


def _header(
    name: str,
    listen: str,
    store_dir: str,
    ports_dir: str | None,
    tls: TlsFiles | None,
    server: str | None = None,
) -> list[str]:
    out = [f"server_name: {server or name}", f'listen: "{listen}"']
    if ports_dir is not None:
        out.append(f'ports_file_dir: "{ports_dir}"')
    out.append(f'jetstream {{ store_dir: "{store_dir}", domain: {name} }}')
    if tls is not None:
        out += _tls_block(tls, "", "verify_and_map")
    return out


def _cluster_block(name: str, cluster: HubCluster, tls: TlsFiles | None) -> list[str]:
    """The hub's ``cluster`` block: routes to the other hub servers (mTLS with the hub's
    own certificate when ``tls``: every hub server presents it and requires it)."""
    routes = ", ".join(f'"nats-route://{r}"' for r in cluster.routes)
    out = ["cluster {", f"  name: {name}", f'  listen: "{cluster.listen}"']
    out.append(f"  routes: [{routes}]")
    if tls is not None:
        out += _tls_block(tls, "  ", "verify")
    return [*out, "}"]


def partner_conf(
    fed: Federation,
    partner: str,
    *,
    hub_leaf: str | Sequence[str],
    store_dir: str,
    listen: str = "127.0.0.1:-1",
    ports_dir: str | None = None,
    ignore_discovered: bool = False,
    tls: TlsFiles | None = None,
) -> str:
    """The nats-server config of ``partner``'s sovereign node.

    Parameters
    ----------
    hub_leaf
        ``host:port`` of the hub's leafnode listener (or the WAN relay in front of it);
        with a hub cluster, one per hub server: the leaf link fails over between them.
    store_dir
        JetStream file store directory.
    ignore_discovered
        Never follow leafnode URLs the hub gossips (keep to ``hub_leaf``, e.g. a relay or
        the WAN address); needs nats-server >= 2.14.
    tls
        The site's CA bundle, certificate (``CN=<partner>``) and key: mTLS on the client
        listener and the leaf link instead of passwords.
    """
    check_pseudonym(partner)
    released = fed.released(partner) + fed.status(partner)
    outward = [*released, f"engage.{fed.coordinator}"]  # engagement statuses, to the coordinator
    exports = "\n".join(f'      {{ stream: "{s}" }}' for s in outward)
    imp_rel = "\n".join(
        f'      {{ stream: {{ account: LOCAL, subject: "{s}" }} }}' for s in outward
    )
    deny = ", ".join(f'"$JS.{partner}.API.{d}"' for d in DENIED_JS_API)
    lines = _header(partner, listen, store_dir, ports_dir, tls)
    auth = "" if tls is not None else f"leaf_{partner}:{fed.pw(partner + '/leaf')}@"
    hubs = [hub_leaf] if isinstance(hub_leaf, str) else list(hub_leaf)
    leaf_urls = ", ".join(f'"nats-leaf://{auth}{h}"' for h in hubs)
    lines += [
        "accounts {",
        "  LOCAL {   # all national traffic",
        "    jetstream: enabled",
        f"    users [ {_user(fed, partner, 'node', partner + '/node', tls)} ]",
        "    exports [   # THE releasability gate: only these subjects leave LOCAL",
        exports,
        "    ]",
        "    imports [",
        f'      {{ stream: {{ account: RELEASE, subject: "alerts.{partner}" }} }}',
        f'      {{ stream: {{ account: RELEASE, subject: "picture.{partner}" }} }}',
        f'      {{ stream: {{ account: RELEASE, subject: "advice.{partner}" }} }}',
        "    ]",
        "  }",
        "  RELEASE {   # only what LOCAL exports exists here; only this account is linked",
        "    jetstream: enabled",
        f"    users [ {_user(fed, partner, 'node_js', partner + '/js', tls)} ]",
        "    imports [",
        imp_rel,
        "    ]",
        f'    exports [ {{ stream: "alerts.{partner}" }}, {{ stream: "picture.{partner}" }}, '
        f'{{ stream: "advice.{partner}" }} ]',
        "  }",
        "}",
        "leafnodes {",
        '  reconnect: "1s"',
        "  remotes [ {",
        f"    urls: [{leaf_urls}]",
        "    account: RELEASE",
        f"    deny_imports: [{deny}]",
        *(["    ignore_discovered_servers: true"] if ignore_discovered else []),
        *(_tls_block(tls, "    ", None) if tls is not None else []),
        "  } ]",
        "}",
    ]
    return "\n".join(lines) + "\n"


def hub_conf(
    fed: Federation,
    *,
    store_dir: str,
    leaf_listen: str,
    advertise: str | None = None,
    listen: str = "127.0.0.1:-1",
    ports_dir: str | None = None,
    tls: TlsFiles | None = None,
    cluster: HubCluster | None = None,
) -> str:
    """The coordinator's hub nats-server config (of one of its servers, with ``cluster``).

    Parameters
    ----------
    leaf_listen
        ``host:port`` the hub accepts partners' leafnode links on.
    advertise
        ``host:port`` partners reach the leaf listener at (the WAN address); gossiped to
        leaves instead of ``leaf_listen`` so a leaf never bypasses the WAN path.
    tls
        The hub's CA bundle, certificate and key: mTLS on the client and leafnode
        listeners; partner P's leaf link is the certificate ``CN=P``.
    cluster
        This server's place in a hub cluster (:class:`HubCluster`); None: a single server.
    """
    c = fed.coordinator
    lines = _header(c, listen, store_dir, ports_dir, tls, cluster.server if cluster else None)
    if cluster is not None:
        lines += _cluster_block(c, cluster, tls)
    lines += ["leafnodes {", f'  listen: "{leaf_listen}"']
    if advertise:
        lines.append(f'  advertise: "{advertise}"')
    if tls is not None:
        lines += _tls_block(tls, "  ", "verify_and_map")
    # partner P's leaf link logs in as a user of PARTNER_P itself (allowed on leaf
    # connections only), not through leafnodes.authorization: nats-server cannot reload
    # leafnode users, but reloads accounts and their users — so partners join and leave
    # by a config reload of the hub, without a restart
    lines += [
        "}",
        "system_account: SYS",
        "accounts {",
        f"  SYS {{ users [ {_user(fed, c, 'admin', c + '/admin', tls)} ] }}   # operator only",
    ]
    for p in fed.partners:
        outward = [*fed.released(p), *fed.status(p), f"engage.{c}"]
        exp = ", ".join(f'{{ stream: "{s}" }}' for s in outward if s.endswith(f".{c}"))
        lines += [
            f"  PARTNER_{p} {{   # partner {p}'s embassy: only its leaf link lands here",
            "    jetstream: enabled",
            "    users [",
            f"      {_user(fed, c, f'ops_{p}', f'{c}/ops_{p}', tls)}",
            f"      {_leaf_user(fed, p, tls)}",
            "    ]",
            f"    exports [ {exp} ]",
            "    imports [",
            f'      {{ stream: {{ account: HUB, subject: "alerts.{p}" }} }}',
            f'      {{ stream: {{ account: HUB, subject: "picture.{p}" }} }}',
            f'      {{ stream: {{ account: HUB, subject: "advice.{p}" }} }}',
            "    ]",
            "  }",
        ]
    lines += [
        "  HUB {",
        "    jetstream: enabled",
        f"    users [ {_user(fed, c, 'coord', c + '/node', tls)} ]",
        "    exports [",
        *(
            f'      {{ stream: "{kind}.{p}", accounts: [PARTNER_{p}] }}'
            for p in fed.partners
            for kind in ("alerts", "picture", "advice")
        ),
        "    ]",
        "    imports [",
        *(
            f'      {{ stream: {{ account: PARTNER_{p}, subject: "tracks.{c}" }}, '
            f'prefix: "from.{p}" }}'
            for p in fed.partners
            if f"tracks.{c}" in fed.released(p)
        ),
        *(  # health: core NATS, no prefix (the signed envelope names its sender)
            f'      {{ stream: {{ account: PARTNER_{p}, subject: "status.{c}" }} }}'
            for p in fed.partners
            if fed.status(p)
        ),
        *(  # engagement statuses, stamped with their origin like the tracks
            f'      {{ stream: {{ account: PARTNER_{p}, subject: "engage.{c}" }}, '
            f'prefix: "from.{p}" }}'
            for p in fed.partners
        ),
        "    ]",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class StreamSpec:
    """One JetStream stream to create: in which account, with what (as nats-py kwargs).

    ``source``/``mirror`` name a stream in another JetStream domain: ``(stream, domain)``.
    """

    account: str
    name: str
    subjects: tuple[str, ...] = ()
    source: tuple[str, str] | None = None
    mirror: tuple[str, str] | None = None
    max_age_s: float = 86_400.0
    replicas: int = 1  # JetStream replicas (the hub cluster's size)


def partner_streams(fed: Federation, partner: str) -> list[StreamSpec]:
    """Streams on ``partner``'s server: national record, outbox and the alerts inbox."""
    return [
        StreamSpec("LOCAL", "NATIONAL", subjects=("tracks.>",)),
        StreamSpec("RELEASE", "OUTBOX", subjects=tuple(fed.released(partner))),
        # a single-source stream, not a mirror: it keeps order just as well, and a source
        # can be restarted in place after a hub restart (see NatsBus ``watch``)
        StreamSpec("RELEASE", "ALERTS_IN", source=(f"{partner}_ALERTS", fed.coordinator)),
    ]


def hub_streams(fed: Federation, replicas: int = 1) -> list[StreamSpec]:
    """Streams on the hub: per partner an inbox (sourced) and an alerts store; own log.
    ``replicas``: copies of each on a hub cluster (its size, up to 5)."""
    r = replicas
    out = [StreamSpec("HUB", "ALERTS_OUT", subjects=("alerts.>",), replicas=r)]
    for p in fed.partners:
        out.append(StreamSpec(f"PARTNER_{p}", f"{p}_INBOX", source=("OUTBOX", p), replicas=r))
        out.append(
            StreamSpec(f"PARTNER_{p}", f"{p}_ALERTS", subjects=(f"alerts.{p}",), replicas=r)
        )
    return out


__all__ = [
    "DENIED_JS_API",
    "Federation",
    "HubCluster",
    "StreamSpec",
    "cert_name",
    "hub_conf",
    "hub_server_name",
    "hub_streams",
    "partner_conf",
    "partner_streams",
    "secret",
    "site_users",
]
