# The contract of the Cython RESP reader: its state and its C-level methods.
# The pure twin (gungnir/_resp_py.py) keeps exactly the same state under the same names,
# which is what makes the differential tests meaningful.

cimport cython
from cpython.ref cimport PyObject

@cython.final
cdef class _Frame:
    # One open aggregate (or streamed string) on the explicit parse stack.
    cdef int kind             # _ARRAY, _SET, _MAP, _PUSH, _ATTR or _STREAM
    cdef Py_ssize_t remaining # elements still expected; < 0 counts down for streamed forms,
                              # for _STREAM it is the byte total so far
    cdef Py_ssize_t start     # absolute offset of the header, for error messages
    cdef object container     # the list/dict/set/Push being filled, or the chunk list
    cdef object key           # pending map key, or the _NOKEY sentinel


@cython.final
cdef class Reader:
    cdef char *buf            # growable receive buffer: [pos, length) is unparsed
    cdef Py_ssize_t cap
    cdef Py_ssize_t length
    cdef Py_ssize_t pos
    cdef Py_ssize_t base      # bytes dropped from the front so far (for absolute offsets)
    cdef Py_ssize_t scan      # where the CRLF search for the current line resumes

    cdef Py_ssize_t bulk_len  # >= 0 while waiting for the body of a $ ! = ; element
    cdef int bulk_type
    cdef Py_ssize_t bulk_at
    cdef PyObject *big        # a big $ body being filled in place (owned), or NULL
    cdef Py_ssize_t big_have
    cdef Py_ssize_t big_cap

    cdef list frames          # pool of _Frame objects; frames[:depth] are open
    cdef Py_ssize_t depth

    cdef object encoding      # None or the codec name
    cdef object errors
    cdef bytes encoding_b     # the same, as C strings for PyUnicode_Decode
    cdef bytes errors_b
    cdef bint utf8            # encoding is UTF-8: use the C decoder directly
    cdef Py_ssize_t max_depth
    cdef Py_ssize_t max_bulk_len
    cdef Py_ssize_t max_elements
    cdef object push_handler
    cdef object verbatim_cls  # _resp_types.Verbatim, read when the reader is made
    cdef bint cverbatim       # ... and it is the compiled type: build it in C

    cdef object attrs         # pending top-level attribute map (dict) or None
    cdef object poison        # the ProtocolError that poisoned the reader, or None
    cdef object decode_error  # first UnicodeDecodeError inside the current reply
    cdef public object attributes
    cdef PyObject *keycache[256]  # owned references to short bytes (see _key)
    cdef Py_ssize_t key_hits
    cdef Py_ssize_t key_misses
    cdef Py_ssize_t key_bypass

    cdef object _fail(self, str message, Py_ssize_t pos)
    cdef object _text(self, const char *p, Py_ssize_t n)
    cdef object _verbatim(self, const char *p, Py_ssize_t n)
    cdef _Frame _push_frame(self, int kind, object container, Py_ssize_t remaining,
                            Py_ssize_t start)
    cdef object _parse(self)
    cdef int _reserve(self, Py_ssize_t extra) except -1
    cdef Py_ssize_t _feed_big(self, const char *p, Py_ssize_t n) except -1
    cdef Py_ssize_t _start_bulk(self, Py_ssize_t blen, int t, Py_ssize_t start, Py_ssize_t pos,
                                Py_ssize_t n) except -1
