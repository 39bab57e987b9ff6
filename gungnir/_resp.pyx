# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython RESP2/RESP3 reader and request encoder (see gungnir.resp for the public face).

Same API, values and errors as the pure twin in ``gungnir/_resp_py.py``, which is the test
oracle. What makes this one fast:

* the receive buffer is a growable C buffer, compacted only when the consumed prefix is at
  least as large as what must be moved, so every byte is copied O(1) times;
* the parser is iterative with an explicit stack of reusable frames; a reply split across
  feeds resumes exactly where it stopped, and a partial line remembers where its CRLF
  search ended;
* the common lines (``+OK``, ``:123``, ``$10``, ``*3``, ``%2``) are parsed in one pass over
  the digits; anything unusual falls back to a generic path that mirrors the pure twin
  statement by statement, so both produce the same errors at the same offsets;
* objects are built with the C API: lists and dicts presized from the header (but never
  larger than what the buffered bytes could possibly fill) and filled without Python calls;
  big numbers are read eight digits at a time into an int built in C
  (``_resp_bignum.pxi``), and verbatim strings are a compiled bytes subclass
  (``_resp_verbatim.pxi``), which ``gungnir.resp.Verbatim`` then is for both readers.
"""

import codecs

cimport cython

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_Check, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_GET_SIZE
from cpython.long cimport PyLong_Check
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.ref cimport Py_INCREF, PyObject
from cpython.unicode cimport PyUnicode_Check
from libc.stdint cimport uint64_t
from libc.stdint cimport uint32_t
from libc.string cimport memchr, memcmp, memcpy, memmove


cdef extern from "Python.h":
    ctypedef struct PyListObject:
        PyObject **ob_item
        Py_ssize_t allocated

    void Py_SET_SIZE(object o, Py_ssize_t size)
    Py_ssize_t PyList_GET_SIZE(object o)
    object PyList_New(Py_ssize_t n)
    int PyList_Append(object lst, object item) except -1
    object _PyDict_NewPresized(Py_ssize_t minused)
    int PyDict_SetItem(object d, object k, object v) except -1
    object PySet_New(PyObject *iterable)
    int PySet_Add(object s, object k) except -1
    bint PyBytes_CheckExact(object o)
    bint PyBool_Check(object o)
    bint PyFloat_Check(object o)
    bint PyMemoryView_Check(object o)
    bint PyTuple_Check(object o)
    bint PyList_Check(object o)
    double PyFloat_AS_DOUBLE(object o)
    object PyBytes_FromStringAndSize(const char *s, Py_ssize_t n)
    object PyLong_FromLongLong(long long v)
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *exc) except? -1.0
    char *PyOS_double_to_string(double v, char code, int precision, int flags, int *ptype) except NULL
    int Py_DTSF_ADD_DOT_0
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t n, const char *errors)
    object PyUnicode_Decode(const char *s, Py_ssize_t n, const char *enc, const char *errors)
    const char *PyUnicode_AsUTF8AndSize(object o, Py_ssize_t *size) except NULL
    Py_ssize_t PyTuple_GET_SIZE(object o)
    PyObject *PyTuple_GET_ITEM(object o, Py_ssize_t i)
    PyObject *PyBytes_FromStringAndSize_raw "PyBytes_FromStringAndSize"(const char *s, Py_ssize_t n)
    char *PyBytes_AS_STRING_raw "PyBytes_AS_STRING"(PyObject *o)
    int _PyBytes_Resize(PyObject **o, Py_ssize_t n)
    void Py_XDECREF(PyObject *o)
    int PyDict_SetItem_raw "PyDict_SetItem"(PyObject *d, PyObject *k, PyObject *v)


# Before the import below: _resp_types takes its Verbatim from this module when it loads.
include "_resp_verbatim.pxi"

from gungnir import _resp_types
from gungnir._resp_types import (
    NEED_DATA,
    ProtocolError,
    Push,
    VerbatimStr,
    error_from_message,
    freeze,
)


cdef object _NEED_DATA = NEED_DATA
cdef object _ProtocolError = ProtocolError
cdef object _Push = Push
cdef object _VerbatimStr = VerbatimStr
cdef object _error_from_message = error_from_message
cdef object _freeze = freeze
cdef object _NOKEY = object()
cdef object _NOVALUE = object()  # "not a fast scalar": the general path must decide
cdef bytes _OK = b"OK"

# Frame kinds (same numbering as the pure twin).
DEF _ARRAY = 0
DEF _SET = 1
DEF _MAP = 2
DEF _PUSH = 3
DEF _ATTR = 4
DEF _STREAM = 5

DEF SHORT_LINE_MAX = 64
DEF DEFAULT_MAX_DEPTH = 1024
DEF DEFAULT_MAX_BULK_LEN = 512 * 1024 * 1024
DEF DEFAULT_MAX_ELEMENTS = 4294967296
DEF MIN_CAPACITY = 65536
DEF SHRINK_ABOVE = 4 * 1024 * 1024
DEF BIG_BULK = 1024 * 1024  # bulks this large are copied straight into their bytes object
DEF KEY_CACHE_MAX = 32  # map keys / set members up to this long are shared between replies

cdef unsigned char _VALID[256]
cdef unsigned char _SHORT[256]
cdef unsigned char _AGG_KIND[256]   # kind + 1 for * ~ % > |, else 0


cdef void _init_tables():
    cdef int i
    for i in range(256):
        _VALID[i] = 0
        _SHORT[i] = 0
        _AGG_KIND[i] = 0
    for i in b"+-:$*%~>|!=;#_.,(":
        _VALID[i] = 1
    for i in b"$*%~>|!=;:#_.":
        _SHORT[i] = 1
    _AGG_KIND[42] = _ARRAY + 1
    _AGG_KIND[126] = _SET + 1
    _AGG_KIND[37] = _MAP + 1
    _AGG_KIND[62] = _PUSH + 1
    _AGG_KIND[124] = _ATTR + 1


_init_tables()


include "_resp_scan.pxi"
include "_resp_bignum.pxi"


@cython.final
cdef class _Frame:
    pass


@cython.final
cdef class Reader:
    """Incremental RESP2/RESP3 reader, compiled. See :class:`gungnir.resp.PyReader`.

    ``Reader(*, encoding=None, errors="strict", max_depth=1024, max_bulk_len=512 MiB,
    max_elements=2**32, push_handler=None)``. ``feed(data, offset=0, length=-1)`` takes
    bytes, bytearray or memoryview; ``gets()`` returns one reply or ``NEED_DATA``.
    ``attributes`` is the attribute map that preceded the reply last returned (or None).
    """

    def __cinit__(self):
        self.buf = NULL
        self.cap = 0
        self.frames = []
        cdef int i
        for i in range(256):
            self.keycache[i] = NULL

    def __dealloc__(self):
        cdef int i
        Py_XDECREF(self.big)
        self.big = NULL
        for i in range(256):
            Py_XDECREF(self.keycache[i])
            self.keycache[i] = NULL
        if self.buf != NULL:
            PyMem_Free(self.buf)
            self.buf = NULL

    def __init__(
        self,
        *,
        encoding=None,
        str errors="strict",
        Py_ssize_t max_depth=DEFAULT_MAX_DEPTH,
        Py_ssize_t max_bulk_len=DEFAULT_MAX_BULK_LEN,
        Py_ssize_t max_elements=DEFAULT_MAX_ELEMENTS,
        push_handler=None,
    ):
        if encoding is not None:
            "".encode(encoding, errors)  # LookupError now rather than at the first reply
            self.utf8 = codecs.lookup(encoding).name == "utf-8"
            self.encoding_b = encoding.encode("ascii")
        else:
            self.utf8 = False
            self.encoding_b = None
        if max_depth < 1 or max_bulk_len < 0 or max_elements < 0:
            raise ValueError("max_depth must be >= 1 and the other limits >= 0")
        if push_handler is not None and not callable(push_handler):
            raise TypeError("push_handler must be callable")
        self.encoding = encoding
        self.errors = errors
        self.errors_b = errors.encode("ascii")
        self.max_depth = max_depth
        self.max_bulk_len = max_bulk_len
        self.max_elements = max_elements
        self.push_handler = push_handler
        # Normally the compiled type; the pure class when _resp_types did not take it
        # (GUNGNIR_PURE=1): either way the same type as the pure twin returns.
        self.verbatim_cls = _resp_types.Verbatim
        self.cverbatim = self.verbatim_cls is _CVerbatim
        self.reset()

    # -- public API -------------------------------------------------------------------

    def feed(self, data, Py_ssize_t offset=0, Py_ssize_t length=-1):
        """Append ``data[offset:offset+length]`` (``length=-1``: to the end) to the buffer."""
        cdef Py_buffer view
        cdef const char *p
        cdef Py_ssize_t size
        cdef bint release = False
        cdef Py_ssize_t take
        if PyBytes_CheckExact(data):
            p = PyBytes_AS_STRING(data)
            size = PyBytes_GET_SIZE(data)
        else:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            release = True
            p = <const char *>view.buf
            size = view.len
        try:
            if offset < 0 or offset > size:
                raise ValueError(f"offset {offset} out of range for {size} bytes")
            if length < 0:
                if length != -1:
                    raise ValueError("length must be >= 0, or -1 for the rest")
                length = size - offset
            elif offset + length > size:
                raise ValueError(f"offset + length ({offset} + {length}) exceeds {size} bytes")
            if self.big != NULL and self.big_have < self.bulk_len and length:
                take = self._feed_big(p + offset, length)
                offset += take
                length -= take
            if length:
                self._reserve(length)
                memcpy(self.buf + self.length, p + offset, length)
                self.length += length
        finally:
            if release:
                PyBuffer_Release(&view)

    def has_data(self):
        """True when fed bytes are waiting to be parsed."""
        return self.length > self.pos or self.big_have > 0

    def buffered(self):
        """Number of fed bytes not yet parsed (a big bulk's body counts until returned)."""
        return self.length - self.pos + self.big_have

    def reset(self):
        """Forget all buffered data and partial state, and clear a poisoned state."""
        cdef Py_ssize_t i
        cdef _Frame f
        for i in range(self.depth):
            f = self.frames[i]
            f.container = None
            f.key = None
        self.depth = 0
        self.length = 0
        self.pos = 0
        self.base = 0
        self.scan = 0
        self.bulk_len = -1
        self.bulk_type = 0
        self.bulk_at = 0
        Py_XDECREF(self.big)
        self.big = NULL
        self.big_have = 0
        self.big_cap = 0
        self.attrs = None
        self.poison = None
        self.decode_error = None
        self.attributes = None
        if self.cap > SHRINK_ABOVE:
            PyMem_Free(self.buf)
            self.buf = NULL
            self.cap = 0

    def gets(self):
        """Return the next complete reply, or ``NEED_DATA``."""
        cdef Py_ssize_t newpos
        if self.poison is not None:
            raise self.poison
        if self.depth == 0 and self.bulk_len < 0 and self.pos < self.length and self.attrs is None:
            # A top-level scalar needs none of the machinery of _parse.
            value = _scalar(self, self.buf, self.pos, self.length, &newpos)
            if value is not _NOVALUE:
                self.pos = newpos
                if self.decode_error is not None:
                    exc = self.decode_error
                    self.decode_error = None
                    raise exc
                if self.attributes is not None:
                    self.attributes = None
                return value
        return self._parse()

    # -- internals --------------------------------------------------------------------

    cdef int _reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t unparsed = self.length - self.pos
        cdef Py_ssize_t need, newcap
        cdef char *nbuf
        if self.pos > 0:
            if unparsed == 0:
                self.base += self.pos
                self.scan = 0
                self.pos = 0
                self.length = 0
                if self.cap > SHRINK_ABOVE and extra < MIN_CAPACITY:
                    PyMem_Free(self.buf)
                    self.buf = NULL
                    self.cap = 0
            elif self.length + extra > self.cap and self.pos >= unparsed:
                # Moving the tail costs no more than the bytes already consumed.
                memmove(self.buf, self.buf + self.pos, unparsed)
                self.base += self.pos
                self.scan = self.scan - self.pos if self.scan > self.pos else 0
                self.pos = 0
                self.length = unparsed
        need = self.length + extra
        if need > self.cap:
            newcap = self.cap * 2
            if newcap < need:
                newcap = need
            if newcap < MIN_CAPACITY:
                newcap = MIN_CAPACITY
            nbuf = <char *>PyMem_Realloc(self.buf, newcap)
            if nbuf == NULL:
                raise MemoryError()
            self.buf = nbuf
            self.cap = newcap
        return 0

    cdef Py_ssize_t _feed_big(self, const char *p, Py_ssize_t n) except -1:
        """Copy incoming body bytes of a big bulk straight into its bytes object."""
        cdef Py_ssize_t take = self.bulk_len - self.big_have
        cdef Py_ssize_t newcap
        if take > n:
            take = n
        if self.pos == self.length:  # the receive buffer is empty in big mode
            self.base += self.pos
            self.pos = 0
            self.length = 0
            self.scan = 0
        if self.big_have + take > self.big_cap:
            newcap = self.big_cap * 2
            if newcap < self.big_have + take:
                newcap = self.big_have + take
            if newcap > self.bulk_len:
                newcap = self.bulk_len
            if _PyBytes_Resize(&self.big, newcap) < 0:
                self.big = NULL
                raise MemoryError()
            self.big_cap = newcap
        memcpy(PyBytes_AS_STRING_raw(self.big) + self.big_have, p, take)
        self.big_have += take
        self.base += take
        return take

    cdef Py_ssize_t _start_bulk(self, Py_ssize_t blen, int t, Py_ssize_t start, Py_ssize_t pos,
                                Py_ssize_t n) except -1:
        """Wait for the body of a $ ! = ; element; return the new parse position."""
        cdef Py_ssize_t have = n - pos
        cdef Py_ssize_t cap
        self.bulk_len = blen
        self.bulk_type = t
        self.bulk_at = self.base + start
        self.scan = 0
        if t != 36 or blen < BIG_BULK or have >= blen:
            return pos
        # Big bulk: grow its bytes object with the data actually received (never sized
        # from the header alone beyond 64 KiB), so the body is copied once, not twice.
        cap = 2 * have if 2 * have > MIN_CAPACITY else MIN_CAPACITY
        if cap > blen:
            cap = blen
        self.big = PyBytes_FromStringAndSize_raw(NULL, cap)
        if self.big == NULL:
            raise MemoryError()
        self.big_cap = cap
        memcpy(PyBytes_AS_STRING_raw(self.big), self.buf + pos, have)
        self.big_have = have
        return n

    cdef object _fail(self, str message, Py_ssize_t pos):
        exc = _ProtocolError(message, self.base + pos)
        self.poison = exc
        return exc

    cdef object _text(self, const char *p, Py_ssize_t n):
        try:
            if self.utf8:
                return PyUnicode_DecodeUTF8(p, n, <const char *>self.errors_b)
            return PyUnicode_Decode(
                p, n, <const char *>self.encoding_b, <const char *>self.errors_b
            )
        except UnicodeDecodeError as exc:
            if self.decode_error is None:
                self.decode_error = exc
            return PyBytes_FromStringAndSize(p, n)

    cdef object _verbatim(self, const char *p, Py_ssize_t n):
        """The value of a verbatim body ``fmt:text`` of n >= 4 bytes (p[3] is ':')."""
        if self.cverbatim and self.encoding is None:
            return gungnir_verbatim_from_body(p, n)
        fmt = PyUnicode_Decode(p, 3, "latin-1", NULL)
        if self.encoding is None:
            return self.verbatim_cls(PyBytes_FromStringAndSize(p + 4, n - 4), fmt)
        value = self._text(p + 4, n - 4)
        if isinstance(value, str):
            return _VerbatimStr(value, fmt)
        return self.verbatim_cls(value, fmt)  # undecodable: bytes, and decode_error is set

    cdef _Frame _push_frame(self, int kind, object container, Py_ssize_t remaining,
                            Py_ssize_t start):
        cdef _Frame f
        if self.depth < len(self.frames):
            f = self.frames[self.depth]
        else:
            f = _Frame.__new__(_Frame)
            self.frames.append(f)
        f.kind = kind
        f.container = container
        f.remaining = remaining
        f.start = self.base + start
        f.key = _NOKEY
        self.depth += 1
        return f

    cdef object _parse(self):
        cdef char *buf = self.buf
        cdef Py_ssize_t pos = self.pos
        cdef Py_ssize_t n = self.length
        cdef Py_ssize_t start, eol, blen, end, limit, count, used, s
        cdef Py_ssize_t line_len
        cdef const char *line
        cdef const char *q
        cdef unsigned char t
        cdef int kind
        cdef bint neg, goto_complete, closed
        cdef uint64_t mag
        cdef _Frame top = self.frames[self.depth - 1] if self.depth else None
        cdef object value, container, key
        cdef bint encoded = self.encoding is not None
        cdef char numbuf[SHORT_LINE_MAX + 2]

        while True:
            # ---- 1. read one element: a value, or a frame opened/closed ----
            closed = False
            if top is not None and top.remaining > 0 and top.kind != _STREAM and (
                self.bulk_len < 0
            ):
                pos = _fill(self, top, buf, pos, n)
                top = self.frames[self.depth - 1]
                if top.remaining == 0:  # the fill completed it: close it here
                    value = top.container
                    kind = top.kind
                    top.container = None
                    self.depth -= 1
                    top = self.frames[self.depth - 1] if self.depth else None
                    if kind == _ATTR:
                        if top is None:
                            if self.attrs is None:
                                self.attrs = value
                            else:
                                self.attrs.update(value)
                        continue
                    closed = True
            if closed:
                pass
            elif self.big != NULL:
                blen = self.bulk_len
                if self.big_have < blen or n - pos < 2:
                    self.pos = pos
                    return _NEED_DATA
                if buf[pos] != b'\r' or buf[pos + 1] != b'\n':
                    raise self._fail("bulk data not followed by CRLF", pos)
                pos += 2
                self.bulk_len = -1
                value = <object>self.big
                Py_XDECREF(self.big)  # the reference now lives in value
                self.big = NULL
                self.big_have = self.big_cap = 0
                if encoded:
                    value = self._text(PyBytes_AS_STRING(value), blen)
            elif self.bulk_len >= 0:
                blen = self.bulk_len
                end = pos + blen
                if n < end + 2:
                    self.pos = pos
                    return _NEED_DATA
                if buf[end] != b'\r' or buf[end + 1] != b'\n':
                    raise self._fail("bulk data not followed by CRLF", end)
                t = <unsigned char>self.bulk_type
                self.bulk_len = -1
                line = buf + pos
                pos = end + 2
                if t == 36:  # $
                    value = (
                        self._text(line, blen) if encoded
                        else PyBytes_FromStringAndSize(line, blen)
                    )
                elif t == 59:  # ; chunk of a streamed string
                    top.remaining += blen
                    if top.remaining > self.max_bulk_len:
                        raise self._fail(
                            "streamed string exceeds max_bulk_len", self.bulk_at - self.base
                        )
                    _list_add(top.container, PyBytes_FromStringAndSize(line, blen))
                    continue
                elif t == 33:  # !
                    value = _error_from_message(PyUnicode_DecodeUTF8(line, blen, "replace"))
                else:  # = verbatim
                    if line[3] != b':':
                        raise self._fail("verbatim string lacks its 'fmt:' prefix", end - blen)
                    value = self._verbatim(line, blen)
            else:
                if pos >= n:
                    self.pos = pos
                    return _NEED_DATA
                t = <unsigned char>buf[pos]
                if not _VALID[t]:
                    raise self._fail(f"invalid type byte 0x{t:02x}", pos)
                if top is not None and top.kind == _STREAM and t != 59:
                    raise self._fail("expected a ';' chunk inside a streamed string", pos)
                start = pos

                # -- fast paths for the common well-formed lines; anything else falls
                #    through to the generic path below, which mirrors the pure twin --
                goto_complete = False
                value = _scalar(self, buf, pos, n, &s)
                if value is not _NOVALUE:
                    pos = s
                    goto_complete = True
                elif t == 36:  # $len whose body has not fully arrived
                    used = _fast_uint(buf + pos + 1, buf + n, &mag)
                    if used and mag <= <uint64_t>self.max_bulk_len:
                        pos = self._start_bulk(<Py_ssize_t>mag, 36, start, pos + 1 + used, n)
                        continue
                elif (t == 42 or t == 37 or t == 126) and self.depth < self.max_depth:
                    used = _fast_uint(buf + pos + 1, buf + n, &mag)
                    if used and 0 < mag <= <uint64_t>self.max_elements:
                        count = <Py_ssize_t>mag
                        pos += 1 + used
                        s = n - pos  # bytes that could fill it right now
                        if t == 42:
                            top = self._push_frame(
                                _ARRAY, _new_list(count if count <= s // 3 else s // 3),
                                count, start)
                        elif t == 37:
                            top = self._push_frame(
                                _MAP, _PyDict_NewPresized(count if count <= s // 6 else s // 6),
                                count * 2, start)
                        else:
                            top = self._push_frame(_SET, PySet_New(NULL), count, start)
                        self.scan = 0
                        continue
                    goto_complete = False
                else:
                    goto_complete = False

                if not goto_complete:
                    # -- generic path: find the line, then interpret it --
                    limit = SHORT_LINE_MAX if _SHORT[t] else self.max_bulk_len
                    s = self.scan if self.scan > pos else pos + 1
                    eol = -1
                    while s < n:
                        q = <const char *>memchr(buf + s, b'\r', n - s)
                        if q == NULL or q + 1 >= buf + n:
                            break
                        if q[1] == b'\n':
                            eol = q - buf
                            break
                        s = q - buf + 1
                    if eol < 0:
                        if n - pos - 2 > limit:
                            raise self._fail("line too long", pos)
                        self.scan = n - 1
                        self.pos = pos
                        return _NEED_DATA
                    if eol - pos - 1 > limit:
                        raise self._fail("line too long", pos)
                    self.scan = 0
                    line = buf + pos + 1
                    line_len = eol - pos - 1
                    pos = eol + 2

                    if t == 43:  # +
                        value = (
                            self._text(line, line_len) if encoded
                            else PyBytes_FromStringAndSize(line, line_len)
                        )
                    elif t == 58:  # :
                        if not _parse_num(line, line_len, &neg, &mag):
                            raise self._fail("invalid integer", start)
                        if (neg and mag > 9223372036854775808ULL) or (
                            not neg and mag > 9223372036854775807ULL
                        ):
                            raise self._fail("integer out of 64-bit range", start)
                        value = PyLong_FromLongLong(
                            <long long>(0 - mag) if neg else <long long>mag
                        )
                    elif t == 36 or t == 33 or t == 61 or t == 59:  # $ ! = ;
                        if t == 36 and line_len == 1 and line[0] == b'?':
                            if self.depth >= self.max_depth:
                                raise self._fail("nesting deeper than max_depth", start)
                            top = self._push_frame(_STREAM, _new_list(0), 0, start)
                            continue
                        if not _parse_num(line, line_len, &neg, &mag):
                            raise self._fail("invalid length", start)
                        if neg:  # only $-1 (RESP2 null); "-0" is no length either
                            if mag == 1 and t == 36:
                                value = None
                            else:
                                raise self._fail("invalid length", start)
                        elif mag > <uint64_t>self.max_bulk_len:
                            raise self._fail("length exceeds max_bulk_len", start)
                        else:
                            blen = <Py_ssize_t>mag
                            if t == 59:
                                if top is None or top.kind != _STREAM:
                                    raise self._fail(
                                        "';' chunk outside a streamed string", start
                                    )
                                if blen == 0:
                                    container = top.container
                                    top.container = None
                                    self.depth -= 1
                                    top = self.frames[self.depth - 1] if self.depth else None
                                    value = b"".join(container)
                                    if encoded:
                                        value = self._text(
                                            PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value)
                                        )
                                else:
                                    pos = self._start_bulk(blen, t, start, pos, n)
                                    continue
                            else:
                                if t == 61 and blen < 4:
                                    raise self._fail(
                                        "verbatim string shorter than 'fmt:'", start
                                    )
                                pos = self._start_bulk(blen, t, start, pos, n)
                                continue
                    elif _AGG_KIND[t]:  # * ~ % > |
                        kind = _AGG_KIND[t] - 1
                        if line_len == 1 and line[0] == b'?' and (
                            t == 42 or t == 126 or t == 37
                        ):
                            count = -1
                        elif _parse_num(line, line_len, &neg, &mag):
                            if neg:  # only *-1 (RESP2 null array); not "-0"
                                if mag == 1 and t == 42:
                                    count = -2  # RESP2 null array
                                else:
                                    raise self._fail("invalid aggregate length", start)
                            elif mag > <uint64_t>self.max_elements:
                                raise self._fail("aggregate length exceeds max_elements", start)
                            else:
                                count = <Py_ssize_t>mag
                        else:
                            raise self._fail("invalid aggregate length", start)
                        if count == -2:
                            value = None
                        else:
                            if self.depth >= self.max_depth:
                                raise self._fail("nesting deeper than max_depth", start)
                            s = n - pos
                            if kind == _MAP or kind == _ATTR:
                                container = (
                                    _PyDict_NewPresized(count if count <= s // 6 else s // 6)
                                    if count > 0 else {}
                                )
                                if count > 0:
                                    count *= 2
                            elif kind == _SET:
                                container = PySet_New(NULL)
                            elif kind == _PUSH:
                                container = _Push()
                            else:
                                container = _new_list(
                                    count if 0 <= count <= s // 3 else (s // 3 if count > 0 else 0)
                                )
                            if count != 0:
                                top = self._push_frame(kind, container, count, start)
                                continue
                            if kind == _ATTR:
                                if top is None and self.attrs is None:
                                    self.attrs = {}
                                continue
                            value = container
                    elif t == 95:  # _
                        if line_len:
                            raise self._fail("invalid null", start)
                        value = None
                    elif t == 35:  # #
                        if line_len == 1 and line[0] == b't':
                            value = True
                        elif line_len == 1 and line[0] == b'f':
                            value = False
                        else:
                            raise self._fail("invalid boolean", start)
                    elif t == 44:  # ,
                        if not _valid_double(line, line_len):
                            raise self._fail("invalid double", start)
                        if line_len <= SHORT_LINE_MAX:
                            memcpy(numbuf, line, line_len)
                            numbuf[line_len] = 0
                            value = PyOS_string_to_double(numbuf, NULL, NULL)
                        else:
                            value = float(PyBytes_FromStringAndSize(line, line_len))
                    elif t == 40:  # (
                        if not _parse_num(line, line_len, &neg, &mag):
                            raise self._fail("invalid big number", start)
                        try:
                            value = _bignum(line, line_len)
                        except ValueError:
                            raise self._fail("big number too long", start) from None
                    elif t == 45:  # -
                        value = _error_from_message(
                            PyUnicode_DecodeUTF8(line, line_len, "replace")
                        )
                    else:  # . (the only valid type left)
                        if line_len or top is None or top.remaining >= 0:
                            raise self._fail("unexpected end marker", start)
                        if top.key is not _NOKEY:
                            raise self._fail("streamed map ended after a key", start)
                        value = top.container
                        top.container = None
                        self.depth -= 1
                        top = self.frames[self.depth - 1] if self.depth else None

            # ---- 2. hand the value to its parent, closing every frame it completes ----
            while True:
                if top is None:
                    if self.decode_error is not None:
                        exc = self.decode_error
                        self.decode_error = None
                        self.attrs = None
                        self.pos = pos
                        raise exc
                    attrs = self.attrs
                    self.attrs = None
                    if self.push_handler is not None and type(value) is _Push:
                        self.pos = pos
                        self.push_handler(value)
                        # The handler may have fed (moved the buffer) or reset the reader.
                        buf = self.buf
                        pos = self.pos
                        n = self.length
                        top = self.frames[self.depth - 1] if self.depth else None
                        break
                    self.attributes = attrs
                    self.pos = pos
                    return value
                kind = top.kind
                container = top.container
                if kind == _ARRAY or kind == _PUSH:
                    _list_add(container, value)
                elif kind == _MAP or kind == _ATTR:
                    key = top.key
                    if key is _NOKEY:
                        top.key = value
                    else:
                        top.key = _NOKEY
                        try:
                            PyDict_SetItem(container, key, value)
                        except TypeError:
                            PyDict_SetItem(container, _freeze(key), value)
                else:
                    try:
                        PySet_Add(container, value)
                    except TypeError:
                        PySet_Add(container, _freeze(value))
                top.remaining -= 1
                if top.remaining != 0:
                    # elements so far (keys and values for maps) > limit; no overflow
                    if top.remaining < 0 and (
                        (-top.remaining - 1 - self.max_elements > self.max_elements)
                        if kind == _MAP else (-top.remaining - 1 > self.max_elements)
                    ):
                        raise self._fail(
                            "streamed aggregate exceeds max_elements", top.start - self.base
                        )
                    break
                top.container = None
                self.depth -= 1
                top = self.frames[self.depth - 1] if self.depth else None
                if kind == _ATTR:
                    if top is None:
                        if self.attrs is None:
                            self.attrs = container
                        else:
                            self.attrs.update(container)
                    break
                value = container


include "_resp_fast.pxi"


include "_resp_pack.pxi"
