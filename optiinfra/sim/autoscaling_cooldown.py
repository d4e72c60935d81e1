"""UpdateAutoScalingGroup's DefaultCooldown in the twin's Auto Scaling.

Moto 5 reads DefaultCooldown when a group is created but ignores it on UpdateAutoScalingGroup (its
docstring lists it as not implemented), where AWS applies it. The cost agent's autoscaling strategy
changes the cooldown and its compensation restores it, so the twin must hold what was set: this wraps
moto's handler, in this process only, to apply the parameter after moto's own update."""

from __future__ import annotations

import threading

from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult

UPDATE_ACTION = "update_auto_scaling_group"
"""The handler moto dispatches UpdateAutoScalingGroup to."""

_install_lock = threading.Lock()
_installed = False


def install_default_cooldown_updates() -> None:
    """Idempotent, for every moto server of the process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        moto_update = AutoScalingResponse.update_auto_scaling_group

        # A plain function, so that it binds to the response object moto dispatches on.
        def update_auto_scaling_group(response: AutoScalingResponse) -> ActionResult:
            result = moto_update(response)
            cooldown = response._get_int_param("DefaultCooldown")
            if cooldown is not None:
                name = response._get_param("AutoScalingGroupName")
                response.autoscaling_backend.autoscaling_groups[name].default_cooldown = cooldown
            return result

        setattr(AutoScalingResponse, UPDATE_ACTION, update_auto_scaling_group)
        _installed = True
