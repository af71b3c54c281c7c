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
    """The kernel module's name, such as "usb_storage"."""
    loaded: bool | None = None
    """true: loaded now (modprobe); false: unloaded. Unset: left alone."""
    at_boot: bool | None = None
    """true: loaded at every boot (/etc/modules-load.d). Unset: left alone."""
    options: dict[OptionName, str | int | bool] = {}
    """Module parameters, written as `options` in /etc/modprobe.d, such as
    { power_save = 1 }."""
    blacklisted: bool | None = None
    """true: never loaded automatically (blacklist in /etc/modprobe.d). Unset: left alone."""

    @model_validator(mode="after")
    def _consistent(self) -> ModuleSpec:
        if self.blacklisted and (self.loaded or self.at_boot):
            raise ValueError("a blacklisted module cannot also be loaded or loaded at boot")
        for key, value in self.options.items():
            if (
                isinstance(value, str)
                and not value.replace("_", "")
                .replace("-", "")
                .replace(",", "")
                .replace(".", "")
                .isalnum()
            ):
                raise ValueError(f"option {key} = {value!r}: use letters, digits and _ - , . only")
        return self
