/*
 * fleet_python.i: the Python half of bindings/swig/fleet.i.
 *
 * - Status codes raise: the Python layer registers one exception class per
 *   FLEET_E* code (register_errors()); a failure raises the class of its
 *   code with the library's message (fleet_error_last()).
 * - Plain-data structs cross as Python values: option structs come in as
 *   dicts, checked member by member (unknown members are refused); results
 *   go out as instances of the record classes the Python layer registers
 *   (register_class()), built directly from a dict of their attributes.
 *   Everything a record holds is a copy: nothing points into C memory.
 * - Callbacks: fleetswig_callback holds a callable. Trampolines take the
 *   interpreter lock themselves (PyGILState_Ensure), so they work from any
 *   thread, copy the borrowed C arguments into Python objects, call, and turn
 *   an exception into FLEETSWIG_ABORT after saving it; the wrapper of the C
 *   call raises it again. Where nobody waits for the result (a callback on a
 *   library thread), the exception goes to sys.unraisablehook instead.
 */

%{
#include <limits.h>
#include <math.h>
#include <structmember.h>

/* ---- Registered classes ------------------------------------------------ */

enum {
  FPY_TELEMETRY,
  FPY_TRIP,
  FPY_STOP,
  FPY_ALERT,
  FPY_HOURLY,
  FPY_EVENT,
  FPY_VEHICLE_STATE,
  FPY_MQTT_MESSAGE,
  FPY_POSITION,
  FPY_HISTORY_TRIP,
  FPY_ZONE_EVENT,
  FPY_HISTORY_ALERT,
  FPY_ROW,
  FPY_INGEST_RECORD,
  FPY_NCLASSES
};

static const char *const fpy_class_names[FPY_NCLASSES] = {
    "Telemetry", "Trip",     "Stop",        "Alert",    "Hourly",       "TrackerEvent",
    "VehicleState", "MqttMessage", "Position", "HistoryTrip", "ZoneEvent", "HistoryAlert",
    "Row", "IngestRecord"};

static PyObject *fpy_classes[FPY_NCLASSES];
static PyObject *fpy_errors;      /* {code: class} */
static PyObject *fpy_error_base;  /* fleet.Error */
static PyObject *fpy_empty_tuple;

/* An instance of registered class `cls` whose attributes are `dict` (stolen).
 * Without a registered class the dict itself is returned. */
static PyObject *fpy_make(int cls, PyObject *dict)
{
  PyObject *type, *obj;
  if (!dict)
    return NULL;
  type = fpy_classes[cls];
  if (!type)
    return dict;
  obj = PyBaseObject_Type.tp_new((PyTypeObject *)type, fpy_empty_tuple, NULL);
  if (!obj || PyObject_GenericSetDict(obj, dict, NULL) != 0) {
    Py_XDECREF(obj);
    Py_DECREF(dict);
    return NULL;
  }
  Py_DECREF(dict);
  return obj;
}

/* ---- Raising ----------------------------------------------------------- */

static void fpy_raise(int code, const char *msg)
{
  PyObject *cls = NULL, *key, *text, *exc;
  int is_base;
  if (fpy_errors) {
    key = PyLong_FromLong(code);
    if (!key)
      return;
    cls = PyDict_GetItemWithError(fpy_errors, key);
    Py_DECREF(key);
    if (!cls && PyErr_Occurred())
      return;
  }
  if (!cls)
    cls = fpy_error_base ? fpy_error_base : PyExc_RuntimeError;
  is_base = cls == fpy_error_base;
  text = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "backslashreplace");
  if (!text)
    return;
  exc = PyObject_CallOneArg(cls, text);
  Py_DECREF(text);
  if (!exc)
    return;
  if (is_base) {
    /* A code this version of the package does not know: keep it. */
    PyObject *c = PyLong_FromLong(code);
    if (c) {
      PyObject_SetAttrString(exc, "code", c);
      Py_DECREF(c);
    }
  }
  PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
  Py_DECREF(exc);
}

/* Raise the exception for a status returned by a C call. */
static void fleetswig_raise_status(int rc)
{
  if (rc == FLEETSWIG_ABORT) {
    if (!PyErr_Occurred())
      fpy_raise(FLEET_EINTERNAL, "a callback aborted the call without an exception");
    return;
  }
  if (PyErr_Occurred())
    return;
  fpy_raise(rc, fleetswig_take_message(rc));
}

/* After a constructor or factory returned NULL. */
static void fleetswig_raise_pending(void)
{
  if (PyErr_Occurred())
    return;
  if (fleetswig_err.set) {
    fleetswig_raise_status(fleetswig_err.code);
    return;
  }
  fpy_raise(FLEET_EINTERNAL, "failed without a reason");
}

