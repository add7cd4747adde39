"""Orchestrators: tillflow's runs as tasks and flows of the scheduler you use.

- `tillflow.integrations.steps`: the steps as plain functions, which both run.
- `tillflow.integrations.prefect`: Prefect 3 tasks, the shop flow and the project flow
  (``pip install 'tillflow[prefect]'``).
- `tillflow.integrations.airflow`: Airflow operators and TaskFlow tasks
  (``pip install 'tillflow[airflow]'``).
"""
