/* bastion.log._native: the compiled JSON line renderer's inner loop, in C.
 *
 * A line of a known shape (bastion/log/_compiled.py) is its keys, already encoded, with a
 * value between each two: `render` writes the line from the shape's plan in one call,
 * where the pure-Python path builds a struct, encodes it, decodes the bytes and appends a
 * newline (five calls and three objects per line). The output is byte for byte what
 * msgspec writes for the same line (tests/log/test_native.py holds it to that); whatever
 * this file does not write exactly as msgspec does, it declines (returns None) and the
 * caller takes the msgspec path:
 *
 *   - values other than exact str, int (within 64 bits), float, bool and None;
 *   - floats that are not zero or in [1e-4, 1e16), where msgspec's text and repr() agree;
 *   - strings that are not valid UTF-8 (lone surrogates);
 *   - times whose year is not in 1000..9999 (strftime's %Y is not zero-padded there);
 *   - lines longer than `limit` bytes (the caller's general path cuts long values).
 *
 * A plan's pieces are ASCII (the caller gives no native plan to a shape with other keys):
 * a line whose values are ASCII too is made into a str without decoding.
 *
 * `Lines.line` is `CompiledJSON._fixed_line` around `render`: the line's shape looked up
 * in the table the Python path fills, the span's ids written as hex once per span, then
 * the render. Whatever it does not handle itself it hands, arguments unchanged, to the
 * Python `_fixed_line`, which stays the reference.
 *
 * The module is optional: without a C compiler Bastion runs the same lines in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define STACK_BUFFER 4096

/* The slots of a plan that are not the line's own values (those are indexes >= 0). */
enum { SLOT_TIME = -1, SLOT_LEVEL = -2, SLOT_MSG = -3, SLOT_TRACE = -4, SLOT_SPAN = -5,
       SLOT_SERVICE = -6 };

typedef struct {
    char *data;
    Py_ssize_t size;
    Py_ssize_t cap;
    int ascii; /* every byte written is ASCII: the str is made without decoding */
} Out;

static inline int
put(Out *out, const char *bytes, Py_ssize_t n)
{
    if (out->size + n > out->cap) {
        return -1;
    }
    memcpy(out->data + out->size, bytes, (size_t)n);
    out->size += n;
    return 0;
}

static const char HEX[] = "0123456789abcdef";

/* The bytes a JSON string escapes: the control characters, quote and backslash. */
static unsigned char ESCAPED[256];

static void
init_escaped(void)
{
    for (int c = 0; c < 0x20; c++) {
        ESCAPED[c] = 1;
    }
    ESCAPED['"'] = ESCAPED['\\'] = 1;
}

/* The decimal digits of `v` written backwards from `end`; returns where they begin. */
static inline char *
digits(char *end, unsigned long long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static int
put_int(Out *out, long long v)
{
    char number[24];
    char *end = number + sizeof number;
    unsigned long long magnitude = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    char *start = digits(end, magnitude);
    if (v < 0) {
        *--start = '-';
    }
    return put(out, start, end - start);
}

/* A JSON string, escaped as msgspec escapes it: quote, backslash and the control
 * characters; DEL and non-ASCII text are written as they are (UTF-8). */
static int
put_str(Out *out, PyObject *text)
{
    const unsigned char *s;
    Py_ssize_t n;
    if (PyUnicode_IS_ASCII(text)) {
        s = (const unsigned char *)PyUnicode_DATA(text);
        n = PyUnicode_GET_LENGTH(text);
    }
    else {
        s = (const unsigned char *)PyUnicode_AsUTF8AndSize(text, &n);
        if (s == NULL) { /* lone surrogates: the general path escapes them */
            PyErr_Clear();
            return -1;
        }
        out->ascii = 0;
    }
    if (out->size + n + 2 > out->cap) {
        return -1; /* over the limit even before escaping */
    }
    char *w = out->data + out->size;
    char *end = out->data + out->cap;
    *w++ = '"';
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (!ESCAPED[c]) {
            continue;
        }
        /* The run before the escape, and the escape: two bytes, or six for \u00XX. */
        int escape = (c == '"' || c == '\\' || c == '\b' || c == '\t' || c == '\n'
                      || c == '\f' || c == '\r') ? 2 : 6;
        if (end - w < (i - start) + escape) {
            return -1;
        }
        memcpy(w, s + start, (size_t)(i - start));
        w += i - start;
        start = i + 1;
        *w++ = '\\';
        switch (c) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '\b': *w++ = 'b'; break;
        case '\t': *w++ = 't'; break;
        case '\n': *w++ = 'n'; break;
        case '\f': *w++ = 'f'; break;
        case '\r': *w++ = 'r'; break;
        default:
            *w++ = 'u'; *w++ = '0'; *w++ = '0';
            *w++ = HEX[c >> 4]; *w++ = HEX[c & 0xF];
        }
    }
    if (end - w < (n - start) + 1) {
        return -1;
    }
    memcpy(w, s + start, (size_t)(n - start));
    w += n - start;
    *w++ = '"';
    out->size = w - out->data;
    return 0;
}

