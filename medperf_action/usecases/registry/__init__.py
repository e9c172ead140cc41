"""The registry's own workflows: `verify` (unprivileged re-run), `report` (the sticky
comment and labels), `on_label` (the committee's decisions), `approval` (merge and status
commit), with `checks` and `artifact` behind verify and report."""
