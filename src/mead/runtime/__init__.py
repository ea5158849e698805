"""Runtime: nodes, the one wiring point, and the two ways of driving them.

``node`` holds the partner and coordinator nodes (plumbing between stages), ``wiring``
builds them from a scenario, ``simulation`` drives a whole coalition on the scenario clock
over the in-process bus, ``live`` runs one node as a process over NATS, and ``up`` starts
a whole federation of such processes on one machine.
"""
