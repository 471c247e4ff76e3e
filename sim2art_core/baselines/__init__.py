"""Baselines evaluated like sim2art (WindowEstimator protocol)."""

from sim2art_core.baselines.featclust import FeatClust, FeatClustConfig

__all__ = ["FeatClust", "FeatClustConfig"]
