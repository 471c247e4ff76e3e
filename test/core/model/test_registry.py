import pytest

from sim2art_core.model import ModelConfig, build_model, register_model
from sim2art_core.model.config import ModelName, preset
from sim2art_core.model.network import Sim2ArtNet
from sim2art_core.model.registry import MODEL_REGISTRY


def test_model_name_literal_and_registry_agree():
    MODEL_REGISTRY.check_literal(ModelName)
    assert ModelConfig().name in MODEL_REGISTRY


def test_build_model_builds_the_registered_class():
    assert isinstance(build_model(preset("tiny")), Sim2ArtNet)


def test_unknown_and_duplicate_model_names_are_clear_errors():
    import dataclasses

    with pytest.raises(ValueError, match="unknown model 'nope'; registered: sim2art"):
        build_model(dataclasses.replace(preset("tiny"), name="nope"))
    with pytest.raises(ValueError, match="model 'sim2art' is already registered"):
        register_model("sim2art")(lambda cfg: None)