/* Raise `code` with a printf-style message from the binding itself. */
static void fpy_raisef(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void fpy_raisef(int code, const char *fmt, ...)
{
  char msg[640];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fpy_raise(code, msg);
}

/* ---- Small conversions ------------------------------------------------- */

static PyObject *fpy_str(const char *s)
{
  if (!s)
    Py_RETURN_NONE;
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyObject *fpy_strn(const char *s, size_t max)
{
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strnlen(s, max), "replace");
}

/* Set d[key] = value (a new reference, stolen); -1 on failure. The key is
 * not interned (PyDict_SetItemString would intern names that come from data,
 * churning the interpreter's table of interned strings). */
static int fpy_set(PyObject *d, const char *key, PyObject *value)
{
  PyObject *k;
  int rc = -1;
  if (!value)
    return -1;
  k = PyUnicode_DecodeUTF8(key, (Py_ssize_t)strlen(key), "replace");
  if (k) {
    rc = PyDict_SetItem(d, k, value);
    Py_DECREF(k);
  }
  Py_DECREF(value);
  return rc;
}

static PyObject *fpy_none(void) { Py_RETURN_NONE; }

/* Set attribute `name` of obj to value (a new reference, stolen). */
static int fpy_setattr(PyObject *obj, const char *name, PyObject *value)
{
  int rc;
  if (!value)
    return -1;
  rc = PyObject_SetAttrString(obj, name, value);
  Py_DECREF(value);
  return rc;
}

/* UTF-8 of a str without embedded NUL; the pointer lives as long as `o`. */
static const char *fpy_utf8(PyObject *o, const char *what, Py_ssize_t *len)
{
  Py_ssize_t n;
  const char *s;
  if (!PyUnicode_Check(o)) {
    fpy_raisef(FLEET_ETYPE, "%s: expected str, got %s", what, Py_TYPE(o)->tp_name);
    return NULL;
  }
  s = PyUnicode_AsUTF8AndSize(o, &n);
  if (!s)
    return NULL;
  if ((size_t)n != strlen(s)) {
    fpy_raisef(FLEET_EINVAL, "%s: contains a NUL character", what);
    return NULL;
  }
  if (len)
    *len = n;
  return s;
}

/* Bytes of a str (UTF-8), bytes, bytearray or other contiguous buffer. */
static int fpy_bytes(PyObject *o, const char **p, size_t *n, Py_buffer *view, int *have_view,
                     int allow_none)
{
  *have_view = 0;
  if (o == Py_None && allow_none) {
    *p = NULL;
    *n = 0;
    return 0;
  }
  if (PyUnicode_Check(o)) {
    Py_ssize_t len;
    *p = PyUnicode_AsUTF8AndSize(o, &len);
    if (!*p)
      return -1;
    *n = (size_t)len;
    return 0;
  }
  if (PyBytes_Check(o)) {
    *p = PyBytes_AS_STRING(o);
    *n = (size_t)PyBytes_GET_SIZE(o);
    return 0;
  }
  if (PyObject_CheckBuffer(o)) {
    if (PyObject_GetBuffer(o, view, PyBUF_SIMPLE) != 0)
      return -1;
    *have_view = 1;
    *p = (const char *)view->buf;
    *n = (size_t)view->len;
    return 0;
  }
  fpy_raisef(FLEET_ETYPE, "expected str or bytes, got %s", Py_TYPE(o)->tp_name);
  return -1;
}

/* A real number that is not a bool. */
static int fpy_double(PyObject *o, const char *what, double *out)
{
  if (PyFloat_CheckExact(o)) {
    *out = PyFloat_AS_DOUBLE(o);
    return 0;
  }
  if (PyBool_Check(o) || !(PyFloat_Check(o) || PyLong_Check(o) || PyNumber_Check(o))) {
    fpy_raisef(FLEET_ETYPE, "%s: expected a number, got %s", what, Py_TYPE(o)->tp_name);
    return -1;
  }
  *out = PyFloat_AsDouble(o);
  if (*out == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    fpy_raisef(FLEET_ETYPE, "%s: expected a number, got %s", what, Py_TYPE(o)->tp_name);
    return -1;
  }
  return 0;
}

/* An integer (not a bool) within [lo, hi]. */
static int fpy_int(PyObject *o, const char *what, long long lo, long long hi, long long *out)
{
  int overflow = 0;
  long long v;
  if (PyBool_Check(o) || !PyLong_Check(o)) {
    fpy_raisef(FLEET_ETYPE, "%s: expected an int, got %s", what, Py_TYPE(o)->tp_name);
    return -1;
  }
  v = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (v == -1 && PyErr_Occurred())
    return -1;
  if (overflow || v < lo || v > hi) {
    fpy_raisef(FLEET_ERANGE, "%s: out of range [%lld, %lld]", what, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

static int fpy_u64(PyObject *o, const char *what, unsigned long long *out)
{
  unsigned long long v;
  if (PyBool_Check(o) || !PyLong_Check(o)) {
    fpy_raisef(FLEET_ETYPE, "%s: expected an int, got %s", what, Py_TYPE(o)->tp_name);
    return -1;
  }
  v = PyLong_AsUnsignedLongLong(o);
  if (v == (unsigned long long)-1 && PyErr_Occurred()) {
    PyErr_Clear();
    fpy_raisef(FLEET_ERANGE, "%s: out of range [0, 2^64)", what);
    return -1;
  }
  *out = v;
  return 0;
}

static int fpy_bool(PyObject *o, const char *what, int *out)
{
  if (PyBool_Check(o)) {
    *out = o == Py_True;
    return 0;
  }
  if (PyLong_Check(o)) {
    long v = PyLong_AsLong(o);
    if (v == 0 || v == 1) {
      *out = (int)v;
      return 0;
    }
  }
  fpy_raisef(FLEET_ETYPE, "%s: expected a bool", what);
  return -1;
}

/* ---- Scratch: what a converted argument borrows until the call ends ----- */

typedef struct fpy_scratch {
  PyObject *refs;   /* list of objects whose memory is borrowed */
  void *blocks[8];  /* malloc'd arrays */
  int nblocks;
} fpy_scratch;

#define FPY_SCRATCH_INIT {NULL, {NULL}, 0}

static int fpy_scratch_keep(fpy_scratch *s, PyObject *o)
{
  if (!s->refs && !(s->refs = PyList_New(0)))
    return -1;
  return PyList_Append(s->refs, o);
}

static void *fpy_scratch_alloc(fpy_scratch *s, size_t size)
{
  void *p;
  if (s->nblocks == (int)(sizeof s->blocks / sizeof s->blocks[0])) {
    fpy_raise(FLEET_ETOOBIG, "too many lists in one argument");
    return NULL;
  }
  p = calloc(1, size ? size : 1);
  if (!p) {
    PyErr_NoMemory();
    return NULL;
  }
  s->blocks[s->nblocks++] = p;
  return p;
}

static void fpy_scratch_free(fpy_scratch *s)
{
  int i;
  Py_CLEAR(s->refs);
  for (i = 0; i < s->nblocks; i++)
    free(s->blocks[i]);
  s->nblocks = 0;
}

/* A list of str (or one str) as a C array of borrowed strings. */
static int fpy_strlist(PyObject *o, const char *what, fpy_scratch *s, const char ***out,
                       size_t *count)
{
  PyObject *seq;
  Py_ssize_t i, n;
  const char **v;
  if (PyUnicode_Check(o)) {
    v = (const char **)fpy_scratch_alloc(s, sizeof *v);
    if (!v || fpy_scratch_keep(s, o) != 0 || !(v[0] = fpy_utf8(o, what, NULL)))
      return -1;
    *out = v;
    *count = 1;
    return 0;
  }
  seq = PySequence_Fast(o, "expected a list of str");
  if (!seq) {
    PyErr_Clear();
    fpy_raisef(FLEET_ETYPE, "%s: expected a list of str, got %s", what, Py_TYPE(o)->tp_name);
    return -1;
  }
  if (fpy_scratch_keep(s, seq) != 0) {
    Py_DECREF(seq);
    return -1;
  }
  Py_DECREF(seq);
  n = PySequence_Fast_GET_SIZE(seq);
  v = (const char **)fpy_scratch_alloc(s, (size_t)n * sizeof *v);
  if (!v)
    return -1;
  for (i = 0; i < n; i++) {
    v[i] = fpy_utf8(PySequence_Fast_GET_ITEM(seq, i), what, NULL);
    if (!v[i])
      return -1;
  }
  *out = v;
  *count = (size_t)n;
  return 0;
}

/* ---- Table-driven struct conversion ------------------------------------ */

typedef enum fpy_ftype {
  FPY_F_DOUBLE, /* double */
  FPY_F_INT,    /* int */
  FPY_F_UINT,   /* unsigned int */
  FPY_F_BOOL,   /* int, 0 or 1 */
  FPY_F_I64,    /* int64_t */
  FPY_F_U64,    /* uint64_t */
  FPY_F_U32,    /* uint32_t */
  FPY_F_SIZE,   /* size_t */
  FPY_F_LONG,   /* long */
  FPY_F_CHARS,  /* char[size] */
  FPY_F_CSTR,   /* const char *, borrowed */
  FPY_F_ENUM,   /* an int-sized enum, by name (names) or number */
  FPY_F_STRLIST,/* const char *const *, count (size_t) at offset `size` */
  FPY_F_BYTES,  /* const void *, length (size_t) at offset `size` */
  FPY_F_SKIP    /* not converted (set by code) */
} fpy_ftype;

typedef struct fpy_name {
  const char *name;
  int value;
} fpy_name;

typedef struct fpy_field {
  const char *name;
  fpy_ftype type;
  size_t offset;
  size_t size;
  const fpy_name *names; /* FPY_F_ENUM */
  unsigned present;      /* output: None unless this bit of the present word is set */
} fpy_field;

typedef struct fpy_struct {
  const char *what;
  const fpy_field *fields;
  size_t nfields;
  long present_offset; /* offset of the unsigned present word, or -1 */
} fpy_struct;

#define FPY_FIELD(S, m, t) {#m, t, offsetof(S, m), 0, NULL, 0}
#define FPY_FIELD_AS(S, name, m, t) {name, t, offsetof(S, m), 0, NULL, 0}
#define FPY_CHARS(S, m) {#m, FPY_F_CHARS, offsetof(S, m), sizeof(((S *)0)->m), NULL, 0}
#define FPY_ENUM(S, m, names) {#m, FPY_F_ENUM, offsetof(S, m), 0, names, 0}
#define FPY_LIST(S, m, n) {#m, FPY_F_STRLIST, offsetof(S, m), offsetof(S, n), NULL, 0}
#define FPY_BYTES(S, m, n) {#m, FPY_F_BYTES, offsetof(S, m), offsetof(S, n), NULL, 0}
#define FPY_OPT(S, m, t, bit) {#m, t, offsetof(S, m), 0, NULL, bit}
#define FPY_STRUCT(what, table, S, present) \
  {what, table, sizeof(table) / sizeof(table[0]), present}

static const char *fpy_enum_name(const fpy_name *names, int v)
{
  for (; names->name; names++)
    if (names->value == v)
      return names->name;
  return NULL;
}

static PyObject *fpy_field_get(const fpy_field *f, const char *base)
{
  const char *p = base + f->offset;
  switch (f->type) {
  case FPY_F_DOUBLE: return PyFloat_FromDouble(*(const double *)p);
  case FPY_F_INT: return PyLong_FromLong(*(const int *)p);
  case FPY_F_UINT: return PyLong_FromUnsignedLong(*(const unsigned int *)p);
  case FPY_F_BOOL: return PyBool_FromLong(*(const int *)p);
  case FPY_F_I64: return PyLong_FromLongLong((long long)*(const int64_t *)p);
  case FPY_F_U64: return PyLong_FromUnsignedLongLong((unsigned long long)*(const uint64_t *)p);
  case FPY_F_U32: return PyLong_FromUnsignedLong((unsigned long)*(const uint32_t *)p);
  case FPY_F_SIZE: return PyLong_FromSize_t(*(const size_t *)p);
  case FPY_F_LONG: return PyLong_FromLong(*(const long *)p);
  case FPY_F_CHARS: return fpy_strn(p, f->size);
  case FPY_F_CSTR: return fpy_str(*(const char *const *)p);
  case FPY_F_ENUM: {
    int v = *(const int *)p;
    const char *name = fpy_enum_name(f->names, v);
    return name ? PyUnicode_FromString(name) : PyLong_FromLong(v);
  }
  case FPY_F_STRLIST: {
    const char *const *v = *(const char *const *const *)p;
    size_t n = *(const size_t *)(base + f->size), i;
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (i = 0; list && i < n; i++) {
      PyObject *s = fpy_str(v[i]);
      if (!s) {
        Py_CLEAR(list);
        break;
      }
      PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
  }
  default: Py_RETURN_NONE;
  }
}

/* The struct as a dict of its fields. */
static PyObject *fpy_to_dict(const fpy_struct *st, const void *ptr)
{
  const char *base = (const char *)ptr;
  unsigned present = st->present_offset >= 0 ? *(const unsigned *)(base + st->present_offset) : 0;
  PyObject *d = PyDict_New();
  size_t i;
  if (!d)
    return NULL;
  for (i = 0; i < st->nfields; i++) {
    const fpy_field *f = &st->fields[i];
    PyObject *v;
    if (f->type == FPY_F_SKIP)
      continue;
    v = (f->present && !(present & f->present)) ? fpy_none() : fpy_field_get(f, base);
    if (fpy_set(d, f->name, v) != 0) {
      Py_DECREF(d);
      return NULL;
    }
  }
  return d;
}

static int fpy_field_put(const fpy_struct *st, const fpy_field *f, char *base, PyObject *v,
                         fpy_scratch *s)
{
  char what[160];
  char *p = base + f->offset;
  long long ll;
  snprintf(what, sizeof what, "%s: %s", st->what, f->name);
  switch (f->type) {
  case FPY_F_DOUBLE:
    return fpy_double(v, what, (double *)p);
  case FPY_F_INT:
    if (fpy_int(v, what, INT_MIN, INT_MAX, &ll) != 0)
      return -1;
    *(int *)p = (int)ll;
    return 0;
  case FPY_F_UINT:
    if (fpy_int(v, what, 0, UINT_MAX, &ll) != 0)
      return -1;
    *(unsigned int *)p = (unsigned int)ll;
    return 0;
  case FPY_F_BOOL:
    return fpy_bool(v, what, (int *)p);
  case FPY_F_I64:
    if (fpy_int(v, what, INT64_MIN, INT64_MAX, &ll) != 0)
      return -1;
    *(int64_t *)p = (int64_t)ll;
    return 0;
  case FPY_F_U64: {
    unsigned long long u;
    if (fpy_u64(v, what, &u) != 0)
      return -1;
    *(uint64_t *)p = (uint64_t)u;
    return 0;
  }
  case FPY_F_U32:
    if (fpy_int(v, what, 0, UINT32_MAX, &ll) != 0)
      return -1;
    *(uint32_t *)p = (uint32_t)ll;
    return 0;
  case FPY_F_SIZE:
    if (fpy_int(v, what, 0, LLONG_MAX, &ll) != 0)
      return -1;
    *(size_t *)p = (size_t)ll;
    return 0;
  case FPY_F_LONG:
    if (fpy_int(v, what, LONG_MIN, LONG_MAX, &ll) != 0)
      return -1;
    *(long *)p = (long)ll;
    return 0;
  case FPY_F_CHARS: {
    Py_ssize_t n;
    const char *u = fpy_utf8(v, what, &n);
    if (!u)
      return -1;
    if ((size_t)n >= f->size) {
      fpy_raisef(FLEET_ETOOBIG, "%s: %zd bytes is longer than %zu", what, n, f->size - 1);
      return -1;
    }
    memcpy(p, u, (size_t)n + 1);
    return 0;
  }
  case FPY_F_CSTR: {
    const char *u = fpy_utf8(v, what, NULL);
    if (!u || fpy_scratch_keep(s, v) != 0)
      return -1;
    *(const char **)p = u;
    return 0;
  }
  case FPY_F_ENUM:
    if (PyUnicode_Check(v)) {
      const char *u = fpy_utf8(v, what, NULL);
      const fpy_name *nm;
      if (!u)
        return -1;
      for (nm = f->names; nm && nm->name; nm++)
        if (strcmp(nm->name, u) == 0) {
          *(int *)p = nm->value;
          return 0;
        }
      fpy_raisef(FLEET_EINVAL, "%s: unknown value '%s'", what, u);
      return -1;
    }
    if (fpy_int(v, what, INT_MIN, INT_MAX, &ll) != 0)
      return -1;
    *(int *)p = (int)ll;
    return 0;
  case FPY_F_STRLIST:
    return fpy_strlist(v, what, s, (const char ***)p, (size_t *)(base + f->size));
  case FPY_F_BYTES: {
    Py_buffer view;
    int have_view;
    const char *b;
    size_t n;
    PyObject *copy;
    if (fpy_bytes(v, &b, &n, &view, &have_view, 0) != 0)
      return -1;
    /* Keep our own bytes: a buffer view would need releasing. */
    copy = PyBytes_FromStringAndSize(b, (Py_ssize_t)n);
    if (have_view)
      PyBuffer_Release(&view);
    if (!copy || fpy_scratch_keep(s, copy) != 0) {
      Py_XDECREF(copy);
      return -1;
    }
    Py_DECREF(copy);
    *(const void **)p = PyBytes_AS_STRING(copy);
    *(size_t *)(base + f->size) = n;
    return 0;
  }
  default:
    fpy_raisef(FLEET_EINVAL, "%s: cannot be set here", what);
    return -1;
  }
}

/* Fill `ptr` (already initialised to its defaults) from a dict; None values
 * keep the default. Unknown keys are refused. */
static int fpy_from_dict(const fpy_struct *st, PyObject *dict, void *ptr, fpy_scratch *s)
{
  Py_ssize_t pos = 0;
  PyObject *k, *v;
  if (!PyDict_Check(dict)) {
    fpy_raisef(FLEET_ETYPE, "%s: expected a dict, got %s", st->what, Py_TYPE(dict)->tp_name);
    return -1;
  }
  while (PyDict_Next(dict, &pos, &k, &v)) {
    const char *name;
    size_t i;
    if (!PyUnicode_Check(k)) {
      fpy_raisef(FLEET_ETYPE, "%s: keys must be str", st->what);
      return -1;
    }
    name = PyUnicode_AsUTF8(k);
    if (!name)
      return -1;
    for (i = 0; i < st->nfields; i++)
      if (strcmp(st->fields[i].name, name) == 0)
        break;
    if (i == st->nfields || st->fields[i].type == FPY_F_SKIP) {
      fpy_raisef(FLEET_EINVAL, "%s: unknown member '%s'", st->what, name);
      return -1;
    }
    if (v == Py_None)
      continue;
    if (fpy_field_put(st, &st->fields[i], (char *)ptr, v, s) != 0)
      return -1;
  }
  return 0;
}

/* ---- Telemetry records ------------------------------------------------- */

static PyObject *fpy_k_vehicle_id, *fpy_k_ts_ns, *fpy_k_lat, *fpy_k_lng, *fpy_k_speed,
    *fpy_k_heading, *fpy_k_ignition, *fpy_k_odometer, *fpy_k_battery_v, *fpy_k_engine_temp,
    *fpy_k_fuel_level, *fpy_k_driver_id, *fpy_k_extras, *fpy_k_warnings, *fpy_k_ts;

static int fpy_init_keys(void)
{
#define FPY_KEY(k) \
  if (!(fpy_k_##k = PyUnicode_InternFromString(#k))) return -1
  FPY_KEY(vehicle_id);
  FPY_KEY(ts_ns);
  FPY_KEY(lat);
  FPY_KEY(lng);
  FPY_KEY(speed);
  FPY_KEY(heading);
  FPY_KEY(ignition);
  FPY_KEY(odometer);
  FPY_KEY(battery_v);
  FPY_KEY(engine_temp);
  FPY_KEY(fuel_level);
  FPY_KEY(driver_id);
  FPY_KEY(extras);
  FPY_KEY(warnings);
  FPY_KEY(ts);
#undef FPY_KEY
  fpy_empty_tuple = PyTuple_New(0);
  return fpy_empty_tuple ? 0 : -1;
}

static PyObject *fpy_opt_double(const fleet_telemetry_t *r, unsigned bit, double v)
{
  if (r->present & bit)
    return PyFloat_FromDouble(v);
  Py_RETURN_NONE;
}

/* TelemetryBase: the C base of fleet.Telemetry. A record's fields live in
 * fixed slots, so the parser builds records directly (no attribute dict to
 * fill and materialise); the Python class adds methods, and a __dict__ for
 * anything else (Position's tags, say). */
enum {
  FPY_TF_VEHICLE_ID,
  FPY_TF_TS_NS,
  FPY_TF_LAT,
  FPY_TF_LNG,
  FPY_TF_SPEED,
  FPY_TF_HEADING,
  FPY_TF_IGNITION,
  FPY_TF_ODOMETER,
  FPY_TF_BATTERY_V,
  FPY_TF_ENGINE_TEMP,
  FPY_TF_FUEL_LEVEL,
  FPY_TF_DRIVER_ID,
  FPY_TF_EXTRAS,
  FPY_TF_WARNINGS,
  FPY_TF_N
};

typedef struct fpy_telemetry_obj {
  PyObject_HEAD
  PyObject *f[FPY_TF_N]; /* NULL reads as None */
} fpy_telemetry_obj;

#define FPY_TF_MEMBER(name, idx, doc) \
  {name, T_OBJECT, offsetof(fpy_telemetry_obj, f) + (idx) * sizeof(PyObject *), 0, doc}

static PyMemberDef fpy_telemetry_members[] = {
    FPY_TF_MEMBER("vehicle_id", FPY_TF_VEHICLE_ID, "the vehicle, \"\" when unknown"),
    FPY_TF_MEMBER("ts_ns", FPY_TF_TS_NS, "device time, ns since the epoch"),
    FPY_TF_MEMBER("lat", FPY_TF_LAT, "WGS84 latitude, degrees"),
    FPY_TF_MEMBER("lng", FPY_TF_LNG, "WGS84 longitude, degrees"),
    FPY_TF_MEMBER("speed", FPY_TF_SPEED, "km/h, or None"),
    FPY_TF_MEMBER("heading", FPY_TF_HEADING, "degrees [0, 360), or None"),
    FPY_TF_MEMBER("ignition", FPY_TF_IGNITION, "bool, or None"),
    FPY_TF_MEMBER("odometer", FPY_TF_ODOMETER, "km, or None"),
    FPY_TF_MEMBER("battery_v", FPY_TF_BATTERY_V, "V, or None"),
    FPY_TF_MEMBER("engine_temp", FPY_TF_ENGINE_TEMP, "degrees C, or None"),
    FPY_TF_MEMBER("fuel_level", FPY_TF_FUEL_LEVEL, "%, or None"),
    FPY_TF_MEMBER("driver_id", FPY_TF_DRIVER_ID, "str, or None"),
    {NULL, 0, 0, 0, NULL}};

/* extras and warnings are made on first use: most records have neither. */
static PyObject *fpy_telemetry_get_container(PyObject *self, void *closure)
{
  fpy_telemetry_obj *t = (fpy_telemetry_obj *)self;
  int idx = (int)(intptr_t)closure;
  if (!t->f[idx]) {
    t->f[idx] = idx == FPY_TF_EXTRAS ? PyDict_New() : PyList_New(0);
    if (!t->f[idx])
      return NULL;
  }
  Py_INCREF(t->f[idx]);
  return t->f[idx];
}

static int fpy_telemetry_set_container(PyObject *self, PyObject *value, void *closure)
{
  fpy_telemetry_obj *t = (fpy_telemetry_obj *)self;
  Py_XINCREF(value);
  Py_XSETREF(t->f[(int)(intptr_t)closure], value);
  return 0;
}

static PyGetSetDef fpy_telemetry_getset[] = {
    {"extras", fpy_telemetry_get_container, fpy_telemetry_set_container,
     "further CAN fields: {name: float | bool}", (void *)(intptr_t)FPY_TF_EXTRAS},
    {"warnings", fpy_telemetry_get_container, fpy_telemetry_set_container,
     "what the parser dropped: [str]", (void *)(intptr_t)FPY_TF_WARNINGS},
    {NULL, NULL, NULL, NULL, NULL}};

static int fpy_telemetry_traverse(PyObject *self, visitproc visit, void *arg)
{
  fpy_telemetry_obj *t = (fpy_telemetry_obj *)self;
  int i;
  for (i = 0; i < FPY_TF_N; i++)
    Py_VISIT(t->f[i]);
  return 0;
}

static int fpy_telemetry_clear(PyObject *self)
{
  fpy_telemetry_obj *t = (fpy_telemetry_obj *)self;
  int i;
  for (i = 0; i < FPY_TF_N; i++)
    Py_CLEAR(t->f[i]);
  return 0;
}

static void fpy_telemetry_dealloc(PyObject *self)
{
  /* Python subclasses dealloc through subtype_dealloc, which calls this and
   * releases their (heap) type itself; this base type is static. */
  PyObject_GC_UnTrack(self);
  fpy_telemetry_clear(self);
  Py_TYPE(self)->tp_free(self);
}

static PyTypeObject fpy_telemetry_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fleet._fleet.TelemetryBase",
    .tp_basicsize = sizeof(fpy_telemetry_obj),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The fields of a telemetry record (base of fleet.Telemetry).",
    .tp_traverse = fpy_telemetry_traverse,
    .tp_clear = fpy_telemetry_clear,
    .tp_dealloc = fpy_telemetry_dealloc,
    .tp_members = fpy_telemetry_members,
    .tp_getset = fpy_telemetry_getset,
    .tp_new = PyType_GenericNew,
};

/* Store a new reference (stolen) in slot idx; -1 when it is NULL (failed). */
static int fpy_tset(fpy_telemetry_obj *t, int idx, PyObject *v)
{
  if (!v)
    return -1;
  Py_XSETREF(t->f[idx], v);
  return 0;
}

/* A record of registered class `cls` (Telemetry or Position) holding r. */
static PyObject *fpy_telemetry_make(int cls, const fleet_telemetry_t *r,
                                    const fleet_telemetry_warnings_t *w)
{
  PyTypeObject *type = fpy_classes[cls] ? (PyTypeObject *)fpy_classes[cls] : &fpy_telemetry_type;
  fpy_telemetry_obj *t = (fpy_telemetry_obj *)type->tp_alloc(type, 0);
  PyObject *extras = NULL, *warnings;
  unsigned i;
  if (!t)
    return NULL;
  if (fpy_tset(t, FPY_TF_VEHICLE_ID, PyUnicode_FromString(r->vehicle_id)) ||
      fpy_tset(t, FPY_TF_TS_NS, PyLong_FromLongLong((long long)r->ts_ns)) ||
      fpy_tset(t, FPY_TF_LAT, PyFloat_FromDouble(r->lat)) ||
      fpy_tset(t, FPY_TF_LNG, PyFloat_FromDouble(r->lng)) ||
      fpy_tset(t, FPY_TF_SPEED, fpy_opt_double(r, FLEET_TELEMETRY_SPEED, r->speed_kmh)) ||
      fpy_tset(t, FPY_TF_HEADING, fpy_opt_double(r, FLEET_TELEMETRY_HEADING, r->heading_deg)) ||
      fpy_tset(t, FPY_TF_IGNITION, (r->present & FLEET_TELEMETRY_IGNITION)
                                       ? PyBool_FromLong(r->ignition) : fpy_none()) ||
      fpy_tset(t, FPY_TF_ODOMETER, fpy_opt_double(r, FLEET_TELEMETRY_ODOMETER, r->odometer_km)) ||
      fpy_tset(t, FPY_TF_BATTERY_V, fpy_opt_double(r, FLEET_TELEMETRY_BATTERY_V, r->battery_v)) ||
      fpy_tset(t, FPY_TF_ENGINE_TEMP,
               fpy_opt_double(r, FLEET_TELEMETRY_ENGINE_TEMP, r->engine_temp_c)) ||
      fpy_tset(t, FPY_TF_FUEL_LEVEL,
               fpy_opt_double(r, FLEET_TELEMETRY_FUEL_LEVEL, r->fuel_level_pct)) ||
      fpy_tset(t, FPY_TF_DRIVER_ID, (r->present & FLEET_TELEMETRY_DRIVER_ID)
                                        ? fpy_strn(r->driver_id, sizeof r->driver_id)
                                        : fpy_none()))
    goto fail;
  if (r->n_extras) {
    extras = PyDict_New();
    if (fpy_tset(t, FPY_TF_EXTRAS, extras))
      goto fail;
  }
  for (i = 0; i < r->n_extras && i < FLEET_TELEMETRY_MAX_EXTRAS; i++) {
    const fleet_extra_field_t *x = &r->extras[i];
    PyObject *v = x->type == FLEET_EXTRA_BOOL ? PyBool_FromLong(x->value != 0.0)
                                              : PyFloat_FromDouble(x->value);
    if (fpy_set(extras, x->name, v) != 0)
      goto fail;
  }
  if (w && (w->count || w->dropped)) {
    warnings = PyList_New(0);
    if (fpy_tset(t, FPY_TF_WARNINGS, warnings))
      goto fail;
    for (i = 0; i < w->count && i < FLEET_TELEMETRY_MAX_WARNINGS; i++) {
      PyObject *m = fpy_strn(w->msg[i], FLEET_TELEMETRY_WARNING_LEN);
      if (!m || PyList_Append(warnings, m) != 0) {
        Py_XDECREF(m);
        goto fail;
      }
      Py_DECREF(m);
    }
    if (w->dropped) {
      PyObject *m = PyUnicode_FromFormat("%u further warnings were not kept", w->dropped);
      if (!m || PyList_Append(warnings, m) != 0) {
        Py_XDECREF(m);
        goto fail;
      }
      Py_DECREF(m);
    }
  }
  return (PyObject *)t;
fail:
  Py_DECREF(t);
  return NULL;
}

static PyObject *fpy_telemetry_new(const fleet_telemetry_t *r, const fleet_telemetry_warnings_t *w)
{
  return fpy_telemetry_make(FPY_TELEMETRY, r, w);
}

/* Read field `key` (slot idx) of a record: the slot of a TelemetryBase, the
 * attribute of another object, the item of a dict. Missing reads as None.
 * Returns a new reference, or NULL with an error. */
static PyObject *fpy_tget(PyObject *o, PyObject *key, int idx)
{
  PyObject *v;
  if (PyObject_TypeCheck(o, &fpy_telemetry_type)) {
    v = ((fpy_telemetry_obj *)o)->f[idx];
    if (!v)
      v = Py_None;
    Py_INCREF(v);
    return v;
  }
  if (PyDict_Check(o)) {
    v = PyDict_GetItemWithError(o, key);
    if (!v) {
      if (PyErr_Occurred())
        return NULL;
      Py_RETURN_NONE;
    }
    Py_INCREF(v);
    return v;
  }
  v = PyObject_GetAttr(o, key);
  if (!v && PyErr_ExceptionMatches(PyExc_AttributeError)) {
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  return v;
}

static int fpy_topt(PyObject *o, PyObject *key, int idx, fleet_telemetry_t *r, unsigned bit,
                    double *dst)
{
  PyObject *v = fpy_tget(o, key, idx);
  int rc = 0;
  if (!v)
    return -1;
  if (v != Py_None) {
    rc = fpy_double(v, PyUnicode_AsUTF8(key), dst);
    if (rc == 0)
      r->present |= bit;
  }
  Py_DECREF(v);
  return rc;
}

static int fpy_copy_id(char *dst, size_t size, PyObject *v, const char *what)
{
  Py_ssize_t n;
  const char *u = fpy_utf8(v, what, &n);
  if (!u)
    return -1;
  if ((size_t)n >= size) {
    fpy_raisef(FLEET_EINVAL, "%s: %zd bytes is longer than %zu", what, n, size - 1);
    return -1;
  }
  memcpy(dst, u, (size_t)n + 1);
  return 0;
}

/* Fill a C record from a Telemetry object, a dict with the same keys (ts_ns,
 * or ts as RFC 3339 text or ns), or payload text/bytes (parsed). */
static int fpy_telemetry_from_py(PyObject *o, fleet_telemetry_t *r)
{
  PyObject *v = NULL;
  memset(r, 0, offsetof(fleet_telemetry_t, extras));
  r->version = FLEET_TELEMETRY_VERSION;
  if (PyUnicode_Check(o) || PyBytes_Check(o) || PyByteArray_Check(o)) {
    const char *p;
    size_t n;
    Py_buffer view;
    int have_view, rc;
    if (fpy_bytes(o, &p, &n, &view, &have_view, 0) != 0)
      return -1;
    rc = fleetswig_keep(fleet_telemetry_parse(r, NULL, p, n));
    if (have_view)
      PyBuffer_Release(&view);
    if (rc != 0) {
      fleetswig_raise_status(rc);
      return -1;
    }
    return 0;
  }
  if (o == Py_None) {
    fpy_raise(FLEET_EINVAL, "record: None");
    return -1;
  }
  /* vehicle_id */
  if (!(v = fpy_tget(o, fpy_k_vehicle_id, FPY_TF_VEHICLE_ID)))
    return -1;
  if (v != Py_None && fpy_copy_id(r->vehicle_id, sizeof r->vehicle_id, v, "vehicle_id") != 0)
    goto fail;
  Py_CLEAR(v);
  /* ts_ns, or ts */
  if (!(v = fpy_tget(o, fpy_k_ts_ns, FPY_TF_TS_NS)))
    return -1;
  if (v == Py_None && PyDict_Check(o)) {
    Py_DECREF(v);
    if (!(v = fpy_tget(o, fpy_k_ts, FPY_TF_TS_NS)))
      return -1;
    if (PyUnicode_Check(v)) {
      Py_ssize_t n;
      const char *u = fpy_utf8(v, "ts", &n);
      int rc;
      if (!u)
        goto fail;
      rc = fleetswig_keep(fleet_time_parse(&r->ts_ns, u, (size_t)n));
      if (rc != 0) {
        fleetswig_raise_status(rc);
        goto fail;
      }
      Py_CLEAR(v);
    }
  }
  if (v) {
    long long ns;
    if (v == Py_None) {
      fpy_raise(FLEET_EMISSING, "ts: missing");
      goto fail;
    }
    if (fpy_int(v, "ts_ns", INT64_MIN, INT64_MAX, &ns) != 0)
      goto fail;
    r->ts_ns = (int64_t)ns;
    Py_CLEAR(v);
  }
  /* lat, lng */
  if (!(v = fpy_tget(o, fpy_k_lat, FPY_TF_LAT)))
    return -1;
  if (v == Py_None) {
    fpy_raise(FLEET_EMISSING, "lat: missing");
    goto fail;
  }
  if (fpy_double(v, "lat", &r->lat) != 0)
    goto fail;
  Py_CLEAR(v);
  if (!(v = fpy_tget(o, fpy_k_lng, FPY_TF_LNG)))
    return -1;
  if (v == Py_None) {
    fpy_raise(FLEET_EMISSING, "lng: missing");
    goto fail;
  }
  if (fpy_double(v, "lng", &r->lng) != 0)
    goto fail;
  Py_CLEAR(v);
  /* optional fields */
  if (fpy_topt(o, fpy_k_speed, FPY_TF_SPEED, r, FLEET_TELEMETRY_SPEED, &r->speed_kmh) ||
      fpy_topt(o, fpy_k_heading, FPY_TF_HEADING, r, FLEET_TELEMETRY_HEADING, &r->heading_deg) ||
      fpy_topt(o, fpy_k_odometer, FPY_TF_ODOMETER, r, FLEET_TELEMETRY_ODOMETER, &r->odometer_km) ||
      fpy_topt(o, fpy_k_battery_v, FPY_TF_BATTERY_V, r, FLEET_TELEMETRY_BATTERY_V, &r->battery_v) ||
      fpy_topt(o, fpy_k_engine_temp, FPY_TF_ENGINE_TEMP, r, FLEET_TELEMETRY_ENGINE_TEMP, &r->engine_temp_c) ||
      fpy_topt(o, fpy_k_fuel_level, FPY_TF_FUEL_LEVEL, r, FLEET_TELEMETRY_FUEL_LEVEL, &r->fuel_level_pct))
    return -1;
  if (!(v = fpy_tget(o, fpy_k_ignition, FPY_TF_IGNITION)))
    return -1;
  if (v != Py_None) {
    if (fpy_bool(v, "ignition", &r->ignition) != 0)
      goto fail;
    r->present |= FLEET_TELEMETRY_IGNITION;
  }
  Py_CLEAR(v);
  if (!(v = fpy_tget(o, fpy_k_driver_id, FPY_TF_DRIVER_ID)))
    return -1;
  if (v != Py_None) {
    if (fpy_copy_id(r->driver_id, sizeof r->driver_id, v, "driver_id") != 0)
      goto fail;
    r->present |= FLEET_TELEMETRY_DRIVER_ID;
  }
  Py_CLEAR(v);
  /* extras */
  if (!(v = fpy_tget(o, fpy_k_extras, FPY_TF_EXTRAS)))
    return -1;
  if (v != Py_None) {
    Py_ssize_t pos = 0;
    PyObject *k, *x;
    if (!PyDict_Check(v)) {
      fpy_raisef(FLEET_ETYPE, "extras: expected a dict, got %s", Py_TYPE(v)->tp_name);
      goto fail;
    }
    if (PyDict_GET_SIZE(v) > FLEET_TELEMETRY_MAX_EXTRAS) {
      fpy_raisef(FLEET_ETOOBIG, "extras: %zd fields, at most %d", PyDict_GET_SIZE(v),
                 FLEET_TELEMETRY_MAX_EXTRAS);
      goto fail;
    }
    while (PyDict_Next(v, &pos, &k, &x)) {
      fleet_extra_field_t *e = &r->extras[r->n_extras];
      if (fpy_copy_id(e->name, sizeof e->name, k, "extras: name") != 0)
        goto fail;
      if (PyBool_Check(x)) {
        e->type = FLEET_EXTRA_BOOL;
        e->value = x == Py_True ? 1.0 : 0.0;
      } else {
        char what[64];
        snprintf(what, sizeof what, "extras: %s", e->name);
        e->type = FLEET_EXTRA_NUMBER;
        if (fpy_double(x, what, &e->value) != 0)
          goto fail;
      }
      r->n_extras++;
    }
  }
  Py_CLEAR(v);
  return 0;
fail:
  Py_XDECREF(v);
  return -1;
}

/* ---- Line protocol tags and fields -------------------------------------- */

typedef struct fleetswig_lp_tag {
  const char *key;
  const char *value;
} fleetswig_lp_tag;

typedef struct fleetswig_lp_tags {
  fleetswig_lp_tag *v;
  size_t n;
} fleetswig_lp_tags;

enum { FLEETSWIG_LP_FLOAT, FLEETSWIG_LP_INT, FLEETSWIG_LP_BOOL, FLEETSWIG_LP_STRING };

typedef struct fleetswig_lp_field {
  const char *key;
  int type;
  double f;
  int64_t i;
  const char *s;
} fleetswig_lp_field;

typedef struct fleetswig_lp_fields {
  fleetswig_lp_field *v;
  size_t n;
} fleetswig_lp_fields;

/* A mapping (or None) of str -> str as tags; `s` keeps what is borrowed. */
static int fpy_lp_tags(PyObject *o, fleetswig_lp_tags *out, fpy_scratch *s)
{
  PyObject *items;
  Py_ssize_t i, n;
  out->v = NULL;
  out->n = 0;
  if (o == Py_None)
    return 0;
  if (!PyDict_Check(o)) {
    fpy_raisef(FLEET_ETYPE, "tags: expected a dict, got %s", Py_TYPE(o)->tp_name);
    return -1;
  }
  items = PyDict_Items(o);
  if (!items || fpy_scratch_keep(s, items) != 0) {
    Py_XDECREF(items);
    return -1;
  }
  Py_DECREF(items);
  n = PyList_GET_SIZE(items);
  out->v = (fleetswig_lp_tag *)fpy_scratch_alloc(s, (size_t)n * sizeof *out->v);
  if (!out->v)
    return -1;
  for (i = 0; i < n; i++) {
    PyObject *kv = PyList_GET_ITEM(items, i);
    out->v[i].key = fpy_utf8(PyTuple_GET_ITEM(kv, 0), "tags: key", NULL);
    if (!out->v[i].key)
      return -1;
    if (PyTuple_GET_ITEM(kv, 1) == Py_None) {
      out->v[i].value = NULL;
    } else {
      out->v[i].value = fpy_utf8(PyTuple_GET_ITEM(kv, 1), "tags: value", NULL);
      if (!out->v[i].value)
        return -1;
    }
  }
  out->n = (size_t)n;
  return 0;
}

static int fpy_lp_fields(PyObject *o, fleetswig_lp_fields *out, fpy_scratch *s)
{
  PyObject *items;
  Py_ssize_t i, n;
  out->v = NULL;
  out->n = 0;
  if (!PyDict_Check(o)) {
    fpy_raisef(FLEET_ETYPE, "fields: expected a dict, got %s", Py_TYPE(o)->tp_name);
    return -1;
  }
  items = PyDict_Items(o);
  if (!items || fpy_scratch_keep(s, items) != 0) {
    Py_XDECREF(items);
    return -1;
  }
  Py_DECREF(items);
  n = PyList_GET_SIZE(items);
  out->v = (fleetswig_lp_field *)fpy_scratch_alloc(s, (size_t)n * sizeof *out->v);
  if (!out->v)
    return -1;
  for (i = 0; i < n; i++) {
    PyObject *kv = PyList_GET_ITEM(items, i), *x = PyTuple_GET_ITEM(kv, 1);
    fleetswig_lp_field *f = &out->v[i];
    f->key = fpy_utf8(PyTuple_GET_ITEM(kv, 0), "fields: key", NULL);
    if (!f->key)
      return -1;
    if (PyBool_Check(x)) {
      f->type = FLEETSWIG_LP_BOOL;
      f->i = x == Py_True;
    } else if (PyLong_Check(x)) {
      long long ll;
      char what[96];
      snprintf(what, sizeof what, "fields: %s", f->key);
      if (fpy_int(x, what, INT64_MIN, INT64_MAX, &ll) != 0)
        return -1;
      f->type = FLEETSWIG_LP_INT;
      f->i = (int64_t)ll;
    } else if (PyUnicode_Check(x)) {
      f->type = FLEETSWIG_LP_STRING;
      f->s = fpy_utf8(x, "fields: value", NULL);
      if (!f->s)
        return -1;
    } else {
      char what[96];
      snprintf(what, sizeof what, "fields: %s", f->key);
      f->type = FLEETSWIG_LP_FLOAT;
      if (fpy_double(x, what, &f->f) != 0)
        return -1;
    }
  }
  out->n = (size_t)n;
  return 0;
}

/* ---- Strings handed out by %extend methods ------------------------------ */

typedef struct fleetswig_string {
  char *s;
} fleetswig_string;

static void fleetswig_string_set(fleetswig_string *out, const char *s)
{
  free(out->s);
  out->s = s ? strdup(s) : NULL;
}

/* ---- Callbacks --------------------------------------------------------- */

typedef void *fleetswig_callable;

typedef struct fleetswig_callback {
  PyObject *fn;        /* the callable (owned), or NULL */
  PyObject *exc_type;  /* the exception it raised, waiting to be raised again */
  PyObject *exc_value;
  PyObject *exc_tb;
  int unraisable;      /* nobody waits for the C call: report, don't keep */
} fleetswig_callback;

static void fleetswig_callback_init(fleetswig_callback *cb, fleetswig_callable fn)
{
  memset(cb, 0, sizeof *cb);
  cb->fn = (PyObject *)fn;
  Py_XINCREF(cb->fn);
}

static void fleetswig_callback_clear(fleetswig_callback *cb)
{
  PyGILState_STATE st = PyGILState_Ensure();
  Py_CLEAR(cb->fn);
  Py_CLEAR(cb->exc_type);
  Py_CLEAR(cb->exc_value);
  Py_CLEAR(cb->exc_tb);
  PyGILState_Release(st);
}

/* Raise again the exception a callback raised during the last C call.
 * Returns 1 when there was one (it is now the current exception). */
static int fleetswig_callback_rethrow(fleetswig_callback *cb)
{
  if (!cb->exc_type)
    return 0;
  PyErr_Restore(cb->exc_type, cb->exc_value, cb->exc_tb);
  cb->exc_type = cb->exc_value = cb->exc_tb = NULL;
  return 1;
}

typedef PyObject *(*fpy_builder)(const void *data);

/* Call cb->fn(builder(data)) from any thread (with spread, builder returns
 * the tuple of arguments). 0, or FLEETSWIG_ABORT when it raised (or the
 * argument could not be built). */
static int fleetswig_invoke_as(fleetswig_callback *cb, fpy_builder builder, const void *data,
                               int spread)
{
  PyGILState_STATE st;
  PyObject *arg, *res = NULL;
  int rc = 0;
  if (!cb->fn)
    return 0;
  st = PyGILState_Ensure();
  arg = builder(data);
  if (arg) {
    res = spread ? PyObject_Call(cb->fn, arg, NULL) : PyObject_CallOneArg(cb->fn, arg);
    Py_DECREF(arg);
  }
  if (res) {
    Py_DECREF(res);
  } else if (cb->unraisable || cb->exc_type) {
    /* Nobody will raise it (a library thread), or an earlier exception is
     * already waiting: report this one the way Python reports exceptions
     * it cannot raise anywhere. */
    PyErr_WriteUnraisable(cb->fn);
    rc = FLEETSWIG_ABORT;
  } else {
    PyErr_Fetch(&cb->exc_type, &cb->exc_value, &cb->exc_tb);
    PyErr_NormalizeException(&cb->exc_type, &cb->exc_value, &cb->exc_tb);
    if (cb->exc_tb)
      PyException_SetTraceback(cb->exc_value, cb->exc_tb);
    rc = FLEETSWIG_ABORT;
  }
  PyGILState_Release(st);
  return rc;
}

static int fleetswig_invoke(fleetswig_callback *cb, fpy_builder builder, const void *data)
{
  return fleetswig_invoke_as(cb, builder, data, 0);
}

/* Finish a C call that may have run callbacks: raise their exception again. */
static int fleetswig_callback_done(fleetswig_callback *cb, int rc)
{
  if (fleetswig_callback_rethrow(cb))
    return FLEETSWIG_ABORT;
  return rc;
}
%}

/* ---- Typemaps ---------------------------------------------------------- */

/* Status codes: raise on failure, None on success. */
%typemap(out) fleet_status_t, int {
  if ((int)$1 < 0 || (int)$1 == FLEETSWIG_ABORT) {
    fleetswig_raise_status((int)$1);
    SWIG_fail;
  }
  $result = SWIG_Py_Void();
}
%typemap(out) int FLEETSWIG_PLAIN_INT {
  $result = PyLong_FromLong($1);
}
%typemap(out) int FLEETSWIG_BOOL_INT {
  $result = PyBool_FromLong($1);
}

/* Constructors and factories return NULL after a failure. */
%define FLEETSWIG_NULL_RAISES(cls, method)
%exception cls::method {
  $action
  if (!result) {
    fleetswig_raise_pending();
    SWIG_fail;
  }
}
%enddef
%define FLEETSWIG_CONSTRUCTOR(cls, method)
FLEETSWIG_NULL_RAISES(cls, method)
%enddef
%define FLEETSWIG_RETURNS_HANDLE(ret, cls, method)
FLEETSWIG_NULL_RAISES(cls, method)
%enddef

/* Methods returning a Python object build it themselves (NULL: raised). */
%typemap(out) PyObject * {
  if (!$1)
    SWIG_fail;
  $result = $1;
}

/* Strings: str, no embedded NUL; None is NULL. */
%typemap(in) const char * {
  if ($input == Py_None) {
    $1 = NULL;
  } else {
    $1 = ($1_ltype)fpy_utf8($input, "$1_name", NULL);
    if (!$1)
      SWIG_fail;
  }
}
%typemap(freearg) const char * ""
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) const char * {
  $1 = $input == Py_None || PyUnicode_Check($input);
}

/* Bytes: str (UTF-8), bytes, bytearray or any contiguous buffer. */
%typemap(in) (const char *FLEETSWIG_BYTES, size_t FLEETSWIG_LEN) (Py_buffer view, int have_view = 0) {
  if (fpy_bytes($input, (const char **)&$1, &$2, &view, &have_view, 0) != 0)
    SWIG_fail;
}
%typemap(freearg) (const char *FLEETSWIG_BYTES, size_t FLEETSWIG_LEN) {
  if (have_view$argnum)
    PyBuffer_Release(&view$argnum);
}
%typemap(in) (const char *FLEETSWIG_BYTES_OR_NONE, size_t FLEETSWIG_LEN) (Py_buffer view, int have_view = 0) {
  if (fpy_bytes($input, (const char **)&$1, &$2, &view, &have_view, 1) != 0)
    SWIG_fail;
}
%typemap(freearg) (const char *FLEETSWIG_BYTES_OR_NONE, size_t FLEETSWIG_LEN) {
  if (have_view$argnum)
    PyBuffer_Release(&view$argnum);
}
%apply (const char *FLEETSWIG_BYTES, size_t FLEETSWIG_LEN) {
  (const char *json, size_t len),
  (const char *id, size_t len),
  (const char *s, size_t len),
  (const char *geometry, size_t geometry_len),
  (const char *data, size_t len),
  (const char *token, size_t len),
  (const char *refresh_token, size_t len)
};
%apply (const char *FLEETSWIG_BYTES_OR_NONE, size_t FLEETSWIG_LEN) {
  (const char *properties, size_t properties_len)
};

/* Encoder output: a str. */
%typemap(in, numinputs=0) fleet_buf_t *buf (fleet_buf_t tmp = FLEET_BUF_INIT) {
  $1 = &tmp;
}
%typemap(argout) fleet_buf_t *buf {
  $result = SWIG_Python_AppendOutput($result,
      PyUnicode_DecodeUTF8($1->ptr ? $1->ptr : "", (Py_ssize_t)$1->len, "replace"));
  if (PyErr_Occurred())
    SWIG_fail;
}
%typemap(freearg) fleet_buf_t *buf {
  fleet_buf_dispose($1);
}

/* Fixed-size text output buffers. */
%typemap(in, numinputs=0) char out[ANY] (char tmp[$1_dim0]) {
  tmp[0] = 0;
  $1 = tmp;
}
%typemap(argout) char out[ANY] {
  $result = SWIG_Python_AppendOutput($result, fpy_strn($1, $1_dim0));
}

/* Other outputs. */
%typemap(in, numinputs=0) fleetswig_string *out (fleetswig_string tmp = {NULL}) {
  $1 = &tmp;
}
%typemap(argout) fleetswig_string *out {
  $result = SWIG_Python_AppendOutput($result, fpy_str($1->s));
}
%typemap(freearg) fleetswig_string *out {
  free($1->s);
}
%typemap(in, numinputs=0) int *out_bool (int tmp = 0) {
  $1 = &tmp;
}
%typemap(argout) int *out_bool {
  $result = SWIG_Python_AppendOutput($result, PyBool_FromLong(*$1));
}
%typemap(in, numinputs=0) uint64_t *out_u64 (uint64_t tmp = 0) {
  $1 = &tmp;
}
%typemap(argout) uint64_t *out_u64 {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromUnsignedLongLong(*$1));
}
%typemap(in, numinputs=0) uint32_t *out_key (uint32_t tmp = 0) {
  $1 = &tmp;
}
%typemap(argout) uint32_t *out_key {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromUnsignedLong(*$1));
}
%typemap(in, numinputs=0) int64_t *out_ns (int64_t tmp = 0), int64_t *out_seconds (int64_t tmp = 0), int64_t *out_i64 (int64_t tmp = 0) {
  $1 = &tmp;
}
%typemap(argout) int64_t *out_ns, int64_t *out_seconds, int64_t *out_i64 {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromLongLong((long long)*$1));
}
%typemap(in, numinputs=0) fleetswig_keys *out_keys (fleetswig_keys tmp) {
  fleetswig_keys_init(&tmp);
  $1 = &tmp;
}
%typemap(argout) fleetswig_keys *out_keys {
  PyObject *list = PyList_New((Py_ssize_t)$1->n);
  size_t i;
  for (i = 0; list && i < $1->n; i++)
    PyList_SET_ITEM(list, (Py_ssize_t)i, PyLong_FromUnsignedLong($1->v[i]));
  $result = SWIG_Python_AppendOutput($result, list);
  if (!list)
    SWIG_fail;
}
%typemap(freearg) fleetswig_keys *out_keys {
  fleetswig_keys_dispose($1);
}
%apply double *OUTPUT {
  double *out_lat, double *out_lng, double *out_x, double *out_y,
  double *out_min_lat, double *out_min_lng, double *out_max_lat, double *out_max_lng
};

/* Telemetry records. */
%typemap(in, numinputs=0) (fleet_telemetry_t *out, fleet_telemetry_warnings_t *warnings)
    (fleet_telemetry_t rec, fleet_telemetry_warnings_t warn) {
  rec.version = FLEET_TELEMETRY_VERSION;
  warn.count = 0;
  warn.dropped = 0;
  $1 = &rec;
  $2 = &warn;
}
%typemap(argout) (fleet_telemetry_t *out, fleet_telemetry_warnings_t *warnings) {
  $result = SWIG_Python_AppendOutput($result, fpy_telemetry_new($1, $2));
  if (PyErr_Occurred())
    SWIG_fail;
}
%typemap(in) const fleet_telemetry_t *rec (fleet_telemetry_t tmp) {
  if (fpy_telemetry_from_py($input, &tmp) != 0)
    SWIG_fail;
  $1 = &tmp;
}

/* fleet_telemetry_encode_json() options: include_vehicle_id as a bool. */
%typemap(in) const fleet_telemetry_json_opts_t *opts (fleet_telemetry_json_opts_t tmp) {
  int inc = 1;
  tmp.version = FLEET_TELEMETRY_JSON_OPTS_VERSION;
  if ($input != Py_None && fpy_bool($input, "include_vehicle_id", &inc) != 0)
    SWIG_fail;
  tmp.include_vehicle_id = inc;
  $1 = &tmp;
}

/* Line protocol: tags as a dict str -> str (None values are left out). */
%typemap(in) (const fleet_lp_tag_t *tags, size_t ntags)
    (fpy_scratch scratch = FPY_SCRATCH_INIT, fleetswig_lp_tags t) {
  if (fpy_lp_tags($input, &t, &scratch) != 0)
    SWIG_fail;
  $1 = ($1_ltype)t.v;
  $2 = t.n;
}
%typemap(freearg) (const fleet_lp_tag_t *tags, size_t ntags) {
  fpy_scratch_free(&scratch$argnum);
}
%typemap(in) const fleetswig_lp_tags *tags (fpy_scratch scratch = FPY_SCRATCH_INIT, fleetswig_lp_tags t) {
  if (fpy_lp_tags($input, &t, &scratch) != 0)
    SWIG_fail;
  $1 = &t;
}
%typemap(freearg) const fleetswig_lp_tags *tags {
  fpy_scratch_free(&scratch$argnum);
}
%typemap(in) const fleetswig_lp_fields *fields (fpy_scratch scratch = FPY_SCRATCH_INIT, fleetswig_lp_fields f) {
  if (fpy_lp_fields($input, &f, &scratch) != 0)
    SWIG_fail;
  $1 = &f;
}
%typemap(freearg) const fleetswig_lp_fields *fields {
  fpy_scratch_free(&scratch$argnum);
}

/* A callable (required). */
%typemap(in) fleetswig_callable {
  if (!PyCallable_Check($input)) {
    fpy_raisef(FLEET_ETYPE, "$1_name: expected a callable, got %s", Py_TYPE($input)->tp_name);
    SWIG_fail;
  }
  $1 = (void *)$input;
}
/* A callable or None. */
%typemap(in) fleetswig_callable OPTIONAL {
  if ($input == Py_None) {
    $1 = NULL;
  } else if (!PyCallable_Check($input)) {
    fpy_raisef(FLEET_ETYPE, "$1_name: expected a callable or None, got %s",
               Py_TYPE($input)->tp_name);
    SWIG_fail;
  } else {
    $1 = (void *)$input;
  }
}

%apply fleetswig_callable OPTIONAL { fleetswig_callable on_log, fleetswig_callable on_row,
                                    fleetswig_callable on_message, fleetswig_callable on_connect,
                                    fleetswig_callable on_disconnect };

/* Option structs: a dict (None for the defaults). INIT fills the defaults. */
%define FLEETSWIG_OPTIONS(TYPE, NAME, DESC, INIT)
%typemap(in) const TYPE *NAME (TYPE tmp, fpy_scratch scratch = FPY_SCRATCH_INIT) {
  if ($input == Py_None) {
    $1 = NULL;
  } else {
    INIT(&tmp);
    if (fpy_from_dict(&DESC, $input, &tmp, &scratch) != 0)
      SWIG_fail;
    $1 = &tmp;
  }
}
%typemap(freearg) const TYPE *NAME {
  fpy_scratch_free(&scratch$argnum);
}
%enddef

/* Result structs: converted with CONVERT (a function of a const TYPE *). */
%define FLEETSWIG_RESULT(TYPE, NAME, CONVERT)
%typemap(in, numinputs=0) TYPE *NAME (TYPE tmp) {
  memset(&tmp, 0, sizeof tmp);
  $1 = &tmp;
}
%typemap(argout) TYPE *NAME {
  $result = SWIG_Python_AppendOutput($result, CONVERT($1));
  if (PyErr_Occurred())
    SWIG_fail;
}
%enddef

/* ---- Registration by the Python layer ---------------------------------- */

%init %{
  if (fpy_init_keys() != 0 || PyType_Ready(&fpy_telemetry_type) != 0 ||
      PyModule_AddObjectRef(m, "TelemetryBase", (PyObject *)&fpy_telemetry_type) != 0)
    return NULL;
%}

%inline %{
/** Register a record class of the Python layer (internal). */
PyObject *register_class(const char *name, PyObject *cls)
{
  int i;
  if (!name || !PyType_Check(cls)) {
    PyErr_SetString(PyExc_TypeError, "register_class(name, class)");
    return NULL;
  }
  for (i = 0; i < FPY_NCLASSES; i++)
    if (strcmp(fpy_class_names[i], name) == 0) {
      if ((i == FPY_TELEMETRY || i == FPY_POSITION) &&
          !PyType_IsSubtype((PyTypeObject *)cls, &fpy_telemetry_type)) {
        PyErr_Format(PyExc_TypeError, "register_class: %s must derive from TelemetryBase", name);
        return NULL;
      }
      Py_INCREF(cls);
      Py_XSETREF(fpy_classes[i], cls);
      Py_RETURN_NONE;
    }
  PyErr_Format(PyExc_ValueError, "register_class: unknown record class '%s'", name);
  return NULL;
}

/** Register the exception classes: base, {code: class} (internal). */
PyObject *register_errors(PyObject *base, PyObject *by_code)
{
  if (!PyType_Check(base) || !PyDict_Check(by_code)) {
    PyErr_SetString(PyExc_TypeError, "register_errors(base, {code: class})");
    return NULL;
  }
  Py_INCREF(base);
  Py_XSETREF(fpy_error_base, base);
  Py_INCREF(by_code);
  Py_XSETREF(fpy_errors, by_code);
  Py_RETURN_NONE;
}

/**
 * Make the wrappers create instances of `cls` (a subclass of the SWIG proxy
 * class) for the C type `type_name`, e.g. "fleetswig_zone *" (internal: the
 * fleet package registers its classes). The record of the class registered
 * before is released, unlike with a second *_swigregister() call.
 */
PyObject *set_proxy_class(const char *type_name, PyObject *cls)
{
  swig_type_info *ti;
  SwigPyClientData *old, *data;
  if (!type_name || !PyType_Check(cls)) {
    PyErr_SetString(PyExc_TypeError, "set_proxy_class(type_name, class)");
    return NULL;
  }
  ti = SWIG_TypeQuery(type_name);
  if (!ti) {
    PyErr_Format(PyExc_ValueError, "set_proxy_class: no wrapped type '%s'", type_name);
    return NULL;
  }
  data = SwigPyClientData_New(cls);
  if (!data)
    return NULL;
  old = ti->owndata ? (SwigPyClientData *)ti->clientdata : NULL;
  ti->clientdata = NULL;
  SWIG_TypeNewClientData(ti, data);
  if (old)
    SwigPyClientData_Del(old);
  Py_RETURN_NONE;
}

/** Raise the exception of a status code with a message (internal, for tests). */
PyObject *raise_status(int code, const char *message)
{
  fpy_raise(code, message ? message : fleet_strerror(code));
  return NULL;
}
%}

/* ---- Records and options of trip, rules, downsample, tracker ------------ */

%{
static const fpy_name fpy_end_reason_names[] = {
    {"none", FLEET_TRIP_END_NONE},       {"parked", FLEET_TRIP_END_PARKED},
    {"ignition_off", FLEET_TRIP_END_IGNITION_OFF}, {"data_gap", FLEET_TRIP_END_DATA_GAP},
    {"flush", FLEET_TRIP_END_FLUSH},     {NULL, 0}};
static const fpy_name fpy_rule_type_names[] = {
    {"overspeed", FLEET_RULE_OVERSPEED},     {"zone_enter", FLEET_RULE_ZONE_ENTER},
    {"zone_exit", FLEET_RULE_ZONE_EXIT},     {"ignition_on", FLEET_RULE_IGNITION_ON},
    {"ignition_off", FLEET_RULE_IGNITION_OFF}, {"offline", FLEET_RULE_OFFLINE},
    {"low_battery", FLEET_RULE_LOW_BATTERY}, {"engine_temp", FLEET_RULE_ENGINE_TEMP},
    {"fuel_drop", FLEET_RULE_FUEL_DROP},     {NULL, 0}};
static const fpy_name fpy_severity_names[] = {{"info", FLEET_SEVERITY_INFO},
                                              {"warning", FLEET_SEVERITY_WARNING},
                                              {"critical", FLEET_SEVERITY_CRITICAL},
                                              {NULL, 0}};
static const fpy_name fpy_vehicle_status_names[] = {
    {"moving", FLEET_VEHICLE_MOVING}, {"idle", FLEET_VEHICLE_IDLE},
    {"stopped", FLEET_VEHICLE_STOPPED}, {"offline", FLEET_VEHICLE_OFFLINE}, {NULL, 0}};

static const fpy_field fpy_trip_params_fields[] = {
    FPY_FIELD(fleet_trip_params_t, min_trip_distance_m, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_params_t, min_trip_duration_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_params_t, min_parking_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_params_t, max_gap_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_params_t, speed_threshold_kmh, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_params_t, use_ignition, FPY_F_BOOL),
    FPY_FIELD(fleet_trip_params_t, use_odometer, FPY_F_BOOL),
    FPY_FIELD(fleet_trip_params_t, odometer_slack_m, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_params_t, tank_l, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_params_t, consumption_l_per_100km, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_params_t, idle_l_per_h, FPY_F_DOUBLE)};
static const fpy_struct fpy_trip_params =
    FPY_STRUCT("trip parameters", fpy_trip_params_fields, fleet_trip_params_t, -1);

static void fpy_trip_params_init(fleet_trip_params_t *p)
{
  fleet_trip_params_init(p, FLEET_TRIP_PARAMS_VERSION);
}

static const fpy_field fpy_trip_fields[] = {
    FPY_CHARS(fleet_trip_t, vehicle_id),
    FPY_FIELD(fleet_trip_t, start_ns, FPY_F_I64),
    FPY_FIELD(fleet_trip_t, start_lat, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, start_lng, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, end_ns, FPY_F_I64),
    FPY_FIELD(fleet_trip_t, end_lat, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, end_lng, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, duration_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, distance_m, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, gps_distance_m, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, moving_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, idle_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, max_speed_kmh, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, avg_speed_kmh, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, avg_moving_speed_kmh, FPY_F_DOUBLE),
    FPY_FIELD(fleet_trip_t, fuel_l, FPY_F_DOUBLE),
    FPY_OPT(fleet_trip_t, start_odometer_km, FPY_F_DOUBLE, FLEET_TRIP_HAS_ODOMETER),
    FPY_OPT(fleet_trip_t, end_odometer_km, FPY_F_DOUBLE, FLEET_TRIP_HAS_ODOMETER),
    FPY_OPT(fleet_trip_t, start_fuel_pct, FPY_F_DOUBLE, FLEET_TRIP_HAS_FUEL_LEVEL),
    FPY_OPT(fleet_trip_t, end_fuel_pct, FPY_F_DOUBLE, FLEET_TRIP_HAS_FUEL_LEVEL),
    FPY_FIELD_AS(fleet_trip_t, "fixes", n_fixes, FPY_F_UINT),
    FPY_FIELD(fleet_trip_t, flags, FPY_F_UINT),
    FPY_ENUM(fleet_trip_t, end_reason, fpy_end_reason_names)};
static const fpy_struct fpy_trip =
    FPY_STRUCT("trip", fpy_trip_fields, fleet_trip_t, (long)offsetof(fleet_trip_t, flags));

static const fpy_field fpy_stop_fields[] = {
    FPY_CHARS(fleet_stop_t, vehicle_id),
    FPY_FIELD(fleet_stop_t, start_ns, FPY_F_I64),
    FPY_FIELD(fleet_stop_t, end_ns, FPY_F_I64),
    FPY_FIELD(fleet_stop_t, duration_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_stop_t, lat, FPY_F_DOUBLE),
    FPY_FIELD(fleet_stop_t, lng, FPY_F_DOUBLE),
    FPY_FIELD(fleet_stop_t, flags, FPY_F_UINT)};
static const fpy_struct fpy_stop = FPY_STRUCT("stop", fpy_stop_fields, fleet_stop_t, -1);

static const fpy_field fpy_alert_fields[] = {
    FPY_FIELD(fleet_alert_t, rule_id, FPY_F_CSTR),
    FPY_ENUM(fleet_alert_t, rule_type, fpy_rule_type_names),
    FPY_ENUM(fleet_alert_t, severity, fpy_severity_names),
    FPY_FIELD(fleet_alert_t, message, FPY_F_CSTR),
    FPY_FIELD(fleet_alert_t, value, FPY_F_DOUBLE),
    FPY_FIELD(fleet_alert_t, limit, FPY_F_DOUBLE),
    FPY_FIELD(fleet_alert_t, zone_id, FPY_F_CSTR),
    FPY_FIELD(fleet_alert_t, zone_name, FPY_F_CSTR)};
static const fpy_struct fpy_alert = FPY_STRUCT("alert", fpy_alert_fields, fleet_alert_t, -1);

static const fpy_field fpy_hourly_fields[] = {
    FPY_CHARS(fleet_hourly_t, vehicle_id),
    FPY_FIELD(fleet_hourly_t, hour_ns, FPY_F_I64),
    FPY_FIELD(fleet_hourly_t, revision, FPY_F_UINT),
    FPY_FIELD(fleet_hourly_t, count, FPY_F_UINT),
    FPY_FIELD(fleet_hourly_t, speed_count, FPY_F_UINT),
    FPY_OPT(fleet_hourly_t, speed_mean_kmh, FPY_F_DOUBLE, FLEET_HOURLY_SPEED),
    FPY_OPT(fleet_hourly_t, speed_max_kmh, FPY_F_DOUBLE, FLEET_HOURLY_SPEED),
    FPY_FIELD(fleet_hourly_t, distance_m, FPY_F_DOUBLE),
    FPY_FIELD(fleet_hourly_t, gps_distance_m, FPY_F_DOUBLE),
    FPY_FIELD(fleet_hourly_t, moving_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_hourly_t, idle_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_hourly_t, last_ts_ns, FPY_F_I64),
    FPY_FIELD(fleet_hourly_t, last_lat, FPY_F_DOUBLE),
    FPY_FIELD(fleet_hourly_t, last_lng, FPY_F_DOUBLE),
    FPY_OPT(fleet_hourly_t, fuel_min_pct, FPY_F_DOUBLE, FLEET_HOURLY_FUEL),
    FPY_OPT(fleet_hourly_t, fuel_max_pct, FPY_F_DOUBLE, FLEET_HOURLY_FUEL),
    FPY_OPT(fleet_hourly_t, battery_min_v, FPY_F_DOUBLE, FLEET_HOURLY_BATTERY),
    FPY_OPT(fleet_hourly_t, battery_max_v, FPY_F_DOUBLE, FLEET_HOURLY_BATTERY),
    FPY_FIELD(fleet_hourly_t, present, FPY_F_UINT)};
static const fpy_struct fpy_hourly =
    FPY_STRUCT("hourly", fpy_hourly_fields, fleet_hourly_t, (long)offsetof(fleet_hourly_t, present));

static const fpy_field fpy_downsample_params_fields[] = {
    FPY_FIELD(fleet_downsample_params_t, grace_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_downsample_params_t, speed_threshold_kmh, FPY_F_DOUBLE),
    FPY_FIELD(fleet_downsample_params_t, max_gap_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_downsample_params_t, history_hours, FPY_F_UINT),
    FPY_FIELD(fleet_downsample_params_t, use_odometer, FPY_F_BOOL),
    FPY_FIELD(fleet_downsample_params_t, odometer_slack_m, FPY_F_DOUBLE)};
static const fpy_struct fpy_downsample_params = FPY_STRUCT(
    "hourly parameters", fpy_downsample_params_fields, fleet_downsample_params_t, -1);

static void fpy_downsample_params_init(fleet_downsample_params_t *p)
{
  fleet_downsample_params_init(p, FLEET_DOWNSAMPLE_PARAMS_VERSION);
}

static const fpy_field fpy_downsample_stats_fields[] = {
    FPY_FIELD(fleet_downsample_stats_t, fixes, FPY_F_U64),
    FPY_FIELD(fleet_downsample_stats_t, late, FPY_F_U64),
    FPY_FIELD(fleet_downsample_stats_t, duplicates, FPY_F_U64),
    FPY_FIELD(fleet_downsample_stats_t, dropped_late, FPY_F_U64),
    FPY_FIELD(fleet_downsample_stats_t, rejected, FPY_F_U64),
    FPY_FIELD(fleet_downsample_stats_t, hours, FPY_F_U64),
    FPY_FIELD(fleet_downsample_stats_t, corrections, FPY_F_U64),
    FPY_FIELD(fleet_downsample_stats_t, vehicles, FPY_F_U64)};
static const fpy_struct fpy_downsample_stats = FPY_STRUCT(
    "downsampler stats", fpy_downsample_stats_fields, fleet_downsample_stats_t, -1);

static const fpy_field fpy_tripdet_stats_fields[] = {
    FPY_FIELD(fleet_tripdet_stats_t, fixes, FPY_F_U64),
    FPY_FIELD(fleet_tripdet_stats_t, stale, FPY_F_U64),
    FPY_FIELD(fleet_tripdet_stats_t, duplicates, FPY_F_U64),
    FPY_FIELD(fleet_tripdet_stats_t, rejected, FPY_F_U64),
    FPY_FIELD(fleet_tripdet_stats_t, trips, FPY_F_U64),
    FPY_FIELD(fleet_tripdet_stats_t, stops, FPY_F_U64),
    FPY_FIELD(fleet_tripdet_stats_t, vehicles, FPY_F_U64)};
static const fpy_struct fpy_tripdet_stats =
    FPY_STRUCT("trip detector stats", fpy_tripdet_stats_fields, fleet_tripdet_stats_t, -1);

static const fpy_field fpy_rule_fields[] = {
    FPY_FIELD(fleet_rule_t, id, FPY_F_CSTR),
    FPY_ENUM(fleet_rule_t, type, fpy_rule_type_names),
    FPY_ENUM(fleet_rule_t, severity, fpy_severity_names),
    FPY_FIELD(fleet_rule_t, cooldown_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_rule_t, description, FPY_F_CSTR),
    FPY_LIST(fleet_rule_t, vehicles, n_vehicles),
    FPY_LIST(fleet_rule_t, zones, n_zones),
    FPY_FIELD(fleet_rule_t, threshold, FPY_F_DOUBLE),
    FPY_FIELD(fleet_rule_t, hysteresis, FPY_F_DOUBLE),
    FPY_FIELD(fleet_rule_t, min_duration_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_rule_t, zone_limits, FPY_F_BOOL),
    FPY_FIELD(fleet_rule_t, after_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_rule_t, drop_pct, FPY_F_DOUBLE),
    FPY_FIELD(fleet_rule_t, window_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_rule_t, stationary, FPY_F_BOOL),
    FPY_FIELD(fleet_rule_t, stationary_kmh, FPY_F_DOUBLE)};
static const fpy_struct fpy_rule = FPY_STRUCT("rule", fpy_rule_fields, fleet_rule_t, -1);

static void fpy_rule_init(fleet_rule_t *r) { fleet_rule_init(r, FLEET_RULE_VERSION); }

static const fpy_field fpy_tracker_opts_fields[] = {
    FPY_FIELD(fleet_tracker_opts_t, zone_debounce_fixes, FPY_F_UINT),
    FPY_FIELD(fleet_tracker_opts_t, zone_debounce_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_tracker_opts_t, offline_after_s, FPY_F_DOUBLE)};
static const fpy_struct fpy_tracker_opts =
    FPY_STRUCT("tracker options", fpy_tracker_opts_fields, fleet_tracker_opts_t, -1);

static void fpy_tracker_opts_init(fleet_tracker_opts_t *o)
{
  fleet_tracker_opts_init(o, FLEET_TRACKER_OPTS_VERSION);
}

static const fpy_field fpy_tracker_stats_fields[] = {
    FPY_FIELD(fleet_tracker_stats_t, fixes, FPY_F_U64),
    FPY_FIELD(fleet_tracker_stats_t, late, FPY_F_U64),
    FPY_FIELD(fleet_tracker_stats_t, duplicates, FPY_F_U64),
    FPY_FIELD(fleet_tracker_stats_t, rejected, FPY_F_U64),
    FPY_FIELD(fleet_tracker_stats_t, vehicles, FPY_F_U64),
    FPY_FIELD(fleet_tracker_stats_t, events, FPY_F_U64),
    FPY_FIELD(fleet_tracker_stats_t, alerts, FPY_F_U64)};
static const fpy_struct fpy_tracker_stats =
    FPY_STRUCT("tracker stats", fpy_tracker_stats_fields, fleet_tracker_stats_t, -1);

static const fpy_field fpy_vehicle_state_fields[] = {
    FPY_CHARS(fleet_vehicle_state_t, vehicle_id),
    FPY_FIELD(fleet_vehicle_state_t, ts_ns, FPY_F_I64),
    FPY_FIELD(fleet_vehicle_state_t, lat, FPY_F_DOUBLE),
    FPY_FIELD(fleet_vehicle_state_t, lng, FPY_F_DOUBLE),
    {"speed", FPY_F_DOUBLE, offsetof(fleet_vehicle_state_t, speed_kmh), 0, NULL, FLEET_TELEMETRY_SPEED},
    {"heading", FPY_F_DOUBLE, offsetof(fleet_vehicle_state_t, heading_deg), 0, NULL, FLEET_TELEMETRY_HEADING},
    {"ignition", FPY_F_SKIP, 0, 0, NULL, 0},
    FPY_ENUM(fleet_vehicle_state_t, status, fpy_vehicle_status_names),
    FPY_FIELD(fleet_vehicle_state_t, in_trip, FPY_F_BOOL),
    FPY_FIELD_AS(fleet_vehicle_state_t, "zones", n_zones, FPY_F_UINT),
    FPY_FIELD(fleet_vehicle_state_t, fixes, FPY_F_U64)};
static const fpy_struct fpy_vehicle_state = FPY_STRUCT(
    "vehicle state", fpy_vehicle_state_fields, fleet_vehicle_state_t,
    (long)offsetof(fleet_vehicle_state_t, present));

static PyObject *fpy_record(int cls, const fpy_struct *st, const void *p)
{
  if (!p)
    Py_RETURN_NONE;
  return fpy_make(cls, fpy_to_dict(st, p));
}

static PyObject *fpy_stats(const fpy_struct *st, const void *p) { return fpy_to_dict(st, p); }

static PyObject *fpy_tracker_stats_new(const fleet_tracker_stats_t *s) { return fpy_stats(&fpy_tracker_stats, s); }
static PyObject *fpy_tripdet_stats_new(const fleet_tripdet_stats_t *s) { return fpy_stats(&fpy_tripdet_stats, s); }
static PyObject *fpy_downsample_stats_new(const fleet_downsample_stats_t *s) { return fpy_stats(&fpy_downsample_stats, s); }
static PyObject *fpy_rule_new(const fleet_rule_t *r) { return fpy_to_dict(&fpy_rule, r); }

static PyObject *fpy_vehicle_state_new(const fleet_vehicle_state_t *s)
{
  PyObject *d = fpy_to_dict(&fpy_vehicle_state, s);
  if (d && fpy_set(d, "ignition", s->ignition < 0 ? fpy_none() : PyBool_FromLong(s->ignition)) != 0)
    Py_CLEAR(d);
  return fpy_make(FPY_VEHICLE_STATE, d);
}

/* A trip detector event: a Trip (event "trip_start" / "trip_end") or a Stop. */
static PyObject *fpy_trip_event_build(const void *p)
{
  const fleet_trip_event_t *ev = (const fleet_trip_event_t *)p;
  PyObject *d;
  int cls;
  if (ev->type == FLEET_TRIP_EVENT_STOP) {
    d = fpy_to_dict(&fpy_stop, &ev->stop);
    cls = FPY_STOP;
  } else {
    d = fpy_to_dict(&fpy_trip, &ev->trip);
    cls = FPY_TRIP;
  }
  if (d && fpy_set(d, "event", fpy_str(fleet_trip_event_type_name((int)ev->type))) != 0)
    Py_CLEAR(d);
  return fpy_make(cls, d);
}

static PyObject *fpy_hourly_build(const void *p)
{
  return fpy_record(FPY_HOURLY, &fpy_hourly, p);
}

static PyObject *fpy_event_build(const void *p)
{
  const fleet_tracker_event_t *ev = (const fleet_tracker_event_t *)p;
  PyObject *d = PyDict_New();
  if (!d)
    return NULL;
  if (fpy_set(d, "type", fpy_str(fleet_tracker_event_type_name(ev->type))) ||
      fpy_set(d, "vehicle_id", fpy_str(ev->vehicle_id)) ||
      fpy_set(d, "ts_ns", PyLong_FromLongLong((long long)ev->ts_ns)) ||
      fpy_set(d, "lat", PyFloat_FromDouble(ev->lat)) ||
      fpy_set(d, "lng", PyFloat_FromDouble(ev->lng)) ||
      fpy_set(d, "zone_key", ev->zone_key ? PyLong_FromUnsignedLong(ev->zone_key) : fpy_none()) ||
      fpy_set(d, "zone_id", fpy_str(ev->zone_id)) ||
      fpy_set(d, "zone_name", fpy_str(ev->zone_name)) ||
      fpy_set(d, "dwell_s", ev->type == FLEET_TRACKER_EVENT_ZONE_EXIT
                                ? PyFloat_FromDouble(ev->dwell_s) : fpy_none()) ||
      fpy_set(d, "trip", fpy_record(FPY_TRIP, &fpy_trip, ev->trip)) ||
      fpy_set(d, "stop", fpy_record(FPY_STOP, &fpy_stop, ev->stop)) ||
      fpy_set(d, "alert", fpy_record(FPY_ALERT, &fpy_alert, ev->alert)) ||
      fpy_set(d, "record", ev->record ? fpy_telemetry_new(ev->record, NULL) : fpy_none()) ||
      fpy_set(d, "hourly", fpy_record(FPY_HOURLY, &fpy_hourly, ev->hourly))) {
    Py_DECREF(d);
    return NULL;
  }
  return fpy_make(FPY_EVENT, d);
}

/* Trampolines: C callback -> Python callable (userdata is the callback). */
static int fleetswig_tracker_tramp(const fleet_tracker_event_t *ev, void *ud)
{
  return fleetswig_invoke((fleetswig_callback *)ud, fpy_event_build, ev);
}

static int fleetswig_trip_tramp(const fleet_trip_event_t *ev, void *ud)
{
  return fleetswig_invoke((fleetswig_callback *)ud, fpy_trip_event_build, ev);
}

static int fleetswig_hourly_tramp(const fleet_hourly_t *agg, void *ud)
{
  return fleetswig_invoke((fleetswig_callback *)ud, fpy_hourly_build, agg);
}
%}

FLEETSWIG_OPTIONS(fleet_trip_params_t, trip_params, fpy_trip_params, fpy_trip_params_init)
FLEETSWIG_OPTIONS(fleet_trip_params_t, params, fpy_trip_params, fpy_trip_params_init)
FLEETSWIG_OPTIONS(fleet_downsample_params_t, hourly, fpy_downsample_params, fpy_downsample_params_init)
FLEETSWIG_OPTIONS(fleet_downsample_params_t, ds_params, fpy_downsample_params, fpy_downsample_params_init)
FLEETSWIG_OPTIONS(fleet_tracker_opts_t, opts, fpy_tracker_opts, fpy_tracker_opts_init)
FLEETSWIG_OPTIONS(fleet_rule_t, rule, fpy_rule, fpy_rule_init)
FLEETSWIG_RESULT(fleet_tracker_stats_t, out_stats, fpy_tracker_stats_new)
FLEETSWIG_RESULT(fleet_tripdet_stats_t, out_stats, fpy_tripdet_stats_new)
FLEETSWIG_RESULT(fleet_downsample_stats_t, out_stats, fpy_downsample_stats_new)
FLEETSWIG_RESULT(fleet_vehicle_state_t, out_state, fpy_vehicle_state_new)
FLEETSWIG_RESULT(fleet_rule_t, out_rule, fpy_rule_new)

/* ---- InfluxDB: configuration, writer, history --------------------------- */

%{
static const fpy_name fpy_influx_api_names[] = {
    {"v1", FLEET_INFLUX_API_V1}, {"v2", FLEET_INFLUX_API_V2}, {"v3", FLEET_INFLUX_API_V3},
    {NULL, 0}};
static const fpy_name fpy_influx_auth_names[] = {
    {"auto", FLEET_INFLUX_AUTH_AUTO},     {"none", FLEET_INFLUX_AUTH_NONE},
    {"token", FLEET_INFLUX_AUTH_TOKEN},   {"bearer", FLEET_INFLUX_AUTH_BEARER},
    {"basic", FLEET_INFLUX_AUTH_BASIC},   {NULL, 0}};
static const fpy_name fpy_log_level_names[] = {
    {"error", 1}, {"warning", 2}, {"info", 3}, {"debug", 4}, {NULL, 0}};
static const fpy_name fpy_tier_names[] = {{"auto", FLEET_HISTORY_TIER_AUTO},
                                          {"raw", FLEET_HISTORY_TIER_RAW},
                                          {"hourly", FLEET_HISTORY_TIER_HOURLY},
                                          {NULL, 0}};
static const fpy_name fpy_ensure_names[] = {{"unchanged", FLEET_HISTORY_ENSURE_UNCHANGED},
                                            {"created", FLEET_HISTORY_ENSURE_CREATED},
                                            {"altered", FLEET_HISTORY_ENSURE_ALTERED},
                                            {"exists", FLEET_HISTORY_ENSURE_EXISTS},
                                            {NULL, 0}};

static const fpy_field fpy_influx_config_fields[] = {
    FPY_CHARS(fleet_influx_config_t, url),
    FPY_ENUM(fleet_influx_config_t, api, fpy_influx_api_names),
    FPY_CHARS(fleet_influx_config_t, database),
    FPY_CHARS(fleet_influx_config_t, retention_policy),
    FPY_CHARS(fleet_influx_config_t, org),
    FPY_CHARS(fleet_influx_config_t, token),
    FPY_CHARS(fleet_influx_config_t, username),
    FPY_CHARS(fleet_influx_config_t, password),
    FPY_ENUM(fleet_influx_config_t, auth, fpy_influx_auth_names),
    FPY_CHARS(fleet_influx_config_t, ca_file),
    FPY_FIELD(fleet_influx_config_t, insecure, FPY_F_BOOL),
    FPY_FIELD(fleet_influx_config_t, timeout_ms, FPY_F_UINT),
    FPY_FIELD(fleet_influx_config_t, connect_timeout_ms, FPY_F_UINT)};
static const fpy_struct fpy_influx_config =
    FPY_STRUCT("influx config", fpy_influx_config_fields, fleet_influx_config_t, -1);

static void fpy_influx_config_init(fleet_influx_config_t *c)
{
  fleet_influx_config_init(c, FLEET_INFLUX_CONFIG_VERSION);
}

static PyObject *fpy_influx_config_new(const fleet_influx_config_t *c)
{
  return fpy_to_dict(&fpy_influx_config, c);
}

static const fpy_field fpy_writer_opts_fields[] = {
    FPY_FIELD(fleet_influx_writer_opts_t, batch_max_points, FPY_F_UINT),
    FPY_FIELD(fleet_influx_writer_opts_t, batch_max_bytes, FPY_F_SIZE),
    FPY_FIELD(fleet_influx_writer_opts_t, flush_interval_ms, FPY_F_UINT),
    FPY_FIELD(fleet_influx_writer_opts_t, queue_max_bytes, FPY_F_SIZE),
    FPY_FIELD(fleet_influx_writer_opts_t, gzip_level, FPY_F_INT),
    FPY_FIELD(fleet_influx_writer_opts_t, retry_initial_ms, FPY_F_UINT),
    FPY_FIELD(fleet_influx_writer_opts_t, retry_max_ms, FPY_F_UINT),
    FPY_FIELD(fleet_influx_writer_opts_t, config_retry_ms, FPY_F_UINT),
    FPY_FIELD(fleet_influx_writer_opts_t, spool_dir, FPY_F_CSTR),
    FPY_FIELD(fleet_influx_writer_opts_t, durable, FPY_F_BOOL),
    FPY_FIELD(fleet_influx_writer_opts_t, dead_letter_path, FPY_F_CSTR),
    FPY_ENUM(fleet_influx_writer_opts_t, log_level, fpy_log_level_names)};
static const fpy_struct fpy_writer_opts =
    FPY_STRUCT("writer options", fpy_writer_opts_fields, fleet_influx_writer_opts_t, -1);

static void fpy_writer_opts_init(fleet_influx_writer_opts_t *o)
{
  fleet_influx_writer_opts_init(o, FLEET_INFLUX_WRITER_OPTS_VERSION);
}

static const fpy_field fpy_writer_stats_fields[] = {
    FPY_FIELD(fleet_influx_writer_stats_t, points_enqueued, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, points_written, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, points_dead_lettered, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, points_sent, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, points_retried, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, batches_written, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, batches_spooled, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, batches_replayed, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, requests, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, retries, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, splits, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, bytes_sent, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, bytes_raw, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, queue_points, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, queue_bytes, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, spool_records, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, spool_bytes, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, net_errors, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, server_errors, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, config_errors, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, dead_letter_errors, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, points_lost, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, last_http_status, FPY_F_LONG),
    FPY_FIELD(fleet_influx_writer_stats_t, last_error_code, FPY_F_INT),
    FPY_CHARS(fleet_influx_writer_stats_t, last_error),
    FPY_FIELD(fleet_influx_writer_stats_t, last_latency_us, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, avg_latency_us, FPY_F_U64),
    FPY_FIELD(fleet_influx_writer_stats_t, healthy, FPY_F_BOOL)};
static const fpy_struct fpy_writer_stats =
    FPY_STRUCT("writer stats", fpy_writer_stats_fields, fleet_influx_writer_stats_t, -1);

static PyObject *fpy_writer_stats_new(const fleet_influx_writer_stats_t *s)
{
  return fpy_to_dict(&fpy_writer_stats, s);
}

/* Log callbacks are called as fn(level_name, message). */
typedef struct fpy_log_msg {
  int level;
  const char *message;
} fpy_log_msg;

static PyObject *fpy_log_build(const void *p)
{
  const fpy_log_msg *m = (const fpy_log_msg *)p;
  const char *name = fpy_enum_name(fpy_log_level_names, m->level);
  return Py_BuildValue("(NN)", name ? PyUnicode_FromString(name) : PyLong_FromLong(m->level),
                       fpy_str(m->message));
}

static void fleetswig_influx_log_tramp(int level, const char *message, void *ud)
{
  fpy_log_msg m = {level, message};
  fleetswig_invoke_as((fleetswig_callback *)ud, fpy_log_build, &m, 1);
}

static const fpy_field fpy_history_opts_fields[] = {
    FPY_FIELD(fleet_history_opts_t, raw_db, FPY_F_CSTR),
    FPY_FIELD(fleet_history_opts_t, raw_rp, FPY_F_CSTR),
    FPY_FIELD(fleet_history_opts_t, downsampled_db, FPY_F_CSTR),
    FPY_FIELD(fleet_history_opts_t, downsampled_rp, FPY_F_CSTR),
    FPY_FIELD(fleet_history_opts_t, events_db, FPY_F_CSTR),
    FPY_FIELD(fleet_history_opts_t, events_rp, FPY_F_CSTR),
    FPY_FIELD(fleet_history_opts_t, chunk_size, FPY_F_UINT),
    FPY_FIELD(fleet_history_opts_t, raw_max_span_ns, FPY_F_I64),
    FPY_FIELD(fleet_history_opts_t, raw_retention_ns, FPY_F_I64),
    FPY_FIELD(fleet_history_opts_t, max_chunk_bytes, FPY_F_SIZE)};
static const fpy_struct fpy_history_opts =
    FPY_STRUCT("history options", fpy_history_opts_fields, fleet_history_opts_t, -1);

static void fpy_history_opts_init(fleet_history_opts_t *o)
{
  fleet_history_opts_init(o, FLEET_HISTORY_OPTS_VERSION);
}

static const fpy_field fpy_history_filter_fields[] = {
    FPY_FIELD(fleet_history_filter_t, from_ns, FPY_F_I64),
    FPY_FIELD(fleet_history_filter_t, to_ns, FPY_F_I64),
    FPY_LIST(fleet_history_filter_t, vehicle_ids, n_vehicle_ids),
    FPY_ENUM(fleet_history_filter_t, tier, fpy_tier_names),
    FPY_FIELD(fleet_history_filter_t, limit, FPY_F_U64)};
static const fpy_struct fpy_history_filter =
    FPY_STRUCT("history filter", fpy_history_filter_fields, fleet_history_filter_t, -1);

static void fpy_history_filter_init(fleet_history_filter_t *f)
{
  fleet_history_filter_init(f, FLEET_HISTORY_FILTER_VERSION);
}

static const fpy_field fpy_history_stats_fields[] = {
    FPY_FIELD(fleet_history_stats_t, rows, FPY_F_U64),
    FPY_FIELD(fleet_history_stats_t, chunks, FPY_F_U64),
    FPY_FIELD(fleet_history_stats_t, bytes, FPY_F_U64),
    FPY_FIELD(fleet_history_stats_t, max_chunk_bytes, FPY_F_U64)};
static const fpy_struct fpy_history_stats =
    FPY_STRUCT("history stats", fpy_history_stats_fields, fleet_history_stats_t, -1);

static PyObject *fpy_history_stats_new(const fleet_history_stats_t *s)
{
  return fpy_to_dict(&fpy_history_stats, s);
}

static const fpy_field fpy_history_hourly_fields[] = {
    FPY_FIELD(fleet_history_hourly_t, samples, FPY_F_I64),
    FPY_FIELD(fleet_history_hourly_t, last_ts_ns, FPY_F_I64),
    FPY_OPT(fleet_history_hourly_t, speed_mean_kmh, FPY_F_DOUBLE, FLEET_HISTORY_HOURLY_SPEED_MEAN),
    FPY_OPT(fleet_history_hourly_t, speed_max_kmh, FPY_F_DOUBLE, FLEET_HISTORY_HOURLY_SPEED_MAX),
    FPY_OPT(fleet_history_hourly_t, distance_m, FPY_F_DOUBLE, FLEET_HISTORY_HOURLY_DISTANCE),
    FPY_OPT(fleet_history_hourly_t, moving_s, FPY_F_DOUBLE, FLEET_HISTORY_HOURLY_MOVING),
    FPY_OPT(fleet_history_hourly_t, idle_s, FPY_F_DOUBLE, FLEET_HISTORY_HOURLY_IDLE),
    FPY_OPT(fleet_history_hourly_t, fuel_min_pct, FPY_F_DOUBLE, FLEET_HISTORY_HOURLY_FUEL),
    FPY_OPT(fleet_history_hourly_t, fuel_max_pct, FPY_F_DOUBLE, FLEET_HISTORY_HOURLY_FUEL),
    FPY_OPT(fleet_history_hourly_t, battery_min_v, FPY_F_DOUBLE, FLEET_HISTORY_HOURLY_BATTERY),
    FPY_OPT(fleet_history_hourly_t, battery_max_v, FPY_F_DOUBLE, FLEET_HISTORY_HOURLY_BATTERY)};
static const fpy_struct fpy_history_hourly = FPY_STRUCT(
    "hourly", fpy_history_hourly_fields, fleet_history_hourly_t,
    (long)offsetof(fleet_history_hourly_t, present));

static const fpy_field fpy_history_trip_fields[] = {
    FPY_CHARS(fleet_history_trip_t, vehicle_id),
    FPY_FIELD(fleet_history_trip_t, start_ns, FPY_F_I64),
    FPY_FIELD(fleet_history_trip_t, end_ns, FPY_F_I64),
    FPY_FIELD(fleet_history_trip_t, distance_m, FPY_F_DOUBLE),
    FPY_FIELD(fleet_history_trip_t, duration_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_history_trip_t, moving_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_history_trip_t, idle_s, FPY_F_DOUBLE),
    FPY_FIELD(fleet_history_trip_t, max_speed_kmh, FPY_F_DOUBLE),
    FPY_FIELD(fleet_history_trip_t, avg_speed_kmh, FPY_F_DOUBLE),
    FPY_OPT(fleet_history_trip_t, fuel_l, FPY_F_DOUBLE, ~0u),
    FPY_FIELD(fleet_history_trip_t, start_lat, FPY_F_DOUBLE),
    FPY_FIELD(fleet_history_trip_t, start_lng, FPY_F_DOUBLE),
    FPY_FIELD(fleet_history_trip_t, end_lat, FPY_F_DOUBLE),
    FPY_FIELD(fleet_history_trip_t, end_lng, FPY_F_DOUBLE)};
static const fpy_struct fpy_history_trip = FPY_STRUCT(
    "trip", fpy_history_trip_fields, fleet_history_trip_t,
    (long)offsetof(fleet_history_trip_t, has_fuel));

static const fpy_field fpy_zone_event_fields[] = {
    FPY_CHARS(fleet_history_zone_event_t, vehicle_id),
    FPY_FIELD(fleet_history_zone_event_t, ts_ns, FPY_F_I64),
    FPY_CHARS(fleet_history_zone_event_t, zone_id),
    FPY_CHARS(fleet_history_zone_event_t, zone_name),
    FPY_FIELD(fleet_history_zone_event_t, dwell_s, FPY_F_DOUBLE),
    FPY_OPT(fleet_history_zone_event_t, lat, FPY_F_DOUBLE, ~0u),
    FPY_OPT(fleet_history_zone_event_t, lng, FPY_F_DOUBLE, ~0u)};
static const fpy_struct fpy_zone_event = FPY_STRUCT(
    "zone event", fpy_zone_event_fields, fleet_history_zone_event_t,
    (long)offsetof(fleet_history_zone_event_t, has_position));

static const fpy_field fpy_history_alert_fields[] = {
    FPY_CHARS(fleet_history_alert_t, vehicle_id),
    FPY_FIELD(fleet_history_alert_t, ts_ns, FPY_F_I64),
    FPY_CHARS(fleet_history_alert_t, rule),
    FPY_CHARS(fleet_history_alert_t, type),
    FPY_CHARS(fleet_history_alert_t, severity),
    FPY_CHARS(fleet_history_alert_t, message),
    FPY_FIELD(fleet_history_alert_t, value, FPY_F_DOUBLE),
    FPY_FIELD(fleet_history_alert_t, limit, FPY_F_DOUBLE),
    FPY_CHARS(fleet_history_alert_t, zone_id),
    FPY_CHARS(fleet_history_alert_t, zone_name),
    FPY_OPT(fleet_history_alert_t, lat, FPY_F_DOUBLE, ~0u),
    FPY_OPT(fleet_history_alert_t, lng, FPY_F_DOUBLE, ~0u)};
static const fpy_struct fpy_history_alert = FPY_STRUCT(
    "alert", fpy_history_alert_fields, fleet_history_alert_t,
    (long)offsetof(fleet_history_alert_t, has_position));

/* Empty text members of stored events read as None. */
static int fpy_empty_to_none(PyObject *d, const char *key)
{
  PyObject *v = PyDict_GetItemString(d, key);
  if (v && PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) == 0)
    return PyDict_SetItemString(d, key, Py_None);
  return 0;
}

static PyObject *fpy_history_value(const fleet_history_value_t *v)
{
  switch (v->type) {
  case FLEET_HISTORY_INT: return PyLong_FromLongLong((long long)v->i);
  case FLEET_HISTORY_FLOAT: return PyFloat_FromDouble(v->f);
  case FLEET_HISTORY_STRING:
    return PyUnicode_DecodeUTF8(v->s ? v->s : "", (Py_ssize_t)v->len, "replace");
  case FLEET_HISTORY_BOOL: return PyBool_FromLong(v->i != 0);
  default: Py_RETURN_NONE;
  }
}

static PyObject *fpy_row_build(const void *p)
{
  const fleet_history_row_t *row = (const fleet_history_row_t *)p;
  PyObject *d = PyDict_New(), *tags = NULL, *values = NULL;
  size_t i;
  if (!d)
    return NULL;
  if (fpy_set(d, "statement", PyLong_FromUnsignedLong(row->statement)) ||
      fpy_set(d, "measurement", fpy_str(row->measurement)) ||
      fpy_set(d, "time_ns", PyLong_FromLongLong((long long)row->time_ns)))
    goto fail;
  tags = PyDict_New();
  if (fpy_set(d, "tags", tags))
    goto fail;
  for (i = 0; i < row->ntags; i++)
    if (fpy_set(tags, row->tag_keys[i], fpy_str(row->tag_values[i])))
      goto fail;
  values = PyDict_New();
  if (fpy_set(d, "values", values))
    goto fail;
  for (i = 0; i < row->ncolumns; i++)
    if (fpy_set(values, row->columns[i], fpy_history_value(&row->values[i])))
      goto fail;
  return fpy_make(FPY_ROW, d);
fail:
  Py_DECREF(d);
  return NULL;
}

static PyObject *fpy_point_build(const void *p)
{
  const fleet_history_point_t *pt = (const fleet_history_point_t *)p;
  PyObject *obj = fpy_telemetry_make(FPY_POSITION, pt->rec, NULL);
  const char *tier = fpy_enum_name(fpy_tier_names, (int)pt->tier);
  if (!obj)
    return NULL;
  if (fpy_setattr(obj, "tier", fpy_str(tier ? tier : "raw")) ||
      fpy_setattr(obj, "fleet_id", fpy_str(pt->fleet_id)) ||
      fpy_setattr(obj, "device_type", fpy_str(pt->device_type)) ||
      fpy_setattr(obj, "hourly",
                  pt->hourly ? fpy_to_dict(&fpy_history_hourly, pt->hourly) : fpy_none())) {
    Py_DECREF(obj);
    return NULL;
  }
  return obj;
}

static PyObject *fpy_history_trip_build(const void *p)
{
  return fpy_record(FPY_HISTORY_TRIP, &fpy_history_trip, p);
}

static PyObject *fpy_zone_event_build(const void *p)
{
  const fleet_history_zone_event_t *ev = (const fleet_history_zone_event_t *)p;
  PyObject *d = fpy_to_dict(&fpy_zone_event, ev);
  if (!d)
    return NULL;
  if (fpy_set(d, "event", PyUnicode_FromString(ev->enter ? "enter" : "exit")) ||
      (ev->enter && PyDict_SetItemString(d, "dwell_s", Py_None)) ||
      fpy_empty_to_none(d, "zone_name")) {
    Py_DECREF(d);
    return NULL;
  }
  return fpy_make(FPY_ZONE_EVENT, d);
}

static PyObject *fpy_history_alert_build(const void *p)
{
  PyObject *d = fpy_to_dict(&fpy_history_alert, p);
  if (!d)
    return NULL;
  if (fpy_empty_to_none(d, "zone_id") || fpy_empty_to_none(d, "zone_name")) {
    Py_DECREF(d);
    return NULL;
  }
  return fpy_make(FPY_HISTORY_ALERT, d);
}

static int fleetswig_row_tramp(const fleet_history_row_t *row, void *ud)
{
  return fleetswig_invoke((fleetswig_callback *)ud, fpy_row_build, row);
}
static int fleetswig_point_tramp(const fleet_history_point_t *pt, void *ud)
{
  return fleetswig_invoke((fleetswig_callback *)ud, fpy_point_build, pt);
}
static int fleetswig_htrip_tramp(const fleet_history_trip_t *t, void *ud)
{
  return fleetswig_invoke((fleetswig_callback *)ud, fpy_history_trip_build, t);
}
static int fleetswig_zone_event_tramp(const fleet_history_zone_event_t *ev, void *ud)
{
  return fleetswig_invoke((fleetswig_callback *)ud, fpy_zone_event_build, ev);
}
static int fleetswig_halert_tramp(const fleet_history_alert_t *a, void *ud)
{
  return fleetswig_invoke((fleetswig_callback *)ud, fpy_history_alert_build, a);
}
%}

FLEETSWIG_OPTIONS(fleet_influx_config_t, cfg, fpy_influx_config, fpy_influx_config_init)
FLEETSWIG_OPTIONS(fleet_influx_writer_opts_t, writer_opts, fpy_writer_opts, fpy_writer_opts_init)
FLEETSWIG_OPTIONS(fleet_history_opts_t, history_opts, fpy_history_opts, fpy_history_opts_init)
FLEETSWIG_OPTIONS(fleet_history_filter_t, filter, fpy_history_filter, fpy_history_filter_init)
FLEETSWIG_RESULT(fleet_influx_config_t, out_cfg, fpy_influx_config_new)
FLEETSWIG_RESULT(fleet_influx_writer_stats_t, out_stats, fpy_writer_stats_new)
FLEETSWIG_RESULT(fleet_history_stats_t, out_stats, fpy_history_stats_new)

/* Enum results by name. */
%typemap(in, numinputs=0) fleet_history_tier_t *out_tier (fleet_history_tier_t tmp = FLEET_HISTORY_TIER_AUTO) {
  $1 = &tmp;
}
%typemap(argout) fleet_history_tier_t *out_tier {
  $result = SWIG_Python_AppendOutput($result, fpy_str(fpy_enum_name(fpy_tier_names, (int)*$1)));
}
%typemap(in) fleet_history_tier_t tier {
  if (PyUnicode_Check($input)) {
    const char *u = PyUnicode_AsUTF8($input);
    const fpy_name *nm;
    if (!u)
      SWIG_fail;
    for (nm = fpy_tier_names; nm->name; nm++)
      if (strcmp(nm->name, u) == 0)
        break;
    if (!nm->name) {
      fpy_raisef(FLEET_EINVAL, "tier: '%s' is not auto, raw or hourly", u);
      SWIG_fail;
    }
    $1 = (fleet_history_tier_t)nm->value;
  } else {
    long long v;
    if (fpy_int($input, "tier", 0, 2, &v) != 0)
      SWIG_fail;
    $1 = (fleet_history_tier_t)v;
  }
}
%typemap(in, numinputs=0) fleet_history_ensure_result_t *out_result (fleet_history_ensure_result_t tmp = FLEET_HISTORY_ENSURE_UNCHANGED) {
  $1 = &tmp;
}
%typemap(argout) fleet_history_ensure_result_t *out_result {
  $result = SWIG_Python_AppendOutput($result, fpy_str(fpy_enum_name(fpy_ensure_names, (int)*$1)));
}

/* ---- MQTT --------------------------------------------------------------- */

%{
static const fpy_name fpy_mqtt_protocol_names[] = {
    {"3.1.1", FLEET_MQTT_PROTOCOL_V311}, {"5", FLEET_MQTT_PROTOCOL_V5}, {NULL, 0}};

static const fpy_field fpy_mqtt_options_fields[] = {
    FPY_FIELD(fleet_mqtt_options_t, url, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, client_id, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, clean_session, FPY_F_BOOL),
    FPY_ENUM(fleet_mqtt_options_t, protocol, fpy_mqtt_protocol_names),
    FPY_FIELD(fleet_mqtt_options_t, keepalive_s, FPY_F_UINT),
    FPY_FIELD(fleet_mqtt_options_t, session_expiry_s, FPY_F_U32),
    FPY_FIELD(fleet_mqtt_options_t, username, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, password, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, ca_file, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, ca_path, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, cert_file, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, key_file, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, tls_insecure, FPY_F_BOOL),
    FPY_FIELD(fleet_mqtt_options_t, tls_version, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, qos, FPY_F_INT),
    FPY_LIST(fleet_mqtt_options_t, topics, n_topics),
    FPY_FIELD(fleet_mqtt_options_t, share_group, FPY_F_CSTR),
    FPY_FIELD(fleet_mqtt_options_t, partition_index, FPY_F_U32),
    FPY_FIELD(fleet_mqtt_options_t, partition_count, FPY_F_U32),
    FPY_FIELD(fleet_mqtt_options_t, reconnect_min_ms, FPY_F_UINT),
    FPY_FIELD(fleet_mqtt_options_t, reconnect_max_ms, FPY_F_UINT),
    FPY_FIELD(fleet_mqtt_options_t, max_packet_size, FPY_F_U32),
    FPY_FIELD(fleet_mqtt_options_t, max_inflight, FPY_F_UINT),
    FPY_FIELD(fleet_mqtt_options_t, status_topic, FPY_F_CSTR),
    FPY_ENUM(fleet_mqtt_options_t, log_level, fpy_log_level_names)};
static const fpy_struct fpy_mqtt_options =
    FPY_STRUCT("mqtt options", fpy_mqtt_options_fields, fleet_mqtt_options_t, -1);

static void fpy_mqtt_options_init(fleet_mqtt_options_t *o)
{
  fleet_mqtt_options_init(o, FLEET_MQTT_OPTIONS_VERSION);
}

static const fpy_field fpy_mqtt_stats_fields[] = {
    FPY_FIELD(fleet_mqtt_stats_t, received, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, delivered, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, retained, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, ignored_partition, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, bad_topic, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, oversize, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, handler_errors, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, connects, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, reconnects, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, connect_failures, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, connection_losses, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, published, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, publish_failures, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, publish_completed, FPY_F_U64),
    FPY_FIELD(fleet_mqtt_stats_t, connected, FPY_F_BOOL),
    FPY_FIELD(fleet_mqtt_stats_t, session_present, FPY_F_BOOL)};
static const fpy_struct fpy_mqtt_stats =
    FPY_STRUCT("mqtt stats", fpy_mqtt_stats_fields, fleet_mqtt_stats_t, -1);

static PyObject *fpy_mqtt_stats_new(const fleet_mqtt_stats_t *s) { return fpy_to_dict(&fpy_mqtt_stats, s); }

static const fpy_field fpy_mqtt_url_fields[] = {
    FPY_FIELD(fleet_mqtt_url_t, tls, FPY_F_BOOL),
    FPY_CHARS(fleet_mqtt_url_t, host),
    FPY_FIELD(fleet_mqtt_url_t, port, FPY_F_UINT)};
static const fpy_struct fpy_mqtt_url = FPY_STRUCT("mqtt url", fpy_mqtt_url_fields, fleet_mqtt_url_t, -1);

static PyObject *fpy_mqtt_url_new(const fleet_mqtt_url_t *u) { return fpy_to_dict(&fpy_mqtt_url, u); }

static PyObject *fpy_mqtt_message_build(const void *p)
{
  const fleet_mqtt_message_t *m = (const fleet_mqtt_message_t *)p;
  PyObject *d = PyDict_New();
  if (!d)
    return NULL;
  if (fpy_set(d, "topic", fpy_str(m->topic)) || fpy_set(d, "vehicle_id", fpy_str(m->vehicle_id)) ||
      fpy_set(d, "kind", fpy_str(m->kind)) ||
      fpy_set(d, "payload", PyBytes_FromStringAndSize((const char *)m->payload, (Py_ssize_t)m->len)) ||
      fpy_set(d, "qos", PyLong_FromLong(m->qos)) ||
      fpy_set(d, "retained", PyBool_FromLong(m->retained)) ||
      fpy_set(d, "mid", PyLong_FromLong(m->mid))) {
    Py_DECREF(d);
    return NULL;
  }
  return fpy_make(FPY_MQTT_MESSAGE, d);
}

typedef struct fpy_mqtt_status {
  int status;
  int session_present;
  const char *detail;
} fpy_mqtt_status;

static PyObject *fpy_mqtt_connect_build(const void *p)
{
  const fpy_mqtt_status *s = (const fpy_mqtt_status *)p;
  return Py_BuildValue("(iNN)", s->status, PyBool_FromLong(s->session_present), fpy_str(s->detail));
}

static PyObject *fpy_mqtt_disconnect_build(const void *p)
{
  const fpy_mqtt_status *s = (const fpy_mqtt_status *)p;
  return Py_BuildValue("(iN)", s->status, fpy_str(s->detail));
}

/* The callbacks of one client, and which thread is running one of them. */
typedef struct fleetswig_mqtt_ctx {
  fleetswig_callback on_message;
  fleetswig_callback on_connect;
  fleetswig_callback on_disconnect;
  fleetswig_callback on_log;
  int cb_depth;        /* a callback is running (guarded by the interpreter lock) */
  pthread_t cb_thread; /* on this thread */
} fleetswig_mqtt_ctx;

static int fleetswig_mqtt_invoke(fleetswig_mqtt_ctx *ctx, fleetswig_callback *cb,
                                 fpy_builder builder, const void *data, int spread)
{
  PyGILState_STATE st;
  int rc;
  if (!cb->fn)
    return 0;
  st = PyGILState_Ensure();
  ctx->cb_depth++;
  ctx->cb_thread = pthread_self();
  rc = fleetswig_invoke_as(cb, builder, data, spread);
  ctx->cb_depth--;
  PyGILState_Release(st);
  return rc;
}

/* Is the calling thread inside one of the client's callbacks? */
static int fleetswig_mqtt_in_callback(fleetswig_mqtt_ctx *ctx)
{
  return ctx->cb_depth > 0 && pthread_equal(ctx->cb_thread, pthread_self());
}

static int fleetswig_mqtt_message_tramp(const fleet_mqtt_message_t *msg, void *ud)
{
  fleetswig_mqtt_ctx *ctx = (fleetswig_mqtt_ctx *)ud;
  return fleetswig_mqtt_invoke(ctx, &ctx->on_message, fpy_mqtt_message_build, msg, 0);
}

static void fleetswig_mqtt_connect_tramp(int status, int session_present, const char *detail, void *ud)
{
  fleetswig_mqtt_ctx *ctx = (fleetswig_mqtt_ctx *)ud;
  fpy_mqtt_status s = {status, session_present, detail};
  fleetswig_mqtt_invoke(ctx, &ctx->on_connect, fpy_mqtt_connect_build, &s, 1);
}

static void fleetswig_mqtt_disconnect_tramp(int status, const char *detail, void *ud)
{
  fleetswig_mqtt_ctx *ctx = (fleetswig_mqtt_ctx *)ud;
  fpy_mqtt_status s = {status, 0, detail};
  fleetswig_mqtt_invoke(ctx, &ctx->on_disconnect, fpy_mqtt_disconnect_build, &s, 1);
}

static void fleetswig_mqtt_log_tramp(int level, const char *message, void *ud)
{
  fleetswig_mqtt_ctx *ctx = (fleetswig_mqtt_ctx *)ud;
  fpy_log_msg m = {level, message};
  fleetswig_mqtt_invoke(ctx, &ctx->on_log, fpy_log_build, &m, 1);
}

static void fleetswig_mqtt_ctx_set_unraisable(fleetswig_mqtt_ctx *ctx, int on)
{
  ctx->on_message.unraisable = on;
  ctx->on_connect.unraisable = on;
  ctx->on_disconnect.unraisable = on;
  ctx->on_log.unraisable = on;
}

/* After a caller-thread call: raise the first exception a callback left. */
static int fleetswig_mqtt_ctx_done(fleetswig_mqtt_ctx *ctx, int rc)
{
  fleetswig_callback *cbs[4];
  int i, raised = 0;
  cbs[0] = &ctx->on_message;
  cbs[1] = &ctx->on_connect;
  cbs[2] = &ctx->on_disconnect;
  cbs[3] = &ctx->on_log;
  for (i = 0; i < 4; i++) {
    if (!cbs[i]->exc_type)
      continue;
    if (!raised) {
      fleetswig_callback_rethrow(cbs[i]);
      raised = 1;
    } else {
      /* Only one exception can propagate: report the others. */
      PyObject *t = cbs[i]->exc_type, *v = cbs[i]->exc_value, *tb = cbs[i]->exc_tb, *et, *ev, *etb;
      cbs[i]->exc_type = cbs[i]->exc_value = cbs[i]->exc_tb = NULL;
      PyErr_Fetch(&et, &ev, &etb);
      PyErr_Restore(t, v, tb);
      PyErr_WriteUnraisable(cbs[i]->fn);
      PyErr_Restore(et, ev, etb);
    }
  }
  return raised ? FLEETSWIG_ABORT : rc;
}

static void fleetswig_mqtt_ctx_clear(fleetswig_mqtt_ctx *ctx)
{
  fleetswig_callback_clear(&ctx->on_message);
  fleetswig_callback_clear(&ctx->on_connect);
  fleetswig_callback_clear(&ctx->on_disconnect);
  fleetswig_callback_clear(&ctx->on_log);
}
%}

FLEETSWIG_OPTIONS(fleet_mqtt_options_t, mqtt_opts, fpy_mqtt_options, fpy_mqtt_options_init)
FLEETSWIG_RESULT(fleet_mqtt_stats_t, out_stats, fpy_mqtt_stats_new)
FLEETSWIG_RESULT(fleet_mqtt_url_t, out_url, fpy_mqtt_url_new)
%apply (const char *FLEETSWIG_BYTES_OR_NONE, size_t FLEETSWIG_LEN) { (const void *payload, size_t len) };

/* ---- auth ---------------------------------------------------------------- */

%{
static const fpy_name fpy_alg_names[] = {{"HS256", FLEET_AUTH_ALG_HS256},
                                         {"RS256", FLEET_AUTH_ALG_RS256},
                                         {"ES256", FLEET_AUTH_ALG_ES256},
                                         {NULL, 0}};
static const fpy_name fpy_role_names[] = {{"viewer", FLEET_AUTH_ROLE_VIEWER},
                                          {"admin", FLEET_AUTH_ROLE_ADMIN},
                                          {NULL, 0}};
static const fpy_name fpy_token_type_names[] = {{"access", FLEET_AUTH_TOKEN_ACCESS},
                                                {"refresh", FLEET_AUTH_TOKEN_REFRESH},
                                                {NULL, 0}};

/* An enum argument given by name (or number). */
static int fpy_enum_in(PyObject *o, const fpy_name *names, const char *what, int *out)
{
  long long v;
  if (PyUnicode_Check(o)) {
    const char *u = PyUnicode_AsUTF8(o);
    const fpy_name *nm;
    if (!u)
      return -1;
    for (nm = names; nm->name; nm++)
      if (strcmp(nm->name, u) == 0) {
        *out = nm->value;
        return 0;
      }
    fpy_raisef(FLEET_EINVAL, "%s: unknown value '%s'", what, u);
    return -1;
  }
  if (fpy_int(o, what, INT_MIN, INT_MAX, &v) != 0)
    return -1;
  *out = (int)v;
  return 0;
}

static const fpy_field fpy_verifier_opts_fields[] = {
    FPY_FIELD(fleet_auth_verifier_options_t, leeway_s, FPY_F_UINT),
    FPY_FIELD(fleet_auth_verifier_options_t, issuer, FPY_F_CSTR),
    FPY_FIELD(fleet_auth_verifier_options_t, audience, FPY_F_CSTR)};
static const fpy_struct fpy_verifier_opts = FPY_STRUCT(
    "verifier options", fpy_verifier_opts_fields, fleet_auth_verifier_options_t, -1);
static void fpy_verifier_opts_init(fleet_auth_verifier_options_t *o)
{
  fleet_auth_verifier_options_init(o, FLEET_AUTH_VERIFIER_OPTIONS_VERSION);
}

static const fpy_field fpy_signer_opts_fields[] = {
    FPY_ENUM(fleet_auth_signer_options_t, alg, fpy_alg_names),
    FPY_BYTES(fleet_auth_signer_options_t, key, key_len),
    FPY_FIELD(fleet_auth_signer_options_t, kid, FPY_F_CSTR),
    FPY_FIELD(fleet_auth_signer_options_t, issuer, FPY_F_CSTR),
    FPY_FIELD(fleet_auth_signer_options_t, audience, FPY_F_CSTR),
    FPY_FIELD(fleet_auth_signer_options_t, access_ttl_s, FPY_F_I64),
    FPY_FIELD(fleet_auth_signer_options_t, refresh_ttl_s, FPY_F_I64)};
static const fpy_struct fpy_signer_opts =
    FPY_STRUCT("signer options", fpy_signer_opts_fields, fleet_auth_signer_options_t, -1);
static void fpy_signer_opts_init(fleet_auth_signer_options_t *o)
{
  fleet_auth_signer_options_init(o, FLEET_AUTH_SIGNER_OPTIONS_VERSION);
}

static const fpy_field fpy_auth_opts_fields[] = {
    FPY_FIELD(fleet_auth_options_t, leeway_s, FPY_F_UINT),
    FPY_FIELD(fleet_auth_options_t, issuer, FPY_F_CSTR),
    FPY_FIELD(fleet_auth_options_t, audience, FPY_F_CSTR),
    FPY_FIELD(fleet_auth_options_t, access_ttl_s, FPY_F_I64),
    FPY_FIELD(fleet_auth_options_t, refresh_ttl_s, FPY_F_I64),
    FPY_ENUM(fleet_auth_options_t, signing_alg, fpy_alg_names),
    FPY_FIELD(fleet_auth_options_t, signing_key_file, FPY_F_CSTR),
    FPY_FIELD(fleet_auth_options_t, signing_public_key_file, FPY_F_CSTR),
    FPY_FIELD(fleet_auth_options_t, signing_kid, FPY_F_CSTR)};
static const fpy_struct fpy_auth_opts =
    FPY_STRUCT("auth options", fpy_auth_opts_fields, fleet_auth_options_t, -1);
static void fpy_auth_opts_init(fleet_auth_options_t *o)
{
  fleet_auth_options_init(o, FLEET_AUTH_OPTIONS_VERSION);
}

/* A user record as a dict: name, role, vehicles ("*" or a list), created, updated. */
static PyObject *fpy_user_dict(const fleet_auth_user_t *u)
{
  PyObject *d = PyDict_New(), *vehicles;
  const char *v = fleet_auth_user_vehicles(u);
  const char *role = fpy_enum_name(fpy_role_names, (int)fleet_auth_user_role(u));
  if (!d)
    return NULL;
  if (strcmp(v, "*") == 0) {
    vehicles = PyUnicode_FromString("*");
  } else if (!*v) {
    vehicles = PyList_New(0);
  } else {
    PyObject *s = PyUnicode_FromString(v), *sep = PyUnicode_FromString(",");
    vehicles = s && sep ? PyUnicode_Split(s, sep, -1) : NULL;
    Py_XDECREF(s);
    Py_XDECREF(sep);
  }
  if (fpy_set(d, "name", fpy_str(fleet_auth_user_name(u))) ||
      fpy_set(d, "role", role ? PyUnicode_FromString(role) : PyLong_FromLong((long)fleet_auth_user_role(u))) ||
      fpy_set(d, "vehicles", vehicles) ||
      fpy_set(d, "created", PyLong_FromLongLong((long long)fleet_auth_user_created(u))) ||
      fpy_set(d, "updated", PyLong_FromLongLong((long long)fleet_auth_user_updated(u)))) {
    Py_DECREF(d);
    return NULL;
  }
  return d;
}
%}

%typemap(in) fleet_auth_alg_t alg (int v) {
  if (fpy_enum_in($input, fpy_alg_names, "alg", &v) != 0)
    SWIG_fail;
  $1 = ($1_ltype)v;
}
%typemap(in) fleet_auth_role_t role (int v) {
  if (fpy_enum_in($input, fpy_role_names, "role", &v) != 0)
    SWIG_fail;
  $1 = ($1_ltype)v;
}
%typemap(in) fleet_auth_token_type_t type (int v), fleet_auth_token_type_t expected (int v) {
  if (fpy_enum_in($input, fpy_token_type_names, "$1_name", &v) != 0)
    SWIG_fail;
  $1 = ($1_ltype)v;
}
/* Strings the library allocates (fleet_free()). */
%typemap(in, numinputs=0) char **out_token (char *tmp = NULL), char **out_hash (char *tmp = NULL),
    char **out_access (char *tmp = NULL), char **out_refresh (char *tmp = NULL) {
  $1 = &tmp;
}
%typemap(argout) char **out_token, char **out_hash, char **out_access, char **out_refresh {
  $result = SWIG_Python_AppendOutput($result, fpy_str(*$1));
}
%typemap(freearg) char **out_token, char **out_hash, char **out_access, char **out_refresh {
  fleet_free(*$1);
}

/* The server secret: bytes. */
%typemap(in, numinputs=0) fleet_buf_t *out_secret (fleet_buf_t tmp = FLEET_BUF_INIT) {
  $1 = &tmp;
}
%typemap(argout) fleet_buf_t *out_secret {
  $result = SWIG_Python_AppendOutput($result,
      PyBytes_FromStringAndSize($1->ptr ? $1->ptr : "", (Py_ssize_t)$1->len));
}
%typemap(freearg) fleet_buf_t *out_secret {
  if ($1->ptr)
    memset($1->ptr, 0, $1->len);
  fleet_buf_dispose($1);
}

/* A user record: a dict. */
%typemap(in, numinputs=0) fleet_auth_user_t **out_user (fleet_auth_user_t *tmp = NULL) {
  $1 = &tmp;
}
%typemap(argout) fleet_auth_user_t **out_user {
  $result = SWIG_Python_AppendOutput($result, *$1 ? fpy_user_dict(*$1) : fpy_none());
  if (PyErr_Occurred())
    SWIG_fail;
}
%typemap(freearg) fleet_auth_user_t **out_user {
  fleet_auth_user_free(*$1);
}

%typemap(in, numinputs=0) int *out_changed (int tmp = 0) {
  $1 = &tmp;
}
%typemap(argout) int *out_changed {
  $result = SWIG_Python_AppendOutput($result, PyBool_FromLong(*$1));
}
%typemap(in, numinputs=0) int64_t *out_exp (int64_t tmp = 0) {
  $1 = &tmp;
}
%typemap(argout) int64_t *out_exp {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromLongLong((long long)*$1));
}