static int
put_value(Out *out, PyObject *value)
{
    if (PyUnicode_CheckExact(value)) {
        return put_str(out, value);
    }
    if (value == Py_True) {
        return put(out, "true", 4);
    }
    if (value == Py_False) {
        return put(out, "false", 5);
    }
    if (value == Py_None) {
        return put(out, "null", 4);
    }
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return -1;
        }
        return put_int(out, v);
    }
    if (PyFloat_CheckExact(value)) {
        double v = PyFloat_AS_DOUBLE(value);
        double a = fabs(v);
        if (!(v == 0.0 || (a >= 1e-4 && a < 1e16))) {
            return -1; /* msgspec writes these unlike repr() */
        }
        /* A whole number of thousandths (a duration in ms to the µs, most floats here):
         * the nearest double to k/1000 is v, and no shorter decimal is, so repr() is k/1000
         * in fixed notation without trailing zeros, written here without dtoa. */
        double k = nearbyint(v * 1000.0);
        if (a < 1e12 && k / 1000.0 == v && !(v == 0.0 && signbit(v))) {
            char number[40];
            char *end = number + sizeof number;
            unsigned long long m = (unsigned long long)fabs(k);
            unsigned fraction = (unsigned)(m % 1000);
            char *start = end;
            if (fraction == 0) {
                *--start = '0';
            }
            else {
                int places = 3;
                while (fraction % 10 == 0) {
                    fraction /= 10;
                    places--;
                }
                while (places--) {
                    *--start = (char)('0' + fraction % 10);
                    fraction /= 10;
                }
            }
            *--start = '.';
            start = digits(start, m / 1000);
            if (v < 0) {
                *--start = '-';
            }
            return put(out, start, end - start);
        }
        char *text = PyOS_double_to_string(v, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (text == NULL) {
            PyErr_Clear();
            return -1;
        }
        int rc = put(out, text, (Py_ssize_t)strlen(text));
        PyMem_Free(text);
        return rc;
    }
    return -1;
}

/* The time text of bastion.log._format._UTCText: RFC 3339 UTC with milliseconds, the
 * milliseconds rounded half to even as Python's round() does. */
static long long cached_second = LLONG_MIN;
static char cached_text[64];

