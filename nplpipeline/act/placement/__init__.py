"""Third-party agency placement (``domain.md``, "Third-party agencies").

Extremely severe accounts are allocated across active agencies by a small linear
programme (``allocate``), using each agency's liquidation rate measured from past
placements (``history``, ``liquidation``); placements are recalled when their period
ends or the account cures (``recall``) and agencies are paid on what they collect
(``commissions``). ``stage.run_placements`` wires it to the warehouse.
"""
