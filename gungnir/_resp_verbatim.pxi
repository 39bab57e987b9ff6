# The compiled Verbatim type, textually included by _resp.pyx before anything else.
#
# A Python subclass of bytes cannot have slots, so the pure Verbatim keeps its format in a
# per-instance __dict__, and building one costs an interpreted __new__ plus a dict: about
# ten times a plain bytes. This type is the same bytes subclass with the format kept in
# one word after the bytes' data (a var-sized object has no fixed place for fields: the
# data starts at the same offset as in bytes, so bytes' own methods work unchanged), built
# with one allocation. It is a static type, as bytes is, so its instances hold no reference
# to it. _resp_types.Verbatim *is* this type when the extension loads, so the pure twin
# returns it too and both readers agree on the type; the pure class is the fallback (and
# the definition of the behaviour this one keeps: bytes equality and hash, a ``format``
# attribute, the same repr and pickling).

cdef extern from *:
    """
    #include <stddef.h>
    #include <string.h>

    /* bytes' own size: the header, then the data and its NUL */
    #define GUNGNIR_BYTES_BASICSIZE ((Py_ssize_t)offsetof(PyBytesObject, ob_sval) + 1)

    static PyTypeObject gungnir_verbatim_type;
    static PyObject *gungnir_verbatim_txt = NULL;

    /* The format's word: pointer-aligned, after the data and its NUL. The same offset
       for every subclass, whose own fields (a __dict__) sit after it. */
    static inline PyObject **gungnir_verbatim_slot(PyObject *o) {
        Py_ssize_t off = _Py_SIZE_ROUND_UP(GUNGNIR_BYTES_BASICSIZE + Py_SIZE(o), SIZEOF_VOID_P);
        return (PyObject **)((char *)o + off);
    }

    /* A Verbatim of the n bytes at p (NULL: left uninitialised) with format fmt. */
    static PyObject *gungnir_verbatim_alloc(PyTypeObject *tp, const char *p, Py_ssize_t n,
                                            PyObject *fmt) {
        PyObject *o;
        if (n < 0 || n > PY_SSIZE_T_MAX - tp->tp_basicsize - 2 * SIZEOF_VOID_P) {
            return PyErr_NoMemory();
        }
        if (tp == &gungnir_verbatim_type) {
            o = (PyObject *)PyObject_Malloc(_PyObject_VAR_SIZE(tp, n));
            if (o == NULL) return PyErr_NoMemory();
            PyObject_InitVar((PyVarObject *)o, tp, n);
        } else {  /* a Python subclass: its allocator knows its GC and dict */
            o = tp->tp_alloc(tp, n);
            if (o == NULL) return NULL;
        }
        _Py_COMP_DIAG_PUSH
        _Py_COMP_DIAG_IGNORE_DEPR_DECLS
        ((PyBytesObject *)o)->ob_shash = -1;
        _Py_COMP_DIAG_POP
        if (p != NULL) memcpy(((PyBytesObject *)o)->ob_sval, p, (size_t)n);
        ((PyBytesObject *)o)->ob_sval[n] = '\\0';
        Py_INCREF(fmt);
        *gungnir_verbatim_slot(o) = fmt;
        return o;
    }

    /* Format strings by their three bytes, shared between replies ("txt" repeats). */
    static PyObject *gungnir_verbatim_formats[8];
    static char gungnir_verbatim_format_bytes[8][3];

    /* The value of a verbatim body ``fmt:text`` of n >= 4 bytes (p[3] is ':'). */
    static PyObject *gungnir_verbatim_from_body(const char *p, Py_ssize_t n) {
        unsigned int h = ((unsigned char)p[0] ^ ((unsigned char)p[2] << 1)) & 7;
        PyObject *fmt = gungnir_verbatim_formats[h];
        if (fmt == NULL || memcmp(gungnir_verbatim_format_bytes[h], p, 3) != 0) {
            fmt = PyUnicode_DecodeLatin1(p, 3, NULL);
            if (fmt == NULL) return NULL;
            Py_XSETREF(gungnir_verbatim_formats[h], fmt);
            memcpy(gungnir_verbatim_format_bytes[h], p, 3);
        }
        return gungnir_verbatim_alloc(&gungnir_verbatim_type, p + 4, n - 4, fmt);
    }

    static PyObject *gungnir_verbatim_tp_new(PyTypeObject *tp, PyObject *args, PyObject *kw) {
        static char *kwlist[] = {"data", "format", NULL};
        PyObject *data, *fmt = gungnir_verbatim_txt, *raw, *o;
        if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:Verbatim", kwlist, &data, &fmt)) {
            return NULL;
        }
        raw = PyObject_Bytes(data);  /* what bytes(data) accepts, bar an int's zeros */
        if (raw == NULL) return NULL;
        o = gungnir_verbatim_alloc(tp, PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), fmt);
        Py_DECREF(raw);
        return o;
    }

    static void gungnir_verbatim_dealloc(PyObject *o) {
        Py_CLEAR(*gungnir_verbatim_slot(o));
        Py_TYPE(o)->tp_free(o);
    }

    static PyObject *gungnir_verbatim_get_format(PyObject *o, void *closure) {
        PyObject *fmt = *gungnir_verbatim_slot(o);
        if (fmt == NULL) {
            PyErr_SetString(PyExc_AttributeError, "format");
            return NULL;
        }
        Py_INCREF(fmt);
        return fmt;
    }

    static int gungnir_verbatim_set_format(PyObject *o, PyObject *value, void *closure) {
        Py_XINCREF(value);
        Py_XSETREF(*gungnir_verbatim_slot(o), value);
        return 0;
    }

    static PyObject *gungnir_verbatim_repr(PyObject *o) {
        PyObject *fmt = *gungnir_verbatim_slot(o), *text, *out;
        if (fmt == NULL) fmt = Py_None;
        text = PyBytes_Type.tp_repr(o);
        if (text == NULL) return NULL;
        out = PyUnicode_FromFormat("Verbatim(%U, format=%R)", text, fmt);
        Py_DECREF(text);
        return out;
    }

    /* Pickled as a call of whatever _resp_types.Verbatim is when pickling: this type
       normally, the pure class under GUNGNIR_PURE=1 (found by its own name), so a pickle
       also loads where the extension is not built. */
    static PyObject *gungnir_verbatim_reduce(PyObject *o, PyObject *unused) {
        PyObject *fmt = *gungnir_verbatim_slot(o), *mod, *cls, *out;
        mod = PyImport_ImportModule("gungnir._resp_types");
        if (mod == NULL) return NULL;
        cls = PyObject_GetAttrString(mod, "Verbatim");
        Py_DECREF(mod);
        if (cls == NULL) return NULL;
        out = Py_BuildValue("(O(y#O))", cls, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o),
                            fmt == NULL ? Py_None : fmt);
        Py_DECREF(cls);
        return out;
    }

    static PyGetSetDef gungnir_verbatim_getset[] = {
        {"format", gungnir_verbatim_get_format, gungnir_verbatim_set_format,
         "The three-letter type of the text (txt, mkd, ...).", NULL},
        {NULL, NULL, NULL, NULL, NULL}
    };

    static PyMethodDef gungnir_verbatim_methods[] = {
        {"__reduce__", gungnir_verbatim_reduce, METH_NOARGS, NULL},
        {NULL, NULL, 0, NULL}
    };

    static PyTypeObject gungnir_verbatim_type = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "gungnir.resp.Verbatim",
        .tp_basicsize = GUNGNIR_BYTES_BASICSIZE + sizeof(PyObject *),
        .tp_itemsize = 1,
        .tp_dealloc = gungnir_verbatim_dealloc,
        .tp_repr = gungnir_verbatim_repr,
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
        .tp_doc = "A verbatim string (RESP3 =) as bytes; format is its three-letter type. "
                  "Verbatim(data, format='txt').",
        .tp_methods = gungnir_verbatim_methods,
        .tp_getset = gungnir_verbatim_getset,
        .tp_new = gungnir_verbatim_tp_new,
        .tp_free = PyObject_Free,
    };

    /* Ready the type once (the module is initialised once per process). */
    static PyObject *gungnir_verbatim_make_type(void) {
        if (gungnir_verbatim_txt == NULL) {
            gungnir_verbatim_txt = PyUnicode_InternFromString("txt");
            if (gungnir_verbatim_txt == NULL) return NULL;
        }
        gungnir_verbatim_type.tp_base = &PyBytes_Type;
        if (PyType_Ready(&gungnir_verbatim_type) < 0) return NULL;
        Py_INCREF(&gungnir_verbatim_type);
        return (PyObject *)&gungnir_verbatim_type;
    }
    """
    object gungnir_verbatim_make_type()
    object gungnir_verbatim_from_body(const char *p, Py_ssize_t n)


#: The compiled Verbatim type (see above); public as gungnir.resp.Verbatim when loaded.
Verbatim = gungnir_verbatim_make_type()

cdef object _CVerbatim = Verbatim
