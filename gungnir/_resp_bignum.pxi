# Big numbers (RESP3 ``(``) of the Cython RESP reader, textually included by _resp.pyx.
#
# The pure twin calls int() on the digits. Here they are read in C eight at a time (SWAR)
# into 64-bit limbs, and the int is built from the limbs: no Python call, no text object. int() refuses more than sys.get_int_max_str_digits() digits, a
# limit that cannot be set below 640, so up to 640 digits the C path gives exactly int()'s
# answer; longer lines go to PyLong_FromString, the function int() uses, for the same limit
# and the same ValueError (which the reader turns into "big number too long").

DEF C_BIGNUM_DIGITS = 640  # CPython's _PY_LONG_MAX_STR_DIGITS_THRESHOLD

cdef extern from *:
    """
    #include <limits.h>
    #include <stdint.h>
    #include <string.h>

    #define GUNGNIR_BIGNUM_DIGITS 640
    #define GUNGNIR_BIGNUM_LIMBS (GUNGNIR_BIGNUM_DIGITS / 19 + 2)

    /* The int of nl little-endian 64-bit limbs and a sign. On CPython before 3.12 (30-bit
       digits, sign in ob_size) the digits are written straight into a new int; elsewhere
       the limbs go through the byte-array constructor of that version. */
    static PyObject *gungnir_long_from_limbs(const uint64_t *limbs, Py_ssize_t nl, int neg) {
    #if PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30 && !defined(Py_LIMITED_API)
        digit d[GUNGNIR_BIGNUM_LIMBS * 64 / 30 + 2];
        Py_ssize_t nd = 0, l;
        unsigned __int128 acc = 0;
        int bits = 0;
        PyLongObject *v;
        for (l = 0; l < nl; l++) {
            acc |= (unsigned __int128)limbs[l] << bits;
            bits += 64;
            while (bits >= PyLong_SHIFT) {
                d[nd++] = (digit)(acc & PyLong_MASK);
                acc >>= PyLong_SHIFT;
                bits -= PyLong_SHIFT;
            }
        }
        if (bits) d[nd++] = (digit)acc;
        while (nd > 0 && d[nd - 1] == 0) nd--;
        if (nd <= 1) {
            long x = nd ? (long)d[0] : 0;
            return PyLong_FromLong(neg ? -x : x);
        }
        v = _PyLong_New(nd);
        if (v == NULL) return NULL;
        memcpy(v->ob_digit, d, (size_t)nd * sizeof(digit));
        Py_SET_SIZE(v, neg ? -nd : nd);
        return (PyObject *)v;
    #else
        unsigned char bytes[GUNGNIR_BIGNUM_LIMBS * 8];
        PyObject *mag, *out;
        Py_ssize_t l;
        int b;
        for (l = 0; l < nl; l++)
            for (b = 0; b < 8; b++) bytes[l * 8 + b] = (unsigned char)(limbs[l] >> (8 * b));
    #if PY_VERSION_HEX >= 0x030D00A4
        mag = PyLong_FromUnsignedNativeBytes(bytes, (size_t)(nl * 8),
                                             Py_ASNATIVEBYTES_LITTLE_ENDIAN);
    #else
        mag = _PyLong_FromByteArray(bytes, (size_t)(nl * 8), 1, 0);
    #endif
        if (mag == NULL || !neg) return mag;
        out = PyNumber_Negative(mag);
        Py_DECREF(mag);
        return out;
    #endif
    }

    /* Eight ASCII bytes read as one little-endian word: all '0'-'9'? (SWAR, after the
       well-known simdjson/fast_float method, as is the next function.) */
    static inline int gungnir_all_digits8(uint64_t v) {
        return !(((v + 0x4646464646464646ULL) | (v - 0x3030303030303030ULL))
                 & 0x8080808080808080ULL);
    }

    /* The value of eight ASCII digits read as one little-endian word. */
    static inline uint64_t gungnir_eight_digits(uint64_t v) {
        v -= 0x3030303030303030ULL;
        v = (v * 10) + (v >> 8);
        return (((v & 0x000000FF000000FFULL) * 0x000F424000000064ULL)
                + (((v >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
    }

    static inline uint64_t gungnir_load8(const char *p) {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }

    /* The int of the n decimal digits at p (1 <= n <= GUNGNIR_BIGNUM_DIGITS, all
       '0'-'9'), in groups of eight: the first group is the n % 8 leading digits, read as
       eight with '0's shifted in, so every group is one SWAR step. */
    static PyObject *gungnir_long_from_digits(const char *p, Py_ssize_t n, int neg) {
        uint64_t limbs[GUNGNIR_BIGNUM_LIMBS];
        uint64_t acc = 0;
        Py_ssize_t nl, i, l;
        int k = (int)(n % 8);
    #if PY_LITTLE_ENDIAN
        if (n >= 8) {
            if (k) {
                int s = 8 * (8 - k);
                acc = gungnir_eight_digits(
                    (gungnir_load8(p) << s) | (0x3030303030303030ULL >> (64 - s)));
            }
            for (i = k; i < n && i + 8 <= 19; i += 8) {  /* 19 digits fit in a word */
                acc = acc * 100000000ULL + gungnir_eight_digits(gungnir_load8(p + i));
            }
        } else
    #endif
        {
            for (i = 0; i < k; i++) acc = acc * 10 + (uint64_t)(p[i] - '0');
        }
        if (i == n && acc <= (uint64_t)LLONG_MAX) {
            return PyLong_FromLongLong(neg ? -(long long)acc : (long long)acc);
        }
        limbs[0] = acc;
        nl = 1;
        while (i < n) {  /* limbs = limbs * 10**8 + the next eight digits */
            unsigned __int128 carry;
    #if PY_LITTLE_ENDIAN
            carry = gungnir_eight_digits(gungnir_load8(p + i));
            i += 8;
    #else
            uint64_t chunk = 0;
            for (k = 0; k < 8; k++) chunk = chunk * 10 + (uint64_t)(p[i + k] - '0');
            i += 8;
            carry = chunk;
    #endif
            for (l = 0; l < nl; l++) {
                unsigned __int128 t = (unsigned __int128)limbs[l] * 100000000ULL + carry;
                limbs[l] = (uint64_t)t;
                carry = t >> 64;
            }
            if (carry) limbs[nl++] = (uint64_t)carry;
        }
        return gungnir_long_from_limbs(limbs, nl, neg);
    }

    /* ``-?[0-9]{1,640}\\r\\n`` at p: its int, with *used set to the bytes it takes; or a new
       reference to novalue when the text is anything else (the general path decides). */
    static PyObject *gungnir_fast_bignum(const char *p, const char *end, Py_ssize_t *used,
                                         PyObject *novalue) {
        const char *q = p, *digits;
        int neg = q < end && *q == '-';
        q += neg;
        digits = q;
    #if PY_LITTLE_ENDIAN
        while (end - q >= 8 && gungnir_all_digits8(gungnir_load8(q))) {
            q += 8;
            if (q - digits > GUNGNIR_BIGNUM_DIGITS) break;
        }
    #endif
        while (q < end && q - digits <= GUNGNIR_BIGNUM_DIGITS && (unsigned char)(*q - '0') <= 9) {
            q++;
        }
        if (q == digits || q - digits > GUNGNIR_BIGNUM_DIGITS || end - q < 2 || q[0] != '\\r'
                || q[1] != '\\n') {
            Py_INCREF(novalue);
            return novalue;
        }
        *used = q - p + 2;
        return gungnir_long_from_digits(digits, q - digits, neg);
    }
    """
    object gungnir_long_from_digits(const char *p, Py_ssize_t n, int neg)
    object gungnir_fast_bignum(const char *p, const char *end, Py_ssize_t *used,
                               object novalue)
    object PyLong_FromString(const char *s, char **pend, int base)


cdef object _bignum(const char *p, Py_ssize_t n):
    """The int of a big number line already matched as ``-?[0-9]+`` (see _parse_num).

    ValueError past sys.get_int_max_str_digits(), as from int() (see the top of the file).
    """
    cdef bint neg = p[0] == b'-'
    cdef char *text
    if n - neg <= C_BIGNUM_DIGITS:
        return gungnir_long_from_digits(p + neg, n - neg, neg)
    text = <char *>PyMem_Malloc(n + 1)
    if text == NULL:
        raise MemoryError()
    try:
        memcpy(text, p, n)
        text[n] = 0
        return PyLong_FromString(text, NULL, 10)
    finally:
        PyMem_Free(text)
