"""Stand-ins for tests and the demo, kept out of the production code paths.

Nothing under ``nplpipeline`` outside this package imports it: the demo
(``orchestration.demo``), the model benchmark and the tests import it explicitly.

* ``crm_server``: a real local HTTP server playing the CRM, misbehaving on request;
* ``synthetic``: a labelled frame with a known signal, for model tests and benchmarks.
"""
