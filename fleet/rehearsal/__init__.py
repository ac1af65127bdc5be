"""Everything ``fleet rehearse`` needs besides the engine and the state store: the worlds a rehearsal runs in.

* Real parts, on 127.0.0.1 only: a real HAProxy, two slot backends and a
  bounded load generator (``haproxy_process``, ``backends``, ``load``), run in
  a process of their own (``host``, ``host_server``) with the clusters:
  kmock API servers (``kube_sim``) with a simulated Flux (``flux_sim``,
  ``flux_objects``), or real kube-apiservers and Flux controllers (``peers``).
  ``real`` runs a cutover on them (``parts``, ``waits``, ``real_faults``,
  ``sim_provisioner``, ``summary``).
* The in-memory fleet: every port simulated (``sim``), minutes passing in
  milliseconds (``inmemory``).

Production commands never import this package (import-linter contracts say
so): ``fleet resume`` reaches a rehearsal's world through :mod:`fleet.worlds`.
The traffic tests and ``bench/traffic.py`` use the real parts too.
"""
