// The guest side of the snakepit ABI: a reactor that embeds CPython.
//
// The host calls the exports below; Python code reaches the host through the
// `snakepit` imports. All request logic lives in snakepit_guest.py, which the
// host hands to sp_init: it changes with most features, and keeping it out of
// python.wasm keeps the embedded binary stable (only this file's ABI is in it).
#include <Python.h>
#include <marshal.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

// Bumped on any change of the exports, imports, request kinds or result frames.
// 2: CPython's eval loop imports snakepit.tick at its preemption points
// (wasm/python.wasm.build/patches/preempt.patch).
// 3: sp_init takes the dispatcher's source from the host; sp_run accepts
// exact bytes only.
// 4: sp_fds_intact, for resetting a clone in place.
// 5: sp_run returns a table of frame descriptors pointing into the result's
// own objects (no frame bytes built); sp_interrupt.
#define SP_ABI_VERSION 5

// The most frames one result may hold (internal/abi's MaxFrames).
#define SP_MAX_FRAMES 8

// The request kind fast_call takes, and the flag that says its arguments are
// marshalled (internal/abi's KindCallJSON and KindMarshalArgs).
#define SP_KIND_CALL_JSON 3
#define SP_KIND_MARSHAL_ARGS 256

#define EXPORT(name) __attribute__((export_name(#name)))
#define IMPORT(name) __attribute__((import_module("snakepit"), import_name(#name)))

// Called at loop headers by the instrumented module (the host rewrites it at
// load time) and by snakepit.checkpoint(); it must stay imported.
IMPORT(yield) void sp_host_yield(void);
// A host tool call: returns (status << 32) | length of the answer, which the
// guest then copies with host_take. Status 0 is a JSON answer, 1 an error text.
IMPORT(host_call) int64_t sp_host_call(const char *name, int32_t name_len, const char *arg, int32_t arg_len);
IMPORT(host_take) int32_t sp_host_take(char *buf, int32_t len);
// A stream chunk (a JSON value) for the current call's consumer.
IMPORT(emit) int32_t sp_host_emit(const char *buf, int32_t len);

static PyObject *dispatch;    // snakepit_guest._dispatch
// What fast_call borrows from the dispatcher's module (_main, _value,
// _raised, _flush_stdio) and the interpreter's own stdout and stderr; all
// NULL when the module lacks one, and every call takes _dispatch.
static PyObject *main_dict, *value_fn, *raised_fn, *flush_fn, *own_out, *own_err;
static PyObject *tag_json, *write_through_name;
static PyObject *last_result; // kept alive until the host has read it
// The frame table of last_result: a count, then each frame's tag, pointer
// and length, pointing into last_result's objects.
static uint32_t frames[1 + 3 * SP_MAX_FRAMES];
static int interrupt_wanted; // sp_interrupt was called during this request
static int interrupt_queued; // and its pending call has not run yet
static char *buf;             // the request buffer the host writes into
static int32_t buf_cap;
static unsigned char seed[32]; // written by the host into a clone, read once
static int32_t seed_set;
static int32_t fds_open; // descriptors open after sp_init: stdio and preopens

EXPORT(sp_abi_version) int32_t sp_abi_version(void) { return SP_ABI_VERSION; }

// sp_buffer returns a buffer of at least n bytes for the next request.
EXPORT(sp_buffer) char *sp_buffer(int32_t n) {
  if (n <= buf_cap) return buf;
  char *b = realloc(buf, (size_t)n);
  if (!b) return NULL;
  buf = b;
  buf_cap = n;
  return buf;
}

// sp_seed returns where the host writes 32 fresh random bytes after cloning;
// the next request re-seeds `random` with them.
EXPORT(sp_seed) unsigned char *sp_seed(void) { return seed; }
EXPORT(sp_seed_flag) int32_t *sp_seed_flag(void) { return &seed_set; }