static int
put_time(Out *out, double t)
{
    double rounded = nearbyint(t * 1000.0); /* the default rounding mode: half to even */
    if (!isfinite(rounded) || fabs(rounded) > 9.0e15) {
        return -1;
    }
    long long ms = (long long)rounded;
    long long second = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int millis = (int)(ms - second * 1000);
    if (second != cached_second) {
        time_t when = (time_t)second;
        struct tm tm;
        if (gmtime_r(&when, &tm) == NULL || tm.tm_year + 1900 < 1000
            || tm.tm_year + 1900 > 9999) {
            return -1;
        }
        snprintf(cached_text, sizeof cached_text, "%04d-%02d-%02dT%02d:%02d:%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        cached_second = second;
    }
    if (out->size + 26 > out->cap) {
        return -1;
    }
    char *w = out->data + out->size;
    *w++ = '"';
    memcpy(w, cached_text, 19);
    w += 19;
    *w++ = '.';
    *w++ = (char)('0' + millis / 100);
    *w++ = (char)('0' + millis / 10 % 10);
    *w++ = (char)('0' + millis % 10);
    *w++ = 'Z';
    *w++ = '"';
    out->size = w - out->data;
    return 0;
}

/* One line of a plan: its pieces with the values between them, as `render` documents.
 * A new reference: the line, None (declined: the msgspec path), or NULL with an error. */
static PyObject *
render_plan(PyObject *pieces, PyObject *slots, double t, PyObject *level, PyObject *msg,
            PyObject *fields, PyObject *values, PyObject *trace_id, PyObject *span_id,
            PyObject *service, Py_ssize_t limit)
{
    if (!PyTuple_CheckExact(pieces) || !PyTuple_CheckExact(slots)
        || !PyTuple_CheckExact(values)
        || PyTuple_GET_SIZE(pieces) != PyTuple_GET_SIZE(slots) + 1) {
        PyErr_SetString(PyExc_TypeError, "render(): a plan is two tuples, values a tuple");
        return NULL;
    }
    if (limit < 0) {
        Py_RETURN_NONE;
    }
    /* One byte past the limit: the newline. */
    char stack[STACK_BUFFER + 1];
    Out out = {stack, 0, limit, 1};
    if (limit > STACK_BUFFER) {
        out.data = PyMem_Malloc((size_t)limit + 1);
        if (out.data == NULL) {
            return PyErr_NoMemory();
        }
    }
    PyObject *result = NULL;
    int failed = 0;
    Py_ssize_t nslots = PyTuple_GET_SIZE(slots);
    Py_ssize_t nvalues = PyTuple_GET_SIZE(values);
    for (Py_ssize_t i = 0; i <= nslots && !failed; i++) {
        PyObject *piece = PyTuple_GET_ITEM(pieces, i);
        if (!PyBytes_CheckExact(piece)) {
            PyErr_SetString(PyExc_TypeError, "render(): pieces are bytes");
            goto done;
        }
        if (put(&out, PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece)) < 0) {
            failed = 1;
            break;
        }
        if (i == nslots) {
            break;
        }
        PyObject *slot = PyTuple_GET_ITEM(slots, i);
        if (PyUnicode_CheckExact(slot)) { /* a context field */
            PyObject *value = PyDict_CheckExact(fields)
                ? PyDict_GetItemWithError(fields, slot) : NULL;
            if (value == NULL) {
                PyErr_Clear(); /* a field that is gone, or not a dict: msgspec path */
                failed = 1;
                break;
            }
            Py_INCREF(value); /* borrowed: held while it is written */
            failed = put_value(&out, value) < 0;
            Py_DECREF(value);
            continue;
        }
        Py_ssize_t index = PyLong_AsSsize_t(slot);
        if (index == -1 && PyErr_Occurred()) {
            goto done;
        }
        PyObject *value;
        switch (index) {
        case SLOT_TIME: failed = put_time(&out, t) < 0; continue;
        case SLOT_LEVEL: value = level; break;
        case SLOT_MSG: value = msg; break;
        case SLOT_TRACE: value = trace_id; break;
        case SLOT_SPAN: value = span_id; break;
        case SLOT_SERVICE: value = service; break;
        default:
            if (index < 0 || index >= nvalues) {
                PyErr_SetString(PyExc_IndexError, "render(): a slot past the values");
                goto done;
            }
            value = PyTuple_GET_ITEM(values, index);
        }
        failed = put_value(&out, value) < 0;
    }
    if (failed) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    out.data[out.size] = '\n';
    if (out.ascii) {
        result = PyUnicode_New(out.size + 1, 127);
        if (result != NULL) {
            memcpy(PyUnicode_DATA(result), out.data, (size_t)out.size + 1);
        }
    }
    else { /* the pieces are ASCII and each string was valid UTF-8 */
        result = PyUnicode_DecodeUTF8(out.data, out.size + 1, "strict");
    }
done:
    if (out.data != stack) {
        PyMem_Free(out.data);
    }
    return result;
}

static PyObject *
render(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "render() takes 11 arguments");
        return NULL;
    }
    double t = PyFloat_AsDouble(args[2]);
    if (t == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[10]);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return render_plan(args[0], args[1], t, args[3], args[4], args[5], args[6], args[7],
                       args[8], args[9], limit);
}

/* -- Lines: CompiledJSON.fixed_line, the shape lookup and span ids included ----------- */

typedef struct {
    PyObject_HEAD
    PyObject *builds;   /* the CompiledJSON's shapes: dict of shape -> plan (or None) */
    PyObject *levels;   /* rank -> level name */
    PyObject *fallback; /* the Python fixed_line, for what this declines */
    Py_ssize_t limit;
    PyObject *span;     /* the span whose ids are below (the lines of a request share it) */
    PyObject *trace_id, *span_id;
} Lines;

