"""Real peers on 127.0.0.1: etcd, one kube-apiserver per slot, Flux's controllers and a Git server.

Everything fleet decides about a slot's health it decides from Flux objects,
and the behaviour that matters (resourceVersions and 410s, the status
subresource, generation bumps, ``Ready=Unknown`` at every reconcile, a commit
landing mid-wait) is only faithful when the real programs produce it. This
module runs them as local processes from the binaries that
``tools/peers/build.py`` builds into ``~/.cache/fleet-peers/``:

* one etcd, shared by the slots, each API server under its own ``--etcd-prefix``;
* per slot a kube-apiserver with a generated serving certificate, a
  service-account key pair and issuer and a static token (127.0.0.1 only);
* per slot Flux's CRDs (from the controllers' own modules) and their
  source-controller and kustomize-controller, run outside the cluster with a
  kubeconfig, leader election off, metrics and health on free ports;
* a Git server (``git http-backend`` behind Python's HTTP server: Flux speaks
  only http(s) and ssh) serving a multi-tenant GitOps repository that
  :class:`GitOpsRepo` writes and tests commit to.

Nothing here downloads anything; a missing binary raises
:class:`PeersNotBuilt` with the command that builds it. Every process is
started in its own session and stopped by its PID; the working directory
(certificates, etcd's data, logs, artifacts) is removed on exit unless it was
given by the caller.

helm-controller is not among the peers: the Go module proxy refuses its
module (see tools/peers/versions.toml), so the repository has no HelmRelease.

The package is split along those concerns: ``base`` (binaries, errors,
processes), ``kube`` (certificates, etcd, API servers, a REST client),
``git`` (the Git server and the repository tests commit to), ``repository``
(the GitOps repository's content), ``flux`` (the controllers) and ``world``
(:class:`RealPeers`, :class:`RealClusters`). Every name stays importable from
``fleet.rehearsal.peers``.
"""

from __future__ import annotations

from fleet.rehearsal.listen_ports import free_port
from fleet.rehearsal.peers.base import (
    BUILD_COMMAND,
    FLUX_NAMESPACE,
    REPO_ROOT,
    REQUIRE_ENV,
    REQUIRED,
    VERSIONS_FILE,
    Binaries,
    PeerFailed,
    PeersNotBuilt,
    Process,
    _http_ok,
    cache_dir,
)
from fleet.rehearsal.peers.flux import (
    Flux,
    _established,
    ready_condition,
)
from fleet.rehearsal.peers.git import (
    GitOpsRepo,
    GitServer,
    _GitHandler,
)
from fleet.rehearsal.peers.kube import (
    ApiServer,
    Certificates,
    Etcd,
    Rest,
    _plural,
)
from fleet.rehearsal.peers.repository import (
    TENANTS,
    WIDGET_CRD,
    _docs,
    git_repository,
    kustomization,
    repository_files,
    tenant_manifests,
)
from fleet.rehearsal.peers.world import (
    ALL_KUSTOMIZATIONS,
    RealClusters,
    RealPeers,
    Slot,
    real_peers,
)

__all__ = [
    "ALL_KUSTOMIZATIONS",
    "BUILD_COMMAND",
    "FLUX_NAMESPACE",
    "REPO_ROOT",
    "REQUIRED",
    "REQUIRE_ENV",
    "TENANTS",
    "VERSIONS_FILE",
    "WIDGET_CRD",
    "ApiServer",
    "Binaries",
    "Certificates",
    "Etcd",
    "Flux",
    "GitOpsRepo",
    "GitServer",
    "PeerFailed",
    "PeersNotBuilt",
    "Process",
    "RealClusters",
    "RealPeers",
    "Rest",
    "Slot",
    "_GitHandler",
    "_docs",
    "_established",
    "_http_ok",
    "_plural",
    "cache_dir",
    "free_port",
    "git_repository",
    "kustomization",
    "ready_condition",
    "real_peers",
    "repository_files",
    "tenant_manifests",
]
