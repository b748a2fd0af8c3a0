"""The closing-link and portal pages in the client's language: templates
``collector/notices/templates/pages/*.html.j2`` with the notices' catalog (one catalog for
every client-facing text, :mod:`collector.notices.i18n`); the portal page extends the web UI's
``base.html``."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from collector.notices.i18n import PACKAGE_DIR, translations


@functools.cache
def _environment(language: str, extra: tuple[str, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(str(PACKAGE_DIR / "templates")),
                *(jinja2.FileSystemLoader(d) for d in extra),
            ]
        ),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def render_page(
    name: str, language: str, context: dict[str, Any], extra_dirs: tuple[str, ...] = ()
) -> str:
    """``templates/pages/<name>`` in ``language``."""
    return _environment(language, extra_dirs).get_template(f"pages/{name}").render(**context)


def gettext(language: str, message: str, **values: Any) -> str:
    text = translations(language).gettext(message)
    return text % values if values else text
