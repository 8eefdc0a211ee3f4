# llhttp from Debian's node-llhttp: C sources in /usr/share/llhttp, header in
# /usr/share/include/llhttp. Built static, in strict mode, because Debian's
# 8.1.0 otherwise accepts request-smuggling inputs (see docs/architecture.md).
set(LLHTTP_SRC_DIR /usr/share/llhttp CACHE PATH "llhttp C sources")
set(LLHTTP_INC_DIR /usr/share/include/llhttp CACHE PATH "llhttp header")
if(NOT EXISTS ${LLHTTP_SRC_DIR}/llhttp.c OR NOT EXISTS ${LLHTTP_INC_DIR}/llhttp.h)
  message(FATAL_ERROR "llhttp sources not found: run deps/install (package node-llhttp)")
endif()
add_library(llhttp_static STATIC
  ${LLHTTP_SRC_DIR}/llhttp.c ${LLHTTP_SRC_DIR}/api.c ${LLHTTP_SRC_DIR}/http.c)
target_include_directories(llhttp_static SYSTEM PUBLIC ${LLHTTP_INC_DIR})
target_compile_definitions(llhttp_static PUBLIC LLHTTP_STRICT_MODE=1)
target_compile_options(llhttp_static PRIVATE -O2 -w)
set_target_properties(llhttp_static PROPERTIES POSITION_INDEPENDENT_CODE ON)
