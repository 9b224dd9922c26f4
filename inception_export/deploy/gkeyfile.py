"""GLib's GKeyFile, through ctypes: the parser nvinfer reads its config file with.

``gst-nvinfer`` loads the config with ``g_key_file_load_from_file`` and reads each property with
``g_key_file_get_string``/``_integer``/``_double_list``; whatever a look-alike parser (Python's
configparser) makes of the same text can differ: an indented line is a continuation there and a
key here, ``\\s`` is a space here and two characters there. The gate reads the file the way
nvinfer does, with the same library: libglib-2.0 is on every DeepStream machine. Torch-free.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

from ..errors import ArtifactError

LIBRARY = "libglib-2.0.so.0"


class _GError(ctypes.Structure):
    _fields_ = [("domain", ctypes.c_uint32), ("code", ctypes.c_int), ("message", ctypes.c_char_p)]


@cache
def _glib() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("glib-2.0") or LIBRARY)
    except OSError as exc:
        raise ArtifactError(
            f"cannot load GLib ({LIBRARY}), the library nvinfer reads its config with: {exc}"
        ) from None
    lib.g_key_file_new.restype = ctypes.c_void_p
    lib.g_key_file_free.argtypes = [ctypes.c_void_p]
    lib.g_key_file_load_from_data.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.POINTER(ctypes.POINTER(_GError)),
    ]
    lib.g_key_file_load_from_data.restype = ctypes.c_int
    strv = ctypes.POINTER(ctypes.c_char_p)
    lib.g_key_file_get_groups.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.g_key_file_get_groups.restype = strv
    lib.g_key_file_get_keys.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(ctypes.POINTER(_GError)),
    ]
    lib.g_key_file_get_keys.restype = strv
    # Returned strings are read through c_void_p so that ctypes leaves them for g_free.
    lib.g_key_file_get_string.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.POINTER(_GError)),
    ]
    lib.g_key_file_get_string.restype = ctypes.c_void_p
    lib.g_strfreev.argtypes = [strv]
    lib.g_free.argtypes = [ctypes.c_void_p]
    lib.g_error_free.argtypes = [ctypes.POINTER(_GError)]
    return lib


def _take_error(lib: ctypes.CDLL, err: ctypes._Pointer[_GError]) -> str:
    message = (err.contents.message or b"").decode("utf-8", "replace")
    lib.g_error_free(err)
    return message


def _strv(lib: ctypes.CDLL, items: ctypes._Pointer[ctypes.c_char_p], count: int) -> list[str]:
    try:
        return [(items[i] or b"").decode("utf-8", "replace") for i in range(count)]
    finally:
        lib.g_strfreev(items)


def read_key_file(text: bytes, source: str) -> dict[str, dict[str, str]]:
    """Every group's keys and their values as ``g_key_file_get_string`` gives them (escapes such
    as ``\\s`` resolved), in GKeyFile's order; ArtifactError with GLib's message when GLib
    refuses the text."""
    lib = _glib()
    keyfile = lib.g_key_file_new()
    try:
        err = ctypes.POINTER(_GError)()
        if not lib.g_key_file_load_from_data(keyfile, text, len(text), 0, ctypes.byref(err)):
            why = _take_error(lib, err)
            raise ArtifactError(f"{source}: GLib's key-file parser (nvinfer's) refuses it: {why}")
        count = ctypes.c_size_t()
        groups = _strv(lib, lib.g_key_file_get_groups(keyfile, ctypes.byref(count)), count.value)
        return {group: _group(lib, keyfile, group, source) for group in groups}
    finally:
        lib.g_key_file_free(keyfile)


def _group(lib: ctypes.CDLL, keyfile: int, group: str, source: str) -> dict[str, str]:
    count = ctypes.c_size_t()
    err = ctypes.POINTER(_GError)()
    keys = lib.g_key_file_get_keys(keyfile, group.encode(), ctypes.byref(count), ctypes.byref(err))
    if not keys:
        raise ArtifactError(f"{source}: [{group}]: {_take_error(lib, err) if err else 'no keys'}")
    values = {}
    for key in _strv(lib, keys, count.value):
        raw = lib.g_key_file_get_string(keyfile, group.encode(), key.encode(), ctypes.byref(err))
        if not raw:
            raise ArtifactError(f"{source}: [{group}] {key}: GLib cannot read it ({_take_error(lib, err)})")
        try:
            values[key] = (ctypes.string_at(raw) or b"").decode("utf-8", "replace")
        finally:
            lib.g_free(raw)
    return values
