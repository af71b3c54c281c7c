"""SSH public keys, the one definition of the format: 'TYPE BASE64 [comment]', as an id_*.pub
file, an authorized_keys line (without options) or a known_hosts line (without the names)
holds one.

TYPE is one of the key types OpenSSH accepts (sshd's PubkeyAcceptedAlgorithms and ssh's
HostKeyAlgorithms by default, certificates aside; DSA is gone from OpenSSH), and BASE64 the
key in SSH's wire format: length-prefixed strings to its very end, the first naming TYPE
again, the others (the key itself) not empty. A key pasted cut short, or under the wrong
type, is refused here rather than by ssh later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
)

# "TYPE BASE64" alone, as a regex (also a JSON Schema pattern: Python, ECMAScript and Rust
# read it alike); every key's wire format starts with its type's length, so with "AAAA".
KEY_REGEX = "(" + "|".join(re.escape(kind) for kind in KEY_TYPES) + r") (AAAA[A-Za-z0-9+/]+={0,2})"
KEY_HELP = (
    f"'TYPE BASE64 [comment]' with TYPE one of {', '.join(sorted(KEY_TYPES))}; "
    "options or names before TYPE are not taken"
)


class NotAKey(ValueError):
    """Not an SSH public key; the message says why, without naming where it came from."""


@dataclass(frozen=True)
class PublicKey:
    """An SSH public key: its type and its base64 blob, as the .pub file writes them."""

    type: str
    blob: str

    @property
    def line(self) -> str:
        """'TYPE BASE64', as known_hosts and authorized_keys take it (after names, options)."""
        return f"{self.type} {self.blob}"

    @property
    def fingerprint(self) -> str:
        """As ssh-keygen -l shows it: SHA256:<base64 of the hash, unpadded>."""
        digest = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _wire_fields(raw: bytes) -> list[bytes] | None:
    """SSH wire strings (a 4-byte length, then that many bytes) to the very end, or None."""
    fields = []
    while raw:
        size = int.from_bytes(raw[:4], "big")
        if len(raw) < 4 + size:  # also a length cut short: size is never negative
            return None
        fields.append(raw[4 : 4 + size])
        raw = raw[4 + size :]
    return fields


def parse_key(text: str) -> PublicKey:
    """The key of 'TYPE BASE64 [comment]' (the comment is dropped), or NotAKey saying why
    not. Leading and trailing white space is ignored; options or names before TYPE are not."""
    words = text.split()
    if len(words) < 2 or words[0] not in KEY_TYPES:
        raise NotAKey(f"not a public key ({KEY_HELP})")
    kind, blob = words[0], words[1]
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise NotAKey("the key is not valid base64") from None
    fields = _wire_fields(raw)
    if not fields or fields[0] != kind.encode():
        raise NotAKey(f"the key's data does not match its type {kind}")
    if len(fields) < 2 or not all(fields[1:]):
        raise NotAKey(f"the key's data is cut short (no {kind} key in it)")
    return PublicKey(kind, blob)


def is_key_line(value: str) -> bool:
    """Whether `value` is exactly 'TYPE BASE64' of a public key: no comment, no extra space."""
    if re.fullmatch(KEY_REGEX, value) is None:
        return False
    try:
        parse_key(value)
    except NotAKey:
        return False
    return True
