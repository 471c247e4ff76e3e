"""Stand-in networks for Estimator tests: the real network with a known segmentation."""

from __future__ import annotations

import torch

from sim2art_core.estimator import Estimator
from sim2art_core.model import build_model, preset
from sim2art_core.model.checkpoint import save_checkpoint
from sim2art_core.model.network import Sim2ArtNet


class MovingIsSlotOneNet(Sim2ArtNet):
    """The real network, except that every point with flow goes to slot 1 and the rest to slot 0 (one
    slot for all moving points: a network that merged every moving part, or an oracle for one part)."""

    def point_features(self, enc, points, flow, image=None, frames=None):
        moving = (flow.norm(dim=-1, keepdim=True) > 1e-6).to(points.dtype)
        return torch.cat([moving, torch.zeros(*moving.shape[:-1], self.cfg.point_dim - 1)], dim=-1)

    def part_logits(self, f_pt):
        logits = torch.full((*f_pt.shape[:-1], self.cfg.num_queries), -30.0)
        logits[..., 0] = 30.0 * (1 - 2 * f_pt[..., 0])
        logits[..., 1] = 30.0 * (2 * f_pt[..., 0] - 1)
        return logits


class MovingCutInTwoNet(Sim2ArtNet):
    """The real network, except that every point with flow goes to slot 1 or 2 by the sign of its normalised
    coordinate ``axis`` (a network that cut the moving parts in two at the object's middle) and the rest to
    slot 0."""

    axis = 1

    def point_features(self, enc, points, flow, image=None, frames=None):
        moving = (flow.norm(dim=-1, keepdim=True) > 1e-6).to(points.dtype)
        upper = (points[..., self.axis : self.axis + 1] > 0).to(points.dtype)
        rest = torch.zeros(*moving.shape[:-1], self.cfg.point_dim - 2)
        return torch.cat([moving, upper, rest], dim=-1)

    def part_logits(self, f_pt):
        logits = torch.full((*f_pt.shape[:-1], self.cfg.num_queries), -30.0)
        moving, upper = f_pt[..., 0], f_pt[..., 1]
        logits[..., 0] = 30.0 * (1 - 2 * moving)
        logits[..., 1] = 30.0 * (2 * moving * (1 - upper) - 1)
        logits[..., 2] = 30.0 * (2 * moving * upper - 1)
        return logits


def oracle_estimator(tmp_path_factory, net_class=None, **attrs) -> Estimator:
    """An Estimator around the tiny network whose segmentation ``net_class`` (test/core/oracle_nets.py) fixes;
    ``attrs`` are set on the network (e.g. the axis a cutting network cuts along)."""
    net_class = net_class or MovingIsSlotOneNet
    cfg = preset("tiny", num_frames=8, num_points=64)
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pt", build_model(cfg), cfg)
    est = Estimator(ckpt, "cpu")
    net = net_class(cfg)
    for name, value in attrs.items():
        setattr(net, name, value)
    net.load_state_dict(est.model.state_dict())
    est.model = net.eval()
    return est
