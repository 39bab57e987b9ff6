# The fast paths of gungnir._resp.Reader, textually included by _resp.pyx: the
# shared-key cache, one-pass scalars and the fill loop (functions taking the reader).
# They only ever take well-formed input; everything else is left to Reader._parse.

cdef object _key(Reader self, const char *p, Py_ssize_t n):
    """bytes for a short map key or set member, shared with earlier equal ones.

    Field names repeat across replies (HGETALL of similar hashes, records in a list);
    handing out the same immutable bytes object saves its allocation, its hashing
    (the hash is cached in the object) and its deallocation. A 256-slot direct-mapped
    cache keyed by length and the first and last four bytes. When fewer than one in
    five lookups hit (all-distinct keys), the cache steps aside for the next 4096 keys.
    """
    cdef uint32_t a = 0, b = 0, h
    cdef PyObject *cached
    if self.key_bypass > 0:  # recent keys were all distinct: caching only costs
        self.key_bypass -= 1
        return PyBytes_FromStringAndSize(p, n)
    if n >= 4:
        memcpy(&a, p, 4)
        memcpy(&b, p + n - 4, 4)
    elif n > 0:
        a = <unsigned char>p[0]
        b = <unsigned char>p[n - 1]
    h = (a * 2654435761U) ^ (b * 2246822519U) ^ (<uint32_t>n * 3266489917U)
    h = (h ^ (h >> 15) ^ (h >> 24)) & 255
    cached = self.keycache[h]
    if (
        cached != NULL
        and PyBytes_GET_SIZE(<object>cached) == n
        and memcmp(PyBytes_AS_STRING_raw(cached), p, n) == 0
    ):
        self.key_hits += 1
        return <object>cached
    self.key_misses += 1
    if self.key_misses >= 64:
        if self.key_hits * 4 < self.key_misses:
            self.key_bypass = 4096
        self.key_hits = 0
        self.key_misses = 0
    value = PyBytes_FromStringAndSize(p, n)
    Py_XDECREF(cached)
    Py_INCREF(value)
    self.keycache[h] = <PyObject *>value
    return value

