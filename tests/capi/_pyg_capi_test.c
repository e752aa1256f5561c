/* _pyg_capi_test: calls every slot of the greenlet C API table from C and
 * hands the results to Python, for tests/capi/test_capi.py.
 *
 * The module imports the table with PyGreenlet_Import() at initialization,
 * as client code does; PYGREENLET_CAPSULE_NAME (a -D option) chooses the
 * capsule.  Every function that takes an object meant for a PyGreenlet *
 * parameter passes it on unchecked, so that the tests can feed the API
 * non-greenlets, and the sentinel `NULL` (an attribute of this module) stands
 * for a C NULL pointer wherever an argument may be one.
 *
 * Functions that return an int or a pointer check the API's error convention
 * (an error result comes with an exception, a success result without one)
 * and raise SystemError when it is broken, so a test sees a broken convention
 * as a failure instead of as a lost or stray exception.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

#include "greenlet/greenlet.h"

/* The sentinel for a C NULL argument (a plain object, made at init). */
static PyObject *null_sentinel = NULL;

#define OR_NULL(o) ((o) == null_sentinel ? NULL : (o))

/* Raise SystemError with a message about a broken error convention. */
static PyObject *
broken(const char *what)
{
    PyObject *stray = NULL; /* keep a stray exception visible in the message */
    PyObject *type = NULL, *tb = NULL;
    /* PyErr_Fetch works on every supported version (no version test here) */
    PyErr_Fetch(&type, &stray, &tb);
    PyErr_NormalizeException(&type, &stray, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    if (stray != NULL) {
        PyErr_Format(PyExc_SystemError, "%s (stray exception: %R)", what, stray);
        Py_DECREF(stray);
    }
    else {
        PyErr_Format(PyExc_SystemError, "%s", what);
    }
    return NULL;
}

/* A pointer result: NULL must come with an exception, anything else without. */
static PyObject *
checked_result(PyObject *result, const char *name)
{
    if (result == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_SystemError, "%s returned NULL without an exception", name);
        }
        return NULL;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(result);
        return broken("a C API function returned a result with an exception set");
    }
    return result;
}

/* An int result of 0/1 (or 0 for SetParent), or -1 with an exception. */
static PyObject *
checked_int(int rc, int allow_one, const char *name)
{
    if (rc == -1) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_SystemError, "%s returned -1 without an exception", name);
        }
        return NULL;
    }
    if (PyErr_Occurred()) {
        return broken("a C API function returned success with an exception set");
    }
    if (rc != 0 && !(allow_one && rc == 1)) {
        PyErr_Format(PyExc_SystemError, "%s returned %d", name, rc);
        return NULL;
    }
    return PyLong_FromLong(rc);
}

/* ---- the table itself ---------------------------------------------------- */

static PyObject *
table_address(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyLong_FromVoidPtr((void *)_PyGreenlet_API);
}

static PyObject *
slot_address(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (i < 0 || i >= PyGreenlet_API_pointers) {
        PyErr_SetString(PyExc_IndexError, "no such slot");
        return NULL;
    }
    return PyLong_FromVoidPtr(_PyGreenlet_API[i]);
}

static PyObject *
greenlet_type(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    PyObject *t = (PyObject *)&PyGreenlet_Type;
    Py_INCREF(t);
    return t;
}

static PyObject *
error_type(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    Py_INCREF(PyExc_GreenletError);
    return PyExc_GreenletError;
}

static PyObject *
exit_type(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    Py_INCREF(PyExc_GreenletExit);
    return PyExc_GreenletExit;
}

static PyObject *
check(PyObject *module, PyObject *arg)
{
    (void)module;
    return PyBool_FromLong(PyGreenlet_Check(OR_NULL(arg)));
}

/* The header's layout: (sizeof, offsetof weakreflist, offsetof dict). */
static PyObject *
layout(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return Py_BuildValue("(nnn)", (Py_ssize_t)sizeof(PyGreenlet),
                         (Py_ssize_t)offsetof(PyGreenlet, weakreflist),
                         (Py_ssize_t)offsetof(PyGreenlet, dict));
}

/* The two pointer fields of the struct that C code may read: (weakreflist is
 * NULL, dict or None).  A subclass in C sees its instance dict there. */
static PyObject *
struct_fields(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyGreenlet_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "struct_fields needs a greenlet");
        return NULL;
    }
    PyGreenlet *g = (PyGreenlet *)arg;
    PyObject *dict = g->dict ? g->dict : Py_None;
    return Py_BuildValue("(OO)", g->weakreflist == NULL ? Py_True : Py_False, dict);
}

/* ---- the functions ------------------------------------------------------- */

static PyObject *
new_(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *run = null_sentinel, *parent = null_sentinel;
    if (!PyArg_ParseTuple(args, "|OO:new", &run, &parent)) {
        return NULL;
    }
    PyGreenlet *g = PyGreenlet_New(OR_NULL(run), (PyGreenlet *)OR_NULL(parent));
    return checked_result((PyObject *)g, "PyGreenlet_New");
}