FLEETSWIG_OPTIONS(fleet_auth_verifier_options_t, verifier_opts, fpy_verifier_opts, fpy_verifier_opts_init)
FLEETSWIG_OPTIONS(fleet_auth_signer_options_t, signer_opts, fpy_signer_opts, fpy_signer_opts_init)
FLEETSWIG_OPTIONS(fleet_auth_options_t, auth_opts, fpy_auth_opts, fpy_auth_opts_init)
%apply (const char *FLEETSWIG_BYTES, size_t FLEETSWIG_LEN) { (const void *key, size_t key_len) };

/* ---- ws: the gateway ---------------------------------------------------- */

%{
static const fpy_field fpy_ws_options_fields[] = {
    FPY_FIELD(fleet_ws_options_t, listen, FPY_F_CSTR),
    FPY_FIELD(fleet_ws_options_t, tls_cert_file, FPY_F_CSTR),
    FPY_FIELD(fleet_ws_options_t, tls_key_file, FPY_F_CSTR),
    FPY_FIELD(fleet_ws_options_t, cookie_name, FPY_F_CSTR),
    FPY_LIST(fleet_ws_options_t, allowed_origins, n_allowed_origins),
    FPY_FIELD(fleet_ws_options_t, static_root, FPY_F_CSTR),
    FPY_FIELD(fleet_ws_options_t, max_message_bytes, FPY_F_SIZE),
    FPY_FIELD(fleet_ws_options_t, send_buffer_bytes, FPY_F_SIZE),
    FPY_FIELD(fleet_ws_options_t, tcp_send_buffer_bytes, FPY_F_SIZE),
    FPY_FIELD(fleet_ws_options_t, alert_queue_max, FPY_F_UINT),
    FPY_FIELD(fleet_ws_options_t, stuck_timeout_ms, FPY_F_UINT),
    FPY_FIELD(fleet_ws_options_t, interval_min_ms, FPY_F_UINT),
    FPY_FIELD(fleet_ws_options_t, interval_max_ms, FPY_F_UINT),
    FPY_FIELD(fleet_ws_options_t, interval_default_ms, FPY_F_UINT),
    FPY_FIELD(fleet_ws_options_t, ping_interval_s, FPY_F_UINT),
    FPY_FIELD(fleet_ws_options_t, idle_timeout_s, FPY_F_UINT),
    FPY_FIELD(fleet_ws_options_t, max_clients, FPY_F_UINT),
    FPY_FIELD(fleet_ws_options_t, max_vehicles, FPY_F_SIZE),
    FPY_FIELD(fleet_ws_options_t, max_body_bytes, FPY_F_SIZE),
    FPY_FIELD(fleet_ws_options_t, max_header_bytes, FPY_F_SIZE),
    FPY_ENUM(fleet_ws_options_t, log_level, fpy_log_level_names)};
static const fpy_struct fpy_ws_options =
    FPY_STRUCT("gateway options", fpy_ws_options_fields, fleet_ws_options_t, -1);

static void fpy_ws_options_init(fleet_ws_options_t *o)
{
  fleet_ws_options_init(o, FLEET_WS_OPTIONS_VERSION);
}

static const fpy_field fpy_ws_stats_fields[] = {
    FPY_FIELD(fleet_ws_stats_t, clients, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, connections, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, disconnects, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, auth_failures, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, forbidden, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, messages_sent, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, bytes_sent, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, telemetry_sent, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, telemetry_coalesced, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, alerts_sent, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, snapshots_sent, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, errors_sent, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, messages_received, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, slow_disconnects, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, oversize_closes, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, expired_closes, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, http_requests, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, http_4xx, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, http_5xx, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, handler_errors, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, static_served, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, telemetry_published, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, telemetry_stale, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, alerts_published, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, publish_refused, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, vehicles, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, queued_bytes, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, batches_built, FPY_F_U64),
    FPY_FIELD(fleet_ws_stats_t, batches_shared, FPY_F_U64)};
static const fpy_struct fpy_ws_stats =
    FPY_STRUCT("gateway stats", fpy_ws_stats_fields, fleet_ws_stats_t, -1);

static PyObject *fpy_ws_stats_new(const fleet_ws_stats_t *s) { return fpy_to_dict(&fpy_ws_stats, s); }

/* Headers a Python route handler may read (the API can only look names up). */
static const char *const fpy_ws_headers[] = {
    "Accept", "Accept-Encoding", "Accept-Language", "Content-Type", "Host", "If-Match",
    "If-Modified-Since", "If-None-Match", "Origin", "Referer", "User-Agent",
    "X-Forwarded-For", "X-Request-Id", NULL};

/* The request as a dict: method, path, subpath, query, headers, body, claims
 * (JSON text or None), peer. Everything copied. */
static PyObject *fpy_ws_request_dict(const fleet_ws_request_t *req)
{
  PyObject *d = PyDict_New(), *q = NULL, *h = NULL;
  const fleet_auth_claims_t *claims = fleet_ws_request_claims(req);
  const char *body;
  size_t blen = 0, i, n;
  if (!d)
    return NULL;
  body = fleet_ws_request_body(req, &blen);
  if (fpy_set(d, "method", fpy_str(fleet_ws_request_method(req))) ||
      fpy_set(d, "path", fpy_str(fleet_ws_request_path(req))) ||
      fpy_set(d, "subpath", fpy_str(fleet_ws_request_subpath(req))) ||
      fpy_set(d, "peer", fpy_str(fleet_ws_request_peer(req))) ||
      fpy_set(d, "body", PyBytes_FromStringAndSize(body, (Py_ssize_t)blen)))
    goto fail;
  q = PyDict_New();
  if (fpy_set(d, "query", q))
    goto fail;
  n = fleet_ws_request_query_count(req);
  for (i = 0; i < n; i++) {
    const char *name = NULL, *value = NULL;
    if (fleet_ws_request_query_at(&name, &value, req, i) == 0 &&
        !PyDict_GetItemString(q, name) && fpy_set(q, name, fpy_str(value)))
      goto fail;
  }
  h = PyDict_New();
  if (fpy_set(d, "headers", h))
    goto fail;
  for (i = 0; fpy_ws_headers[i]; i++) {
    const char *v = fleet_ws_request_header(req, fpy_ws_headers[i]);
    if (v && fpy_set(h, fpy_ws_headers[i], fpy_str(v)))
      goto fail;
  }
  if (claims) {
    fleet_buf_t buf = FLEET_BUF_INIT;
    int rc = fleet_auth_claims_to_json(&buf, claims);
    PyObject *text = rc == 0 ? PyUnicode_DecodeUTF8(buf.ptr ? buf.ptr : "", (Py_ssize_t)buf.len,
                                                    "replace")
                             : fpy_none();
    fleet_buf_dispose(&buf);
    if (fpy_set(d, "claims", text))
      goto fail;
  } else if (PyDict_SetItemString(d, "claims", Py_None)) {
    goto fail;
  }
  return d;
fail:
  Py_DECREF(d);
  return NULL;
}

/* Fill the response from (status, content_type or None, body bytes,
 * [(name, value), ...]). -1 with an exception when it is not that. */
static int fpy_ws_apply(fleet_ws_response_t *resp, PyObject *res)
{
  PyObject *headers, *seq = NULL;
  const char *ctype = NULL, *body;
  Py_ssize_t blen, i;
  int status, rc;
  if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 4) {
    PyErr_SetString(PyExc_TypeError, "route adapter: expected (status, content_type, body, headers)");
    return -1;
  }
  status = (int)PyLong_AsLong(PyTuple_GET_ITEM(res, 0));
  if (status == -1 && PyErr_Occurred())
    return -1;
  if (PyTuple_GET_ITEM(res, 1) != Py_None && !(ctype = fpy_utf8(PyTuple_GET_ITEM(res, 1), "content_type", NULL)))
    return -1;
  if (PyBytes_AsStringAndSize(PyTuple_GET_ITEM(res, 2), (char **)&body, &blen) != 0)
    return -1;
  if ((rc = fleet_ws_response_set_status(resp, status)) != 0 ||
      (rc = fleet_ws_response_set_content_type(resp, ctype)) != 0 ||
      (rc = fleet_buf_append(fleet_ws_response_body(resp), body, (size_t)blen)) != 0) {
    fleetswig_raise_status(fleetswig_keep(rc));
    return -1;
  }
  headers = PyTuple_GET_ITEM(res, 3);
  seq = PySequence_Fast(headers, "headers: expected a list of (name, value)");
  if (!seq)
    return -1;
  for (i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
    PyObject *kv = PySequence_Fast_GET_ITEM(seq, i);
    const char *k, *v;
    if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2 ||
        !(k = fpy_utf8(PyTuple_GET_ITEM(kv, 0), "header name", NULL)) ||
        !(v = fpy_utf8(PyTuple_GET_ITEM(kv, 1), "header value", NULL))) {
      if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "headers: expected (name, value) pairs of str");
      Py_DECREF(seq);
      return -1;
    }
    if ((rc = fleet_ws_response_add_header(resp, k, v)) != 0) {
      fleetswig_raise_status(fleetswig_keep(rc));
      Py_DECREF(seq);
      return -1;
    }
  }
  Py_DECREF(seq);
  return 0;
}

