# Scanning helpers of the Cython RESP reader, textually included by _resp.pyx:
# strict number/double recognisers and list helpers. No Python-visible names.

cdef inline bint _parse_num(const char *p, Py_ssize_t n, bint *neg, uint64_t *mag):
    """Match ``-?[0-9]+`` exactly; the magnitude saturates at 2**64-1 instead of wrapping."""
    cdef Py_ssize_t i = 0
    cdef uint64_t m = 0
    cdef unsigned int d
    neg[0] = False
    if n > 0 and p[0] == b'-':
        neg[0] = True
        i = 1
    if i >= n:
        return False
    while i < n:
        d = <unsigned char>p[i] - 48
        if d > 9:
            return False
        # ULL: without the suffix Cython makes these Python ints, compared per digit
        if m > 1844674407370955161ULL or (m == 1844674407370955161ULL and d > 5):
            m = 0xFFFFFFFFFFFFFFFFULL
        else:
            m = m * 10 + d
        i += 1
    mag[0] = m
    return True


cdef inline Py_ssize_t _fast_uint(const char *p, const char *end, uint64_t *out):
    """Parse ``[0-9]{1,18}\\r\\n`` at p; return bytes consumed, or 0 if it is anything else."""
    cdef const char *q = p
    cdef uint64_t v = 0
    cdef unsigned int d
    while q < end:
        d = <unsigned char>q[0] - 48
        if d > 9:
            break
        v = v * 10 + d
        q += 1
    if q == p or q - p > 18 or q + 1 >= end or q[0] != b'\r' or q[1] != b'\n':
        return 0
    out[0] = v
    return q - p + 2


cdef inline bint _valid_double(const char *p, Py_ssize_t n):
    """The double grammar of the pure twin: a decimal with optional exponent, or inf/nan."""
    cdef Py_ssize_t i = 0, digits = 0, frac = 0
    cdef char c0, c1, c2
    if n > 0 and (p[0] == b'+' or p[0] == b'-'):
        i = 1
    if n - i == 3:
        c0 = p[i] | 0x20
        c1 = p[i + 1] | 0x20
        c2 = p[i + 2] | 0x20
        if (c0 == b'i' and c1 == b'n' and c2 == b'f') or (
            c0 == b'n' and c1 == b'a' and c2 == b'n'
        ):
            return True
    while i < n and b'0' <= p[i] <= b'9':
        i += 1
        digits += 1
    if i < n and p[i] == b'.':
        i += 1
        while i < n and b'0' <= p[i] <= b'9':
            i += 1
            frac += 1
        if digits == 0 and frac == 0:
            return False
    elif digits == 0:
        return False
    if i < n and (p[i] == b'e' or p[i] == b'E'):
        i += 1
        if i < n and (p[i] == b'+' or p[i] == b'-'):
            i += 1
        digits = 0
        while i < n and b'0' <= p[i] <= b'9':
            i += 1
            digits += 1
        if digits == 0:
            return False
    return i == n


cdef double _POW10[23]


cdef void _init_pow10():
    cdef int i
    _POW10[0] = 1.0
    for i in range(1, 23):
        _POW10[i] = _POW10[i - 1] * 10.0  # exact: 10**22 < 2**53 * 2**22


_init_pow10()


cdef inline bint _fast_double(const char *p, Py_ssize_t n, double *out):
    """Exactly-rounded value of a plain decimal ``-?d+(.d+)?`` with at most 15 digits.

    Both the digits (< 2**53) and the power of ten (<= 10**22) are exact doubles, so one
    IEEE division gives the correctly rounded result, the same float() computes.
    Anything else (exponents, inf/nan, long mantissas) returns False for the slow path.
    """
    cdef Py_ssize_t i = 0, digits = 0, frac = -1
    cdef uint64_t m = 0
    cdef unsigned int d
    cdef bint neg = n > 0 and p[0] == b'-'
    i = neg
    if i >= n:
        return False
    while i < n:
        d = <unsigned char>p[i] - 48
        if d <= 9:
            m = m * 10 + d
            digits += 1
            if frac >= 0:
                frac += 1
        elif p[i] == b'.' and frac < 0 and digits > 0:
            frac = 0
        else:
            return False
        i += 1
    if digits > 15 or frac == 0:
        return False
    out[0] = <double>m / _POW10[frac] if frac > 0 else <double>m
    if neg:
        out[0] = -out[0]
    return True


cdef inline int _list_add(object lst, object item) except -1:
    """Append to a list presized by capacity: no resize while the capacity lasts."""
    cdef Py_ssize_t size = PyList_GET_SIZE(lst)
    cdef PyListObject *raw = <PyListObject *>lst
    if size < raw.allocated:
        Py_INCREF(item)
        raw.ob_item[size] = <PyObject *>item
        Py_SET_SIZE(lst, size + 1)
        return 0
    return PyList_Append(lst, item)


cdef int raise_error() except -1:
    """Propagate the exception a raw C-API call left set."""
    return -1


cdef inline int _list_add_steal(object lst, PyObject *item) except -1:
    """_list_add for a new reference that the list takes over."""
    cdef Py_ssize_t size = PyList_GET_SIZE(lst)
    cdef PyListObject *l = <PyListObject *>lst
    if size < l.allocated:
        l.ob_item[size] = item
        Py_SET_SIZE(lst, size + 1)
        return 0
    try:
        PyList_Append(lst, <object>item)
    finally:
        Py_XDECREF(item)
    return 0


cdef inline object _new_list(Py_ssize_t capacity):
    lst = PyList_New(capacity)
    Py_SET_SIZE(lst, 0)  # capacity kept; the list never shows unfilled slots
    return lst
