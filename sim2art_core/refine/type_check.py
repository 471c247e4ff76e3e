"""Geometric type check: the part's measured motion over the window overrules the network's joint type
when it clearly contradicts it (docs/MODEL.md "Estimator", docs/BENCHMARKS.md "Geometric type check").

The network's type head can be confidently wrong on small parts seen through noisy optical flow (on the
val split it calls scissor blades and eyeglass temples prismatic although they turn by 15-45 deg). The
refinement's joint models (:mod:`sim2art_core.refine.joint_models`: static / prismatic / revolute fitted
to the part's steps relative to its parent, scored by BIC) measure the motion itself. This check uses
them only where the evidence is one-sided, so a wobbling drawer or a slowly opening door keeps the
network's type:

* network PRISMATIC -> REVOLUTE: the revolute model beats the prismatic one by at least
  ``type_check_min_bic_margin`` (and the static one too: the part moved), it turns by at least
  ``type_check_min_rotation_deg`` over the window, and it explains the steps at least
  ``type_check_min_chi2_ratio`` times better than the prismatic model (reduced chi^2; a drawer seen through
  noisy flow can give a revolute model a BIC lead over hundreds of points while fitting hardly better);
* network REVOLUTE -> PRISMATIC: the prismatic model is the better moving model and beats the static one
  by at least ``type_check_min_bic_margin``, it explains the steps within the noise (reduced chi^2 at most
  ``type_check_max_prismatic_chi2``: the steps show no rotation, which the prismatic model leaves as
  residual), the part translates by at least ``type_check_min_translation_noise`` x the window's flow
  noise, and its pair fits explain at least ``type_check_min_explained`` of its weight (two doors the
  network merged into one part, opening in opposite directions, move on average like a drawer, and the
  pair fits' own residuals absorb the difference; the explained fraction sees it).

A translation is fitted by a revolute model with a far-away axis almost as well as by a prismatic one
(two parameters more), so the second direction cannot rely on a BIC margin between the two moving
models; and the revolute fit's angle is no measure of rotation on a small part (a few centimetres of
lever pin a rotation poorly, so a revolute fit of a tiny drawer's slide may "turn" by 15 deg). It asks
instead that the no-rotation model fit as well as the noise allows.

Nothing here is category-specific; the thresholds live in :class:`~sim2art_core.refine.RefineConfig`
(``type_check_*``) and were chosen on the val split.
"""

from __future__ import annotations

import numpy as np

from sim2art_core.refine.config import RefineConfig
from sim2art_core.refine.joint_models import ModelFit
from sim2art_core.types import JointType


def geometric_type_override(
    fits: dict[JointType, ModelFit],
    network_type: JointType,
    noise_m: float,
    num_steps: int,
    explained: float,
    cfg: RefineConfig,
) -> JointType | None:
    """The joint type the part's measured motion clearly shows against ``network_type``, or None when the
    geometry does not clearly contradict it (see the module doc).

    Args:
        fits: the part's fitted models (STATIC, PRISMATIC, REVOLUTE), as ``refine_joints`` fits them.
        network_type: the network's type for the part.
        noise_m: m, the window's flow noise (``refine.window_flow_noise``); NaN: the translation test
            uses ``cfg.min_noise_m``.
        num_steps: the part's fitted frame pairs (each step is 6 observations), for the reduced chi^2.
        explained: the fraction of the part's weight its pair fits explain (``PartPairs.explained``; NaN: not
            measured, which fails the revolute -> prismatic test).
        cfg: ``type_check_*`` thresholds.
    """
    if not all(t in fits for t in JointType):
        return None
    static, pri, rev = fits[JointType.STATIC], fits[JointType.PRISMATIC], fits[JointType.REVOLUTE]
    margin = cfg.type_check_min_bic_margin
    dof = max(6 * int(num_steps), 1)
    pri_chi2 = pri.chi2 / max(dof - pri.num_params, 1)
    rev_chi2 = rev.chi2 / max(dof - rev.num_params, 1)
    rotation_deg = float(np.degrees(np.ptp(rev.amounts))) if len(rev.amounts) else 0.0
    if network_type == JointType.PRISMATIC:
        if (
            pri.bic - rev.bic >= margin
            and static.bic - rev.bic >= margin
            and rotation_deg >= cfg.type_check_min_rotation_deg
            and pri_chi2 >= cfg.type_check_min_chi2_ratio * rev_chi2
        ):
            return JointType.REVOLUTE
    elif network_type == JointType.REVOLUTE:
        noise = noise_m if np.isfinite(noise_m) else cfg.min_noise_m
        translation = float(np.ptp(pri.amounts)) if len(pri.amounts) else 0.0
        if (
            pri.bic <= rev.bic
            and static.bic - pri.bic >= margin
            and pri_chi2 <= cfg.type_check_max_prismatic_chi2
            and translation >= cfg.type_check_min_translation_noise * max(noise, cfg.min_noise_m)
            and explained >= cfg.type_check_min_explained
        ):
            return JointType.PRISMATIC
    return None
