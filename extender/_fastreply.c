/*
 * extender/_fastreply.c - the extender's per-name loop in C: a compact NodeNames array split
 * without a Python object per name, looked up in an immutable host-key -> slot hash table,
 * and the HostPriorityList written straight into one bytes object.
 *
 * What it is: the native backend of extender/fastreply.py, which holds the pure-Python
 * reference of every function here (same names, same results, same exceptions; the
 * hypothesis tests in tests/extender/test_fastreply_backends.py compare the two on random
 * input). extender/table.py decides every score; this file only moves bytes:
 *
 *   split_plain(raw)      b'["n1","n2"]' -> PlainNames (offsets into raw), or None unless
 *                         every name is 1..253 plain characters [A-Za-z0-9.-_:] and the
 *                         array is compact (exactly the names and "," between them).
 *   SlotIndex(mapping)    a snapshot of {host key: slot >= 1}; get(key, default) like dict.
 *   render(index, names, scores, reasons, nreasons) -> (body, counts)
 *                         body: [{"Host":"<name>","Score":<scores[slot]>},...] byte for byte
 *                         as orjson encodes it (unknown name: slot 0); counts[c], c >= 1: how
 *                         many names have reason code c = reasons[slot], slot 0 (unknown)
 *                         counted per occurrence, every other slot once however often it
 *                         repeats; code 0 is "scored", never counted (counts[0] is 0).
 *
 * Algorithm, worked example: raw b'["b","a"]' -> PlainNames [(2,1), (6,1)]; index {a:1, b:2};
 * scores [5,7,3], reasons [3,0,1] -> slots 2, 1 -> body b'[{"Host":"b","Score":3},
 * {"Host":"a","Score":7}]', counts [0,1,0,0] (b has code 1; a, code 0, is not counted).
 * Two passes over the names: the first looks every name up (a seeded multiply-rotate hash of
 * its bytes, the seed drawn from the interpreter's keyed hash at import) and sums the reply's
 * exact length; the second writes into a bytes object of that length. Node names are chosen
 * by whoever may create Nodes, so bucket flooding is not a concern the seed must defeat; it
 * only keeps positions from being the same in every process. The table is open
 * addressing with linear probing at load <= 2/3 over 16-byte entries, the names copied into
 * one arena: at 5,000 nodes 128 KiB + 50 KiB, where a dict of bytes objects is scattered
 * over the heap.
 *
 * Invariants: no input makes it read out of bounds or crash - a slot beyond scores or
 * reasons, a score above 10, a reason code >= nreasons raise IndexError (as the Python
 * reference does); a list item that is not bytes raises TypeError. A SlotIndex never changes
 * after construction (the table builds a new one when a node is added or removed), so a
 * PlainNames or SlotIndex can be shared freely; nothing here keeps state between calls.
 * Bodies are bounded by the HTTP layer (128 MiB), so offsets fit in 32 bits; longer raw
 * input is refused (None) rather than truncated.
 *
 * Memory safety: the backend tests pass with this file built under AddressSanitizer and
 * UndefinedBehaviorSanitizer (gcc -O1 -g -fsanitize=address,undefined, run with libasan and
 * libubsan in LD_PRELOAD and ASAN_OPTIONS=detect_leaks=0); an off-by-one in the reply's size
 * is caught there as a heap-buffer-overflow.
 *
 * Production readiness: as the extender (alpha); CPython 3.11+ only, built by setuptools
 * from setup.py as an optional extension (the pure-Python backend serves without it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <assert.h>
#include <stdint.h>
#include <string.h>

#define MAX_NAME 253
#define MAX_SCORE 10

static uint64_t hash_seed; /* set at import from the interpreter's keyed bytes hash */

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* Seeded multiply-rotate hash over 8-byte words (xxHash64's round and avalanche). Only this
 * module's table uses it, so it need not match Python's hash; the seed comes from
 * PYTHONHASHSEED's key, so bucket positions differ per process. */
static Py_hash_t hash_bytes(const char *p, Py_ssize_t n)
{
    const uint64_t k1 = 0x9E3779B185EBCA87ULL, k2 = 0xC2B2AE3D27D4EB4FULL, k3 = 0x165667B19E3779F9ULL;
    uint64_t h = hash_seed ^ ((uint64_t)n * k1), w;
    for (; n > 0; p += 8, n -= 8) {
        w = 0;
        memcpy(&w, p, n >= 8 ? 8 : (size_t)n);
        h = rotl64(h ^ rotl64(w * k2, 31) * k1, 27) * k1 + k3;
    }
    h ^= h >> 33;
    h *= k2;
    h ^= h >> 29;
    h *= k3;
    h ^= h >> 32;
    return (Py_hash_t)h;
}

static int init_hash_seed(void)
{
    PyObject *word = PyBytes_FromString("temper extender");
    if (word == NULL)
        return -1;
    Py_hash_t seed = PyObject_Hash(word);
    Py_DECREF(word);
    if (seed == -1)
        return -1;
    hash_seed = (uint64_t)seed;
    return 0;
}

/* Characters a plain node name may hold (DNS subdomain, plus '_' and ':'). */
static unsigned char plain_char[256];

static void init_plain_chars(void)
{
    const char *plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:";
    for (const char *c = plain; *c; c++)
        plain_char[(unsigned char)*c] = 1;
}

/* ---- PlainNames ---------------------------------------------------------------------------- */

typedef struct {
    uint32_t start;
    uint32_t len;
} span;

typedef struct {
    PyObject_HEAD
    PyObject *raw; /* bytes the spans point into */
    Py_ssize_t n;
    span *spans;
} PlainNames;

static PyTypeObject PlainNamesType;

static void plain_names_dealloc(PlainNames *self)
{
    Py_XDECREF(self->raw);
    PyMem_Free(self->spans);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t plain_names_len(PlainNames *self)
{
    return self->n;
}

static PyObject *plain_names_item(PlainNames *self, Py_ssize_t i)
{
    if (i < 0 || i >= self->n) {
        PyErr_SetString(PyExc_IndexError, "PlainNames index out of range");
        return NULL;
    }
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(self->raw) + self->spans[i].start,
                                     self->spans[i].len);
}

static PySequenceMethods plain_names_as_sequence = {
    .sq_length = (lenfunc)plain_names_len,
    .sq_item = (ssizeargfunc)plain_names_item,
};

static PyTypeObject PlainNamesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "extender._fastreply.PlainNames",
    .tp_doc = "The names of a compact NodeNames array, as offsets into its bytes (from split_plain).",
    .tp_basicsize = sizeof(PlainNames),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)plain_names_dealloc,
    .tp_as_sequence = &plain_names_as_sequence,
    .tp_iter = PySeqIter_New,
};

