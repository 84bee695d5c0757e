"""Item texts and template views; the view source is pluggable by name."""

from __future__ import annotations

import pytest

from mtstrec.features.config import PromptConfig
from mtstrec.features.text_views import TemplateViewSource, build_view_source, item_text, register_view_source


def test_item_text_joins_title_and_description_and_is_empty_without_either():
    assert item_text(" Slim  jeans ", "Stretch\ndenim") == "Title: Slim jeans Description: Stretch denim"
    assert item_text("", None) == ""


def test_templates_fill_attributes_and_tidy_missing_ones():
    source = TemplateViewSource(["{product_type}, {colour}, {pattern}", "{title} in {colour}", "{season}"])
    items = [
        {"title": "Jeans", "description": "", "attributes": {"product_type": "Trousers", "colour": "Blue"}},
        {"title": "", "description": "", "attributes": {}},
    ]
    assert source.k == 3
    assert source.views(items) == [["Trousers, Blue", "Jeans in Blue", ""], ["", "", ""]]


def test_view_source_is_chosen_by_name_from_config():
    class Shouting:
        k = 1

        def views(self, items):
            return [[item["title"].upper()] for item in items]

    register_view_source("shouting", lambda cfg: Shouting())
    assert build_view_source(PromptConfig(view_source="shouting")).views([{"title": "jeans"}]) == [["JEANS"]]
    with pytest.raises(ValueError, match=r"features\.prompt\.view_source: unknown source 'llm'"):
        build_view_source(PromptConfig(view_source="llm"))