typedef struct fleetswig_ws_ctx fleetswig_ws_ctx;

/* One registered route: its Python adapter. */
typedef struct fleetswig_ws_route {
  fleetswig_ws_ctx *ctx;
  PyObject *fn;
} fleetswig_ws_route;

/* The callbacks of one gateway, and which thread runs one of them. */
struct fleetswig_ws_ctx {
  fleetswig_callback on_log;
  fleetswig_ws_route **routes;
  size_t n_routes;
  int cb_depth;
  pthread_t cb_thread;
};

static int fleetswig_ws_route_tramp(fleet_ws_response_t *resp, const fleet_ws_request_t *req,
                                    void *ud)
{
  fleetswig_ws_route *route = (fleetswig_ws_route *)ud;
  PyGILState_STATE st;
  PyObject *d, *res = NULL;
  int rc = 0;
  if (!route->fn)
    return FLEET_EINTERNAL;
  st = PyGILState_Ensure();
  route->ctx->cb_depth++;
  route->ctx->cb_thread = pthread_self();
  d = fpy_ws_request_dict(req);
  if (d) {
    res = PyObject_CallOneArg(route->fn, d);
    Py_DECREF(d);
  }
  if (!res || fpy_ws_apply(resp, res) != 0) {
    /* The client gets 500; the exception goes where Python reports what it
     * cannot raise (the service thread has nobody to raise it to). */
    PyErr_WriteUnraisable(route->fn);
    rc = FLEET_EINTERNAL;
  }
  Py_XDECREF(res);
  route->ctx->cb_depth--;
  PyGILState_Release(st);
  return rc;
}

