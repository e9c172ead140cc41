"""Shared by the corpus tests: rendering MedPerf's cookiecutter templates."""

from __future__ import annotations

import re

import pytest

PLACEHOLDER = re.compile(r"\{\{\s*cookiecutter\.(\w+)\s*\}\}")
# What `medperf ... create` would fill in. accelerator_count must stay an integer.
PLACEHOLDER_VALUES = {
    "project_name": "Dummy Project",
    "description": "A dummy MLCube rendered from the template for schema tests",
    "author_name": "Dummy Author",
    "accelerator_count": "0",
    "docker_image_name": "example/dummy:0.0.0",
    "docker_build_file": "Dockerfile",
    "image_name": "example/dummy:0.0.0",
}


def render_cookiecutter(text: str) -> str:
    """Replace `{{ cookiecutter.NAME }}` placeholders with dummy values chosen by name."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PLACEHOLDER_VALUES:
            pytest.fail(f"no dummy value for placeholder cookiecutter.{name}")
        return PLACEHOLDER_VALUES[name]

    return PLACEHOLDER.sub(value, text)
