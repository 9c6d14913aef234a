"""What the JupyterLab sidebar needs beyond the jobs REST API: GPUs per job,
conditions and sweep objectives, and SSH connection help with key upload.

Routes (``sidebar_routes.ROUTES``) live under ``{base_url}/mlops/api/v1/`` next
to the jobs API and reuse its client, errors and authentication.
"""