static void fleetswig_ws_log_tramp(int level, const char *message, void *ud)
{
  fleetswig_ws_ctx *ctx = (fleetswig_ws_ctx *)ud;
  PyGILState_STATE st;
  fpy_log_msg m = {level, message};
  if (!ctx->on_log.fn)
    return;
  st = PyGILState_Ensure();
  ctx->cb_depth++;
  ctx->cb_thread = pthread_self();
  fleetswig_invoke_as(&ctx->on_log, fpy_log_build, &m, 1);
  ctx->cb_depth--;
  PyGILState_Release(st);
}

static int fleetswig_ws_in_callback(fleetswig_ws_ctx *ctx)
{
  return ctx->cb_depth > 0 && pthread_equal(ctx->cb_thread, pthread_self());
}

/* Drop the Python callables (the C routes stay until the gateway is freed). */
static void fleetswig_ws_ctx_clear(fleetswig_ws_ctx *ctx)
{
  PyGILState_STATE st = PyGILState_Ensure();
  size_t i;
  for (i = 0; i < ctx->n_routes; i++)
    Py_CLEAR(ctx->routes[i]->fn);
  PyGILState_Release(st);
  fleetswig_callback_clear(&ctx->on_log);
}

static void fleetswig_ws_ctx_free(fleetswig_ws_ctx *ctx)
{
  size_t i;
  for (i = 0; i < ctx->n_routes; i++)
    free(ctx->routes[i]);
  free(ctx->routes);
  free(ctx);
}

