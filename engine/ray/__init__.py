"""Scale out on Ray Serve: a deployment whose replicas each run a :class:`engine.local.LocalEngine`, and
:class:`engine.ray.client.RayEngine`, the ``Engine`` the bot uses to reach them.

Importing this package imports neither ray nor torch; :mod:`engine.ray.worker` and :mod:`engine.ray.client`
import ray, :mod:`engine.ray.options` and :mod:`engine.ray.messages` do not.
"""