static int
lines_init(Lines *self, PyObject *args, PyObject *kwargs)
{
    PyObject *builds, *levels, *fallback;
    Py_ssize_t limit;
    static char *names[] = {"builds", "levels", "limit", "fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OnO:Lines", names, &PyDict_Type,
                                     &builds, &levels, &limit, &fallback)) {
        return -1;
    }
    Py_INCREF(builds);
    Py_XSETREF(self->builds, builds);
    Py_INCREF(levels);
    Py_XSETREF(self->levels, levels);
    Py_INCREF(fallback);
    Py_XSETREF(self->fallback, fallback);
    self->limit = limit;
    Py_CLEAR(self->span);
    Py_CLEAR(self->trace_id);
    Py_CLEAR(self->span_id);
    return 0;
}

static int
lines_traverse(Lines *self, visitproc visit, void *arg)
{
    Py_VISIT(self->builds);
    Py_VISIT(self->levels);
    Py_VISIT(self->fallback);
    Py_VISIT(self->span);
    return 0;
}

static int
lines_clear(Lines *self)
{
    Py_CLEAR(self->builds);
    Py_CLEAR(self->levels);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->span);
    Py_CLEAR(self->trace_id);
    Py_CLEAR(self->span_id);
    return 0;
}

static void
lines_dealloc(Lines *self)
{
    PyObject_GC_UnTrack(self);
    lines_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *SIXTY_FOUR, *EMPTY, *TRACE_ID, *SPAN_ID; /* made at module init */

/* `"%0*x" % value` for a non-negative int below 2**(4 * width) (width 16 or 32): the id
 * as lines write it. NULL, with no error set, for any other value: the Python path
 * formats that one. */
static PyObject *
hex_id(PyObject *value, int width)
{
    if (!PyLong_Check(value)) {
        return NULL;
    }
    unsigned long long high = 0, low;
    if (width == 32) {
        PyObject *shifted = PyNumber_Rshift(value, SIXTY_FOUR);
        if (shifted == NULL) {
            PyErr_Clear();
            return NULL;
        }
        high = PyLong_AsUnsignedLongLong(shifted); /* negative or past 128 bits: an error */
        Py_DECREF(shifted);
        if (high == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return NULL;
        }
        low = PyLong_AsUnsignedLongLongMask(value);
    }
    else {
        low = PyLong_AsUnsignedLongLong(value);
    }
    if (low == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *text = PyUnicode_New(width, 127);
    if (text == NULL) {
        PyErr_Clear();
        return NULL;
    }
    char *w = (char *)PyUnicode_DATA(text) + width;
    for (int i = 0; i < 16; i++, low >>= 4) {
        *--w = HEX[low & 0xF];
    }
    for (int i = 16; i < width; i++, high >>= 4) {
        *--w = HEX[high & 0xF];
    }
    return text;
}

/* The ids of `span` into the cache; -1 (no error set) when the Python path must do it. */
static int
cache_span_ids(Lines *self, PyObject *span)
{
    PyObject *trace = PyObject_GetAttr(span, TRACE_ID);
    PyObject *trace_text = trace == NULL ? NULL : hex_id(trace, 32);
    Py_XDECREF(trace);
    PyObject *sid = trace_text == NULL ? NULL : PyObject_GetAttr(span, SPAN_ID);
    PyObject *span_text = sid == NULL ? NULL : hex_id(sid, 16);
    Py_XDECREF(sid);
    if (span_text == NULL) {
        PyErr_Clear();
        Py_XDECREF(trace_text);
        return -1;
    }
    Py_INCREF(span);
    Py_XSETREF(self->span, span);
    Py_XSETREF(self->trace_id, trace_text);
    Py_XSETREF(self->span_id, span_text);
    return 0;
}

/* lines.line(t, rank, msg, fields, keys, values, span, service): the line of a compiled
 * shape, as the Python `fixed_line` makes it, which this calls for whatever it declines. */
static PyObject *
lines_line(Lines *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "line(t, rank, msg, fields, keys, values, span, service)");
        return NULL;
    }
    if (self->builds == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Lines: not initialised");
        return NULL;
    }
    PyObject *fields = args[3], *span = args[6], *service = args[7];
    if (!PyDict_CheckExact(fields) || !PyFloat_CheckExact(args[0])) {
        goto fallback;
    }
    /* The shape: (tuple(fields), keys, span is not None, service is not None). */
    Py_ssize_t n = PyDict_GET_SIZE(fields), pos = 0, i = 0;
    PyObject *context = PyTuple_New(n);
    if (context == NULL) {
        return NULL;
    }
    PyObject *key, *value;
    while (i < n && PyDict_Next(fields, &pos, &key, &value)) { /* runs no Python code */
        Py_INCREF(key);
        PyTuple_SET_ITEM(context, i++, key);
    }
    PyObject *shape = PyTuple_Pack(4, context, args[4], span != Py_None ? Py_True : Py_False,
                                   service != Py_None ? Py_True : Py_False);
    Py_DECREF(context);
    if (shape == NULL) {
        return NULL;
    }
    PyObject *plan = PyDict_GetItemWithError(self->builds, shape);
    Py_DECREF(shape);
    if (plan == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        goto fallback; /* a new shape: the Python path compiles it */
    }
    if (plan == Py_None) {
        Py_RETURN_NONE; /* a shape for the general path */
    }
    if (!PyTuple_CheckExact(plan) || PyTuple_GET_SIZE(plan) != 3
        || PyTuple_GET_ITEM(plan, 1) == Py_None) {
        goto fallback; /* no native plan */
    }
    Py_INCREF(plan); /* borrowed from the table, which the calls below could change */
    PyObject *trace_id = EMPTY, *span_id = EMPTY;
    if (span != Py_None) {
        if (span != self->span && cache_span_ids(self, span) < 0) {
            Py_DECREF(plan);
            goto fallback;
        }
        trace_id = self->trace_id;
        span_id = self->span_id;
    }
    Py_INCREF(trace_id);
    Py_INCREF(span_id);
    PyObject *line = NULL;
    PyObject *level = PyObject_GetItem(self->levels, args[1]);
    if (level != NULL) {
        line = render_plan(PyTuple_GET_ITEM(plan, 1), PyTuple_GET_ITEM(plan, 2),
                           PyFloat_AS_DOUBLE(args[0]), level, args[2], fields, args[5],
                           trace_id, span_id, service, self->limit);
        Py_DECREF(level);
    }
    Py_DECREF(trace_id);
    Py_DECREF(span_id);
    Py_DECREF(plan);
    if (line != Py_None) {
        return line; /* the line, or NULL with the error the Python path raises too */
    }
    Py_DECREF(line);
fallback:
    return PyObject_Vectorcall(self->fallback, args, (size_t)nargs, NULL);
}

