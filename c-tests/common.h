/* Shared by the C tests that link the C API: the checks of check.h and the tapstack.h API. */
#ifndef TAPSTACK_CTEST_COMMON_H
#define TAPSTACK_CTEST_COMMON_H

#include "check.h"
#include "tapstack.h"

#endif