static int fpy_ws_role(PyObject *o, int *out)
{
  static const fpy_name roles[] = {{"public", FLEET_WS_ROLE_PUBLIC},
                                   {"viewer", FLEET_AUTH_ROLE_VIEWER},
                                   {"admin", FLEET_AUTH_ROLE_ADMIN},
                                   {NULL, 0}};
  return fpy_enum_in(o, roles, "role", out);
}
%}

%typemap(in) int min_role (int v) {
  if (fpy_ws_role($input, &v) != 0)
    SWIG_fail;
  $1 = v;
}
FLEETSWIG_OPTIONS(fleet_ws_options_t, ws_opts, fpy_ws_options, fpy_ws_options_init)
FLEETSWIG_RESULT(fleet_ws_stats_t, out_stats, fpy_ws_stats_new)
%apply (const char *FLEETSWIG_BYTES_OR_NONE, size_t FLEETSWIG_LEN) { (const char *extra_json, size_t extra_len) };

/* ---- spool and ingest log ------------------------------------------------ */

%{
static const fpy_name fpy_fsync_names[] = {{"always", FLEET_SPOOL_FSYNC_ALWAYS},
                                           {"interval", FLEET_SPOOL_FSYNC_INTERVAL},
                                           {"never", FLEET_SPOOL_FSYNC_NEVER},
                                           {NULL, 0}};
static const fpy_name fpy_full_names[] = {{"reject", FLEET_SPOOL_FULL_REJECT},
                                          {"drop_oldest", FLEET_SPOOL_FULL_DROP_OLDEST},
                                          {NULL, 0}};
static const fpy_name fpy_storage_event_names[] = {{"torn_tail", FLEET_SPOOL_EVENT_TORN_TAIL},
                                                   {"corrupt", FLEET_SPOOL_EVENT_CORRUPT},
                                                   {"dropped", FLEET_SPOOL_EVENT_DROPPED},
                                                   {"checkpoint_reset",
                                                    FLEET_SPOOL_EVENT_CHECKPOINT_RESET},
                                                   {NULL, 0}};

static const fpy_field fpy_spool_opts_fields[] = {
    FPY_FIELD(fleet_spool_options_t, segment_bytes, FPY_F_U64),
    FPY_FIELD(fleet_spool_options_t, max_bytes, FPY_F_U64),
    FPY_ENUM(fleet_spool_options_t, fsync_policy, fpy_fsync_names),
    FPY_FIELD(fleet_spool_options_t, fsync_interval_ms, FPY_F_UINT),
    FPY_ENUM(fleet_spool_options_t, full_policy, fpy_full_names)};
static const fpy_struct fpy_spool_opts =
    FPY_STRUCT("spool options", fpy_spool_opts_fields, fleet_spool_options_t, -1);
static void fpy_spool_opts_init(fleet_spool_options_t *o)
{
  fleet_spool_options_init(o, FLEET_SPOOL_OPTIONS_VERSION);
}

static const fpy_field fpy_spool_stats_fields[] = {
    FPY_FIELD(fleet_spool_stats_t, records, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, bytes, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, segments, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, next_seq, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, acked_seq, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, appended, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, appended_bytes, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, acked, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, rejected_full, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, dropped_records, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, dropped_segments, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, corrupt_skipped, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, torn_truncated, FPY_F_U64),
    FPY_FIELD(fleet_spool_stats_t, syncs, FPY_F_U64)};
static const fpy_struct fpy_spool_stats =
    FPY_STRUCT("spool stats", fpy_spool_stats_fields, fleet_spool_stats_t, -1);
static PyObject *fpy_spool_stats_new(const fleet_spool_stats_t *s) { return fpy_to_dict(&fpy_spool_stats, s); }

static const fpy_field fpy_ingestlog_opts_fields[] = {
    FPY_FIELD(fleet_ingestlog_options_t, segment_bytes, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_options_t, sync_every, FPY_F_UINT),
    FPY_FIELD(fleet_ingestlog_options_t, sync_interval_ms, FPY_F_UINT)};
static const fpy_struct fpy_ingestlog_opts =
    FPY_STRUCT("ingest log options", fpy_ingestlog_opts_fields, fleet_ingestlog_options_t, -1);
static void fpy_ingestlog_opts_init(fleet_ingestlog_options_t *o)
{
  fleet_ingestlog_options_init(o, FLEET_INGESTLOG_OPTIONS_VERSION);
}

static const fpy_field fpy_ingestlog_stats_fields[] = {
    FPY_FIELD(fleet_ingestlog_stats_t, next_seq, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, checkpoint_seq, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, synced_seq, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, segments, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, bytes, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, appended, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, appended_bytes, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, syncs, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, replayed, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, corrupt_skipped, FPY_F_U64),
    FPY_FIELD(fleet_ingestlog_stats_t, torn_truncated, FPY_F_U64)};
static const fpy_struct fpy_ingestlog_stats =
    FPY_STRUCT("ingest log stats", fpy_ingestlog_stats_fields, fleet_ingestlog_stats_t, -1);
static PyObject *fpy_ingestlog_stats_new(const fleet_ingestlog_stats_t *s)
{
  return fpy_to_dict(&fpy_ingestlog_stats, s);
}

/* Storage event callbacks are called as fn(event_name, records, message). */
typedef struct fpy_storage_event {
  int event;
  uint64_t records;
  const char *message;
} fpy_storage_event;

static PyObject *fpy_storage_event_build(const void *p)
{
  const fpy_storage_event *e = (const fpy_storage_event *)p;
  const char *name = fpy_enum_name(fpy_storage_event_names, e->event);
  return Py_BuildValue("(NNN)", name ? PyUnicode_FromString(name) : PyLong_FromLong(e->event),
                       PyLong_FromUnsignedLongLong((unsigned long long)e->records),
                       fpy_str(e->message));
}

/* A storage handle's event callback, and the thread running it (the spool
 * calls it with its mutex held: a spool call from it would deadlock). */
typedef struct fleetswig_storage_ctx {
  fleetswig_callback on_event;
  int cb_depth;
  pthread_t cb_thread;
} fleetswig_storage_ctx;

static void fleetswig_storage_event(fleetswig_storage_ctx *ctx, int event, uint64_t records,
                                    const char *message)
{
  PyGILState_STATE st;
  fpy_storage_event e = {event, records, message};
  if (!ctx->on_event.fn)
    return;
  st = PyGILState_Ensure();
  ctx->cb_depth++;
  ctx->cb_thread = pthread_self();
  fleetswig_invoke_as(&ctx->on_event, fpy_storage_event_build, &e, 1);
  ctx->cb_depth--;
  PyGILState_Release(st);
}

static void fleetswig_spool_event_tramp(int event, uint64_t records, const char *message, void *ud)
{
  fleetswig_storage_event((fleetswig_storage_ctx *)ud, event, records, message);
}

static void fleetswig_ingestlog_event_tramp(int event, const char *message, void *ud)
{
  fleetswig_storage_event((fleetswig_storage_ctx *)ud, event, 0, message);
}

static int fleetswig_storage_in_callback(const fleetswig_storage_ctx *ctx)
{
  return ctx->cb_depth > 0 && pthread_equal(ctx->cb_thread, pthread_self());
}

static PyObject *fpy_ingest_record_build(const void *p)
{
  const fleet_ingestlog_record_t *r = (const fleet_ingestlog_record_t *)p;
  PyObject *d = PyDict_New();
  if (!d)
    return NULL;
  if (fpy_set(d, "seq", PyLong_FromUnsignedLongLong((unsigned long long)r->seq)) ||
      fpy_set(d, "recv_time_ns", PyLong_FromLongLong((long long)r->recv_time_ns)) ||
      fpy_set(d, "topic", PyUnicode_DecodeUTF8(r->topic, (Py_ssize_t)r->topic_len, "replace")) ||
      fpy_set(d, "payload", PyBytes_FromStringAndSize((const char *)r->payload,
                                                      (Py_ssize_t)r->payload_len))) {
    Py_DECREF(d);
    return NULL;
  }
  return fpy_make(FPY_INGEST_RECORD, d);
}

static int fleetswig_replay_tramp(const fleet_ingestlog_record_t *rec, void *ud)
{
  return fleetswig_invoke((fleetswig_callback *)ud, fpy_ingest_record_build, rec);
}
%}