static PyObject *split_plain(PyObject *module, PyObject *raw)
{
    (void)module;
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "split_plain() expects bytes");
        return NULL;
    }
    const char *p = PyBytes_AS_STRING(raw);
    Py_ssize_t size = PyBytes_GET_SIZE(raw);
    Py_ssize_t cap = 0, n = 0;
    span *spans = NULL;
    if (size == 2 && p[0] == '[' && p[1] == ']')
        goto done;
    if (size < 5 || size > (Py_ssize_t)UINT32_MAX || p[0] != '[' || p[1] != '"' || p[size - 2] != '"'
        || p[size - 1] != ']')
        Py_RETURN_NONE;
    Py_ssize_t i = 2, end = size - 2; /* the names and separators: p[2:end] */
    for (;;) {
        Py_ssize_t start = i;
        while (i < end && plain_char[(unsigned char)p[i]])
            i++;
        if (i == start || i - start > MAX_NAME)
            goto refuse;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            span *grown = PyMem_Realloc(spans, (size_t)cap * sizeof(span));
            if (grown == NULL) {
                PyMem_Free(spans);
                return PyErr_NoMemory();
            }
            spans = grown;
        }
        spans[n].start = (uint32_t)start;
        spans[n].len = (uint32_t)(i - start);
        n++;
        if (i == end)
            break;
        if (end - i < 3 || p[i] != '"' || p[i + 1] != ',' || p[i + 2] != '"')
            goto refuse;
        i += 3;
    }
