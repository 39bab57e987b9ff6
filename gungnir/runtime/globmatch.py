"""Valkey's glob patterns (``stringmatchlen``), for PSUBSCRIBE and ``CONFIG GET``.

A module of its own because both the RESP server (pattern subscriptions) and the Sentinel
commands (``SENTINEL CONFIG GET announce-*``) need exactly Valkey's semantics, corner cases
included, and a differential test pins them to a real server's ``KEYS``.
"""

from __future__ import annotations

__all__ = ["glob_match"]


def glob_match(pattern: bytes, text: bytes, *, nocase: bool = False) -> bool:
    """Valkey's glob (``stringmatchlen``): ``*``, ``?``, ``[abc]``, ``[^a-z]``, ``\\`` escapes,
    with Valkey's corner cases (``[a-]`` is a range up to ``]``, an unclosed ``[`` takes the
    rest of the pattern, an empty text matches only an empty pattern), so PSUBSCRIBE and
    CONFIG GET patterns select exactly what they select on Valkey.

    Iterative with one backtrack point for the last ``*`` (each other element matches one
    byte, so that is exact), hence linear-ish and never recursive on hostile patterns.
    """
    if nocase:
        pattern, text = pattern.lower(), text.lower()
    if not text:
        return not pattern
    p = t = 0
    star_p = star_t = -1
    while t < len(text):
        if p < len(pattern):
            c = pattern[p]
            if c == 0x2A:  # '*'
                while p < len(pattern) and pattern[p] == 0x2A:
                    p += 1
                if p == len(pattern):
                    return True
                star_p, star_t = p, t
                continue
            matched, width = _match_one(pattern, p, text[t])
            if matched:
                p += width
                t += 1
                continue
        if star_p < 0:
            return False
        star_t += 1
        p, t = star_p, star_t
    while p < len(pattern) and pattern[p] == 0x2A:
        p += 1
    return p == len(pattern)


def _match_one(pattern: bytes, p: int, ch: int) -> tuple[bool, int]:
    """Match one pattern element at ``p`` against byte ``ch``; return (matched, width)."""
    c = pattern[p]
    end = len(pattern)
    if c == 0x3F:  # '?'
        return True, 1
    if c == 0x5C and p + 1 < end:  # '\\' escapes the next byte
        return pattern[p + 1] == ch, 2
    if c != 0x5B:  # not '['
        return c == ch, 1
    i = p + 1
    negate = i < end and pattern[i] == 0x5E  # '^'
    if negate:
        i += 1
    found = False
    while i < end:
        b = pattern[i]
        if b == 0x5C and i + 1 < end:
            found |= pattern[i + 1] == ch
            i += 2
        elif b == 0x5D:  # ']'
            break
        elif i + 2 < end and pattern[i + 1] == 0x2D:  # 'a-z' (even 'a-]', as Valkey)
            lo, hi = sorted((b, pattern[i + 2]))
            found |= lo <= ch <= hi
            i += 3
        else:
            found |= b == ch
            i += 1
    width = min(i + 1, end) - p  # past the ']' (an unclosed class ends the pattern)
    return found != negate, width
