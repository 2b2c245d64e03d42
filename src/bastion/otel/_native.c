/* bastion.otel._native: the per-request work of the traces and metrics, in C.
 *
 * Two parts of every request the App serves: the default sampler's decision for a root
 * span (`Keeper`), and its metric cells (`Active`, `Cell`). Both are small state machines
 * of numbers, where Python's cost is the bytecodes and the lock, not the work.
 *
 * The sampler: `Keeper.keep` is `AdaptiveSampler.keep_root` of bastion/otel/_sampler.py
 * (the rate measured every `sample_size` roots or `max_interval` seconds, one keep per
 * unit of summed probability, a token bucket), decision for decision. It calls its clock
 * first and its random source last, after the state is updated, and nothing in between
 * allocates or calls Python: under the GIL no other thread sees a decision half taken.
 *
 * The cells: every request the App serves is counted in flight when it starts and, when it ends,
 * recorded in the cell of its attribute set: a count and three explicit-bucket histograms
 * (duration, request body size, response body size), each a bucket search, a sum, a min
 * and a max. In Python that is about 170 bytecodes a request, under a lock. Here it is one
 * call, and no lock: neither `Active.enter` nor `Cell.record` allocates or calls back into
 * Python, so under the GIL no other thread runs while they do, and `Cell.snapshot` copies
 * the numbers before it makes the first object. A build without a GIL is refused, and
 * Bastion then uses the Python cells of bastion/otel/_metrics.py, which take a lock.
 *
 * The cells are what bastion/otel/_metrics.py makes them in Python, number for number
 * (tests/otel/test_native.py holds both to that). The module is optional: without a C
 * compiler the metrics are the same, only a few microseconds a request slower.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <structmember.h>

#ifdef Py_GIL_DISABLED
#error "the cells rely on the GIL: without one, Bastion uses its Python cells"
#endif

#define MAX_BOUNDS 32

typedef struct {
    double sum, min, max;
    long long buckets[MAX_BOUNDS + 1];
} Distribution;

typedef struct {
    PyObject_HEAD
    PyObject *attributes;
    long long value;
} Active;

typedef struct {
    PyObject_HEAD
    PyObject *attributes;
    long long count;
    int n_duration, n_size;
    double duration_bounds[MAX_BOUNDS];
    double size_bounds[MAX_BOUNDS];
    Distribution duration, request_size, response_size;
} Cell;

static PyTypeObject ActiveType;

/* -- Keeper: the adaptive sampler's decision for a root span ------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *clock;
    PyObject *random;
    double max, interval, probability, since, credit, next, burst, tokens, filled;
    long long size, count;
} Keeper;

static int
call_double(PyObject *fn, double *into)
{
    PyObject *got = PyObject_CallNoArgs(fn);
    if (got == NULL) {
        return -1;
    }
    double value = PyFloat_AsDouble(got);
    Py_DECREF(got);
    if (value == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    *into = value;
    return 0;
}

static int
keeper_init(Keeper *self, PyObject *args, PyObject *kwargs)
{
    double max, interval;
    long long size;
    PyObject *clock, *random;
    static char *names[] = {"max_per_second", "sample_size", "max_interval", "clock",
                            "random", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "dLdOO:Keeper", names, &max, &size,
                                     &interval, &clock, &random)) {
        return -1;
    }
    if (!(max > 0) || size < 1 || !(interval > 0)) {
        PyErr_SetString(PyExc_ValueError,
                        "Keeper: max_per_second and max_interval > 0, sample_size >= 1");
        return -1;
    }
    Py_INCREF(clock);
    Py_XSETREF(self->clock, clock);
    Py_INCREF(random);
    Py_XSETREF(self->random, random);
    self->max = max;
    self->size = size;
    self->interval = interval;
    /* Until the first measurement there is no rate: every root is kept, within the bucket. */
    self->probability = 1.0;
    self->count = 0;
    self->credit = 0.0;
    if (call_double(clock, &self->since) < 0 || call_double(random, &self->next) < 0) {
        return -1;
    }
    self->burst = 2.0 * max > 2.0 ? 2.0 * max : 2.0;
    self->tokens = self->burst;
    self->filled = self->since;
    return 0;
}

static int
keeper_traverse(Keeper *self, visitproc visit, void *arg)
{
    Py_VISIT(self->clock);
    Py_VISIT(self->random);
    return 0;
}

static int
keeper_clear(Keeper *self)
{
    Py_CLEAR(self->clock);
    Py_CLEAR(self->random);
    return 0;
}