done:;
    PlainNames *self = PyObject_New(PlainNames, &PlainNamesType);
    if (self == NULL) {
        PyMem_Free(spans);
        return NULL;
    }
    Py_INCREF(raw);
    self->raw = raw;
    self->n = n;
    self->spans = spans;
    return (PyObject *)self;
refuse:
    PyMem_Free(spans);
    Py_RETURN_NONE;
}

/* ---- SlotIndex ----------------------------------------------------------------------------- */

typedef struct {
    uint32_t hash; /* the low 32 bits of the name's hash */
    uint32_t slot; /* 0: empty entry */
    uint32_t len;
    uint32_t off; /* into arena */
} entry;

typedef struct {
    PyObject_HEAD
    entry *table;
    size_t mask;
    char *arena;
    Py_ssize_t n;
} SlotIndex;

static void slot_index_dealloc(SlotIndex *self)
{
    PyMem_Free(self->table);
    PyMem_Free(self->arena);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static uint32_t slot_index_find(const SlotIndex *self, const char *p, Py_ssize_t n)
{
    Py_hash_t h = hash_bytes(p, n);
    for (size_t i = (size_t)h & self->mask;; i = (i + 1) & self->mask) {
        const entry *e = &self->table[i];
        if (e->slot == 0)
            return 0;
        if (e->hash == (uint32_t)h && e->len == (uint32_t)n && memcmp(self->arena + e->off, p, (size_t)n) == 0)
            return e->slot;
    }
}

static int slot_index_init(SlotIndex *self, PyObject *args, PyObject *kwargs)
{
    PyObject *mapping;
    static char *kwlist[] = {"mapping", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!:SlotIndex", kwlist, &PyDict_Type, &mapping))
        return -1;
    if (self->table != NULL) {
        PyErr_SetString(PyExc_TypeError, "SlotIndex is immutable");
        return -1;
    }
    Py_ssize_t count = PyDict_GET_SIZE(mapping), pos = 0;
    size_t cap = 8, bytes = 0;
    while (2 * cap < 3 * (size_t)count) /* load <= 2/3 */
        cap <<= 1;
    PyObject *key, *value;
    while (PyDict_Next(mapping, &pos, &key, &value)) {
        if (!PyBytes_Check(key) || PyBytes_GET_SIZE(key) > (Py_ssize_t)UINT32_MAX) {
            PyErr_SetString(PyExc_TypeError, "SlotIndex keys must be bytes");
            return -1;
        }
        bytes += (size_t)PyBytes_GET_SIZE(key);
        if (bytes > UINT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "SlotIndex keys exceed 4 GiB");
            return -1;
        }
    }
    self->table = PyMem_Calloc(cap, sizeof(entry));
    self->arena = PyMem_Malloc(bytes ? bytes : 1);
    if (self->table == NULL || self->arena == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->mask = cap - 1;
    size_t off = 0;
    pos = 0;
    while (PyDict_Next(mapping, &pos, &key, &value)) {
        long slot = PyLong_Check(value) ? PyLong_AsLong(value) : -1;
        if (slot < 1 || slot > INT32_MAX) {
            if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_Clear();
                PyErr_SetString(PyExc_ValueError, "SlotIndex slots must be ints in 1..2**31-1");
            }
            return -1;
        }
        const char *p = PyBytes_AS_STRING(key);
        Py_ssize_t n = PyBytes_GET_SIZE(key);
        Py_hash_t h = hash_bytes(p, n);
        size_t i = (size_t)h & self->mask;
        while (self->table[i].slot != 0)
            i = (i + 1) & self->mask; /* dict keys are distinct: no duplicate to find */
        memcpy(self->arena + off, p, (size_t)n);
        self->table[i] = (entry){.hash = (uint32_t)h, .slot = (uint32_t)slot, .len = (uint32_t)n,
                                 .off = (uint32_t)off};
        off += (size_t)n;
        self->n++;
    }
    return 0;
}

static PyObject *slot_index_get(SlotIndex *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(key, default=0)");
        return NULL;
    }
    if (self->table == NULL) {
        PyErr_SetString(PyExc_ValueError, "SlotIndex not initialised");
        return NULL;
    }
    if (PyBytes_Check(args[0])) {
        uint32_t slot = slot_index_find(self, PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]));
        if (slot)
            return PyLong_FromUnsignedLong(slot);
    }
    if (nargs == 2)
        return Py_NewRef(args[1]);
    return PyLong_FromLong(0);
}

