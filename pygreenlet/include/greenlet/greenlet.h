/* For code that includes greenlet's header as "greenlet/greenlet.h": the same
 * API, from pygreenlet (see ../pygreenlet.h). */
#include "../pygreenlet.h"
