# The request encoder of gungnir._resp (pack_command / pack_commands), textually
# included by _resp.pyx so the codec stays one extension module.

cdef struct _Out:
    char *p
    Py_ssize_t len
    Py_ssize_t cap
    bint heap


cdef int _out_grow(_Out *o, Py_ssize_t extra) except -1:
    cdef Py_ssize_t newcap = o.cap * 2
    cdef char *np
    if newcap < o.len + extra:
        newcap = o.len + extra
    if o.heap:
        np = <char *>PyMem_Realloc(o.p, newcap)
    else:
        np = <char *>PyMem_Malloc(newcap)
        if np != NULL:
            memcpy(np, o.p, o.len)
    if np == NULL:
        raise MemoryError()
    o.p = np
    o.cap = newcap
    o.heap = True
    return 0


cdef inline char *_put_uint(char *dst, uint64_t v):
    """Write v in decimal at dst; return the end."""
    cdef char tmp[24]
    cdef int i = 0
    while True:
        tmp[i] = <char>(48 + v % 10)
        v //= 10
        i += 1
        if v == 0:
            break
    while i > 0:
        i -= 1
        dst[0] = tmp[i]
        dst += 1
    return dst


cdef inline int _put_header(_Out *o, char kind, Py_ssize_t n) except -1:
    if o.len + 24 > o.cap:
        _out_grow(o, 24)
    cdef char *d = o.p + o.len
    d[0] = kind
    d = _put_uint(d + 1, <uint64_t>n)
    d[0] = b'\r'
    d[1] = b'\n'
    o.len = d + 2 - o.p
    return 0


cdef inline int _put_bulk(_Out *o, const char *data, Py_ssize_t n) except -1:
    if o.len + n + 26 > o.cap:
        _out_grow(o, n + 26)
    cdef char *d = o.p + o.len
    d[0] = b'$'
    d = _put_uint(d + 1, <uint64_t>n)
    d[0] = b'\r'
    d[1] = b'\n'
    memcpy(d + 2, data, n)
    d += n + 2
    d[0] = b'\r'
    d[1] = b'\n'
    o.len = d + 2 - o.p
    return 0


cdef str _prefix(Py_ssize_t command):
    return "" if command < 0 else f"command {command} "


cdef int _pack_arg(_Out *o, object arg, Py_ssize_t index, Py_ssize_t command) except -1:
    cdef Py_ssize_t n
    cdef const char *p
    cdef long long v
    cdef int overflow = 0
    cdef char digits[24]
    cdef char *end
    cdef char *text
    cdef Py_buffer view
    if PyBytes_Check(arg):
        return _put_bulk(o, PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg))
    if PyUnicode_Check(arg):
        p = PyUnicode_AsUTF8AndSize(arg, &n)
        return _put_bulk(o, p, n)
    if PyLong_Check(arg) and not PyBool_Check(arg):
        v = PyLong_AsLongLongAndOverflow(arg, &overflow)
        if overflow == 0:
            if v < 0:
                digits[0] = b'-'
                end = _put_uint(digits + 1, <uint64_t>0 - <uint64_t>v)
            else:
                end = _put_uint(digits, <uint64_t>v)
            return _put_bulk(o, digits, end - digits)
        data = str(int(arg)).encode()
        return _put_bulk(o, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    if PyFloat_Check(arg):
        text = PyOS_double_to_string(PyFloat_AS_DOUBLE(arg), b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
        try:
            n = 0
            while text[n]:
                n += 1
            _put_bulk(o, text, n)
        finally:
            PyMem_Free(text)
        return 0
    if PyByteArray_Check(arg):
        return _put_bulk(o, PyByteArray_AS_STRING(arg), PyByteArray_GET_SIZE(arg))
    if PyMemoryView_Check(arg):
        if not arg.c_contiguous:  # a strided view: its elements' bytes, in order
            data = arg.tobytes()
            return _put_bulk(o, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)
        try:
            _put_bulk(o, <const char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        return 0
    raise TypeError(
        f"{_prefix(command)}argument {index} has type {type(arg).__name__}; "
        "expected bytes, bytearray, memoryview, str, int or float"
    )


cdef int _pack_into(_Out *o, object args, Py_ssize_t command) except -1:
    cdef Py_ssize_t i, n = len(args)
    if n == 0:
        raise ValueError(f"{_prefix(command)}empty command")
    _put_header(o, b'*', n)
    if PyTuple_Check(args):
        for i in range(n):
            _pack_arg(o, <object>PyTuple_GET_ITEM(args, i), i, command)
    else:
        for i in range(n):
            _pack_arg(o, args[i], i, command)
    return 0


def pack_command(*args):
    """Encode one command as a RESP array of bulk strings (see the pure twin)."""
    cdef char stack[1024]
    cdef _Out o
    o.p = stack
    o.len = 0
    o.cap = 1024
    o.heap = False
    try:
        _pack_into(&o, args, -1)
        return PyBytes_FromStringAndSize(o.p, o.len)
    finally:
        if o.heap:
            PyMem_Free(o.p)


def pack_commands(commands):
    """Encode many commands (an iterable of argument sequences) into one buffer."""
    cdef char stack[4096]
    cdef _Out o
    cdef Py_ssize_t j = 0
    o.p = stack
    o.len = 0
    o.cap = 4096
    o.heap = False
    try:
        for args in commands:
            if not (PyTuple_Check(args) or PyList_Check(args)):
                raise TypeError(f"command {j} must be a tuple or list of arguments")
            _pack_into(&o, args, j)
            j += 1
        return PyBytes_FromStringAndSize(o.p, o.len)
    finally:
        if o.heap:
            PyMem_Free(o.p)
