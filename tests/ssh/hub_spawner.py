"""The Hub-side spawner of the SSH tests: the pod already exists.

The tests create each notebook pod through the real Kubernetes API, labelled as
KubeSpawner labels it, and KWOK runs it with a loopback IP where the test
starts the real entrypoint (sshd beside a stand-in notebook HTTP server). This
spawner only tells the Hub where that server listens, so the Hub treats the
server as running (which the SSH activity posts need). The gateway never asks
it anything: it finds pods through the Kubernetes API.
"""

from jupyterhub.spawner import Spawner


class ExistingPodSpawner(Spawner):
    _running = False

    async def start(self):
        self._running = True
        return (self.user_options["ip"], int(self.user_options.get("port", 8888)))

    async def poll(self):
        return None if self._running else 0

    async def stop(self, now=False):
        self._running = False