FLEETSWIG_OPTIONS(fleet_spool_options_t, spool_opts, fpy_spool_opts, fpy_spool_opts_init)
FLEETSWIG_OPTIONS(fleet_ingestlog_options_t, log_opts, fpy_ingestlog_opts, fpy_ingestlog_opts_init)
FLEETSWIG_RESULT(fleet_spool_stats_t, out_stats, fpy_spool_stats_new)
FLEETSWIG_RESULT(fleet_ingestlog_stats_t, out_stats, fpy_ingestlog_stats_new)
%apply fleetswig_callable OPTIONAL { fleetswig_callable on_event };
%apply (const char *FLEETSWIG_BYTES, size_t FLEETSWIG_LEN) { (const void *data, size_t len) };

/* A record read back: bytes. */
%typemap(in, numinputs=0) fleet_buf_t *out_record (fleet_buf_t tmp = FLEET_BUF_INIT) {
  $1 = &tmp;
}
%typemap(argout) fleet_buf_t *out_record {
  $result = SWIG_Python_AppendOutput($result,
      PyBytes_FromStringAndSize($1->ptr ? $1->ptr : "", (Py_ssize_t)$1->len));
}
%typemap(freearg) fleet_buf_t *out_record {
  fleet_buf_dispose($1);
}
%typemap(in, numinputs=0) uint64_t *out_seq (uint64_t tmp = 0) {
  $1 = &tmp;
}
%typemap(argout) uint64_t *out_seq {
  $result = SWIG_Python_AppendOutput($result, PyLong_FromUnsignedLongLong(*$1));
}