cdef inline object _scalar(Reader self, const char *buf, Py_ssize_t pos, Py_ssize_t n,
                    Py_ssize_t *newpos, bint as_key=False):
    """A complete well-formed ``$ : + # _ , = (`` element at pos, or _NOVALUE.

    Only the common spellings are taken here (lengths and integers of at most 18
    digits, a CRLF right where expected); everything else, including every error, is
    left to the general path so that errors match the pure twin exactly.
    """
    cdef unsigned char t = <unsigned char>buf[pos]
    cdef uint64_t mag
    cdef Py_ssize_t used, blen, end
    cdef const char *q
    cdef bint neg
    cdef double dval
    cdef object value
    if t == 36:
        used = _fast_uint(buf + pos + 1, buf + n, &mag)
        if used and mag <= <uint64_t>self.max_bulk_len:
            blen = <Py_ssize_t>mag
            pos += 1 + used
            end = pos + blen
            if end + 2 <= n and buf[end] == b'\r' and buf[end + 1] == b'\n':
                newpos[0] = end + 2
                if self.encoding is not None:
                    return self._text(buf + pos, blen)
                if as_key and blen <= KEY_CACHE_MAX:
                    return _key(self, buf + pos, blen)
                return PyBytes_FromStringAndSize(buf + pos, blen)
        return _NOVALUE
    if t == 58:
        q = buf + pos + 1
        neg = q < buf + n and q[0] == b'-'
        used = _fast_uint(q + neg, buf + n, &mag)
        if used:
            newpos[0] = pos + 1 + neg + used
            return PyLong_FromLongLong(-<long long>mag if neg else <long long>mag)
        return _NOVALUE
    if t == 43:
        if self.scan > pos:  # a partial search is in progress: resume it generically
            return _NOVALUE
        q = <const char *>memchr(buf + pos + 1, b'\r', n - pos - 1)
        if q == NULL or q + 1 >= buf + n or q[1] != b'\n':
            return _NOVALUE
        blen = q - buf - pos - 1
        if blen > self.max_bulk_len:
            return _NOVALUE
        newpos[0] = pos + blen + 3
        if self.encoding is not None:
            return self._text(buf + pos + 1, blen)
        if blen == 2 and buf[pos + 1] == b'O' and buf[pos + 2] == b'K':
            return _OK
        if as_key and blen <= KEY_CACHE_MAX:
            return _key(self, buf + pos + 1, blen)
        return PyBytes_FromStringAndSize(buf + pos + 1, blen)
    if t == 35:
        if pos + 4 <= n and buf[pos + 2] == b'\r' and buf[pos + 3] == b'\n':
            if buf[pos + 1] == b't':
                newpos[0] = pos + 4
                return True
            if buf[pos + 1] == b'f':
                newpos[0] = pos + 4
                return False
        return _NOVALUE
    if t == 95:
        if pos + 3 <= n and buf[pos + 1] == b'\r' and buf[pos + 2] == b'\n':
            newpos[0] = pos + 3
            return None
        return _NOVALUE
    if t == 44:
        q = <const char *>memchr(buf + pos + 1, b'\r', n - pos - 1)
        if q == NULL or q + 1 >= buf + n or q[1] != b'\n' or self.scan > pos:
            return _NOVALUE
        if q - buf - pos - 1 > self.max_bulk_len:  # "line too long" is the general path's
            return _NOVALUE
        if _fast_double(buf + pos + 1, q - buf - pos - 1, &dval):
            newpos[0] = q - buf + 2
            return dval
        return _NOVALUE
    if t == 61:  # =len CRLF fmt:text CRLF
        used = _fast_uint(buf + pos + 1, buf + n, &mag)
        if used and 4 <= mag <= <uint64_t>self.max_bulk_len:
            blen = <Py_ssize_t>mag
            pos += 1 + used
            end = pos + blen
            if end + 2 <= n and buf[end] == b'\r' and buf[end + 1] == b'\n' and (
                buf[pos + 3] == b':'
            ):
                newpos[0] = end + 2
                return self._verbatim(buf + pos, blen)
        return _NOVALUE
    if t == 40:  # (digits CRLF
        if self.scan > pos:
            return _NOVALUE
        used = 0
        value = gungnir_fast_bignum(buf + pos + 1, buf + n, &used, _NOVALUE)
        if value is _NOVALUE or used - 2 > self.max_bulk_len:  # "line too long" is general
            return _NOVALUE
        newpos[0] = pos + 1 + used
        return value
    return _NOVALUE

