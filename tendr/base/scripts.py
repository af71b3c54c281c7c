"""The root-run shell scripts kept as `.sh` files in the package (a layer's `sh/` folder),
read as text: each takes its values as arguments ("$1"...), never by substitution."""

from functools import cache
from importlib.resources import files


@cache
def script(package: str, name: str) -> str:
    """The text of `sh/NAME.sh` in `package`, such as script("tendr.kinds", "printer-options")."""
    return files(package).joinpath("sh", f"{name}.sh").read_text(encoding="utf-8")