static PyObject *mod_call(PyObject *self, PyObject *args) {
  const char *name, *arg;
  Py_ssize_t name_len, arg_len;
  if (!PyArg_ParseTuple(args, "s#y#", &name, &name_len, &arg, &arg_len)) return NULL;
  int64_t r = sp_host_call(name, (int32_t)name_len, arg, (int32_t)arg_len);
  int32_t status = (int32_t)(r >> 32), n = (int32_t)(r & 0x7fffffff);
  if (status < 0) {
    PyErr_SetString(PyExc_RuntimeError, "snakepit: host call refused");
    return NULL;
  }
  PyObject *out = PyBytes_FromStringAndSize(NULL, n);
  if (!out) return NULL;
  sp_host_take(PyBytes_AS_STRING(out), n);
  if (status == 0) return out;
  PyObject *msg = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(out), n, "replace");
  Py_DECREF(out);
  if (msg) {
    PyErr_SetObject(PyExc_RuntimeError, msg);
    Py_DECREF(msg);
  }
  return NULL;
}

static PyObject *mod_emit(PyObject *self, PyObject *arg) {
  Py_buffer b;
  if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
  int32_t r = sp_host_emit(b.buf, (int32_t)b.len);
  PyBuffer_Release(&b);
  if (r != 0) {
    PyErr_SetString(PyExc_RuntimeError, "snakepit: stream closed by the host");
    return NULL;
  }
  Py_RETURN_NONE;
}

static PyObject *mod_checkpoint(PyObject *self, PyObject *unused) {
  sp_host_yield();
  Py_RETURN_NONE;
}

static PyObject *mod_take_seed(PyObject *self, PyObject *unused) {
  if (!seed_set) Py_RETURN_NONE;
  seed_set = 0;
  return PyBytes_FromStringAndSize((const char *)seed, sizeof seed);
}

