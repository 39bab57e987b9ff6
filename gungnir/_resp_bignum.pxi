# Big numbers (RESP3 ``(``) of the Cython RESP reader, textually included by _resp.pyx.
#
# The pure twin calls int() on the digits. Here one pass reads them eight at a time (SWAR)
# into 64-bit limbs and the int is built from the limbs: no Python call, no text object.
# int() refuses more than sys.get_int_max_str_digits() digits, a limit that cannot be set
# below 640, so up to 640 digits this gives exactly int()'s answer; longer lines go to
# PyLong_FromString, the function int() uses, for the same limit and the same ValueError
# (which the reader turns into "big number too long").

cdef extern from *:
    """
    #include <limits.h>
    #include <stdint.h>
    #include <string.h>

    #define GUNGNIR_BIGNUM_DIGITS 640
    #define GUNGNIR_BIGNUM_LIMBS (GUNGNIR_BIGNUM_DIGITS / 19 + 2)

    static const uint64_t gungnir_pow10[9] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
        100000000ULL
    };

    /* The int of nl little-endian 64-bit limbs and a sign. On CPython before 3.12 (30-bit
       digits, sign in ob_size) the digits are written straight into a new int; elsewhere
       the limbs go through the byte-array constructor of that version. */
    static PyObject *gungnir_long_from_limbs(const uint64_t *limbs, Py_ssize_t nl, int neg) {
        {
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
    }

    /* limbs = limbs * mul + add, growing by a limb when it carries; returns the count. */
    static inline Py_ssize_t gungnir_limbs_step(uint64_t *limbs, Py_ssize_t nl, uint64_t mul,
                                                uint64_t add) {
        unsigned __int128 carry = add;
        Py_ssize_t l;
        for (l = 0; l < nl; l++) {
            unsigned __int128 t = (unsigned __int128)limbs[l] * mul + carry;
            limbs[l] = (uint64_t)t;
            carry = t >> 64;
        }
        if (carry) limbs[nl++] = (uint64_t)carry;
        return nl;
    }

    /* Up to ~30 digits the number is summed in one 128-bit register (a local, so it stays
       in registers), spilled to limbs only when the next step could overflow it. */
    #define GUNGNIR_U128_MAX8 ((~(unsigned __int128)0 - 100000000ULL) / 100000000ULL)
    #define GUNGNIR_U128_MAX16 \
        ((~(unsigned __int128)0 - 10000000000000000ULL) / 10000000000000000ULL)

    /* acc/limbs = acc/limbs * mul + add (mul <= 10**16; acc stays below 2**128 while it is
       at most max); nl is 0 until spilled. */
    #define GUNGNIR_BIGNUM_STEP(acc, limbs, nl, mul, add, max) do {                 \
            if ((nl) == 0 && (acc) <= (max)) {                                      \
                (acc) = (acc) * (mul) + (add);                                      \
            } else {                                                                \
                if ((nl) == 0) {                                                    \
                    (limbs)[0] = (uint64_t)(acc);                                   \
                    (limbs)[1] = (uint64_t)((acc) >> 64);                           \
                    (nl) = 2;                                                       \
                }                                                                   \
                (nl) = gungnir_limbs_step((limbs), (nl), (mul), (add));             \
            }                                                                       \
        } while (0)

    static PyObject *gungnir_bignum_value(unsigned __int128 acc, uint64_t *limbs,
                                          Py_ssize_t nl, int neg) {
        if (nl) return gungnir_long_from_limbs(limbs, nl, neg);
        if (acc <= (unsigned __int128)LLONG_MAX) {
            return PyLong_FromLongLong(neg ? -(long long)acc : (long long)acc);
        }
        {
    #if PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30 && !defined(Py_LIMITED_API)
            unsigned __int128 m = acc;  /* above 2**63: three to five digits */
            Py_ssize_t nd = 0;
            PyLongObject *v = _PyLong_New(m >> 120 ? 5 : m >> 90 ? 4 : 3);
            if (v == NULL) return NULL;
            while (m) {
                v->ob_digit[nd++] = (digit)(m & PyLong_MASK);
                m >>= PyLong_SHIFT;
            }
            Py_SET_SIZE(v, neg ? -nd : nd);
            return (PyObject *)v;
    #else
            limbs[0] = (uint64_t)acc;
            limbs[1] = (uint64_t)(acc >> 64);
            return gungnir_long_from_limbs(limbs, limbs[1] ? 2 : 1, neg);
    #endif
        }
    }

    /* The bytes of a little-endian word that are not ASCII digits: the high bit of each
       such byte, exact up to and including the first one (SWAR, as the value below,
       after the well-known simdjson/fast_float method). */
    static inline uint64_t gungnir_nondigits8(uint64_t v) {
        return ((v + 0x4646464646464646ULL) | (v - 0x3030303030303030ULL))
               & 0x8080808080808080ULL;
    }

    /* The value of eight ASCII digits read as one little-endian word. */
    static inline uint64_t gungnir_eight_digits(uint64_t v) {
        v -= 0x3030303030303030ULL;
        v = (v * 10) + (v >> 8);
        return (((v & 0x000000FF000000FFULL) * 0x000F424000000064ULL)
                + (((v >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
    }

    /* ``-?[0-9]{1,640}\\r\\n`` at p: its int, with *used set to the bytes it takes; or a
       new reference to novalue when the text is anything else (the general path decides
       what). One pass: whole words of eight digits, then the last 1-7 digits of the word
       that holds the first non-digit, read as that word's head with '0's shifted in. */
    static PyObject *gungnir_fast_bignum(const char *p, const char *end, Py_ssize_t *used,
                                         PyObject *novalue) {
        uint64_t limbs[GUNGNIR_BIGNUM_LIMBS];
        unsigned __int128 acc = 0;
        Py_ssize_t nl = 0;
        const char *q = p, *digits;
        int neg = q < end && *q == '-';
        q += neg;
        digits = q;
    #if PY_LITTLE_ENDIAN
        while (end - q >= 8) {
            uint64_t v, bad;
            memcpy(&v, q, 8);
            bad = gungnir_nondigits8(v);
            if (bad) {
                int r = __builtin_ctzll(bad) >> 3;  /* digits before the first non-digit */
                if (r) {
                    if (q + r - digits > GUNGNIR_BIGNUM_DIGITS) goto other;
                    GUNGNIR_BIGNUM_STEP(acc, limbs, nl, gungnir_pow10[r], gungnir_eight_digits(
                        (v << (64 - 8 * r)) | (0x3030303030303030ULL >> (8 * r))),
                        GUNGNIR_U128_MAX8);
                    q += r;
                }
                goto digits_done;
            }
            if (q + 8 - digits > GUNGNIR_BIGNUM_DIGITS) goto other;
            if (end - q >= 16 && q + 16 - digits <= GUNGNIR_BIGNUM_DIGITS) {
                /* two words of digits: one step of sixteen */
                uint64_t w;
                memcpy(&w, q + 8, 8);
                if (!gungnir_nondigits8(w)) {
                    GUNGNIR_BIGNUM_STEP(acc, limbs, nl, 10000000000000000ULL,
                                        gungnir_eight_digits(v) * 100000000ULL
                                        + gungnir_eight_digits(w), GUNGNIR_U128_MAX16);
                    q += 16;
                    continue;
                }
            }
            GUNGNIR_BIGNUM_STEP(acc, limbs, nl, 100000000ULL, gungnir_eight_digits(v),
                                GUNGNIR_U128_MAX8);
            q += 8;
        }
    #endif
        /* the last bytes of the buffer, or a big-endian machine: one digit at a time */
        while (q < end && (unsigned char)(*q - '0') <= 9) {
            if (q + 1 - digits > GUNGNIR_BIGNUM_DIGITS) goto other;
            GUNGNIR_BIGNUM_STEP(acc, limbs, nl, 10, (uint64_t)(*q - '0'), GUNGNIR_U128_MAX8);
            q++;
        }
    #if PY_LITTLE_ENDIAN
    digits_done:
    #endif
        if (q == digits || end - q < 2 || q[0] != '\\r' || q[1] != '\\n') goto other;
        *used = q - p + 2;
        return gungnir_bignum_value(acc, limbs, nl, neg);
    other:
        Py_INCREF(novalue);
        return novalue;
    }
    """
    object gungnir_fast_bignum(const char *p, const char *end, Py_ssize_t *used,
                               object novalue)
    object PyLong_FromString(const char *s, char **pend, int base)


cdef object _bignum(const char *p, Py_ssize_t n):
    """The int of a big number line already matched as ``-?[0-9]+`` (see _parse_num) and
    followed by its CRLF at p[n].

    ValueError past sys.get_int_max_str_digits(), as from int() (see the top of the file).
    """
    cdef Py_ssize_t used = 0
    cdef char *text
    value = gungnir_fast_bignum(p, p + n + 2, &used, _NOVALUE)
    if value is not _NOVALUE:
        return value
    text = <char *>PyMem_Malloc(n + 1)  # more than 640 digits
    if text == NULL:
        raise MemoryError()
    try:
        memcpy(text, p, n)
        text[n] = 0
        return PyLong_FromString(text, NULL, 10)
    finally:
        PyMem_Free(text)