static void
keeper_dealloc(Keeper *self)
{
    PyObject_GC_UnTrack(self);
    keeper_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
keeper_keep(Keeper *self, PyObject *Py_UNUSED(ignored))
{
    double now;
    if (self->clock == NULL || call_double(self->clock, &now) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "Keeper: not initialised");
        }
        return NULL;
    }
    long long count = self->count + 1;
    double elapsed = now - self->since;
    if (count >= self->size || elapsed >= self->interval) {
        if (elapsed > 0) {
            double p = self->max * elapsed / (double)count;
            self->probability = p < 1.0 ? p : 1.0;
        }
        self->count = 0;
        self->since = now;
    }
    else {
        self->count = count;
    }
    int draw = 0;
    if (self->probability >= 1.0) {
        self->credit = 0.0; /* below the target rate: no debt carried into later strata */
    }
    else {
        double credit = self->credit + self->probability;
        if (credit < self->next) {
            self->credit = credit;
            Py_RETURN_FALSE;
        }
        self->credit = credit - 1.0;
        draw = 1;
    }
    /* The token bucket: refilled at the target rate, `burst` deep. */
    double tokens = self->tokens + (now - self->filled) * self->max;
    if (tokens > self->burst) {
        tokens = self->burst;
    }
    self->filled = now;
    int keep = tokens >= 1.0;
    self->tokens = keep ? tokens - 1.0 : tokens;
    if (draw && call_double(self->random, &self->next) < 0) {
        return NULL;
    }
    return PyBool_FromLong(keep);
}

static PyMethodDef keeper_methods[] = {
    {"keep", (PyCFunction)keeper_keep, METH_NOARGS,
     "Decide for one root span: True to keep it."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KeeperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion.otel._native.Keeper",
    .tp_doc = "Keeper(max_per_second, sample_size, max_interval, clock, random): the "
              "adaptive sampler's root decision.",
    .tp_basicsize = sizeof(Keeper),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)keeper_init,
    .tp_dealloc = (destructor)keeper_dealloc,
    .tp_traverse = (traverseproc)keeper_traverse,
    .tp_clear = (inquiry)keeper_clear,
    .tp_methods = keeper_methods,
};

/* -- Active: the in-flight count of one (method, scheme) ------------------------------- */

static int
active_init(Active *self, PyObject *args, PyObject *kwargs)
{
    PyObject *attributes;
    static char *names[] = {"attributes", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Active", names, &attributes)) {
        return -1;
    }
    Py_INCREF(attributes);
    Py_XSETREF(self->attributes, attributes);
    self->value = 0;
    return 0;
}