static PyObject *
getcurrent(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return checked_result((PyObject *)PyGreenlet_GetCurrent(), "PyGreenlet_GetCurrent");
}

static PyObject *
throw_(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *g, *typ, *val = null_sentinel, *tb = null_sentinel;
    if (!PyArg_ParseTuple(args, "OO|OO:throw", &g, &typ, &val, &tb)) {
        return NULL;
    }
    PyObject *r = PyGreenlet_Throw((PyGreenlet *)OR_NULL(g), OR_NULL(typ), OR_NULL(val),
                                   OR_NULL(tb));
    return checked_result(r, "PyGreenlet_Throw");
}

static PyObject *
switch_(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *g, *a = null_sentinel, *kw = null_sentinel;
    if (!PyArg_ParseTuple(args, "O|OO:switch", &g, &a, &kw)) {
        return NULL;
    }
    PyObject *r = PyGreenlet_Switch((PyGreenlet *)OR_NULL(g), OR_NULL(a), OR_NULL(kw));
    return checked_result(r, "PyGreenlet_Switch");
}

static PyObject *
setparent(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *g, *p;
    if (!PyArg_ParseTuple(args, "OO:setparent", &g, &p)) {
        return NULL;
    }
    int rc = PyGreenlet_SetParent((PyGreenlet *)OR_NULL(g), (PyGreenlet *)OR_NULL(p));
    return checked_int(rc, 0, "PyGreenlet_SetParent");
}

static PyObject *
is_main(PyObject *module, PyObject *arg)
{
    (void)module;
    return checked_int(PyGreenlet_MAIN((PyGreenlet *)OR_NULL(arg)), 1, "PyGreenlet_MAIN");
}

static PyObject *
is_started(PyObject *module, PyObject *arg)
{
    (void)module;
    return checked_int(PyGreenlet_STARTED((PyGreenlet *)OR_NULL(arg)), 1, "PyGreenlet_STARTED");
}

static PyObject *
is_active(PyObject *module, PyObject *arg)
{
    (void)module;
    return checked_int(PyGreenlet_ACTIVE((PyGreenlet *)OR_NULL(arg)), 1, "PyGreenlet_ACTIVE");
}

/* (MAIN, STARTED, ACTIVE) of one greenlet. */
static PyObject *
flags(PyObject *module, PyObject *arg)
{
    PyObject *m = is_main(module, arg);
    if (m == NULL) {
        return NULL;
    }
    PyObject *s = is_started(module, arg);
    if (s == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *a = is_active(module, arg);
    if (a == NULL) {
        Py_DECREF(m);
        Py_DECREF(s);
        return NULL;
    }
    return Py_BuildValue("(NNN)", m, s, a);
}

/* The parent, or the NULL sentinel when the API returns NULL without an
 * exception (a main greenlet). */
static PyObject *
getparent(PyObject *module, PyObject *arg)
{
    (void)module;
    PyGreenlet *p = PyGreenlet_GetParent((PyGreenlet *)OR_NULL(arg));
    if (p == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_INCREF(null_sentinel);
        return null_sentinel;
    }
    return checked_result((PyObject *)p, "PyGreenlet_GetParent");
}

/* ---- C code that runs inside greenlets ---------------------------------- */

/* ping_parent(n): meant as a greenlet's run.  Switches to its parent n times
 * from C, sending (i,) and expecting an int back each time, with a C stack
 * buffer and a few locals that must survive every switch unchanged (the
 * switch moves the C stack).  Returns the sum of what it got back, or raises
 * AssertionError when the C stack came back corrupted.  It keeps no
 * reference to its own greenlet across a switch (that would keep a dropped
 * greenlet alive forever), only its address, to check where it resumed. */
static PyObject *
ping_parent(PyObject *module, PyObject *arg)
{
    (void)module;
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    volatile unsigned char buf[2048];
    volatile long marker = 0x5a5a1234L;
    for (size_t k = 0; k < sizeof(buf); k++) {
        buf[k] = (unsigned char)(k * 7 + 3);
    }
    PyGreenlet *self = PyGreenlet_GetCurrent();
    if (self == NULL) {
        return NULL;
    }
    Py_DECREF(self); /* it stays alive while it runs; only the address is kept */
    long total = 0;
    for (long i = 0; i < n; i++) {
        PyGreenlet *parent = PyGreenlet_GetParent(self);
        if (parent == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_AssertionError, "ping_parent has no parent");
            }
            return NULL;
        }
        PyObject *args = Py_BuildValue("(l)", i);
        if (args == NULL) {
            Py_DECREF(parent);
            return NULL;
        }
        PyObject *r = PyGreenlet_Switch(parent, args, NULL);
        Py_DECREF(args);
        Py_DECREF(parent);
        if (r == NULL) {
            return NULL;
        }
        long v = PyLong_AsLong(r);
        Py_DECREF(r);
        if (v == -1 && PyErr_Occurred()) {
            return NULL;
        }
        total += v;
        for (size_t k = 0; k < sizeof(buf); k++) {
            if (buf[k] != (unsigned char)(k * 7 + 3)) {
                PyErr_Format(PyExc_AssertionError, "C stack buffer changed at %zu", k);
                return NULL;
            }
        }
        if (marker != 0x5a5a1234L) {
            PyErr_SetString(PyExc_AssertionError, "C stack local changed");
            return NULL;
        }
        PyGreenlet *now = PyGreenlet_GetCurrent();
        if (now == NULL) {
            return NULL;
        }
        Py_DECREF(now);
        if (now != self) {
            PyErr_SetString(PyExc_AssertionError, "resumed in another greenlet");
            return NULL;
        }
    }
    return PyLong_FromLong(total);
}