cdef Py_ssize_t _fill(Reader self, _Frame top, const char *buf, Py_ssize_t pos,
                      Py_ssize_t n) except -1:
    """Build the common case of the open aggregate without the general loop.

    Takes plain scalars (see _scalar) and nested sized ``* % ~`` aggregates, closing
    nested ones into their parent as they complete, so a typical nested reply is
    built in one call. Anything else -- other types, unusual spellings, incomplete
    elements and every error -- is left to the general loop, which resumes exactly
    here. On return the top frame may have no elements left; the caller closes it.
    """
    cdef _Frame f = top
    cdef _Frame parent
    cdef int kind = f.kind
    cdef object container = f.container
    cdef object key = f.key
    cdef object value
    cdef Py_ssize_t remaining = f.remaining
    cdef Py_ssize_t newpos = pos
    cdef Py_ssize_t used, start, end, count, s
    cdef uint64_t mag
    cdef PyObject *raw
    cdef int rc
    cdef unsigned char t
    cdef bint encoded = self.encoding is not None
    try:
        while True:
            if remaining == 0:
                # Close the finished aggregate into a sized, non-attribute parent.
                if self.depth < 2 or kind == _ATTR:
                    break
                parent = self.frames[self.depth - 2]
                if parent.remaining <= 0:  # a streamed parent: its limits apply
                    break
                value = container
                f.container = None
                f.key = _NOKEY
                f.remaining = 0
                self.depth -= 1
                f = parent
                kind = f.kind
                container = f.container
                key = f.key
                remaining = f.remaining
            else:
                if pos >= n:
                    break
                t = <unsigned char>buf[pos]
                if t == 36 and not encoded:
                    # $len CRLF body CRLF, the commonest element, without _scalar
                    used = _fast_uint(buf + pos + 1, buf + n, &mag)
                    if not used or mag > <uint64_t>self.max_bulk_len:
                        break
                    start = pos + 1 + used
                    end = start + <Py_ssize_t>mag
                    if end + 2 > n or buf[end] != b'\r' or buf[end + 1] != b'\n':
                        break
                    if kind == _ARRAY or kind == _PUSH:
                        raw = PyBytes_FromStringAndSize_raw(buf + start, end - start)
                        if raw == NULL:
                            raise MemoryError()
                        _list_add_steal(container, raw)
                        pos = end + 2
                        remaining -= 1
                        continue
                    if (kind == _MAP or kind == _ATTR) and PyBytes_CheckExact(key):
                        raw = PyBytes_FromStringAndSize_raw(buf + start, end - start)
                        if raw == NULL:
                            raise MemoryError()
                        rc = PyDict_SetItem_raw(<PyObject *>container, <PyObject *>key, raw)
                        Py_XDECREF(raw)
                        if rc < 0:
                            raise_error()
                        key = _NOKEY
                        pos = end + 2
                        remaining -= 1
                        continue
                    if (kind == _MAP or kind == _ATTR or kind == _SET) and (
                        end - start <= KEY_CACHE_MAX
                    ):
                        value = _key(self, buf + start, end - start)
                    else:
                        value = PyBytes_FromStringAndSize(buf + start, end - start)
                    pos = end + 2
                elif (t == 42 or t == 37 or t == 126) and self.depth < self.max_depth:
                    # a nested sized aggregate: descend into it
                    used = _fast_uint(buf + pos + 1, buf + n, &mag)
                    if not used or mag == 0 or mag > <uint64_t>self.max_elements:
                        break
                    count = <Py_ssize_t>mag
                    start = pos
                    pos += 1 + used
                    s = n - pos
                    f.remaining = remaining
                    f.key = key
                    if t == 42:
                        kind = _ARRAY
                        container = _new_list(count if count <= s // 3 else s // 3)
                        remaining = count
                    elif t == 37:
                        kind = _MAP
                        container = _PyDict_NewPresized(count if count <= s // 6 else s // 6)
                        remaining = count * 2
                    else:
                        kind = _SET
                        container = PySet_New(NULL)
                        remaining = count
                    key = _NOKEY
                    f = self._push_frame(kind, container, remaining, start)
                    continue
                else:
                    value = _scalar(self, 
                        buf, pos, n, &newpos,
                        kind == _SET or ((kind == _MAP or kind == _ATTR) and key is _NOKEY),
                    )
                    if value is _NOVALUE:
                        break
                    pos = newpos
            # add value to the current aggregate
            remaining -= 1
            if kind == _ARRAY or kind == _PUSH:
                _list_add(container, value)
            elif kind == _MAP or kind == _ATTR:
                if key is _NOKEY:
                    key = value
                else:
                    try:
                        PyDict_SetItem(container, key, value)
                    except TypeError:  # an unhashable key (a nested aggregate)
                        PyDict_SetItem(container, _freeze(key), value)
                    key = _NOKEY
            else:
                try:
                    PySet_Add(container, value)
                except TypeError:  # an unhashable member (a nested aggregate)
                    PySet_Add(container, _freeze(value))
    finally:
        f.remaining = remaining
        f.key = key
    return pos
