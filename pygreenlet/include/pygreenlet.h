/* pygreenlet's C API: the greenlet type, its exceptions and nine functions.
 *
 * Source-compatible with code written against greenlet's own greenlet.h: the
 * same struct, the same names, the same table of twelve slots in the same
 * order.  The table lives in a capsule of the compiled backend; it is reached
 * as pygreenlet._C_API (named "pygreenlet._C_API"), and, while pygreenlet
 * stands in for greenlet (docs/guide/dropin.rst), as greenlet._C_API (named
 * "greenlet._C_API").  The reference backend has no C API.
 *
 * Every translation unit that uses the API calls PyGreenlet_Import() first
 * (the table pointer is static, one per translation unit).  Find this folder
 * with pygreenlet.get_include().
 */
#ifndef PYGREENLET_H
#define PYGREENLET_H

#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The object layout (40 bytes on 64-bit platforms).  C code may subclass the
 * type against it; everything else about a greenlet lives behind `pimpl`,
 * which C code must neither read nor write. */
typedef struct _greenlet {
    PyObject_HEAD
    PyObject *weakreflist;
    PyObject *dict;
    void *pimpl;
} PyGreenlet;

/* The frozen version of this interface, as in greenlet's header (deprecated). */
#define GREENLET_VERSION "1.0.0"

/* Slot numbers in the table. */
#define PyGreenlet_Type_NUM 0
#define PyExc_GreenletError_NUM 1
#define PyExc_GreenletExit_NUM 2
#define PyGreenlet_New_NUM 3
#define PyGreenlet_GetCurrent_NUM 4
#define PyGreenlet_Throw_NUM 5
#define PyGreenlet_Switch_NUM 6
#define PyGreenlet_SetParent_NUM 7
#define PyGreenlet_MAIN_NUM 8
#define PyGreenlet_STARTED_NUM 9
#define PyGreenlet_ACTIVE_NUM 10
#define PyGreenlet_GET_PARENT_NUM 11
#define PyGreenlet_API_pointers 12

#ifndef PYGREENLET_CAPSULE_NAME
/* Define as "greenlet._C_API" to import the table the way greenlet's own
 * header does (works only while pygreenlet stands in for greenlet). */
#  define PYGREENLET_CAPSULE_NAME "pygreenlet._C_API"
#endif

static void **_PyGreenlet_API = NULL;

/* The greenlet type.  PyGreenlet_Check accepts subclasses. */
#define PyGreenlet_Type (*(PyTypeObject *)_PyGreenlet_API[PyGreenlet_Type_NUM])
#define PyGreenlet_Check(op) \
    ((op) != NULL && PyObject_TypeCheck((PyObject *)(op), &PyGreenlet_Type))

/* greenlet.error and greenlet.GreenletExit (borrowed references). */
#define PyExc_GreenletError ((PyObject *)_PyGreenlet_API[PyExc_GreenletError_NUM])
#define PyExc_GreenletExit ((PyObject *)_PyGreenlet_API[PyExc_GreenletExit_NUM])

/* PyGreenlet *PyGreenlet_New(PyObject *run, PyGreenlet *parent)
 * A new greenlet of the base type; either argument may be NULL (no run;
 * parent: the current greenlet).  New reference, or NULL with an exception. */
#define PyGreenlet_New \
    (*(PyGreenlet * (*)(PyObject *, PyGreenlet *)) _PyGreenlet_API[PyGreenlet_New_NUM])

/* PyGreenlet *PyGreenlet_GetCurrent(void)
 * The running greenlet of this thread.  New reference; NULL with RuntimeError
 * once the interpreter is finalizing. */
#define PyGreenlet_GetCurrent \
    (*(PyGreenlet * (*)(void)) _PyGreenlet_API[PyGreenlet_GetCurrent_NUM])

/* PyObject *PyGreenlet_Throw(PyGreenlet *g, PyObject *typ, PyObject *val, PyObject *tb)
 * g.throw(typ, val, tb); val and tb may be NULL (None). */
#define PyGreenlet_Throw \
    (*(PyObject * (*)(PyGreenlet *, PyObject *, PyObject *, PyObject *)) \
         _PyGreenlet_API[PyGreenlet_Throw_NUM])

/* PyObject *PyGreenlet_Switch(PyGreenlet *g, PyObject *args, PyObject *kwargs)
 * g.switch(*args, **kwargs) of the base type (a subclass's override of switch
 * is not called).  args NULL means (); kwargs NULL or not a dict means none. */
#define PyGreenlet_Switch \
    (*(PyObject * (*)(PyGreenlet *, PyObject *, PyObject *)) _PyGreenlet_API[PyGreenlet_Switch_NUM])

/* int PyGreenlet_SetParent(PyGreenlet *g, PyGreenlet *parent)
 * g.parent = parent: 0, or -1 with the attribute's exception. */
#define PyGreenlet_SetParent \
    (*(int (*)(PyGreenlet *, PyGreenlet *)) _PyGreenlet_API[PyGreenlet_SetParent_NUM])

/* int PyGreenlet_MAIN / _STARTED / _ACTIVE (PyGreenlet *g)
 * 1 or 0; -1 with TypeError (PyErr_BadArgument) if g is not a greenlet. */
#define PyGreenlet_MAIN (*(int (*)(PyGreenlet *)) _PyGreenlet_API[PyGreenlet_MAIN_NUM])
#define PyGreenlet_STARTED (*(int (*)(PyGreenlet *)) _PyGreenlet_API[PyGreenlet_STARTED_NUM])
#define PyGreenlet_ACTIVE (*(int (*)(PyGreenlet *)) _PyGreenlet_API[PyGreenlet_ACTIVE_NUM])

/* PyGreenlet *PyGreenlet_GetParent(PyGreenlet *g)
 * g.parent as a new reference, or NULL without an exception when g has none
 * (a main greenlet); NULL with TypeError if g is not a greenlet. */
#define PyGreenlet_GET_PARENT \
    (*(PyGreenlet * (*)(PyGreenlet *)) _PyGreenlet_API[PyGreenlet_GET_PARENT_NUM])
#define PyGreenlet_GetParent PyGreenlet_GET_PARENT

/* Fill this translation unit's table pointer; NULL (with an ImportError) if
 * the compiled backend is not there. */
#define PyGreenlet_Import() \
    { _PyGreenlet_API = (void **)PyCapsule_Import(PYGREENLET_CAPSULE_NAME, 0); }

#ifdef __cplusplus
}
#endif

#endif /* PYGREENLET_H */