static void
active_dealloc(Active *self)
{
    Py_XDECREF(self->attributes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
active_enter(Active *self, PyObject *Py_UNUSED(ignored))
{
    self->value += 1;
    Py_RETURN_NONE;
}

static PyMethodDef active_methods[] = {
    {"enter", (PyCFunction)active_enter, METH_NOARGS, "Count one more request in flight."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef active_members[] = {
    {"attributes", T_OBJECT_EX, offsetof(Active, attributes), READONLY, "The attribute set."},
    {"value", T_LONGLONG, offsetof(Active, value), READONLY, "Requests in flight."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject ActiveType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion.otel._native.Active",
    .tp_doc = "Active(attributes): the requests in flight of one attribute set.",
    .tp_basicsize = sizeof(Active),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)active_init,
    .tp_dealloc = (destructor)active_dealloc,
    .tp_methods = active_methods,
    .tp_members = active_members,
};

/* -- Cell: the count and histograms of one attribute set ------------------------------- */

static int
read_bounds(PyObject *seq, double *into, int *n, const char *what)
{
    PyObject *items = PySequence_Fast(seq, what);
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t size = PySequence_Fast_GET_SIZE(items);
    if (size > MAX_BOUNDS) {
        Py_DECREF(items);
        PyErr_Format(PyExc_ValueError, "%s: at most %d bounds", what, MAX_BOUNDS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        double bound = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(items, i));
        if (bound == -1.0 && PyErr_Occurred()) {
            Py_DECREF(items);
            return -1;
        }
        if (i > 0 && !(bound > into[i - 1])) {
            Py_DECREF(items);
            PyErr_Format(PyExc_ValueError, "%s must be increasing", what);
            return -1;
        }
        into[i] = bound;
    }
    *n = (int)size;
    Py_DECREF(items);
    return 0;
}

static void
empty(Distribution *dist)
{
    memset(dist, 0, sizeof(*dist));
    dist->min = INFINITY;
    dist->max = -INFINITY;
}

static int
cell_init(Cell *self, PyObject *args, PyObject *kwargs)
{
    PyObject *attributes, *duration_bounds, *size_bounds;
    static char *names[] = {"attributes", "duration_bounds", "size_bounds", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO:Cell", names, &attributes,
                                     &duration_bounds, &size_bounds)) {
        return -1;
    }
    if (read_bounds(duration_bounds, self->duration_bounds, &self->n_duration,
                    "duration_bounds") < 0 ||
        read_bounds(size_bounds, self->size_bounds, &self->n_size, "size_bounds") < 0) {
        return -1;
    }
    Py_INCREF(attributes);
    Py_XSETREF(self->attributes, attributes);
    self->count = 0;
    empty(&self->duration);
    empty(&self->request_size);
    empty(&self->response_size);
    return 0;
}

static void
cell_dealloc(Cell *self)
{
    Py_XDECREF(self->attributes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* bisect_left: the first bucket whose (inclusive) upper bound is >= value. */
static inline int
bucket(const double *bounds, int n, double value)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (bounds[mid] < value) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

static inline void
add(Distribution *dist, const double *bounds, int n, double value)
{
    dist->buckets[bucket(bounds, n, value)] += 1;
    dist->sum += value;
    if (value < dist->min) {
        dist->min = value;
    }
    if (value > dist->max) {
        dist->max = value;
    }
}

static PyObject *
cell_record(Cell *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "record(active, duration, request_bytes, response_bytes)");
        return NULL;
    }
    if (Py_TYPE(args[0]) != &ActiveType) {
        PyErr_SetString(PyExc_TypeError, "record: active must be an Active");
        return NULL;
    }
    double duration = PyFloat_AsDouble(args[1]);
    if (duration == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    long long request_bytes = PyLong_AsLongLong(args[2]);
    if (request_bytes == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long long response_bytes = PyLong_AsLongLong(args[3]);
    if (response_bytes == -1 && PyErr_Occurred()) {
        return NULL;
    }
    /* Nothing below allocates or calls Python: no other thread sees it half done. */
    ((Active *)args[0])->value -= 1;
    self->count += 1;
    add(&self->duration, self->duration_bounds, self->n_duration, duration);
    add(&self->request_size, self->size_bounds, self->n_size, (double)request_bytes);
    add(&self->response_size, self->size_bounds, self->n_size, (double)response_bytes);
    Py_RETURN_NONE;
}

static PyObject *
distribution_tuple(const Distribution *dist, int n)
{
    PyObject *buckets = PyList_New(n + 1);
    if (buckets == NULL) {
        return NULL;
    }
    for (int i = 0; i <= n; i++) {
        PyObject *count = PyLong_FromLongLong(dist->buckets[i]);
        if (count == NULL) {
            Py_DECREF(buckets);
            return NULL;
        }
        PyList_SET_ITEM(buckets, i, count);
    }
    return Py_BuildValue("(Nddd)", buckets, dist->sum, dist->min, dist->max);
}

static PyObject *
cell_snapshot(Cell *self, PyObject *Py_UNUSED(ignored))
{
    /* Copied first: making the objects below may run other threads (a collection). */
    long long count = self->count;
    Distribution duration = self->duration;
    Distribution request_size = self->request_size;
    Distribution response_size = self->response_size;
    PyObject *d = distribution_tuple(&duration, self->n_duration);
    PyObject *q = d == NULL ? NULL : distribution_tuple(&request_size, self->n_size);
    PyObject *r = q == NULL ? NULL : distribution_tuple(&response_size, self->n_size);
    if (r == NULL) {
        Py_XDECREF(d);
        Py_XDECREF(q);
        return NULL;
    }
    return Py_BuildValue("(L(NNN))", count, d, q, r);
}

static PyMethodDef cell_methods[] = {
    {"record", (PyCFunction)(void (*)(void))cell_record, METH_FASTCALL,
     "record(active, duration, request_bytes, response_bytes): count one request out of "
     "flight and into this cell."},
    {"snapshot", (PyCFunction)cell_snapshot, METH_NOARGS,
     "(count, ((buckets, sum, min, max) of duration, request size, response size))."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef cell_members[] = {
    {"attributes", T_OBJECT_EX, offsetof(Cell, attributes), READONLY, "The attribute set."},
    {"count", T_LONGLONG, offsetof(Cell, count), READONLY, "Requests recorded."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CellType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bastion.otel._native.Cell",
    .tp_doc = "Cell(attributes, duration_bounds, size_bounds): one attribute set's "
              "request count and histograms.",
    .tp_basicsize = sizeof(Cell),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)cell_init,
    .tp_dealloc = (destructor)cell_dealloc,
    .tp_methods = cell_methods,
    .tp_members = cell_members,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "bastion.otel._native",
    "The sampler's root decision and the metric cells, in C (bastion/otel/_native.c).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddType(module, &KeeperType) < 0 || PyModule_AddType(module, &ActiveType) < 0 ||
        PyModule_AddType(module, &CellType) < 0 ||
        PyModule_AddStringConstant(module, "SOURCE_DIGEST", BASTION_NATIVE_DIGEST) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
