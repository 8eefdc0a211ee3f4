# Script mode: writes OUT, a C file defining core_sql_files[] from DIR/*.sql.
file(GLOB files ${DIR}/*.sql)
list(SORT files)
set(body "/* Generated from sql/ by cmake/embed_run.cmake. Do not edit. */\n#include \"core/core.h\"\n")
set(table "")
set(i 0)
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  file(READ ${f} hex HEX)
  # unsigned char: bytes above 127 would overflow a plain char's
  # initialiser (-Wpedantic's -Woverflow).
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const unsigned char f${i}[] = {${hex}0x00};\n")
  string(APPEND table "  {\"${name}\", (const char *)f${i}},\n")
  math(EXPR i "${i}+1")
endforeach()
string(APPEND body "const core_sql_file_t core_sql_files[] = {\n${table}  {NULL, NULL}};\n")
file(WRITE ${OUT} "${body}")
