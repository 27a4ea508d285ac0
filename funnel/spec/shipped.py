"""The specs shipped with the package (``funnel/spec/builtin/*.toml``)."""

from __future__ import annotations

import sys
from importlib import resources

from funnel.errors import SpecError
from funnel.spec.funnel_spec import FunnelSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["builtin_spec"]


def builtin_spec(name: str = "checkout") -> FunnelSpec:
    """Load a spec shipped with the package (``checkout``, ``ecommerce`` or ``ga360``).

    >>> builtin_spec().step_names
    ['cart', 'checkout', 'shipping', 'payment', 'purchase']
    """
    try:
        text = resources.files("funnel.spec").joinpath(f"builtin/{name}.toml").read_text("utf-8")
    except FileNotFoundError:
        raise SpecError(
            f"no built-in spec {name!r}", hint="built-ins: checkout, ecommerce, ga360"
        ) from None
    return FunnelSpec.from_dict(tomllib.loads(text))