static PyMethodDef lines_methods[] = {
    {"line", (PyCFunction)(void (*)(void))lines_line, METH_FASTCALL,
     "line(t, rank, msg, fields, keys, values, span, service) -> str | None\n\n"
     "CompiledJSON.fixed_line: the line of a compiled shape, or what the fallback makes."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LinesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion.log._native.Lines",
    .tp_doc = "Lines(builds, levels, limit, fallback): the lines of one CompiledJSON's "
              "shapes.",
    .tp_basicsize = sizeof(Lines),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)lines_init,
    .tp_dealloc = (destructor)lines_dealloc,
    .tp_traverse = (traverseproc)lines_traverse,
    .tp_clear = (inquiry)lines_clear,
    .tp_methods = lines_methods,
};

static PyMethodDef methods[] = {
    {"render", (PyCFunction)(void (*)(void))render, METH_FASTCALL,
     "render(pieces, slots, t, level, msg, fields, values, trace_id, span_id, service, "
     "limit) -> str | None\n\nOne JSON line of a compiled shape, or None to take the "
     "msgspec path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "bastion.log._native",
    "The compiled JSON line renderer's inner loop (see bastion.log._compiled).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    init_escaped();
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (SIXTY_FOUR == NULL) {
        SIXTY_FOUR = PyLong_FromLong(64);
        EMPTY = PyUnicode_New(0, 0);
        TRACE_ID = PyUnicode_InternFromString("trace_id");
        SPAN_ID = PyUnicode_InternFromString("span_id");
        if (SIXTY_FOUR == NULL || EMPTY == NULL || TRACE_ID == NULL || SPAN_ID == NULL) {
            Py_DECREF(module);
            return NULL;
        }
    }
    if (PyModule_AddType(module, &LinesType) < 0
        || PyModule_AddStringConstant(module, "SOURCE_DIGEST", BASTION_NATIVE_DIGEST) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
