"""The kernel module kind (a driver): loaded, loaded at boot, options, blacklisted."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from tendr.names import ModuleName, OptionName
from tendr.states.base import ResourceSpec


class ModuleSpec(ResourceSpec):
    """A kernel module.

    ```toml
    [[module]]
    name = "usb_storage"
    blacklisted = true            # /etc/modprobe.d/tendr-usb_storage.conf

    [[module]]
    name = "snd_hda_intel"
    at_boot = true                # /etc/modules-load.d/tendr-snd_hda_intel.conf
    options = { power_save = 1 }  # options in modprobe.d
    ```
    """

    kind: ClassVar[str] = "module"
    identity: ClassVar[str] = "name"

    name: ModuleName
    loaded: bool | None = None
    at_boot: bool | None = None
    options: dict[OptionName, str | int | bool] = {}
    blacklisted: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModuleSpec:
        if self.blacklisted and (self.loaded or self.at_boot):
            raise ValueError("a blacklisted module cannot also be loaded or loaded at boot")
        for key, value in self.options.items():
            if isinstance(value, str) and not value.replace("_", "").replace("-", "").replace(
                ",", ""
            ).replace(".", "").isalnum():
                raise ValueError(
                    f"option {key} = {value!r}: use letters, digits and _ - , . only"
                )
        return self