/* switch_in_c(g, n): from the calling greenlet, switch to g n times, sending
 * an int each time; returns the list of what came back. */
static PyObject *
switch_in_c(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *g;
    long n;
    if (!PyArg_ParseTuple(args, "Ol:switch_in_c", &g, &n)) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (long i = 0; i < n; i++) {
        PyObject *a = Py_BuildValue("(l)", i);
        if (a == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyObject *r = PyGreenlet_Switch((PyGreenlet *)g, a, NULL);
        Py_DECREF(a);
        if (r == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        int rc = PyList_Append(out, r);
        Py_DECREF(r);
        if (rc < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/* new_and_switch(run, parent_or_NULL, args): PyGreenlet_New then
 * PyGreenlet_Switch, dropping the only reference to the new greenlet before
 * returning (what it does with it while suspended is the test's business). */
static PyObject *
new_and_switch(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *run, *parent, *a;
    if (!PyArg_ParseTuple(args, "OOO:new_and_switch", &run, &parent, &a)) {
        return NULL;
    }
    PyGreenlet *g = PyGreenlet_New(run, (PyGreenlet *)OR_NULL(parent));
    if (g == NULL) {
        return NULL;
    }
    PyObject *r = PyGreenlet_Switch(g, a, NULL);
    Py_DECREF(g);
    return checked_result(r, "PyGreenlet_Switch");
}

static PyMethodDef methods[] = {
    {"table_address", table_address, METH_NOARGS, "the address of the imported table"},
    {"slot_address", slot_address, METH_O, "the pointer in slot i of the table"},
    {"greenlet_type", greenlet_type, METH_NOARGS, "slot 0"},
    {"error_type", error_type, METH_NOARGS, "slot 1"},
    {"exit_type", exit_type, METH_NOARGS, "slot 2"},
    {"check", check, METH_O, "PyGreenlet_Check(obj)"},
    {"layout", layout, METH_NOARGS, "(sizeof, weakreflist offset, dict offset) of PyGreenlet"},
    {"struct_fields", struct_fields, METH_O, "(weakreflist is NULL, dict) of a greenlet"},
    {"new", new_, METH_VARARGS, "PyGreenlet_New(run=NULL, parent=NULL)"},
    {"getcurrent", getcurrent, METH_NOARGS, "PyGreenlet_GetCurrent()"},
    {"throw", throw_, METH_VARARGS, "PyGreenlet_Throw(g, typ, val=NULL, tb=NULL)"},
    {"switch", switch_, METH_VARARGS, "PyGreenlet_Switch(g, args=NULL, kwargs=NULL)"},
    {"setparent", setparent, METH_VARARGS, "PyGreenlet_SetParent(g, parent)"},
    {"is_main", is_main, METH_O, "PyGreenlet_MAIN(g)"},
    {"is_started", is_started, METH_O, "PyGreenlet_STARTED(g)"},
    {"is_active", is_active, METH_O, "PyGreenlet_ACTIVE(g)"},
    {"flags", flags, METH_O, "(MAIN, STARTED, ACTIVE) of g"},
    {"getparent", getparent, METH_O, "PyGreenlet_GetParent(g), NULL for no parent"},
    {"ping_parent", ping_parent, METH_O, "run: switch to the parent n times from C"},
    {"switch_in_c", switch_in_c, METH_VARARGS, "switch to g n times from C"},
    {"new_and_switch", new_and_switch, METH_VARARGS, "New + Switch, dropping the greenlet"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_pyg_capi_test", "Calls the greenlet C API from C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__pyg_capi_test(void)
{
    PyGreenlet_Import();
    if (_PyGreenlet_API == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL) {
        return NULL;
    }
    if (null_sentinel == NULL) {
        null_sentinel = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
        if (null_sentinel == NULL) {
            Py_DECREF(m);
            return NULL;
        }
    }
    Py_INCREF(null_sentinel);
    if (PyModule_AddObject(m, "NULL", null_sentinel) < 0) {
        Py_DECREF(null_sentinel);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "CAPSULE_NAME", PYGREENLET_CAPSULE_NAME) < 0 ||
        PyModule_AddIntConstant(m, "API_POINTERS", PyGreenlet_API_pointers) < 0 ||
        PyModule_AddStringConstant(m, "GREENLET_VERSION", GREENLET_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
