"""Orchestrators: tillflow's runs as tasks and flows of the scheduler you use.

- `tillflow.integrations.prefect`: Prefect 3 tasks and the shop flow
  (``pip install 'tillflow[prefect]'``).
"""
