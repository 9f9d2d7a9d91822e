"""SLA policies and the escalation ladder: pure planning (`planner`) and the timer engine (`engine`)."""
