"""The SSH gateway: ssh, scp, sftp, rsync, -L, -J and VS Code into notebook servers.

Modules, one concept each:

- ``app``: the JupyterHub service (traitlets Application, config file)
- ``gateway``: the SSH listener and shared state; ``connection``: one client
  connection (authentication, channels); ``relay``: byte pumps to the pod
- ``names``: login names; ``policy``: what forwarding may reach;
  ``routing``: finding the user's pod; ``hub``: tokens and activity
- ``keystore``: users' registered keys; ``gateway_keys``: the gateway's own keys
- ``ratelimit``, ``audit``, ``metrics``; ``api``: the HTTP service
- ``pod_side``: what a notebook pod needs so its sshd trusts the gateway
"""