static PyMethodDef mod_methods[] = {
    {"call", mod_call, METH_VARARGS, "call(name, arg: bytes) -> bytes: call a host tool."},
    {"emit", mod_emit, METH_O, "emit(chunk: bytes): send a stream chunk to the host."},
    {"checkpoint", mod_checkpoint, METH_NOARGS, "checkpoint(): yield to the host."},
    {"take_seed", mod_take_seed, METH_NOARGS, "take_seed() -> bytes | None: fresh entropy after a clone."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mod_def = {PyModuleDef_HEAD_INIT, "_snakepit", NULL, -1, mod_methods};

static PyObject *mod_init(void) { return PyModule_Create(&mod_def); }

static int fd_open(int fd) {
  __wasi_fdstat_t st;
  return __wasi_fd_fdstat_get(fd, &st) == 0;
}

// sp_fds_intact says whether the descriptors open after sp_init (stdio and
// the mounts' preopens) are still open and no other is at the next number.
// The host asks it of a clone whose memory it has just restored, so the
// answer comes from the snapshot's code, not from whatever the last call
// left: a call may have closed a preopen, which no memory restore brings
// back (wazero keeps the descriptor table outside linear memory).
EXPORT(sp_fds_intact) int32_t sp_fds_intact(void) {
  for (int fd = 0; fd < fds_open; fd++)
    if (!fd_open(fd)) return 0;
  return !fd_open(fds_open);
}

// SQLite's F_SETLK and F_GETLK (sqlite3.c defines them so when wasi-libc
// does not).
#ifndef F_RDLCK
#define F_UNLCK 2
#if __LONG_MAX == 0x7fffffffL
#define F_GETLK 12
#define F_SETLK 13
#define F_SETLKW 14
#else
#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#endif
#endif

// sqlite_fcntl stands in for fcntl in SQLite's "unix" VFS. WASI has no
// advisory locks, but an instance is one process whose files no other
// process locks (scratch is its own; a writable host mount shared by
// several instances is not locked between them): SQLite's own table of
// locks held in this process is then all the locking there is, and it
// only needs the system's locks to succeed. Two connections to one file
// thus lock each other out as on any system, and a read-only database
// opens without writing a lock file (unix-dotfile's way).
static int sqlite_fcntl(int fd, int op, ...) {
  va_list ap;
  va_start(ap, op);
  if (op == F_GETLK || op == F_SETLK || op == F_SETLKW) {
    struct flock *l = va_arg(ap, struct flock *);
    va_end(ap);
    if (op == F_GETLK) l->l_type = F_UNLCK;
    return 0;
  }
  int arg = va_arg(ap, int);
  va_end(ap);
  return fcntl(fd, op, arg);
}

static int sqlite_locking(void) {
  sqlite3_vfs *v = sqlite3_vfs_find("unix");
  if (!v || v->xSetSystemCall(v, "fcntl", (sqlite3_syscall_ptr)sqlite_fcntl) != SQLITE_OK) return -1;
  return sqlite3_vfs_register(v, 1) == SQLITE_OK ? 0 : -1;
}

// sp_init starts the interpreter (isolated, no site, stdlib at
// /usr/lib/python3.13, which the host mounts read-only) and runs the
// dispatcher's source, the first src_len bytes of the request buffer. 0 on
// success.
EXPORT(sp_init) int32_t sp_init(int32_t src_len) {
  if (dispatch) return 0;
  if (src_len < 0 || src_len > buf_cap) return 8;
  PyPreConfig pre;
  PyPreConfig_InitIsolatedConfig(&pre);
  pre.utf8_mode = 1; // isolated mode otherwise picks ASCII stdio
  if (PyStatus_Exception(Py_PreInitialize(&pre))) return 1;
  if (PyImport_AppendInittab("_snakepit", mod_init) < 0) return 2;
  if (sqlite_locking() < 0) return 9;

  PyConfig c;
  PyConfig_InitIsolatedConfig(&c);
  c.site_import = 0;
  c.install_signal_handlers = 0;
  c.write_bytecode = 0;
  c.buffered_stdio = 0;
  c.pathconfig_warnings = 0;
  c.module_search_paths_set = 1;
  PyStatus st = PyConfig_SetString(&c, &c.home, L"/usr");
  if (!PyStatus_Exception(st)) st = PyConfig_SetString(&c, &c.program_name, L"python3.13");
  // Frozen modules' __file__ and sys._stdlib_dir come from it; with the
  // search path given, getpath leaves it unset.
  if (!PyStatus_Exception(st)) st = PyConfig_SetString(&c, &c.stdlib_dir, L"/usr/lib/python3.13");
  if (!PyStatus_Exception(st)) st = PyWideStringList_Append(&c.module_search_paths, L"/usr/lib/python3.13");
  if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&c);
  PyConfig_Clear(&c);
  if (PyStatus_Exception(st)) return 3;

  PyObject *m = PyImport_AddModule("snakepit_guest"); // borrowed
  if (!m) return 4;
  char *src = malloc((size_t)src_len + 1); // Py_CompileString wants a C string
  if (!src) return 5;
  memcpy(src, buf ? buf : "", (size_t)src_len);
  src[src_len] = 0;
  PyObject *code = Py_CompileString(src, "snakepit_guest.py", Py_file_input);
  free(src);
  if (!code) {
    PyErr_Clear();
    return 5;
  }
  PyObject *r = PyEval_EvalCode(code, PyModule_GetDict(m), PyModule_GetDict(m));
  Py_DECREF(code);
  if (!r) {
    PyErr_Clear();
    return 6;
  }
  Py_DECREF(r);
  dispatch = PyObject_GetAttrString(m, "_dispatch");
  if (!dispatch) {
    PyErr_Clear();
    return 7;
  }
  main_dict = PyObject_GetAttrString(m, "_main");
  value_fn = PyObject_GetAttrString(m, "_value");
  raised_fn = PyObject_GetAttrString(m, "_raised");
  flush_fn = PyObject_GetAttrString(m, "_flush_stdio");
  own_out = Py_XNewRef(PySys_GetObject("stdout"));
  own_err = Py_XNewRef(PySys_GetObject("stderr"));
  tag_json = PyBytes_FromStringAndSize("J", 1);
  write_through_name = PyUnicode_InternFromString("write_through");
  if (!main_dict || !PyDict_CheckExact(main_dict) || !value_fn || !raised_fn || !flush_fn || !own_out || !own_err ||
      !tag_json || !write_through_name) {
    PyErr_Clear();
    Py_CLEAR(main_dict); // fast_call's sign that it is off
  }
  while (fds_open < 1024 && fd_open(fds_open)) fds_open++;
  return 0;
}

// frame_table fills frames from the dispatcher's answer, a tuple of (tag,
// data) pairs laid flat: each tag exact bytes of length 1, each data exact
// bytes or an exact str (no subclass: their __del__ would run Python code
// when the host releases them, outside any call). A str hands over its
// UTF-8 form: for an ASCII str, which JSON with ensure_ascii always is,
// that is the str's own data, not a copy. -1 for anything else, with an
// exception set only when the UTF-8 form could not be made.
static int frame_table(PyObject *r) {
  if (!PyTuple_CheckExact(r)) return -1;
  Py_ssize_t n = PyTuple_GET_SIZE(r);
  if (n % 2 != 0 || n / 2 > SP_MAX_FRAMES) return -1;
  for (Py_ssize_t i = 0; i < n; i += 2) {
    PyObject *tag = PyTuple_GET_ITEM(r, i), *data = PyTuple_GET_ITEM(r, i + 1);
    if (!PyBytes_CheckExact(tag) || PyBytes_GET_SIZE(tag) != 1) return -1;
    const char *p;
    Py_ssize_t len;
    if (PyBytes_CheckExact(data)) {
      p = PyBytes_AS_STRING(data);
      len = PyBytes_GET_SIZE(data);
    } else if (PyUnicode_CheckExact(data)) {
      p = PyUnicode_AsUTF8AndSize(data, &len); // cached in the str, freed with it
      if (!p) return -1;
    } else {
      return -1;
    }
    uint32_t *f = &frames[1 + 3 * (i / 2)];
    f[0] = (unsigned char)PyBytes_AS_STRING(tag)[0];
    f[1] = (uint32_t)(uintptr_t)p;
    f[2] = (uint32_t)len;
  }
  frames[0] = (uint32_t)(n / 2);
  return 0;
}

// raised answers the exception being raised as _dispatch would: through
// snakepit_guest._raised.
static PyObject *raised(void) {
  PyObject *e = PyErr_GetRaisedException();
  PyObject *out = PyObject_CallOneArg(raised_fn, e);
  Py_DECREF(e);
  return out;
}

static int writes_through(PyObject *s) {
  PyObject *w = PyObject_GetAttr(s, write_through_name);
  int r = w == Py_True;
  Py_XDECREF(w);
  PyErr_Clear();
  return r;
}

// lookup finds a's function without running any Python: a name in
// __main__'s dict, or "module.name" with the module in sys.modules and the
// name in its dict (not a dunder, which a module's type may answer first).
// A new reference, or NULL with no exception set.
static PyObject *lookup(const char *a, int32_t alen) {
  int32_t dot = alen;
  while (dot > 0 && a[dot - 1] != '.') dot--;
  PyObject *dict = main_dict, *f = NULL, *mod = NULL, *name;
  if (dot > 0) {
    PyObject *mods = PySys_GetObject("modules"); // borrowed; what sys.modules is now
    name = PyUnicode_DecodeUTF8(a, dot - 1, NULL);
    if (name && mods && PyDict_CheckExact(mods)) mod = PyDict_GetItemWithError(mods, name);
    Py_XDECREF(name);
    if (!mod || !PyModule_CheckExact(mod) || (alen - dot >= 2 && a[dot] == '_' && a[dot + 1] == '_')) {
      PyErr_Clear();
      return NULL;
    }
    dict = PyModule_GetDict(mod);
  }
  name = PyUnicode_DecodeUTF8(a + dot, alen - dot, NULL);
  if (name && dict) f = PyDict_GetItemWithError(dict, name);
  Py_XDECREF(name);
  PyErr_Clear();
  return Py_XNewRef(f); // held: the call may remove it from the dict
}

// fast_call runs a KindCallJSON request whose arguments the host marshalled
// (or that has none) as _dispatch does, without its Python: 2 of a warm
// add(1, 2)'s 5 µs were that. The function must be found by lookup and no
// seed be waiting; otherwise it returns NULL with no exception set, having
// run nothing, and _dispatch takes the request. Errors and results other
// than None and an int go to the dispatcher's own _raised and _value.
static PyObject *fast_call(const char *a, int32_t alen, const char *b, int32_t blen) {
  if (!main_dict || seed_set) return NULL;
  PyObject *f = lookup(a, alen);
  if (!f) return NULL;
  PyObject *args = NULL, *kwargs = NULL, *v = blen ? PyMarshal_ReadObjectFromString(b, blen) : NULL;
  if (!blen) {
    args = PyTuple_New(0);
  } else if (v && PyDict_CheckExact(v)) {
    kwargs = Py_NewRef(v);
    args = PyTuple_New(0);
  } else if (v && PyList_CheckExact(v)) {
    args = PyList_AsTuple(v);
  } else if (v) {
    args = PyTuple_Pack(1, v);
  }
  Py_XDECREF(v);
  if (!args) { // nothing ran: _dispatch answers as it would
    PyErr_Clear();
    Py_DECREF(f);
    Py_XDECREF(kwargs);
    return NULL;
  }
  PyObject *r = PyObject_Call(f, args, kwargs), *out;
  Py_DECREF(f);
  Py_DECREF(args);
  Py_XDECREF(kwargs);
  if (!r) {
    out = raised();
  } else if (r == Py_None) {
    out = PyTuple_New(0);
  } else if (PyLong_CheckExact(r)) {
    PyObject *text = PyLong_Type.tp_repr(r); // json's way
    out = text ? PyTuple_Pack(2, tag_json, text) : raised();
    Py_XDECREF(text);
  } else {
    out = PyObject_CallOneArg(value_fn, r);
    if (!out) out = raised();
  }
  Py_XDECREF(r);
  PyObject *o = PySys_GetObject("stdout"), *e = PySys_GetObject("stderr");
  if (!(o == own_out && e == own_err && writes_through(o) && writes_through(e))) {
    PyObject *exc = PyErr_GetRaisedException(); // a failed answer's, kept
    PyObject *x = PyObject_CallNoArgs(flush_fn);
    Py_XDECREF(x);
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
  }
  return out;
}

// sp_run runs one request whose two byte strings the host wrote into the
// request buffer: a (alen bytes) then b (blen bytes). It returns
// (pointer << 32) | size of the frame table (size is 4 + 12 * count), valid
// with the frames it points to until the next call of sp_run or sp_release.
// A zero pointer means the request could not even be dispatched, or its
// answer broke the contract: size 1 is a MemoryError, anything else an
// internal error.
EXPORT(sp_run) int64_t sp_run(int32_t kind, int32_t alen, int32_t blen) {
  Py_CLEAR(last_result);
  interrupt_wanted = 0; // one asked of an earlier request is void
  if (!dispatch) return 0;
  if (alen < 0 || blen < 0 || (int64_t)alen + blen > buf_cap) return 0;
  const char *p = buf ? buf : "";
  PyObject *r = NULL;
  if (kind == (SP_KIND_CALL_JSON | SP_KIND_MARSHAL_ARGS) || (kind == SP_KIND_CALL_JSON && blen == 0))
    r = fast_call(p, alen, p + alen, blen);
  if (!r && !PyErr_Occurred()) {
    PyObject *args[3] = {PyLong_FromLong(kind), PyBytes_FromStringAndSize(p, alen), PyBytes_FromStringAndSize(p + alen, blen)};
    if (args[0] && args[1] && args[2]) r = PyObject_Vectorcall(dispatch, args, 3, NULL);
    for (int i = 0; i < 3; i++) Py_XDECREF(args[i]);
  }
  if (!r || frame_table(r) < 0) {
    int mem = PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_MemoryError);
    PyErr_Clear();
    Py_XDECREF(r);
    return mem ? 1 : 0;
  }
  last_result = r;
  return ((int64_t)(uintptr_t)frames << 32) | (int64_t)(4 + 12 * frames[0]);
}

// sp_release frees the last result early (the host calls it after reading a
// large one).
EXPORT(sp_release) void sp_release(void) { Py_CLEAR(last_result); }

static int raise_interrupt(void *unused) {
  interrupt_queued = 0;
  if (!interrupt_wanted) return 0; // asked during a request that has ended
  interrupt_wanted = 0;
  PyErr_SetNone(PyExc_KeyboardInterrupt);
  return -1;
}

// sp_interrupt makes the running request raise KeyboardInterrupt at its next
// eval-breaker check (a backward jump, a call), where Python code can unwind
// and the interpreter keeps its state, unlike a stop that abandons the
// instance. The host calls it from inside one of its imports (yield), while
// the request runs: CPython is then between two instructions of some C
// function, so all this may do is queue a pending call, which the eval loop
// runs when it is safe. The queue's lock is free then: it is only held
// across a few loop-free statements, where no yield is. One interrupt is
// queued at a time; one that arrives after its request ended does nothing.
EXPORT(sp_interrupt) void sp_interrupt(void) {
  if (!dispatch) return;
  interrupt_wanted = 1;
  if (!interrupt_queued && Py_AddPendingCall(raise_interrupt, NULL) == 0) interrupt_queued = 1;
}