static Py_ssize_t slot_index_len(SlotIndex *self)
{
    return self->n;
}

static PyMethodDef slot_index_methods[] = {
    {"get", (PyCFunction)(void (*)(void))slot_index_get, METH_FASTCALL,
     "get(key, default=0): the key's slot, else default."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods slot_index_as_sequence = {
    .sq_length = (lenfunc)slot_index_len,
};

static PyTypeObject SlotIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "extender._fastreply.SlotIndex",
    .tp_doc = "SlotIndex(mapping): an immutable snapshot of {host key: slot >= 1}.",
    .tp_basicsize = sizeof(SlotIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)slot_index_init,
    .tp_dealloc = (destructor)slot_index_dealloc,
    .tp_methods = slot_index_methods,
    .tp_as_sequence = &slot_index_as_sequence,
};

/* ---- render -------------------------------------------------------------------------------- */

static const char ENTRY_OPEN[] = "{\"Host\":\"";   /* 9 bytes */
static const char ENTRY_SCORE[] = "\",\"Score\":"; /* 10 bytes */

static int name_at(PyObject *names, Py_ssize_t i, const char **p, Py_ssize_t *n)
{
    if (Py_IS_TYPE(names, &PlainNamesType)) {
        const PlainNames *plain = (const PlainNames *)names;
        *p = PyBytes_AS_STRING(plain->raw) + plain->spans[i].start;
        *n = plain->spans[i].len;
        return 0;
    }
    PyObject *item = PyList_GET_ITEM(names, i);
    if (!PyBytes_Check(item)) {
        PyErr_SetString(PyExc_TypeError, "render() names must be bytes");
        return -1;
    }
    *p = PyBytes_AS_STRING(item);
    *n = PyBytes_GET_SIZE(item);
    return 0;
}

static PyObject *render(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "render(index, names, scores, reasons, nreasons)");
        return NULL;
    }
    PyObject *names = args[1], *scores_obj = args[2], *reasons_obj = args[3];
    if (!Py_IS_TYPE(args[0], &SlotIndexType) || ((SlotIndex *)args[0])->table == NULL) {
        PyErr_SetString(PyExc_TypeError, "render() index must be a SlotIndex");
        return NULL;
    }
    if (!Py_IS_TYPE(names, &PlainNamesType) && !PyList_CheckExact(names)) {
        PyErr_SetString(PyExc_TypeError, "render() names must be PlainNames or a list of bytes");
        return NULL;
    }
    if (!PyByteArray_CheckExact(scores_obj) || !PyByteArray_CheckExact(reasons_obj)) {
        PyErr_SetString(PyExc_TypeError, "render() scores and reasons must be bytearrays");
        return NULL;
    }
    Py_ssize_t nreasons = PyLong_AsSsize_t(args[4]);
    if (nreasons == -1 && PyErr_Occurred())
        return NULL;
    if (nreasons < 0) {
        PyErr_SetString(PyExc_ValueError, "render() nreasons must be >= 0");
        return NULL;
    }
    const SlotIndex *index = (const SlotIndex *)args[0];
    Py_ssize_t n = PySequence_Size(names);
    const Py_ssize_t nslots = PyByteArray_GET_SIZE(scores_obj) < PyByteArray_GET_SIZE(reasons_obj)
                                  ? PyByteArray_GET_SIZE(scores_obj)
                                  : PyByteArray_GET_SIZE(reasons_obj);
    uint32_t *slots = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    unsigned char *seen = PyMem_Calloc((size_t)(nslots / 8 + 1), 1);
    Py_ssize_t *counts = PyMem_Calloc((size_t)(nreasons ? nreasons : 1), sizeof(Py_ssize_t));
    PyObject *body = NULL, *result = NULL;
    if (slots == NULL || seen == NULL || counts == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    const unsigned char *scores = (const unsigned char *)PyByteArray_AS_STRING(scores_obj);
    const unsigned char *reasons = (const unsigned char *)PyByteArray_AS_STRING(reasons_obj);
    /* Pass 1: look up, check, count, size the reply. */
    size_t size = n ? 2 + (size_t)(n - 1) : 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *p = NULL;
        Py_ssize_t len = 0;
        if (name_at(names, i, &p, &len) < 0)
            goto out;
        uint32_t slot = slot_index_find(index, p, len);
        if ((Py_ssize_t)slot >= nslots || scores[slot] > MAX_SCORE || reasons[slot] >= nreasons) {
            PyErr_SetString(PyExc_IndexError, "render() slot, score or reason code out of range");
            goto out;
        }
        slots[i] = slot;
        size += 21 + (size_t)len + (scores[slot] >= 10); /* {"Host":"<name>","Score":N} */
        if (reasons[slot] && (slot == 0 || !(seen[slot >> 3] & (1u << (slot & 7))))) { /* unknown: every time */
            seen[slot >> 3] |= (unsigned char)(1u << (slot & 7));
            counts[reasons[slot]]++;
        }
    }
    body = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (body == NULL)
        goto out;
    /* Pass 2: write. */
    char *w = PyBytes_AS_STRING(body);
    *w++ = '[';
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *p = NULL;
        Py_ssize_t len = 0;
        (void)name_at(names, i, &p, &len); /* checked in pass 1; a list cannot change meanwhile */
        unsigned score = scores[slots[i]];
        if (i)
            *w++ = ',';
        memcpy(w, ENTRY_OPEN, 9);
        w += 9;
        memcpy(w, p, (size_t)len);
        w += len;
        memcpy(w, ENTRY_SCORE, 10);
        w += 10;
        if (score >= 10) {
            *w++ = '1';
            *w++ = '0';
        }
        else
            *w++ = (char)('0' + score);
        *w++ = '}';
    }
    *w++ = ']';
    assert(w == PyBytes_AS_STRING(body) + size);
    result = PyTuple_New(2);
    PyObject *list = PyList_New(nreasons);
    if (result == NULL || list == NULL) {
        Py_XDECREF(list);
        Py_CLEAR(result);
        goto out;
    }
    for (Py_ssize_t c = 0; c < nreasons; c++) {
        PyObject *count = PyLong_FromSsize_t(counts[c]);
        if (count == NULL) {
            Py_DECREF(list);
            Py_CLEAR(result);
            goto out;
        }
        PyList_SET_ITEM(list, c, count);
    }
    PyTuple_SET_ITEM(result, 0, Py_NewRef(body));
    PyTuple_SET_ITEM(result, 1, list);
out:
    Py_XDECREF(body);
    PyMem_Free(slots);
    PyMem_Free(seen);
    PyMem_Free(counts);
    return result;
}

/* ---- module -------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"split_plain", (PyCFunction)split_plain, METH_O,
     "split_plain(raw): the names of a compact array of plain names, else None."},
    {"render", (PyCFunction)(void (*)(void))render, METH_FASTCALL,
     "render(index, names, scores, reasons, nreasons) -> (body, counts)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "extender._fastreply",
    .m_doc = "The extender's per-name loop in C (see extender/fastreply.py for the reference).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__fastreply(void)
{
    init_plain_chars();
    if (init_hash_seed() < 0)
        return NULL;
    if (PyType_Ready(&PlainNamesType) < 0 || PyType_Ready(&SlotIndexType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "PlainNames", (PyObject *)&PlainNamesType) < 0
        || PyModule_AddObjectRef(m, "SlotIndex", (PyObject *)&SlotIndexType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
